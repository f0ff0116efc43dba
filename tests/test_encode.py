"""MosaicWriter: the file appears whole at close, never partially, and holds what was written."""

from __future__ import annotations

from fractions import Fraction

import av
import mediagen
import numpy as np
import pytest

from livecat.errors import MediaError
from livecat.media import decode_audio
from livecat.media.encode import BackgroundWriter, MosaicWriter, video_frame

SR = 48000


def _pictures(n: int) -> list[np.ndarray]:
    """Pictures that carry their index, so the decoded order can be checked."""
    return [mediagen.encode_index_image(k, width=192, height=108) for k in range(n)]


@pytest.mark.parametrize("background", [False, True])
def test_writer_holds_the_pictures_and_sound_written(tmp_path, background):
    out = tmp_path / "mosaic.mp4"
    tone = mediagen.tone(440.0, duration_s=1.0, sr_hz=SR)
    mosaic = MosaicWriter(out, size=(192, 108), fps=Fraction(10), sr_hz=SR)
    writer = BackgroundWriter(mosaic) if background else mosaic
    with writer:
        for k, picture in enumerate(_pictures(10)):
            writer.write_image(picture)
            writer.write_audio(tone[k * 4800 : (k + 1) * 4800])
            assert not out.exists()  # only complete files appear
    with av.open(str(out)) as f:
        shown = [
            mediagen.decode_index_image(fr.to_ndarray(format="bgr24")) for fr in f.decode(video=0)
        ]
    assert shown == list(range(10))
    sound = decode_audio(out, sr_hz=SR, align_to_video=False)
    assert abs(sound.size - SR) <= 1024
    spectrum = np.abs(np.fft.rfft(sound[4800:43200]))
    assert abs(np.argmax(spectrum) * SR / 38400 - 440) < 2
    assert list(tmp_path.iterdir()) == [out]  # no temporary left beside it


def test_an_hd_mosaic_says_which_colours_it_holds(tmp_path):
    """Untagged, an HD picture is read as BT.709 by browsers and mpv, as BT.601 by FFmpeg:
    the render's colours would depend on the player. Tagged, any player that honours the tags
    (PyAV's swscale here) shows the colours written."""
    white, yellow, cyan, green = [191, 191, 191], [0, 191, 191], [191, 191, 0], [0, 191, 0]
    magenta, red, blue = [191, 0, 191], [0, 0, 191], [191, 0, 0]
    bars = np.array([white, yellow, cyan, green, magenta, red, blue], np.uint8)  # 75 %, BGR
    picture = np.ascontiguousarray(np.repeat(np.repeat(bars[None], 720, axis=0), 182, axis=1))
    picture = np.pad(picture, ((0, 0), (0, 1280 - picture.shape[1]), (0, 0)))
    out = tmp_path / "mosaic.mp4"
    with MosaicWriter(out, size=(1280, 720), fps=Fraction(10), sr_hz=SR) as writer:
        for _ in range(3):
            writer.write_image(picture)
        writer.write_audio(np.zeros(SR // 10 * 3, np.float32))
    with av.open(str(out)) as f:
        frame = next(f.decode(video=0))
        tags = (frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc)
        shown = frame.to_ndarray(format="bgr24").astype(int)
    assert tags == (6, 1, 1, 1)  # BT.601 matrix, limited range, BT.709 (sRGB) primaries
    means = np.array([shown[:, 182 * i + 40 : 182 * i + 142].mean(axis=(0, 1)) for i in range(7)])
    assert np.abs(means - bars).max() < 6, means.round()


def test_pictures_made_ahead_may_be_written_again(tmp_path):
    """The render converts pictures on its own thread and hands a repeated one over again."""
    out = tmp_path / "mosaic.mp4"
    frames = [video_frame(picture) for picture in _pictures(3)]
    order = [0, 0, 0, 1, 2, 2, 1, 0]
    with BackgroundWriter(MosaicWriter(out, size=(192, 108), fps=Fraction(10), sr_hz=SR)) as w:
        for k in order:
            w.write_image(frames[k])
            w.write_audio(np.zeros(4800, np.float32))
    with av.open(str(out)) as f:
        shown = [
            mediagen.decode_index_image(fr.to_ndarray(format="bgr24")) for fr in f.decode(video=0)
        ]
    assert shown == order


def test_an_aborted_writer_leaves_nothing(tmp_path):
    out = tmp_path / "mosaic.mp4"
    with (
        pytest.raises(RuntimeError),
        MosaicWriter(out, size=(192, 108), fps=Fraction(10), sr_hz=SR) as w,
    ):
        for picture in _pictures(3):
            w.write_image(picture)
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_cannot_be_guessed_so_no_link_planted_there_is_written_through(
    tmp_path,
):
    """FFmpeg opens the temporary file by name and follows a link: a name made of the pid
    alone would let a link planted there have the mosaic written over what it points to."""
    import os

    victim = tmp_path / "precious.mp4"
    victim.write_bytes(b"keep me")
    out = tmp_path / "mosaic.mp4"
    for guess in (f".mosaic.tmp-{os.getpid()}.mp4", ".mosaic.tmp.mp4"):
        (tmp_path / guess).symlink_to(victim)
    names = set()
    for _ in range(2):
        with MosaicWriter(out, size=(192, 108), fps=Fraction(10), sr_hz=SR) as w:
            names.add(w.tmp.name)
            for picture in _pictures(3):
                w.write_image(picture)
    assert victim.read_bytes() == b"keep me"
    assert len(names) == 2 and all(str(os.getpid()) in n for n in names)
    assert av.open(str(out)).streams.video[0].frames >= 3


def test_a_writer_given_nothing_says_so(tmp_path):
    out = tmp_path / "empty.mp4"
    with pytest.raises(MediaError, match="nothing was written") as caught:
        MosaicWriter(out, size=(96, 64), fps=Fraction(10), sr_hz=SR).close()
    assert "empty.mp4" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_output_directory_is_one_clear_error(tmp_path):
    with pytest.raises(MediaError, match="output directory does not exist"):
        MosaicWriter(tmp_path / "no" / "such.mp4", size=(96, 64), fps=Fraction(10), sr_hz=SR)


def test_the_sound_is_encoded_the_same_whatever_blocks_it_comes_in(tmp_path):
    """The writer hands the encoder large chunks (PyAV cuts AAC frames): however the sound
    arrives, the file holds the same AAC packets and every sample."""
    sound = mediagen.varied_notes(1.3, seed=5)

    def packets(block: int) -> list[bytes]:
        out = tmp_path / f"b{block}.mp4"
        with MosaicWriter(out, size=(64, 48), fps=Fraction(10), sr_hz=SR) as writer:
            writer.write_image(np.zeros((48, 64, 3), np.uint8))
            for start in range(0, sound.size, block):
                writer.write_audio(sound[start : start + block])
        with av.open(str(out)) as f:
            assert f.streams.audio[0].frames == -(-(sound.size + 1024) // 1024)  # + priming
            return [bytes(p) for p in f.demux(audio=0) if p.size]

    reference = packets(1024)
    for block in (1, 333, 960, 20000, sound.size):
        assert packets(block) == reference, block
