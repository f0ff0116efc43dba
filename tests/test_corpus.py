"""`livecat build` / `add` / `info` and `Corpus.open`, on media generated here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mediagen
import numpy as np
import pytest

from livecat.corpus import BuildSettings, Corpus, build_corpus
from livecat.errors import CorpusError
from livecat.media.decode import side_data

SR = 48000


def _correlation_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag of b against a (in samples) with the highest normalised correlation."""
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max_lag + lag : a.size - max_lag + lag]
        y = b[max_lag : b.size - max_lag]
        c = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))
        if c > best[1]:
            best = (lag, c)
    return best


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, tuple[Path, list[float], np.ndarray | None]]:
    """Videos with different rates, sizes, audio layouts; one VFR; one without sound."""
    d = tmp_path_factory.mktemp("media")
    made = {}
    a_audio = mediagen.tone_sequence([220, 277, 330, 392, 440, 523, 587, 659], note_s=0.5, sr_hz=SR)
    made["a"] = (d / "a.mp4", a_audio)
    b_audio = mediagen.tone_sequence([300, 350, 400, 450, 500, 550], note_s=0.5, sr_hz=44100)
    made["b"] = (d / "b.mkv", np.stack([b_audio, 0.5 * b_audio], axis=1))
    c_audio = mediagen.tone_sequence([700, 800, 900, 1000, 1100, 1200], note_s=0.5, sr_hz=SR)
    # A little noise makes every instant unique, so alignment is unambiguous (a sine's is not).
    a_audio = a_audio + mediagen.noise(duration_s=a_audio.size / SR, level_db=-30, seed=1)
    c_audio = c_audio + mediagen.noise(duration_s=c_audio.size / SR, level_db=-30, seed=2)
    made["c"] = (d / "c.mp4", c_audio)
    out = {}
    out["a"] = (
        made["a"][0],
        mediagen.write_video(
            made["a"][0], fps=25, size=(320, 240), duration_s=4.0, audio=a_audio, sr_hz=SR
        ),
        a_audio,
    )
    out["b"] = (
        made["b"][0],
        mediagen.write_video(
            made["b"][0],
            fps=30000 / 1001,
            size=(640, 360),
            duration_s=3.0,
            audio=made["b"][1],
            sr_hz=44100,
        ),
        None,
    )
    rng = np.random.default_rng(7)
    vfr = np.cumsum(rng.choice([0.02, 0.04, 0.1], size=40))
    vfr = np.concatenate([[0.0], vfr[vfr < 2.9]])
    out["c"] = (
        made["c"][0],
        mediagen.write_video(
            made["c"][0],
            fps=None,
            size=(176, 144),
            duration_s=3.0,
            audio=c_audio,
            sr_hz=SR,
            vfr_pts_s=vfr,
        ),
        c_audio,
    )
    silent = d / "d-no-audio.mp4"
    out["d"] = (
        silent,
        mediagen.write_video(silent, fps=25, size=(320, 240), duration_s=1.0, audio=None),
        None,
    )
    return out


@pytest.fixture(scope="module")
def corpus_dir(media, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("corpus") / "c1"
    report = build_corpus([str(media[k][0]) for k in "abcd"], target)
    assert [p.name for p in report.added] == ["a.mp4", "b.mkv", "c.mp4"]
    assert [(p.name, r) for p, r in report.skipped] == [
        ("d-no-audio.mp4", "no audio track: nothing to match against")
    ]
    return target


def test_every_entry_maps_to_its_file_time_and_image(media, corpus_dir):
    corpus = Corpus.open(corpus_dir)
    assert [Path(s.path).name for s in corpus.sources] == ["a.mp4", "b.mkv", "c.mp4"]
    assert len(corpus) == sum(len(media[k][1]) for k in "abc")
    for s, key in zip(corpus.sources, "abc", strict=True):
        written_pts = media[key][1]
        assert s.entries == len(written_pts)
        for i in range(s.entries):
            entry = s.first_entry + i
            assert corpus.source_of(entry) is s
            assert corpus.entries["pts_s"][entry] == pytest.approx(written_pts[i], abs=1e-3)
            assert mediagen.decode_index_image(corpus.image(entry)) == i
            assert (
                corpus.entry_at(
                    corpus.sources.index(s), float(corpus.entries["pts_s"][entry]) + 1e-4
                )
                == entry
            )


def test_images_keep_their_aspect_and_fit_the_corpus_size(corpus_dir):
    corpus = Corpus.open(corpus_dir)
    shapes = [corpus.image(s.first_entry).shape for s in corpus.sources]
    assert shapes == [(240, 320, 3), (360, 640, 3), (144, 176, 3)]


# A picture of four coloured quarters (BGR): red, green / blue, white.
_QUARTERS = np.array([[[0, 0, 255], [0, 255, 0]], [[255, 0, 0], [255, 255, 255]]], np.uint8)


def _quarters_as_shown(matrix: np.ndarray) -> np.ndarray:
    """Where each quarter stands once a player applies the display matrix, worked out from
    the matrix itself: it maps a stored point (p, q) to (a·p + c·q, b·p + d·q)
    (libavutil/display.h; a, b, c, d are elements 0, 1, 3, 4)."""
    a, b, c, d = matrix[[0, 1, 3, 4]]
    shown = np.zeros_like(_QUARTERS)
    for row in range(2):
        for col in range(2):
            p, q = col - 0.5, row - 0.5  # the quarter's centre, from the picture's centre
            shown[int(b * p + d * q > 0), int(a * p + c * q > 0)] = _QUARTERS[row, col]
    return shown


def _quarter_means(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] // 2, image.shape[1] // 2
    return np.array(
        [
            [image[r * h : (r + 1) * h, c * w : (c + 1) * w].mean(axis=(0, 1)) for c in (0, 1)]
            for r in (0, 1)
        ]
    )


def test_phone_footage_stands_upright_as_players_show_it(tmp_path):
    """A phone stores a portrait clip as landscape pictures and a display matrix; the corpus
    must hold the pictures as every player shows them, for all eight quarter turns and
    mirrorings a matrix can ask for."""
    import av

    picture = np.repeat(np.repeat(_QUARTERS, 16, axis=0), 32, axis=1)  # 64 x 32, landscape
    turns = [(deg, hflip) for deg in (0, 90, 180, 270) for hflip in (False, True)]
    paths = []
    for deg, hflip in turns:
        path = tmp_path / f"phone-{deg}-{int(hflip)}.mp4"
        mediagen.write_video(
            path,
            size=(64, 32),
            duration_s=0.4,
            audio=mediagen.tone(440.0, duration_s=0.4),
            draw=lambda k, t_s: picture,
            display_rotation_deg=deg,
            display_hflip=hflip,
        )
        paths.append(path)
    build_corpus(paths, tmp_path / "corpus")
    corpus = Corpus.open(tmp_path / "corpus")
    for (deg, hflip), path, source in zip(turns, paths, corpus.sources, strict=True):
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            data = [d for d in side_data(frame) if d.type.name == "DISPLAYMATRIX"]
            matrix = (
                np.frombuffer(bytes(data[0]), np.int32)[:9] / 65536.0
                if data
                else np.array([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
            )
        image = corpus.image(source.first_entry)
        quarter_turn = deg in (90, 270)
        what = f"{path.name} (turned {deg} degrees, mirrored: {hflip})"
        assert image.shape[:2] == ((64, 32) if quarter_turn else (32, 64)), what
        assert (source.width, source.height) == ((32, 64) if quarter_turn else (64, 32)), what
        assert np.abs(_quarter_means(image) - _quarters_as_shown(matrix)).max() < 40, what
    # The everyday case, spelled out: a portrait clip (90 degrees) stands up with the stored
    # picture's top-left quarter (red) at the bottom left.
    portrait = corpus.image(corpus.sources[turns.index((90, False))].first_entry)
    assert portrait.shape[:2] == (64, 32)
    assert np.abs(portrait[48:, :16].mean(axis=(0, 1)) - [0, 0, 255]).max() < 40


def _stored_image(path: Path, picture: np.ndarray, **video_options) -> np.ndarray:
    """The image a corpus stores for a short video of ``picture`` (BGR) made with
    :func:`mediagen.write_video`'s ``video_options``."""
    mediagen.write_video(
        path,
        size=(picture.shape[1], picture.shape[0]),
        duration_s=0.4,
        audio=mediagen.tone(440.0, duration_s=0.4),
        draw=lambda k, t_s: picture,
        **video_options,
    )
    build_corpus([path], path.with_suffix(".corpus"))
    return Corpus.open(path.with_suffix(".corpus")).image(0)


def test_pictures_with_wide_pixels_are_stored_at_the_aspect_players_show(tmp_path):
    """A 16:9 DVD or DV clip stores 4:3-shaped pictures of wide pixels; a circle in it must
    stay a circle in the corpus, not a tall ellipse."""
    from fractions import Fraction

    import cv2

    aspect = Fraction(64, 45)  # PAL 16:9: 720x576 shown as 1024x576
    stored = np.zeros((288, 360, 3), np.uint8)
    # A circle as shown is an ellipse of stored pixels, narrower by the pixels' width.
    cv2.ellipse(stored, (180, 144), (round(60 / aspect), 60), 0, 0, 360, (255, 255, 255), -1)
    image = _stored_image(tmp_path / "dvd.mkv", stored, pixel_aspect=aspect)
    assert image.shape[:2] == (288, 512)  # 360 x 64/45 = 512 wide, as shown
    rows, cols = np.nonzero(image[..., 0] > 128)
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert abs(width / height - 1.0) < 0.06, (width, height)


@pytest.mark.parametrize("bt709", [False, True], ids=["bt601-untagged", "bt709-tagged"])
def test_footage_keeps_the_colours_players_show(tmp_path, bt709):
    """HD cameras tag their colours BT.709; read with SD's BT.601 matrix, the corpus's
    greens and yellows came out 12-34 levels off (its 75 % yellow as BGR (7, 203, 190))."""
    white, yellow, cyan, green = [191, 191, 191], [0, 191, 191], [191, 191, 0], [0, 191, 0]
    magenta, red, blue = [191, 0, 191], [0, 0, 191], [191, 0, 0]
    bars = np.array([white, yellow, cyan, green, magenta, red, blue], np.uint8)  # 75 %, BGR
    picture = np.repeat(np.repeat(bars[None], 64, axis=0), 32, axis=1)
    image = _stored_image(tmp_path / "bars.mp4", picture, bt709=bt709).astype(int)
    shown = np.array([image[16:48, 32 * i + 8 : 32 * i + 24].mean(axis=(0, 1)) for i in range(7)])
    assert np.abs(shown - bars).max() < 8, shown.round()


def test_smaller_size_scales_images_down(media, tmp_path):
    report = build_corpus(
        [media["b"][0]], tmp_path / "small", settings=BuildSettings(image_max_side=160)
    )
    assert report.entry_count == len(media["b"][1])
    corpus = Corpus.open(tmp_path / "small")
    assert corpus.image(5).shape == (90, 160, 3)
    assert mediagen.decode_index_image(corpus.image(5)) == 5


@pytest.mark.parametrize("key", ["a", "c"])
def test_grain_of_an_entry_is_the_sound_heard_with_its_image(media, corpus_dir, key):
    corpus = Corpus.open(corpus_dir)
    s = corpus.sources["ac".index(key) * 2]
    _, pts, audio = media[key]
    for i in (3, len(pts) // 2, len(pts) - 5):
        start = round(pts[i] * SR)
        expected = audio[start : start + 4800]
        grain = corpus.grain_audio(s.first_entry + i, length=4800)
        lag, corr = _correlation_lag(grain, expected, max_lag=96)
        assert corr > 0.95 and abs(lag) <= 48, (i, lag, corr)  # within 1 ms, AAC coded


def test_descriptor_query_finds_the_entry_itself(corpus_dir):
    corpus = Corpus.open(corpus_dir)
    vectors = corpus.normalise(np.asarray(corpus.descriptors))
    labels, _ = corpus.index.knn_query(vectors, k=1)
    same_time = np.abs(corpus.entries["pts_s"][labels[:, 0]] - corpus.entries["pts_s"]) < 0.2
    same_source = corpus.entries["source"][labels[:, 0]] == corpus.entries["source"]
    assert np.mean(same_source & same_time) > 0.95


def test_the_same_footage_builds_the_same_corpus_byte_for_byte(tmp_path):
    """A set-up must repeat: building the same files twice, or building one and adding the
    other, gives the same files (the manifest but for its date). hnswlib linking entries on
    two threads gave a different graph each time (four builds of one file, four indexes), and
    near a tie another answer."""
    films = []
    for seed in (3, 4):
        film = tmp_path / f"notes{seed}.mp4"
        sound = mediagen.varied_notes(10.0, seed=seed)
        mediagen.write_video(film, fps=25, size=(64, 48), duration_s=10.0, audio=sound, sr_hz=SR)
        films.append(film)
    build_corpus(films, tmp_path / "one")
    build_corpus(films, tmp_path / "two")
    build_corpus(films[:1], tmp_path / "added")
    build_corpus(films[1:], tmp_path / "added", add_to_existing=True)

    def contents(name: str) -> tuple[dict[str, bytes], dict]:
        files = {f.name: f.read_bytes() for f in (tmp_path / name).iterdir()}
        manifest = json.loads(files.pop("manifest.json"))
        manifest.pop("created")
        return files, manifest

    first = contents("one")
    for other in ("two", "added"):
        files, manifest = contents(other)
        assert sorted(files) == sorted(first[0])
        for name in files:
            assert files[name] == first[0][name], (other, name)
        assert manifest == first[1], other


def test_manifest_records_sources_and_parameters(corpus_dir, media):
    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    assert manifest["format"] == "livecat-corpus" and manifest["version"] == 1
    assert manifest["descriptor"]["kind"] == "mfcc-pitch"
    a = manifest["sources"][0]
    assert a["size"] == media["a"][0].stat().st_size
    assert len(a["sha256"]) == 64 and a["fps"] == pytest.approx(25.0, abs=0.01)
    assert manifest["sources"][1]["fps"] == pytest.approx(29.97, abs=0.01)
    assert manifest["sources"][1]["audio_channels"] == 2
    assert manifest["sources"][1]["audio_sr_hz"] == 44100
    for name, size in manifest["files"].items():
        assert (corpus_dir / name).stat().st_size == size


def test_add_skips_unchanged_reanalyses_changed_and_adds_new(media, tmp_path):
    target = tmp_path / "grow"
    build_corpus([media["a"][0]], target)
    work = tmp_path / "b.mkv"
    shutil.copy(media["b"][0], work)
    report = build_corpus([media["a"][0], work], target, add_to_existing=True)
    assert [p.name for p in report.unchanged] == ["a.mp4"]
    assert [p.name for p in report.added] == ["b.mkv"]
    # Replace b's content with c's: the same path, changed → analysed again, and its line
    # says what it replaces (a truncated copy shows as fewer entries than before).
    shutil.copy(media["c"][0], work)
    lines: list[tuple[str, str, str]] = []
    report = build_corpus(
        [work], target, add_to_existing=True, file_done=lambda *a: lines.append(a)
    )
    assert [p.name for p in report.replaced] == ["b.mkv"]
    b_entries = len(media["b"][1])
    assert lines[0][1] == "added" and f", replacing {b_entries} entries, 3.0 s" in lines[0][2]
    corpus = Corpus.open(target)
    assert [s.entries for s in corpus.sources] == [len(media["a"][1]), len(media["c"][1])]
    for s in corpus.sources:
        for i in (0, s.entries - 1):
            assert mediagen.decode_index_image(corpus.image(s.first_entry + i)) == i
    # The carried-over source still plays its own sound.
    _, corr = _correlation_lag(
        corpus.grain_audio(10, length=4800),
        media["a"][2][round(media["a"][1][10] * SR) :][:4800],
        96,
    )
    assert corr > 0.95


def test_a_truncated_copy_is_told_at_the_length_the_corpus_holds(media, tmp_path):
    """A truncated file's header still gives its whole length: the "added" line and the
    manifest give the pictures and sound that decoded (the line said "3.0 s" for half)."""
    target = tmp_path / "c"
    work = tmp_path / "b.mkv"
    shutil.copy(media["b"][0], work)
    build_corpus([work], target)
    whole = Corpus.open(target).sources[0]
    assert whole.duration_s == pytest.approx(3.0, abs=0.05)
    data = work.read_bytes()
    work.write_bytes(data[: len(data) // 2])
    lines: list[tuple[str, str, str]] = []
    build_corpus([work], target, add_to_existing=True, file_done=lambda *a: lines.append(a))
    half = Corpus.open(target).sources[0]
    assert 0.3 * whole.entries < half.entries < 0.7 * whole.entries
    assert half.duration_s == pytest.approx(half.entries / half.fps, abs=0.1)
    assert lines[0][2] == (
        f"{half.entries} entries, {half.duration_s:.1f} s, "
        f"replacing {whole.entries} entries, {whole.duration_s:.1f} s"
    )


def test_add_loses_nothing_and_rewrites_nothing_it_need_not(media, tmp_path):
    """A file that changed into something unreadable keeps its earlier entries (the corpus
    holds its own copy of them); an add that changes nothing does not rewrite the corpus;
    an add whose every input is unreadable is an error that leaves the corpus as it was."""
    target = tmp_path / "grow"
    work = tmp_path / "b.mkv"
    shutil.copy(media["b"][0], work)
    build_corpus([media["a"][0], work], target)
    manifest = target / "manifest.json"
    before = (manifest.stat().st_ino, manifest.read_bytes())

    report = build_corpus([media["a"][0], work], target, add_to_existing=True)
    assert not report.changed and report.entry_count == len(Corpus.open(target))
    assert (manifest.stat().st_ino, manifest.read_bytes()) == before  # not even rewritten

    work.write_bytes(b"overwritten by mistake")  # changed, and now unreadable
    seen: list[tuple[str, str, str]] = []
    with pytest.raises(CorpusError, match=r"nothing was added \(every input was skipped\); the "):
        build_corpus([work], target, add_to_existing=True, file_done=lambda *a: seen.append(a))
    assert seen[0][1] == "skipped" and seen[0][2].endswith("; its earlier entries are kept")
    assert (manifest.stat().st_ino, manifest.read_bytes()) == before

    report = build_corpus([work, media["c"][0]], target, add_to_existing=True)
    assert [p.name for p in report.added] == ["c.mp4"] and report.replaced == []
    corpus = Corpus.open(target)
    assert [Path(s.path).name for s in corpus.sources] == ["a.mp4", "c.mp4", "b.mkv"]
    assert [s.entries for s in corpus.sources] == [len(media[k][1]) for k in "acb"]
    b = corpus.sources[2]
    for i in (0, b.entries - 1):  # b's own images, carried over
        assert mediagen.decode_index_image(corpus.image(b.first_entry + i)) == i
    assert not list(tmp_path.glob(".grow.*"))


def _livecat(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livecat", *args], capture_output=True, text=True, timeout=120, **kw
    )


def test_a_folder_is_searched_for_videos_but_not_its_hidden_parts(media, tmp_path):
    """A USB stick's trash holds clips the user deleted, and macOS leaves a ``._`` file of
    metadata beside each clip it copies there: neither belongs in the corpus."""
    from livecat.corpus.build import expand_inputs

    stick = tmp_path / "stick"
    for name in ("takes/a.mp4", "takes/Night.MOV", ".Trashes/501/old.mp4", ".Trash-1000/x.mkv"):
        (stick / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(media["a"][0], stick / name)
    (stick / "takes" / "._a.mp4").write_bytes(b"\x00\x05\x16\x07" * 1024)  # AppleDouble
    (stick / "takes" / "notes.txt").write_text("set list")
    files, problems = expand_inputs([stick])
    assert [f.relative_to(stick).as_posix() for f in files] == ["takes/Night.MOV", "takes/a.mp4"]
    assert problems == []
    # A hidden folder named on purpose is searched: only what lies inside it is judged.
    files, _ = expand_inputs([stick / ".Trashes"])
    assert [f.name for f in files] == ["old.mp4"]


def test_cli_build_and_info(media, tmp_path):
    target = tmp_path / "cli"
    result = _livecat("build", str(media["a"][0]), str(media["c"][0]), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert "added" in result.stderr and "a.mp4" in result.stderr
    info = _livecat("info", str(target))
    assert info.returncode == 0
    n = len(media["a"][1]) + len(media["c"][1])
    assert f"{n} entries" in info.stdout
    assert "a.mp4" in info.stdout and "25.00" in info.stdout
    again = _livecat("add", str(target), str(media["a"][0]))
    assert "unchanged" in again.stderr and again.returncode == 0


@pytest.mark.parametrize(
    ("output", "extra", "message"),
    [
        ("{tmp}/a.wav", (), "{tmp}/a.wav: is a file, not a corpus directory: choose another name"),
        ("/proc/livecat-c", (), "/proc/livecat-c: cannot write here (No such file or directory)"),
        (
            "{tmp}/c",
            ("--pitch-weight", "-1"),
            "timbre and pitch weights must be finite, >= 0 and not both 0, got 0.25 and -1",
        ),
        (
            "{tmp}/c",
            ("--pitch-weight", "0", "--timbre-weight", "0"),
            "timbre and pitch weights must be finite, >= 0 and not both 0, got 0 and 0",
        ),
    ],
)
def test_a_build_that_cannot_be_made_says_why_in_one_line(media, tmp_path, output, extra, message):
    """A file in the corpus's place and an unwritable place were tracebacks; a negative
    weight was taken (distances ignore its sign) and two zero weights made every entry
    equally near."""
    (tmp_path / "a.wav").write_bytes(b"kept")
    output = output.format(tmp=tmp_path)
    result = _livecat("build", str(media["a"][0]), "-o", output, *extra)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"livecat: {message.format(tmp=tmp_path)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    assert (tmp_path / "a.wav").read_bytes() == b"kept"


@pytest.mark.parametrize("shift", [-700, 0, 300])
def test_decoded_sound_gathers_into_one_array_as_joined_chunks_would(shift):
    """decode_audio grows one array instead of joining a list of chunks at the end (which held
    a long target twice over): the same samples, whether the length was guessed too short,
    silence was put in front, or a codec's priming samples dropped."""
    from livecat.media.decode import _Samples

    rng = np.random.default_rng(5)
    chunks = [rng.standard_normal(n).astype(np.float32) for n in (1024, 1, 0, 5000, 333, 70000)]
    joined = np.concatenate(chunks)
    expected = (
        np.concatenate([np.zeros(shift, np.float32), joined]) if shift > 0 else joined[-shift:]
    )
    gathered = _Samples(expected=10)  # far too short: it must grow
    gathered.shift(shift)
    for chunk in chunks:
        gathered.append(chunk)
    assert gathered.decoded == joined.size
    np.testing.assert_array_equal(gathered.result(), expected)


def test_audio_stream_picks_which_sound_a_films_pictures_get(tmp_path):
    """A film with a dub: the grains come from the stream asked for, the choice is kept by
    `add` and shown by `info`, and a build that made no choice says there was one."""
    film = tmp_path / "film.mkv"
    mediagen.two_language_film(film, video_size=(96, 64), duration_s=2.0, sr_hz=SR)

    def grain_hz(corpus_dir) -> float:
        corpus = Corpus.open(corpus_dir)
        sound = corpus.grain_audio(10, length=SR // 2)
        return np.argmax(np.abs(np.fft.rfft(sound))) * SR / sound.size

    result = _livecat("build", str(film), "-o", str(tmp_path / "first"))
    assert result.returncode == 0, result.stderr
    assert (
        f"added  {film}: 50 entries, 2.0 s, sound from #0 eng, 1 ch, flac of 2 audio streams "
        "(#0 eng, 1 ch, flac; #1 deu, 1 ch, flac); --audio-stream N picks another"
    ) in result.stderr
    assert grain_hz(tmp_path / "first") == pytest.approx(330, abs=3)

    result = _livecat("build", str(film), "--audio-stream", "1", "-o", str(tmp_path / "dub"))
    assert result.returncode == 0, result.stderr
    assert f"{film}: 50 entries, 2.0 s, sound from #1 deu, 1 ch, flac\n" in result.stderr
    assert grain_hz(tmp_path / "dub") == pytest.approx(523, abs=3)
    assert "(sound: audio stream #1)" in _livecat("info", str(tmp_path / "dub")).stdout

    # Unchanged pictures, other sound: analysed again; then kept by an `add` that asks nothing.
    result = _livecat("add", str(tmp_path / "first"), str(film), "--audio-stream", "1")
    assert result.returncode == 0 and "added" in result.stderr, result.stderr
    assert grain_hz(tmp_path / "first") == pytest.approx(523, abs=3)
    result = _livecat("add", str(tmp_path / "first"), str(film))
    assert result.returncode == 0 and "unchanged" in result.stderr, result.stderr
    assert grain_hz(tmp_path / "first") == pytest.approx(523, abs=3)

    result = _livecat("build", str(film), "--audio-stream", "2", "-o", str(tmp_path / "none"))
    assert result.returncode == 2
    assert (
        f"  skipped  {film}: no audio stream #2: the file has 2 (#0-#1)"
        in result.stderr.splitlines()
    )
    assert not (tmp_path / "none").exists()


def test_bad_inputs_are_skipped_with_one_line_each(tmp_path, media):
    broken = mediagen.write_broken_files(tmp_path / "broken")
    target = tmp_path / "c"
    inputs = [str(p) for p in broken.values()] + [str(tmp_path / "missing.mp4"), str(media["a"][0])]
    result = _livecat("build", *inputs, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = result.stderr.split("skipped ")[-1]
    for name, path in broken.items():
        if name == "unreadable" and os.geteuid() == 0:
            continue  # root reads it anyway
        assert str(path) in summary, (name, result.stderr)
    assert "missing.mp4: no such file or directory" in result.stderr
    assert Corpus.open(target).sources[0].path == str(media["a"][0])


def test_quiet_keeps_only_what_was_skipped_before_or_after_the_subcommand(tmp_path, media):
    """``-q`` drops the per-file lines and the summary, never a skipped input; like ``-v``
    and ``--debug`` it goes before or after the subcommand."""
    broken = mediagen.write_broken_files(tmp_path / "broken")
    inputs = [str(broken["truncated"]), str(media["a"][0])]
    loud = _livecat("build", *inputs, "-o", str(tmp_path / "loud"))
    assert "added" in loud.stderr and "built " in loud.stderr, loud.stderr
    for where, argv in {
        "before": ["-q", "build", *inputs, "-o", str(tmp_path / "q1")],
        "after": ["build", *inputs, "-o", str(tmp_path / "q2"), "--quiet"],
    }.items():
        result = _livecat(*argv)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if line != "skipped 1 input(s):"]
        assert lines and all(str(broken["truncated"]) in line for line in lines), (where, lines)
        assert "added" not in result.stderr and "built " not in result.stderr, where


def test_info_shows_control_characters_in_names_escaped(media, tmp_path):
    """A file name (or a stranger's manifest) may hold ESC sequences: printed raw, they
    retitle the terminal or hide what follows."""
    clip = tmp_path / "take\x1b]0;owned\x07\x1b[2J.mp4"
    shutil.copy(media["a"][0], clip)
    assert _livecat("build", str(clip), "-o", str(tmp_path / "c")).returncode == 0
    info = _livecat("info", str(tmp_path / "c"))
    assert info.returncode == 0, info.stderr
    assert "\x1b" not in info.stdout and "\x07" not in info.stdout
    assert "take\\x1b]0;owned\\x07\\x1b[2J.mp4" in info.stdout


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    plain = _livecat("info", str(tmp_path / "nothing"))
    assert plain.stderr == f"livecat: {tmp_path / 'nothing'}: no corpus here\n"
    nothing = str(tmp_path / "nothing")
    for argv in (["info", nothing, "--debug"], ["--debug", "info", nothing]):
        result = _livecat(*argv)
        assert result.returncode == 1, argv
        assert "Traceback" in result.stderr and "CorpusError" in result.stderr, argv


def test_nothing_indexed_is_an_error_and_leaves_no_corpus(tmp_path):
    broken = mediagen.write_broken_files(tmp_path / "broken")
    result = _livecat("build", *map(str, broken.values()), "-o", str(tmp_path / "c"))
    assert result.returncode != 0
    assert "nothing was indexed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c").exists()
    assert not list(tmp_path.glob(".c.tmp-*"))


def test_open_names_what_is_wrong(corpus_dir, tmp_path):
    with pytest.raises(CorpusError, match="no corpus here"):
        Corpus.open(tmp_path / "nothing")
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    with open(bad / "descriptors.npy", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(CorpusError, match=r"descriptors.npy: size 1000 bytes, manifest says"):
        Corpus.open(bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["version"] = 99
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="corpus format version 99"):
        Corpus.open(bad)
    (bad / "manifest.json").unlink()
    with pytest.raises(CorpusError, match=r"missing manifest\.json"):
        Corpus.open(bad)


def _manifest_to_dev_zero(manifest: Path) -> None:
    manifest.unlink()
    manifest.symlink_to("/dev/zero")


def _manifest_to_fifo(manifest: Path) -> None:
    manifest.unlink()
    os.mkfifo(manifest)


def _manifest_sparse_huge(manifest: Path) -> None:
    with open(manifest, "r+b") as f:
        f.truncate(3 << 30)  # 3 GiB, no disk used


def _manifest_nested_deep(manifest: Path) -> None:
    manifest.write_text("[" * 200_000 + "]" * 200_000)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_manifest_to_dev_zero, "not a regular file: not a livecat manifest"),
        (_manifest_to_fifo, "not a regular file: not a livecat manifest"),
        (_manifest_sparse_huge, "3221225472 bytes, more than a manifest's"),
        (_manifest_nested_deep, "nested too deep: not a livecat manifest"),
    ],
)
def test_a_stranger_s_manifest_cannot_hang_or_exhaust_open(corpus_dir, tmp_path, damage, message):
    """A shared corpus whose manifest is a link to /dev/zero read until memory ran out, a FIFO
    hung for good, deep nesting was a RecursionError traceback: each is one error now."""
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    damage(bad / "manifest.json")
    result = subprocess.run(
        [sys.executable, "-m", "livecat", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"livecat: {bad / 'manifest.json'}: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda m: m["sources"][0].pop("sha256"), r"sources\[0\]\.sha256 is missing"),
        (lambda m: m["sources"][0].update(fps="abc"), r"sources\[0\]\.fps must be a number"),
        (lambda m: m.pop("grain_sr_hz"), "grain_sr_hz is missing"),
        (lambda m: m.update(sources=5), "sources must be a list, got 5"),
        (lambda m: m["index"].update(metric="l2"), "index has 'metric', which livecat does not"),
        (lambda m: m["descriptor"].update(n_fft=10), "descriptor: need 0 < sr_hz <= 384000 and"),
        (
            lambda m: m["descriptor"].update(n_fft=2**33),
            r"descriptor: need .* n_fft <= 65536, got 48000, 8589",
        ),
        (
            lambda m: m["descriptor"].update(n_mels=200_000_000),
            "descriptor: need 1 <= n_mels <= 512",
        ),
        (lambda m: m["index"].update(M=100_000), "index: need 2 <= M <= 1024"),
        (lambda m: m["stats"].update(mean=[0.0]), r"stats\.mean must be \d+ numbers"),
        (lambda m: m.update(entry_count="x"), "entry_count must be a whole number, got 'x'"),
        (
            lambda m: m["descriptor"].update(window_fall="x"),
            "descriptor.window_fall must be a whole number or null, got 'x'",
        ),
        (
            lambda m: (m["descriptor"].update(pitch_harmonics=3), m.update(livecat_version="9.1")),
            r"descriptor has 'pitch_harmonics', unknown to this livecat \(.*\): the corpus was "
            r"written by livecat 9\.1; upgrade livecat or rebuild",
        ),
        # A stranger's "files" that switches the size check off, or reaches outside.
        (lambda m: m.update(files={}), "files must list exactly entries.npy, .*; lists none"),
        (
            lambda m: m["files"].update({"../../secret": 5}),
            r"files must list exactly .*; lists .*'\.\./\.\./secret'",
        ),
    ],
)
def test_a_damaged_or_newer_manifest_is_named_field_by_field(corpus_dir, tmp_path, damage, message):
    """A hand-edited, truncated or newer manifest: one CorpusError naming the file and the
    field, never a KeyError or TypeError from deep inside."""
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    damage(manifest)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorpusError, match=rf"manifest\.json: {message}"):
        Corpus.open(bad)


def test_a_data_file_that_is_not_a_regular_file_is_refused(corpus_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    (bad / "levels.npy").unlink()
    os.mkfifo(bad / "levels.npy")  # a read of it would wait for good
    with pytest.raises(CorpusError, match=r"levels\.npy: not a regular file"):
        Corpus.open(bad)


def test_the_cli_names_a_damaged_manifest_in_one_line(corpus_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["sources"][0]["loudness_lufs"] = -23.0
    (bad / "manifest.json").write_text(json.dumps(manifest))
    result = _livecat("info", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"livecat: {bad / 'manifest.json'}: sources[0] has 'loudness_lufs', which livecat does "
        "not write; rebuild the corpus with `livecat build`"
    ]


def _entries_damage(field: str, row: str, value: float):
    def damage(entries: np.ndarray) -> None:
        n = entries.shape[0]
        at = {"first": 0, "middle": n // 2, "last": n - 1}[row]
        entries[field][at] = value

    return damage


ARRAY_DAMAGE = {
    "a source id out of range, mid-corpus": (
        _entries_damage("source", "middle", 7),
        r"entries\.npy: an entry names a source other than",
    ),
    "a negative source id": (_entries_damage("source", "first", -1), "names a source other"),
    "an entry of another source": (_entries_damage("source", "first", 1), "names a source other"),
    "a grain start past the store": (
        _entries_damage("grain_start", "middle", 2**40),
        r"entries\.npy: an entry's grain_start lies outside its source's grains",
    ),
    "a negative grain start": (_entries_damage("grain_start", "first", -5), "grain_start"),
    "an image past images.bin": (
        _entries_damage("image_offset", "last", 2**40),
        r"entries\.npy: an entry's image lies outside images\.bin",
    ),
    "a negative image size": (_entries_damage("image_size", "middle", -3), "image lies outside"),
    "a huge image size": (_entries_damage("image_size", "middle", 2**31 - 1), "image lies out"),
    "an image that is not a JPEG": (
        _entries_damage("image_offset", "middle", 1),
        r"images\.bin: an entry's image is not a JPEG",
    ),
    "a time that is not a number": (_entries_damage("pts_s", "middle", np.nan), "pts_s is not"),
}


@pytest.mark.parametrize("damage", ARRAY_DAMAGE, ids=list(ARRAY_DAMAGE))
def test_entries_out_of_range_are_refused_at_open(corpus_dir, tmp_path, damage):
    """Every row is checked once at open, not only the last: the player indexes sources,
    grains and images with these numbers."""
    change, message = ARRAY_DAMAGE[damage]
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    entries = np.load(bad / "entries.npy")
    change(entries)
    np.save(bad / "entries.npy", entries)  # the same size: the manifest's check passes
    with pytest.raises(CorpusError, match=message):
        Corpus.open(bad, load_index=False)


SOURCE_DAMAGE = {
    "grains beyond the store": (
        lambda s: s[-1].update(grain_samples=s[-1]["grain_samples"] + 10**9),
        r"grains\.npy: \d+ samples, the sources declare",
    ),
    "overlapping grain ranges": (
        lambda s: s[1].update(grain_offset=0),
        r"manifest\.json: the sources' grain_offset and grain_samples overlap",
    ),
    "entries that do not add up": (
        lambda s: s[0].update(entries=s[0]["entries"] + 1),
        r"manifest\.json: the sources' first_entry and entries do not divide",
    ),
    "a first entry out of order": (
        lambda s: s[2].update(first_entry=0),
        "first_entry and entries do not divide",
    ),
    "zero frames per second": (lambda s: s[0].update(fps=0.0), r"sources\[0\] has fps 0"),
}


@pytest.mark.parametrize("damage", SOURCE_DAMAGE, ids=list(SOURCE_DAMAGE))
def test_sources_that_disagree_with_the_arrays_are_refused(corpus_dir, tmp_path, damage):
    change, message = SOURCE_DAMAGE[damage]
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    change(manifest["sources"])
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorpusError, match=message):
        Corpus.open(bad, load_index=False)


def test_info_checks_the_index_render_and_live_rely_on(corpus_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    with open(bad / "index.hnsw", "r+b") as f:  # the entry point, past the last element
        f.seek(52)
        f.write((10**6).to_bytes(4, "little"))
    run = subprocess.run(
        [sys.executable, "-m", "livecat", "info", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"livecat: {bad / 'index.hnsw'}: index damaged: entry point 1000000 of "
        f"{len(Corpus.open(corpus_dir, load_index=False))} elements; rebuild the corpus"
    ]
