"""Quality benchmarks: does the output follow the target?

music  — a Bach chorale melody from music21's bundled corpus, rendered by FluidSynth (FluidR3
         GM): corpus = one instrument at one tempo, target = the same music on another
         instrument at another tempo. Ground truth = the notes sounding at each time. Reports
         the pitch-class F1 between the target's sounding notes and the chosen entries' notes,
         for livecat's default and for the original method (raw 16 kHz power spectrum of
         each picture's 1/fps slice, Euclidean nearest slice), both measured here; and, for
         reference, livecat at a live set's timing (``--lead 0``) and the original's
         descriptor inside livecat's engine (``--plain``).
speech — espeak-ng: corpus = one voice reading one text, target = another voice, other words.
         Reports the correlation of the loudness envelopes (dB; 40 ms frames = one
         per picture at 25 fps, and 20 ms) of target and output.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SR = 48000
FPS = 25.0
SCORE = "bach/bwv66.6"

CORPUS_TEXT = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a "
    "single step. She sells sea shells by the sea shore, and the shells she sells are surely "
    "sea shells. Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck "
    "chuck if a woodchuck could chuck wood? Every morning the baker opens the shop at six, "
    "sweeps the floor, lights the oven and waits for the first loaves to rise. Rain or shine, "
    "the old fisherman walks down to the harbour and counts the boats coming home."
)
TARGET_TEXT = (
    "Music is the space between the notes. Listen closely: silence, then a sudden burst of "
    "sound, then silence again. Seven slow steps, then three quick ones. Hello, is anybody "
    "there? Nobody answers, so I keep talking to the empty room."
)


def _video_from_audio(path: Path, audio: np.ndarray) -> None:
    import mediagen

    if not path.exists():
        mediagen.write_video(
            path, fps=FPS, size=(320, 180), duration_s=audio.size / SR, audio=audio, sr_hz=SR
        )


def _read_matches(path: Path) -> list[tuple[float, float, int]]:
    with open(path) as f:
        return [
            (float(r["t_s"]), float(r["source_t_s"]), int(r["entry"])) for r in csv.DictReader(f)
        ]


def pitch_class_f1(rows, target_notes, corpus_notes) -> float:
    """Micro-averaged F1 of pitch classes: target's sounding notes at each picture's middle
    against the corpus notes sounding where the chosen grain plays."""
    import mediagen

    tp = fp = fn = 0
    for t_s, source_t_s, entry in rows:
        truth = {p % 12 for p in mediagen.notes_sounding_at(target_notes, t_s + 0.5 / FPS)}
        if entry < 0:
            fn += len(truth)
            continue
        chosen = {p % 12 for p in mediagen.notes_sounding_at(corpus_notes, source_t_s)}
        tp += len(truth & chosen)
        fp += len(chosen - truth)
        fn += len(truth - chosen)
    return 2 * tp / max(2 * tp + fp + fn, 1)


TARGETS = ((73, "flute"), (40, "violin"), (56, "trumpet"))
# Sharp attacks, every note an onset: what the engine answers from an attack must still follow
# the pitch (livecat.features.onsets; docs/selection.md, "Onsets").
PLUCKED_TARGETS = ((6, "harpsichord"), (24, "guitar"))


def _phrase_dynamics(notes, *, period_s: float = 6.0):
    """A performer's swell: velocity rising and falling between 30 and 110 over a phrase."""
    return [(s, e, p, int(70 + 40 * np.sin(2 * np.pi * s / period_s))) for s, e, p, _ in notes]


def bench_music(
    work: Path,
    *,
    corpus_program: int = 0,
    corpus_bpm: float = 80,
    target_bpm: float = 112,
    targets: tuple[tuple[int, str], ...] = TARGETS,
    section: str = "music",
) -> list[tuple[str, str]]:
    """The chorale (all four parts, and the melody alone) on piano as the corpus; targets on
    three other instruments (or ``targets``), played flat and with phrase dynamics."""
    import mediagen
    import seed_method

    from livecat.corpus import BuildSettings, Corpus, build_corpus
    from livecat.features import DescriptorParams
    from livecat.media import decode_audio
    from livecat.render import render
    from livecat.synthesis import EngineSettings

    d = work / "music"
    d.mkdir(exist_ok=True)
    table = []
    summary = {}
    for texture, part in (("chorale", None), ("melody", 0)):
        corpus_notes = mediagen.score_notes(SCORE, part=part, tempo_bpm=corpus_bpm)
        corpus_wav = d / f"corpus-{texture}.wav"
        if not corpus_wav.exists():
            mediagen.render_midi_notes(corpus_notes, program=corpus_program, path_wav=corpus_wav)
        _video_from_audio(d / f"corpus-{texture}.mp4", decode_audio(corpus_wav, sr_hz=SR))
        corpus_16k = decode_audio(d / f"corpus-{texture}.mp4", sr_hz=seed_method.SR)
        corpora = {}
        for name, params in (
            ("livecat", DescriptorParams()),
            ("seed", DescriptorParams.seed()),
        ):
            corpora[name] = d / f"corpus-{texture}-{name}"
            build_corpus(
                [d / f"corpus-{texture}.mp4"], corpora[name], settings=BuildSettings(params=params)
            )
        for program, instrument in targets:
            for dynamics in (False, True):
                target_notes = mediagen.score_notes(SCORE, part=part, tempo_bpm=target_bpm)
                if dynamics:
                    target_notes = _phrase_dynamics(target_notes)
                label = f"{texture}, {instrument}{' + dynamics' if dynamics else ''}"
                target_wav = d / f"target-{texture}-{program}-{int(dynamics)}.wav"
                if not target_wav.exists():
                    mediagen.render_midi_notes(target_notes, program=program, path_wav=target_wav)
                f1 = {"original": original_f1(corpus_16k, target_wav, target_notes, corpus_notes)}
                for name, corpus_name, settings, lead_s in (
                    ("livecat", "livecat", EngineSettings(), None),
                    ("live timing", "livecat", EngineSettings(), 0.0),
                    ("seed", "seed", EngineSettings.plain(), None),
                ):
                    matches = d / "matches.csv"
                    render(
                        Corpus.open(corpora[corpus_name]),
                        target_wav,
                        d / "out.mp4",
                        settings=settings,
                        matches=matches,
                        fps=FPS,
                        lead_s=lead_s,
                    )
                    f1[name] = pitch_class_f1(_read_matches(matches), target_notes, corpus_notes)
                table.append((label, f1["livecat"], f1["original"], f1["live timing"], f1["seed"]))
                summary.setdefault(texture, []).append(table[-1][1:])
    print(
        f"{section}: {SCORE}, corpus on GM piano at {corpus_bpm} bpm, targets at {target_bpm} "
        f"bpm on {', '.join(name for _, name in targets)}"
    )
    print(
        f"  {'target':<32} {'livecat':>8} {'original':>9} {'gain':>7} {'live timing':>12} "
        f"{'seed in engine':>15}"
    )
    for label, ours, theirs, live, seed in table:
        print(
            f"  {label:<32} {ours:8.3f} {theirs:9.3f} {ours - theirs:+7.3f} {live:12.3f} "
            f"{seed:15.3f}"
        )
    out = []
    for texture, rows in summary.items():
        ours, theirs, live, seed = (float(v) for v in np.mean(rows, axis=0))
        print(
            f"  mean over {texture} targets: livecat {ours:.4f}, original {theirs:.4f}, "
            f"livecat at a live set's timing (--lead 0) {live:.4f}, seed descriptor in "
            f"livecat's engine {seed:.4f}"
        )
        goal = " (goal >= 0.80)" if section == "music" else ""
        out += [
            (f"{section} F1 {texture}, livecat{goal}", f"{ours:.4f}"),
            (f"{section} F1 {texture}, original method", f"{theirs:.4f}"),
            # Four places: a gain just short of the goal must not print as the goal.
            (
                f"{section} F1 {texture}, gain{' (goal >= +0.25)' if goal else ''}",
                f"{ours - theirs:+.4f}",
            ),
            (f"{section} F1 {texture}, livecat at a live set's timing", f"{live:.4f}"),
            (f"{section} F1 {texture}, seed descriptor in livecat's engine", f"{seed:.4f}"),
        ]
    return out


def original_f1(corpus_16k: np.ndarray, target_wav: Path, target_notes, corpus_notes) -> float:
    """Pitch-class F1 of the original method itself: each picture shows the corpus picture
    whose 1/fps slice is nearest and plays that picture's own clip, so at the picture's
    middle the clip's middle sounds."""
    import seed_method

    from livecat.media import decode_audio

    picks = seed_method.pick_slices(
        corpus_16k, decode_audio(target_wav, sr_hz=seed_method.SR), fps=FPS
    )
    rows = [(k / FPS, (int(c) + 0.5) / FPS, int(c)) for k, c in enumerate(picks)]
    return pitch_class_f1(rows, target_notes, corpus_notes)


def loudness_envelope(audio: np.ndarray, *, frame_s: float = 0.02) -> np.ndarray:
    n = int(frame_s * SR)
    frames = audio[: audio.size // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-6)


def _decode_mono(path: Path) -> np.ndarray:
    from livecat.media import decode_audio

    return decode_audio(path, sr_hz=SR, align_to_video=False)


def bench_speech(work: Path) -> list[tuple[str, str]]:
    import mediagen

    from livecat.corpus import Corpus, build_corpus
    from livecat.render import render

    d = work / "speech"
    d.mkdir(exist_ok=True)
    corpus_audio = mediagen.speak(CORPUS_TEXT, voice="en", path_wav=d / "corpus.wav", sr_hz=SR)
    target_audio = mediagen.speak(
        TARGET_TEXT, voice="en-us+f3", path_wav=d / "target.wav", sr_hz=SR
    )
    _video_from_audio(d / "corpus.mp4", corpus_audio)
    build_corpus([d / "corpus.mp4"], d / "corpus")
    out = d / "out.mp4"
    render(Corpus.open(d / "corpus"), d / "target.wav", out)
    output = _decode_mono(out)[: target_audio.size]
    results = {}
    for frame_s in (0.04, 0.02):
        a = loudness_envelope(target_audio[: output.size], frame_s=frame_s)
        b = loudness_envelope(output, frame_s=frame_s)
        results[frame_s] = float(np.corrcoef(a, b)[0, 1])
    print(
        f"speech (corpus voice en, {corpus_audio.size / SR:.0f} s; target voice en-us+f3, "
        f"{target_audio.size / SR:.0f} s): loudness envelope correlation "
        f"{results[0.04]:.3f} at the picture rate (40 ms frames), {results[0.02]:.3f} at 20 ms"
    )
    return [
        ("speech loudness envelope corr., 40 ms (goal >= 0.85)", f"{results[0.04]:.3f}"),
        ("speech loudness envelope corr., 20 ms", f"{results[0.02]:.3f}"),
    ]
