"""`livecat render`: a real H.264 + AAC file of the target's length, the match log, and one
clear line for every bad input with nothing left behind."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import av
import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus, build_corpus
from livecat.errors import ParameterError
from livecat.render import render
from livecat.synthesis import EngineSettings

SR = 48000


@pytest.fixture(scope="module")
def corpus_and_media(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    d = tmp_path_factory.mktemp("render")
    a = mediagen.tone_sequence([262, 330, 392, 523], note_s=0.5, sr_hz=SR)
    mediagen.write_video(d / "a.mp4", fps=25, size=(320, 240), duration_s=2.0, audio=a, sr_hz=SR)
    build_corpus([d / "a.mp4"], d / "corpus")
    target = mediagen.tone_sequence([392, 262, 523, 330, 392], note_s=0.37, sr_hz=44100)
    mediagen.write_audio(d / "target.wav", target, sr_hz=44100)
    mediagen.write_video(d / "video-only.mp4", fps=25, size=(160, 120), duration_s=1.0, audio=None)
    return d / "corpus", {
        "target": d / "target.wav",
        "video-only": d / "video-only.mp4",
        "a": d / "a.mp4",
    }


def test_render_writes_h264_aac_of_the_targets_length(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    out = tmp_path / "mosaic.mp4"
    matches = tmp_path / "picks.csv"
    report = render(Corpus.open(corpus_dir), media["target"], out, matches=matches, size=(320, 180))
    target_s = 5 * 0.37
    with av.open(str(out)) as f:
        video, audio = f.streams.video[0], f.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert (video.codec_context.width, video.codec_context.height) == (320, 180)
        assert float(video.average_rate) == pytest.approx(25.0)
        pictures = [frame for frame in f.decode(video)]
    assert abs(len(pictures) - target_s * 25) <= 1
    assert report.images == len(pictures)
    rows = list(csv.DictReader(matches.open()))
    assert list(rows[0]) == ["t_s", "source", "source_t_s", "entry", "distance"]
    assert len(rows) == len(pictures)
    assert all(r["source"] == str(media["a"]) for r in rows if int(r["entry"]) >= 0)
    # The picture shown is the entry the log names (letterboxed 4:3 in 16:9).
    k = len(pictures) // 2
    shown = pictures[k].to_ndarray(format="bgr24")[:, 40:280]
    assert mediagen.decode_index_image(shown) == int(rows[k]["entry"])


def test_output_sound_follows_the_target_notes(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    out = tmp_path / "m.mp4"
    render(Corpus.open(corpus_dir), media["target"], out)
    with av.open(str(out)) as f:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        sound = np.concatenate(
            [r.to_ndarray().ravel() for fr in f.decode(audio=0) for r in resampler.resample(fr)]
        )
    for i, freq in enumerate([392, 262, 523, 330]):
        peak = _peak_hz(sound[int((i * 0.37 + 0.15) * SR) : int((i * 0.37 + 0.3) * SR)])
        assert peak == pytest.approx(freq, rel=0.03), (i, peak)


def _peak_hz(sound: np.ndarray) -> float:
    """The strongest frequency of a stretch of sound."""
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(sound.size)))
    return float(np.fft.rfftfreq(sound.size, 1 / SR)[np.argmax(spectrum)])


def _livecat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livecat", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-target", "no such file"),
        ("video-only", "no audio stream"),
        ("bad-corpus", "no corpus here"),
        ("unwritable", "output directory does not exist"),
        ("not-media", "not a readable media file"),
    ],
)
def test_bad_input_gives_one_line_and_no_partial_output(corpus_and_media, tmp_path, case, message):
    corpus_dir, media = corpus_and_media
    out = tmp_path / "out.mp4"
    target = media["target"]
    if case == "missing-target":
        target = tmp_path / "nothing.wav"
    elif case == "video-only":
        target = media["video-only"]
    elif case == "bad-corpus":
        corpus_dir = tmp_path / "no-corpus"
    elif case == "unwritable":
        out = tmp_path / "no-such-dir" / "out.mp4"
    elif case == "not-media":
        target = tmp_path / "notes.txt"
        target.write_text("not a sound")
    result = _livecat("render", corpus_dir, target, "-o", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".*tmp*")) == []


def test_a_target_that_never_opens_the_gate_is_rendered_and_said_so(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    quiet = tmp_path / "quiet.wav"
    mediagen.write_audio(quiet, mediagen.tone(440, duration_s=1.0, level_db=-67), sr_hz=SR)
    result = _livecat("render", corpus_dir, quiet, "-o", tmp_path / "q.mp4")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"livecat: nothing in {quiet} rose above the silence gate (-55 dBFS): no footage was "
        "chosen; a lower --gate matches quieter sound"
    )
    result = _livecat("render", corpus_dir, quiet, "-o", tmp_path / "q.mp4", "--gate", "-80")
    assert result.returncode == 0, result.stderr
    assert "silence gate" not in result.stderr and " 0 jumps" not in result.stderr
    result = _livecat("render", corpus_dir, media["target"], "-o", tmp_path / "t.mp4")
    assert "silence gate" not in result.stderr, result.stderr


def test_interrupted_render_leaves_no_file(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    out = tmp_path / "out.mp4"

    def stop(done_s: float, total_s: float) -> None:
        if done_s > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(
            Corpus.open(corpus_dir), media["target"], out, progress=stop, matches=tmp_path / "m.csv"
        )
    assert list(tmp_path.iterdir()) == []


# -- keeping time with the target (the lead) -------------------------------------------------
STEP_PITCHES_HZ = [220 * 2 ** (k / 12) for k in (0, 2, 4, 5, 7, 9, 11, 12)]


@pytest.fixture(scope="module")
def note_steps(tmp_path_factory) -> tuple[Path, Path, list[tuple[float, float]], list[float]]:
    """A corpus of eight notes (0.5 s each, twice over in two orders) and a target that
    changes between them at uneven times: (corpus, target, [(change_s, pitch_hz)], the
    corpus's pitch in each of its 0.5 s)."""
    d = tmp_path_factory.mktemp("steps")
    rng = np.random.default_rng(7)
    order = list(rng.permutation(8)) + list(rng.permutation(8))
    corpus_pitches = [STEP_PITCHES_HZ[i] for i in order]
    corpus_sound = mediagen.tone_sequence(corpus_pitches, note_s=0.5, sr_hz=SR)
    mediagen.write_video(
        d / "notes.mp4", fps=25, size=(64, 48), duration_s=8.0, audio=corpus_sound, sr_hz=SR
    )
    build_corpus([d / "notes.mp4"], d / "corpus")
    changes, parts, t = [], [], 0.0
    previous = -1
    for _ in range(24):
        pick = int(rng.choice([i for i in range(8) if i != previous]))
        note_s = float(rng.uniform(0.2, 0.45))
        parts.append(mediagen.tone_sequence([STEP_PITCHES_HZ[pick]], note_s=note_s, sr_hz=SR))
        changes.append((t, STEP_PITCHES_HZ[pick]))
        t += parts[-1].size / SR
        previous = pick
    mediagen.write_audio(d / "target.wav", np.concatenate(parts), sr_hz=SR)
    return d / "corpus", d / "target.wav", changes, corpus_pitches


def _reaction_ms(matches: Path, note_steps, *, fps: float) -> float:
    """Median time from each note change of the target to the first picture (at its middle)
    whose footage plays the new note."""
    _, _, changes, corpus_pitches = note_steps
    rows = list(csv.DictReader(matches.open()))
    middle_s = np.array([float(r["t_s"]) for r in rows]) + 0.5 / fps
    shown = np.array([corpus_pitches[int(float(r["source_t_s"]) / 0.5) % 16] for r in rows])
    delays = []
    for (change_s, pitch), (next_s, _) in zip(changes, [*changes[1:], (1e9, 0.0)], strict=True):
        hit = np.flatnonzero((middle_s > change_s - 0.05) & (middle_s < next_s) & (shown == pitch))
        if change_s > 0 and hit.size:
            delays.append(middle_s[hit[0]] - change_s)
    assert len(delays) >= 20, delays
    return 1000 * float(np.median(delays))


def test_the_render_keeps_time_with_the_target_and_lead_0_trails_it_like_a_live_set(
    note_steps, tmp_path
):
    corpus_dir, target, _, _ = note_steps
    corpus = Corpus.open(corpus_dir)
    fps = 200.0  # a picture every 5 ms: the grid the delays are read on
    report = render(corpus, target, tmp_path / "a.mp4", fps=fps, matches=tmp_path / "a.csv")
    assert report.lead_s == pytest.approx(0.0148 + 512 / SR, abs=5e-4)  # window + one hop
    on_time = _reaction_ms(tmp_path / "a.csv", note_steps, fps=fps)
    render(corpus, target, tmp_path / "b.mp4", fps=fps, matches=tmp_path / "b.csv", lead_s=0)
    live = _reaction_ms(tmp_path / "b.csv", note_steps, fps=fps)
    assert abs(on_time) <= 11.0, on_time  # within one hop of the change
    assert 15.0 <= live <= 40.0, live  # the engine's reaction time, as a live set shows it
    assert live - on_time == pytest.approx(report.lead_s * 1000, abs=6.0)


def test_a_lead_moves_the_live_twin_earlier_by_exactly_that(note_steps, tmp_path):
    corpus_dir, target, _, _ = note_steps
    corpus = Corpus.open(corpus_dir)
    fps, shift = 100.0, 3  # a lead of 3 pictures
    # Without attacks: an onset's answer uses the lead on purpose (its hit lands on the
    # input's instead of 10.7 ms after it: test_engine's led-render test).
    plain = EngineSettings(attacks=False)
    for name, lead_s in (("a", 0.0), ("b", shift / fps)):
        render(
            corpus,
            target,
            tmp_path / f"{name}.mp4",
            fps=fps,
            matches=tmp_path / f"{name}.csv",
            lead_s=lead_s,
            settings=plain,
        )
    live = [r for r in csv.DictReader((tmp_path / "a.csv").open())]
    led = [r for r in csv.DictReader((tmp_path / "b.csv").open())]
    key = ("entry", "source_t_s", "distance")
    assert [[r[k] for k in key] for r in led[:-shift]] == [
        [r[k] for k in key] for r in live[shift:]
    ]
    # The sound too: the led render's is the live twin's, shift/fps earlier (AAC-coded both).
    a, b = mediagen.read_audio(tmp_path / "a.mp4"), mediagen.read_audio(tmp_path / "b.mp4")
    n = min(a.size, b.size) - SR // 4
    lags = np.arange(0, 2 * round(SR * shift / fps))
    corr = [float(np.dot(a[lag : lag + n], b[:n])) for lag in lags]
    assert abs(int(lags[int(np.argmax(corr))]) - round(SR * shift / fps)) <= 2


def test_the_mixed_in_target_stays_in_place_whatever_the_lead(note_steps, tmp_path):
    corpus_dir, target, _, _ = note_steps
    render(Corpus.open(corpus_dir), target, tmp_path / "t.mp4", mix_target=1.0, lead_s=0.05)
    out, original = mediagen.read_audio(tmp_path / "t.mp4"), mediagen.read_audio(target)
    n = original.size - SR // 2
    lags = np.arange(-SR // 20, SR // 20)
    corr = [
        float(np.dot(out[max(lag, 0) : max(lag, 0) + n], original[max(-lag, 0) :][:n]))
        for lag in lags
    ]
    assert abs(int(lags[int(np.argmax(corr))])) <= 2


def test_a_lead_out_of_range_is_one_line(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    result = _livecat(
        "render", corpus_dir, media["target"], "-o", tmp_path / "o.mp4", "--lead", "-0.01"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "livecat: --lead must be 0..1 s, got -0.01", result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("-o", "{tmp}", "{tmp}: is a directory: name the file to write, e.g. mosaic.mp4"),
        (
            "-o",
            "{tmp}/mosaic",
            "{tmp}/mosaic: no container format for a name without a suffix: "
            "end the name in .mp4, .mov or .mkv",
        ),
        (
            "-o",
            "{tmp}/m.xyz",
            "{tmp}/m.xyz: no container format for '.xyz': end the name in .mp4, .mov or .mkv",
        ),
        (
            "-o",
            "{tmp}/m.webm",
            "{tmp}/m.webm: a '.webm' file cannot hold H.264 + AAC: end the "
            "name in .mp4, .mov or .mkv",
        ),
        ("--matches", "{tmp}", "{tmp}: is a directory: name the CSV to write, e.g. picks.csv"),
        ("--fps", "0", "--fps must be above 0 and at most 240, got 0"),
        ("--fps", "1e5", "--fps must be above 0 and at most 240, got 100000"),
        ("--size", "15x16", "--size must be even and at least 16x16, got 15x16"),
        (
            "--size",
            "20000x20000",
            "--size must be at most 8192 on a side and 8192x4320 in pixels (H.264's largest "
            "pictures), got 20000x20000",
        ),
        (
            "--size",
            "8192x8192",
            "--size must be at most 8192 on a side and 8192x4320 in pixels (H.264's largest "
            "pictures), got 8192x8192",
        ),
    ],
)
def test_a_bad_output_is_one_line_before_the_target_is_even_read(
    corpus_and_media, tmp_path, option, value, message
):
    """Each of these was a traceback (or, for --fps 0, a silent 25 fps render; for a huge
    --size, FFmpeg's own words), after the whole target had been decoded. The target here
    does not decode at all: the output's problem must be the one named."""
    corpus_dir, _ = corpus_and_media
    target = tmp_path / "notes.txt"
    target.write_text("not a sound")
    args = {"-o": str(tmp_path / "out.mp4"), option: value.format(tmp=tmp_path)}
    result = _livecat("render", corpus_dir, target, *[x for kv in args.items() for x in kv])
    assert result.returncode == 2
    assert result.stderr.strip() == f"livecat: {message.format(tmp=tmp_path)}", result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("output", "matches", "message"),
    [
        ("film", None, "{film}: is the target: the mosaic would replace it"),
        ("out", "film", "{film}: is the target: the match log would replace it"),
        ("footage", None, "{footage}: is footage of the corpus: the mosaic would replace it"),
        ("out", "out", "{out}: is the output too: give --matches another name"),
    ],
)
def test_a_render_never_writes_over_the_target_or_the_footage(
    corpus_and_media, tmp_path, output, matches, message
):
    """The finished file is renamed into place, so `-o` naming the target (or the corpus's
    own footage) replaced the user's file without a word."""
    corpus_dir, media = corpus_and_media
    film = tmp_path / "film.mp4"
    film.write_bytes(media["a"].read_bytes())
    names = {"film": film, "footage": media["a"], "out": tmp_path / "out.mp4"}
    args = ["render", corpus_dir, film, "-o", names[output]]
    if matches:
        args += ["--matches", names[matches]]
    result = _livecat(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"livecat: {message.format(**names)}"
        + ("; choose another name" if "replace" in message else "")
    )
    assert film.read_bytes() == media["a"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]
    footage_sha256 = hashlib.sha256(media["a"].read_bytes()).hexdigest()
    assert Corpus.open(corpus_dir).sources[0].sha256 == footage_sha256  # the footage is intact


def test_an_unknown_x264_preset_is_named_with_the_choices(corpus_and_media, tmp_path):
    corpus_dir, media = corpus_and_media
    with pytest.raises(ParameterError, match="unknown x264 preset 'fastest'; one of ultrafast, "):
        render(Corpus.open(corpus_dir), media["target"], tmp_path / "o.mp4", preset="fastest")
    assert list(tmp_path.iterdir()) == []


def _middle(path: Path) -> np.ndarray:
    """0.3-1.2 s of a file's sound: clear of the render's first and last grains."""
    return mediagen.read_audio(path)[int(0.3 * SR) : int(1.2 * SR)]


def test_a_target_with_several_audio_streams_names_them_and_renders_the_one_asked_for(
    corpus_and_media, tmp_path
):
    corpus_dir, _ = corpus_and_media
    film = tmp_path / "film.mkv"
    mediagen.two_language_film(film, sr_hz=SR)
    result = _livecat("render", corpus_dir, film, "-o", tmp_path / "a.mp4")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"livecat: {film} has 2 audio streams (#0 eng, 1 ch, flac; #1 deu, 1 ch, flac): "
        "rendered #0; --audio-stream N picks another"
    )
    assert _peak_hz(_middle(tmp_path / "a.mp4")) == pytest.approx(330, rel=0.03)
    result = _livecat("render", corpus_dir, film, "-o", tmp_path / "b.mp4", "--audio-stream", "1")
    assert result.returncode == 0 and "audio streams" not in result.stderr, result.stderr
    assert _peak_hz(_middle(tmp_path / "b.mp4")) == pytest.approx(523, rel=0.03)
    result = _livecat("render", corpus_dir, film, "-o", tmp_path / "c.mp4", "--audio-stream", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"livecat: {film}: no audio stream #2: the file has 2 (#0-#1)"
    ), result.stderr
    assert not (tmp_path / "c.mp4").exists()
    result = _livecat("render", corpus_dir, film, "-o", tmp_path / "c.mp4", "--audio-stream", "-1")
    assert result.returncode == 2 and result.stderr.startswith(
        "livecat: argument --audio-stream: a stream number from 0, got '-1'"
    ), result.stderr
