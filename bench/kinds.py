"""Benchmarks for kinds of sound: does the output follow noise bursts, the corpus's own sound,
a singing voice, and the loudness of speech?

Every figure is measured on livecat's rendered output file (its sound decoded again) and its
``--matches`` CSV, at the render's default timing and at a live set's (``lead_s=0``), beside
the original method measured in the same run (bench/seed_method.py: each picture shows the
corpus picture whose 1/fps slice is nearest by raw 16 kHz power spectrum, and plays that
picture's 1/fps clip of the 48 kHz corpus sound) and random slices played the same way (a
sanity row: a metric on which random picks score well measures nothing).

noise   — corpus: 1 s of digital silence and 1 s of white noise in turn; target: five 0.5 s
          noise bursts. Time to first sound, longest gap inside a burst, pictures of noise.
self    — the target is an excerpt of the corpus's own soundtrack (speech; a chorale on
          piano) cut off the picture grid: share of pictures that show where it was cut from.
sung    — a synthetic voice (harmonics, vibrato, jitter, vowel formants) sings a chorale
          melody; corpus: piano playing that melody at another tempo and a chromatic scale.
          Share of pictures whose grain sounds the sung pitch class (and the pitch itself).
speech  — quality.bench_speech's voices, loudness-envelope correlations, also of a mel
          loudness at the engine's hop.

Run from the repository: ``PYTHONPATH=.:bench:tests python bench/kinds.py [--only noise ...]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from quality import (
    CORPUS_TEXT,
    FPS,
    SCORE,
    SR,
    TARGET_TEXT,
    _read_matches,
    _video_from_audio,
    loudness_envelope,
)

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".bench-work"
CLIP = round(SR / FPS)  # samples of one picture's clip (1920)
ORIGINAL_WINDOW = 1536  # the original method's 512-point FFT at 16 kHz, in 48 kHz samples
Note = tuple[float, float, int, int]  # mediagen.Note: start_s, end_s, midi pitch, velocity


@dataclass
class Run:
    """One method's result on one target: its output sound and what each picture showed."""

    name: str
    audio: np.ndarray  # the output's sound at SR
    rows: list[tuple[float, float, int]]  # per picture: t_s, source_t_s heard at its middle, entry
    entry_pts_s: np.ndarray  # per picture: the shown entry's picture time in the corpus (NaN: none)
    lead_s: float | None = None  # livecat's lead; None for the slice methods
    hop: int = 0  # livecat's decision hop (samples at SR)
    window: int = ORIGINAL_WINDOW  # samples at SR a decision looks at

    def decision_window(self, k: int) -> tuple[int, int]:
        """Target samples [start, stop) that picture k's choice was made on. livecat: the
        analysis window ending at the last decision (on the hop grid) at or before the
        picture's middle plus the lead, as the render shows it; slice methods: the 512
        samples at 16 kHz from the picture's start that the original method's FFT sees."""
        if self.lead_s is None:
            return k * CLIP, k * CLIP + self.window
        middle = round((k + 0.5) * SR / FPS)
        end = (middle + round(self.lead_s * SR)) // self.hop * self.hop
        return max(end - self.window, 0), end


def _db(power: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.asarray(power, np.float64) + 1e-12)


def _level_db(audio: np.ndarray) -> float:
    """Mean power in dBFS (-120 for nothing)."""
    return float(_db(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else -120.0


def _cached_wav(path: Path, make: Callable[[Path], object]) -> np.ndarray:
    """The sound at ``path``, made by ``make(path)`` only if the file is not there yet."""
    import mediagen

    if not path.exists():
        make(path)
    return mediagen.read_audio(path, sr_hz=SR)


def _build(corpus_mp4: Path, corpus_dir: Path) -> None:
    """Built afresh every run, unlike the media: the descriptor is the engine's to change."""
    from livecat.corpus import build_corpus

    build_corpus([corpus_mp4], corpus_dir)


def _livecat_runs(corpus_dir: Path, target_wav: Path, d: Path) -> list[Run]:
    """Render at the default lead and at lead 0; read back the output file and the CSV."""
    from livecat.corpus import Corpus
    from livecat.media import decode_audio
    from livecat.render import render
    from livecat.synthesis import EngineSettings

    runs = []
    for name, lead_s in (("livecat", None), ("livecat, lead 0", 0.0)):
        corpus = Corpus.open(corpus_dir)
        pts = np.asarray(corpus.entries["pts_s"], np.float64)
        out, csv = d / "out.mp4", d / "matches.csv"
        report = render(corpus, target_wav, out, matches=csv, fps=FPS, lead_s=lead_s)
        rows = _read_matches(csv)
        runs.append(
            Run(
                name,
                decode_audio(out, sr_hz=SR, align_to_video=False),
                rows,
                np.array([pts[e] if e >= 0 else np.nan for _, _, e in rows]),
                lead_s=report.lead_s,
                hop=round(EngineSettings().hop_s * SR),
                window=corpus.params.n_fft * (SR // corpus.params.sr_hz),
            )
        )
    return runs


def _slice_run(name: str, picks: np.ndarray, corpus_48k: np.ndarray) -> Run:
    """A slice method's output: picture k shows corpus picture picks[k] and plays its clip,
    so at the picture's middle the clip's middle sounds."""
    clips = [corpus_48k[c * CLIP : (c + 1) * CLIP] for c in picks]
    audio = np.concatenate([np.pad(c, (0, CLIP - c.size)) for c in clips]).astype(np.float32)
    rows = [(k / FPS, (int(c) + 0.5) / FPS, int(c)) for k, c in enumerate(picks)]
    return Run(name, audio, rows, np.asarray(picks, np.float64) / FPS)


def _all_runs(corpus_mp4: Path, target_wav: Path, d: Path) -> list[Run]:
    """livecat (default, lead 0), the original method, random slices: all on one target."""
    import seed_method

    from livecat.media import decode_audio

    _build(corpus_mp4, d / "corpus")
    runs = _livecat_runs(d / "corpus", target_wav, d)
    corpus_16k = decode_audio(corpus_mp4, sr_hz=seed_method.SR)
    corpus_48k = decode_audio(corpus_mp4, sr_hz=SR)
    picks = seed_method.pick_slices(
        corpus_16k, decode_audio(target_wav, sr_hz=seed_method.SR), fps=FPS
    )
    slices = int(corpus_16k.size / seed_method.SR * FPS)
    chance = np.random.default_rng(0).integers(0, slices, picks.size)
    return [
        *runs,
        _slice_run("original method", picks, corpus_48k),
        _slice_run("random slices (sanity)", chance, corpus_48k),
    ]


def _table(title: str, header: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    """Print a table: first column left-aligned, the others right-aligned to fit."""
    widths = [max(len(str(row[i])) for row in (header, *lines)) for i in range(len(header))]
    print(title)
    for row in (header, *lines):
        cells = [f"{row[0]:<{widths[0]}}"] + [
            f"{v:>{w}}" for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells))


# -- noise bursts -------------------------------------------------------------------------------
NOISE_CORPUS_DB = -20.0
BURST_DB = -26.0
BURST_S = 0.5
# Bursts every 1.5 s, each a few ms off the picture grid (40 ms) and the hop grid (10.7 ms) in
# its own way, as live input is.
BURST_STARTS_S = (1.013, 2.527, 4.035, 5.504, 7.021)
SHORT_WINDOW = 120  # 2.5 ms: the short-term level's window
SHORT_STEP = 24  # 0.5 ms between short-term levels
FIRST_SOUND_DB = 20.0  # "sound": the output within this of the burst's level
GAP_DB = 6.0  # "gap": the output this far below the target's own short-term level


def short_levels_db(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Short-term level (dBFS, mean power over SHORT_WINDOW samples) every SHORT_STEP samples;
    returns (window end times in s, levels). A window is timed by its end: a sharp onset at t
    lifts the window ending just after t within 20 dB, so this times onsets within a sample."""
    energy = np.concatenate(([0.0], np.cumsum(np.square(audio, dtype=np.float64))))
    ends = np.arange(SHORT_WINDOW, audio.size + 1, SHORT_STEP)
    return ends / SR, _db((energy[ends] - energy[ends - SHORT_WINDOW]) / SHORT_WINDOW)


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True."""
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def _entry_kind(pts_s: float, corpus_48k: np.ndarray) -> str:
    """ "noise" or "silent": the corpus sound heard with the picture at ``pts_s`` (above or
    below -40 dBFS); "none" for no picture."""
    if np.isnan(pts_s):
        return "none"
    heard = corpus_48k[round(pts_s * SR) : round(pts_s * SR) + CLIP]
    return "noise" if _level_db(heard) > -40.0 else "silent"


def burst_scores(
    run: Run, target: np.ndarray, corpus_48k: np.ndarray
) -> list[tuple[float, float, float, float, float]]:
    """Per burst: (first sound - burst start, ms, NaN for none; longest gap, ms; sound past
    the burst's end, ms; share of its pictures showing a noise entry; a silent entry).

    First sound: the first short-term level of the output from 0.5 s before the burst on
    within FIRST_SOUND_DB of the burst's own level (its mean power). Gap: the longest run of
    short-term levels from the first sound (and at least one window into the burst) to its
    end that are more than GAP_DB below the target's short-term level at the same time,
    counted in SHORT_STEPs. A picture belongs to a burst when its middle falls inside it; its
    entry is noise when the corpus sound heard with that picture is above -40 dBFS."""
    out = np.pad(run.audio, (0, max(0, target.size - run.audio.size)))[: target.size]
    t_s, out_db = short_levels_db(out)
    _, in_db = short_levels_db(target)
    scores = []
    for start_s in BURST_STARTS_S:
        end_s = start_s + BURST_S
        burst_db = _level_db(target[round(start_s * SR) : round(end_s * SR)])
        loud = out_db >= burst_db - FIRST_SOUND_DB
        after = np.flatnonzero(loud & (t_s >= start_s - 0.5) & (t_s <= end_s))
        first_s = t_s[after[0]] if after.size else np.nan
        if after.size:
            inside = (t_s >= max(first_s, start_s + SHORT_WINDOW / SR)) & (t_s <= end_s)
            gap = _longest_run(out_db[inside] < in_db[inside] - GAP_DB) * SHORT_STEP / SR
        else:
            gap = BURST_S
        tail = np.flatnonzero(loud & (t_s > end_s) & (t_s <= end_s + 0.5))
        tail_s = t_s[tail[-1]] - end_s if tail.size else 0.0
        kinds = [
            _entry_kind(run.entry_pts_s[k], corpus_48k)
            for k, (t_k, _, _) in enumerate(run.rows)
            if start_s <= t_k + 0.5 / FPS < end_s
        ]
        scores.append(
            (
                (first_s - start_s) * 1e3,
                gap * 1e3,
                tail_s * 1e3,
                kinds.count("noise") / max(len(kinds), 1),
                kinds.count("silent") / max(len(kinds), 1),
            )
        )
    return scores


def _noise_media(d: Path) -> tuple[Path, Path, np.ndarray]:
    import mediagen

    def corpus_wav(path: Path) -> None:
        noise = mediagen.noise(duration_s=20.0, level_db=NOISE_CORPUS_DB, seed=0)
        second = np.arange(noise.size) // SR
        mediagen.write_audio(path, np.where(second % 2 == 1, noise, 0.0), sr_hz=SR)

    def target_wav(path: Path) -> None:
        audio = np.zeros(round((BURST_STARTS_S[-1] + BURST_S + 1.0) * SR), np.float32)
        for i, start_s in enumerate(BURST_STARTS_S):
            burst = mediagen.noise(duration_s=BURST_S, level_db=BURST_DB, seed=10 + i)
            audio[round(start_s * SR) : round(start_s * SR) + burst.size] = burst
        mediagen.write_audio(path, audio, sr_hz=SR)

    corpus = _cached_wav(d / "corpus.wav", corpus_wav)
    _video_from_audio(d / "corpus.mp4", corpus)
    target = _cached_wav(d / "target.wav", target_wav)
    return d / "corpus.mp4", d / "target.wav", target


def bench_noise_bursts(work: Path) -> list[tuple[str, str]]:
    """Noise is the plainest sound there is: the output should start with the burst, never
    drop out during it, and show noise, not silence, while it lasts."""
    from livecat.corpus import Corpus
    from livecat.media import decode_audio
    from livecat.render import render

    started = time.perf_counter()
    d = work / "kinds-noise"
    d.mkdir(parents=True, exist_ok=True)
    corpus_mp4, target_wav, target = _noise_media(d)
    corpus_48k = decode_audio(corpus_mp4, sr_hz=SR)
    runs = _all_runs(corpus_mp4, target_wav, d)
    # The target itself through a render's encoder and decoder: the figures' zero (a file
    # whose sound were shifted would move every figure by as much).
    render(Corpus.open(d / "corpus"), target_wav, d / "calibration.mp4", mix_target=1.0)
    calibration = Run(
        "the target, rendered (calibration)",
        decode_audio(d / "calibration.mp4", sr_hz=SR, align_to_video=False),
        [],
        np.zeros(0),
    )
    silent = Run("silent output (sanity)", np.zeros_like(target), [], np.zeros(0))
    lines = []
    figures = {}
    for run in [*runs, calibration, silent]:
        scores = np.array(burst_scores(run, target, corpus_48k))
        first, gap, tail, noise, quiet = scores.T
        figures[run.name] = (first, gap)
        per_burst = " ".join("none" if np.isnan(v) else f"{v:+.1f}" for v in first)
        lines.append(
            (
                run.name,
                per_burst,
                f"{np.nanmean(first):+.1f}" if not np.isnan(first).all() else "none",
                f"{np.max(np.abs(first)):.1f}" if not np.isnan(first).any() else "none",
                " ".join(f"{v:.1f}" for v in gap),
                f"{gap.max():.1f}",
                f"{tail.mean():.0f}",
                f"{noise.mean():.2f}" if run.rows else "-",
                f"{quiet.mean():.2f}" if run.rows else "-",
            )
        )
    _table(
        f"noise bursts: corpus 20 s of 1 s silence / 1 s white noise ({NOISE_CORPUS_DB:g} dBFS), "
        f"target {len(BURST_STARTS_S)} bursts of {BURST_S} s at {BURST_DB:g} dBFS starting "
        f"{', '.join(f'{s:g}' for s in BURST_STARTS_S)} s",
        (
            "method",
            "first sound, ms (per burst)",
            "mean",
            "max |.|",
            "longest gap, ms (per burst)",
            "max",
            "tail ms",
            "noise pics",
            "silent pics",
        ),
        lines,
    )
    print(
        f"  first sound: first 2.5 ms window (every 0.5 ms, timed by its end) within "
        f"{FIRST_SOUND_DB:g} dB of the burst's level; gap: longest run of windows > {GAP_DB:g} "
        "dB under the target's own; tail: sound past the burst's end. Goals: first sound "
        "within 10 ms of the burst's start (12 ms at lead 0), no gap over 10 ms"
    )
    for run in runs[:2]:
        _noise_diagnostics(run, corpus_48k)
    out = []
    for name, goal_first in (("livecat", 10.0), ("livecat, lead 0", 12.0)):
        first, gap = figures[name]
        worst = np.max(np.abs(first)) if not np.isnan(first).any() else np.inf
        out += [
            (f"noise {name}: first sound max |ms| (goal <= {goal_first:g})", f"{worst:.1f}"),
            (f"noise {name}: first sound mean ms", f"{np.nanmean(first):+.1f}"),
            (f"noise {name}: longest gap max ms (goal <= 10)", f"{gap.max():.1f}"),
        ]
    first, gap = figures["original method"]
    out += [
        ("noise original method: first sound max |ms|", f"{np.max(np.abs(first)):.1f}"),
        ("noise original method: longest gap max ms", f"{gap.max():.1f}"),
    ]
    print(f"  (noise bursts took {time.perf_counter() - started:.0f} s)")
    return out


def _noise_diagnostics(run: Run, corpus_48k: np.ndarray) -> None:
    """What livecat showed and played during the bursts: the kind of entry shown, and where
    the grain heard at each picture's middle was in the footage, counted from the start of
    the nearest noise second (negative: still in the silence before it)."""
    shown, heard = Counter(), Counter()
    for k, (t_s, source_t_s, _) in enumerate(run.rows):
        if not any(s <= t_s + 0.5 / FPS < s + BURST_S for s in BURST_STARTS_S):
            continue
        pts = run.entry_pts_s[k]
        shown[f"{_entry_kind(pts, corpus_48k)} at {pts % 2.0:.2f} s"] += 1
        if np.isnan(pts):
            continue
        into_s = (source_t_s - 1.0) % 2.0  # noise seconds start at odd seconds
        into_ms = (into_s - 2.0 if into_s > 1.0 else into_s) * 1e3
        heard[f"{10 * round(into_ms / 10):+.0f} ms"] += 1
    print(
        f"  {run.name}: pictures shown in the bursts (kind, time in the 2 s cycle): "
        + ", ".join(f"{k} x{n}" for k, n in shown.most_common(6))
    )
    print(
        f"  {run.name}: grain heard at their middles, from the footage's noise onset: "
        + ", ".join(f"{k} x{n}" for k, n in heard.most_common(8))
    )


# -- the corpus's own sound as the target -------------------------------------------------------
SELF_OFFSET_S = 3.013  # where the excerpt starts in the corpus: 13 ms off the picture grid
SELF_LENGTH_S = 12.0
SELF_TOLERANCE_S = 1.0 / FPS  # one entry either way


def self_target_scores(run: Run, target: np.ndarray) -> tuple[float, list[tuple[float, float]]]:
    """(share right, (t_s, error in s) of each picture counted; inf: no entry).

    A picture counts when the target's level over the window its choice was made on
    (:meth:`Run.decision_window`, mean power) reaches the engine's gate. It is right when
    the corpus time heard at its middle (the CSV's source_t_s; a slice's middle) is within
    one entry (40 ms) of where the target heard then was cut from (middle + offset)."""
    from livecat.synthesis import EngineSettings

    gate_db = EngineSettings().gate_db
    errors = []
    for k, (t_s, source_t_s, entry) in enumerate(run.rows):
        start, stop = run.decision_window(k)
        if _level_db(target[start:stop]) < gate_db:
            continue
        wanted = t_s + 0.5 / FPS + SELF_OFFSET_S
        errors.append((t_s, source_t_s - wanted if entry >= 0 else np.inf))
    right = sum(abs(e) <= SELF_TOLERANCE_S + 1e-6 for _, e in errors)
    return right / max(len(errors), 1), errors


def _miss_clusters(misses: list[tuple[float, float]], *, apart_s: float = 0.5) -> str:
    """Misses (t_s, error) as stretches of the target, split where apart_s passes without
    one: "8.48-11.24 s (16, errors -11.2..+16.3 s)"."""
    if not misses:
        return "none"
    groups: list[list[tuple[float, float]]] = [[misses[0]]]
    for miss in misses[1:]:
        if miss[0] - groups[-1][-1][0] > apart_s:
            groups.append([])
        groups[-1].append(miss)
    return ", ".join(
        f"{g[0][0]:.2f}-{g[-1][0]:.2f} s ({len(g)}, errors "
        f"{min(e for _, e in g):+.2f}..{max(e for _, e in g):+.2f} s)"
        for g in groups
    )


def _speech_corpus(work: Path) -> tuple[Path, None]:
    """quality.bench_speech's corpus voice, made once for the benchmarks that use it."""
    import mediagen

    d = work / "kinds-speech-corpus"
    d.mkdir(parents=True, exist_ok=True)
    audio = _cached_wav(
        d / "corpus.wav",
        lambda p: mediagen.speak(CORPUS_TEXT, voice="en", path_wav=p, sr_hz=SR),
    )
    _video_from_audio(d / "corpus.mp4", audio)
    return d / "corpus.mp4", None


def _chorale_corpus(work: Path, *, tempo_bpm: float = 80.0) -> tuple[Path, list[Note]]:
    """quality.bench_music's corpus: the chorale's four parts on GM piano; and its notes."""
    import mediagen

    d = work / "kinds-chorale-corpus"
    d.mkdir(parents=True, exist_ok=True)
    notes = mediagen.score_notes(SCORE, part=None, tempo_bpm=tempo_bpm)
    audio = _cached_wav(
        d / "corpus.wav",
        lambda p: mediagen.render_midi_notes(notes, program=0, path_wav=p),
    )
    _video_from_audio(d / "corpus.mp4", audio)
    return d / "corpus.mp4", notes


def bench_self_target(work: Path) -> list[tuple[str, str]]:
    """Given its own sound, the corpus should find itself: a clean test of the matching, free
    of any judgement of what "similar" means."""
    import mediagen

    from livecat.media import decode_audio

    started = time.perf_counter()
    out = []
    for kind, make_corpus in (("speech", _speech_corpus), ("chorale", _chorale_corpus)):
        d = work / f"kinds-self-{kind}"
        d.mkdir(parents=True, exist_ok=True)
        corpus_mp4, notes = make_corpus(work)
        soundtrack = decode_audio(corpus_mp4, sr_hz=SR)  # as the corpus hears it
        first = round(SELF_OFFSET_S * SR)
        target_wav = d / "target.wav"
        mediagen.write_audio(
            target_wav, soundtrack[first : first + round(SELF_LENGTH_S * SR)], sr_hz=SR
        )
        target = mediagen.read_audio(target_wav, sr_hz=SR)
        lines, notes_lines = [], []
        for run in _all_runs(corpus_mp4, target_wav, d):
            share, errors = self_target_scores(run, target)
            finite = np.array([e for _, e in errors if np.isfinite(e)])
            hits = finite[np.abs(finite) <= SELF_TOLERANCE_S + 1e-6]
            misses = [(t, e) for t, e in errors if abs(e) > SELF_TOLERANCE_S + 1e-6]
            same = "-"
            if notes is not None and misses:
                # A held chord sounds alike wherever it is held: misses onto the very notes
                # that sound at the right place.
                same_notes = [
                    mediagen.notes_sounding_at(notes, t + 0.5 / FPS + SELF_OFFSET_S + e)
                    == mediagen.notes_sounding_at(notes, t + 0.5 / FPS + SELF_OFFSET_S)
                    for t, e in misses
                    if np.isfinite(e)
                ]
                same = f"{np.mean(same_notes):.2f}"
            lines.append(
                (
                    run.name,
                    f"{share:.4f}",
                    f"{len(errors)}/{len(run.rows)}",
                    f"{np.median(hits) * 1e3:+.0f}" if hits.size else "-",
                    f"{np.mean([abs(e) < 0.2 for _, e in misses]):.2f}" if misses else "-",
                    same,
                    f"{len(errors) - finite.size}",
                )
            )
            if run.name.startswith("livecat"):
                notes_lines.append(f"  {run.name}: misses at {_miss_clusters(misses)}")
            if not run.name.startswith("random"):
                goal = " (goal >= 0.995)" if run.name.startswith("livecat") else ""
                out.append((f"self {kind}, {run.name}: right place{goal}", f"{share:.4f}"))
        _table(
            f"self-target, {kind}: {SELF_LENGTH_S:g} s of the corpus's own sound from "
            f"{SELF_OFFSET_S} s ({soundtrack.size / SR:.0f} s corpus)",
            (
                "method",
                "right place",
                "pictures counted",
                "median error of right ones, ms",
                "misses within 200 ms",
                "misses on the same notes",
                "no entry",
            ),
            lines,
        )
        print("\n".join(notes_lines))
    print(
        "  counted: pictures whose decision window's level (mean power) reaches the gate "
        "(-55 dBFS); right: the source time heard at the picture's middle within 40 ms of "
        "the target's origin there. Goal: >= 0.995"
    )
    print(f"  (self-target took {time.perf_counter() - started:.0f} s)")
    return out


# -- a singing voice ----------------------------------------------------------------------------
# Soprano formants: centre frequencies F1-F3 (Hz) and bandwidths (Hz), after the classic
# tables of sung vowels; F4 and F5 are fixed at 3900 and 4950 Hz.
VOWELS = {
    "a": ((800, 1150, 2900), (80, 90, 120)),
    "e": ((350, 2000, 2800), (60, 100, 120)),
    "i": ((270, 2140, 2950), (60, 90, 100)),
    "o": ((450, 800, 2830), (70, 80, 100)),
    "u": ((325, 700, 2700), (50, 60, 170)),
}
SUNG_BPM = 100.0
PIANO_BPM = 80.0
SCALE_MIDI = (52, 89)  # the corpus's chromatic scale, E3 to E6: around the melody's E4-E5
SCALE_NOTE_S = 0.5


def _resonate(x: np.ndarray, freq_hz: float, bandwidth_hz: float) -> np.ndarray:
    """A second-order resonator with unit gain at 0 Hz (Klatt's): a cascade of them shapes
    a source as a vocal tract's formants do, relative levels included."""
    import scipy.signal

    c = -np.exp(-2 * np.pi * bandwidth_hz / SR)
    b = 2 * np.exp(-np.pi * bandwidth_hz / SR) * np.cos(2 * np.pi * freq_hz / SR)
    return scipy.signal.lfilter([1 - b - c], [1, -b, -c], x)


def sing(
    notes: list[Note],
    *,
    seed: int = 0,
    rolloff: float = 1.2,
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 40.0,
    jitter: float = 0.004,
    attack_s: float = 0.04,
    release_s: float = 0.06,
) -> np.ndarray:
    """A synthetic singer: harmonics falling as 1/n^rolloff (band-limited to 10 kHz), with
    vibrato (rate within 5 % of ``vibrato_hz``, fading in over 0.2 s), slow pitch wander and
    fast period ``jitter`` (relative), and a little breath noise, through the formants of the
    vowels a e i o u, one vowel per note in turn. Each note rises over ``attack_s`` and dies
    over ``release_s`` after its end. Peak -6 dBFS."""
    import scipy.signal

    rng = np.random.default_rng(seed)
    out = np.zeros(round((max(end for _, end, _, _ in notes) + release_s + 0.2) * SR))
    slow = scipy.signal.butter(2, 4.0, fs=SR, output="sos")
    fast = scipy.signal.butter(2, 150.0, fs=SR, output="sos")
    for i, (start_s, end_s, pitch, _) in enumerate(notes):
        n = round((end_s - start_s + release_s) * SR)
        t = np.arange(n) / SR
        rate = vibrato_hz * rng.uniform(0.95, 1.05)
        cents = (
            vibrato_cents
            * np.minimum(t / 0.2, 1.0)
            * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
        )
        wander = scipy.signal.sosfilt(slow, rng.standard_normal(n))
        cents += 8.0 * wander / (wander.std() + 1e-12)
        shake = scipy.signal.sosfilt(fast, rng.standard_normal(n))
        f0 = 440.0 * 2 ** ((pitch - 69 + cents / 100) / 12) * (1 + jitter * shake / shake.std())
        phase = 2 * np.pi * np.cumsum(f0) / SR
        source = sum(
            h**-rolloff * np.sin(h * phase) * (h * f0 < 10000.0)
            for h in range(1, int(10000.0 / f0.min()) + 1)
        )
        source = source + 0.02 * rng.standard_normal(n)
        formants, bandwidths = VOWELS["aeiou"[i % 5]]
        voice = source
        for f, bw in zip((*formants, 3900, 4950), (*bandwidths, 150, 200), strict=True):
            voice = _resonate(voice, f, bw)
        envelope = np.ones(n)
        rise, fall = round(attack_s * SR), round(release_s * SR)
        envelope[:rise] = 0.5 - 0.5 * np.cos(np.pi * np.arange(rise) / rise)
        envelope[n - fall :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fall) / fall)
        first = round(start_s * SR)
        out[first : first + n] += voice * envelope
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def _sung_media(d: Path) -> tuple[Path, list[Note], Path, list[Note]]:
    """(corpus video, its notes, the sung target's WAV, its notes)."""
    import mediagen

    melody = mediagen.score_notes(SCORE, part=0, tempo_bpm=PIANO_BPM)
    scale_start = max(end for _, end, _, _ in melody) + 1.0
    scale = [
        (scale_start + i * SCALE_NOTE_S, scale_start + (i + 1) * SCALE_NOTE_S, p, 90)
        for i, p in enumerate(range(*SCALE_MIDI))
    ]
    corpus_notes = melody + scale
    audio = _cached_wav(
        d / "corpus.wav",
        lambda p: mediagen.render_midi_notes(corpus_notes, program=0, path_wav=p),
    )
    _video_from_audio(d / "corpus.mp4", audio)
    target_notes = mediagen.score_notes(SCORE, part=0, tempo_bpm=SUNG_BPM)
    _cached_wav(
        d / "target.wav",
        lambda p: mediagen.write_audio(p, sing(target_notes), sr_hz=SR),
    )
    return d / "corpus.mp4", corpus_notes, d / "target.wav", target_notes


ONSET_S = 0.1  # a miss this soon after the sung note's start is counted as late


def sung_scores(
    run: Run, target_notes: list[Note], corpus_notes: list[Note]
) -> tuple[float, float, Counter, float]:
    """(share of pictures whose grain sounds the sung pitch class, the sung pitch, a count of
    the pitch-class misses by kind, the share of those within ONSET_S of the sung note's
    start). Pictures count whose middle falls in a sung note; the grain's notes are the
    corpus notes sounding at the source time heard at that middle."""
    import mediagen

    pc = exact = counted = late = 0
    misses: Counter = Counter()
    for t_s, source_t_s, entry in run.rows:
        middle = t_s + 0.5 / FPS
        sung = [n for n in target_notes if n[0] <= middle < n[1]]
        if not sung:
            continue
        counted += 1
        note_start, _, pitch, _ = sung[0]
        chosen = mediagen.notes_sounding_at(corpus_notes, source_t_s) if entry >= 0 else set()
        exact += pitch in chosen
        if pitch % 12 in {p % 12 for p in chosen}:
            pc += 1
            if pitch not in chosen:
                misses["octave " + "/".join(f"{p - pitch:+d}" for p in sorted(chosen))] += 1
            continue
        late += middle - note_start < ONSET_S
        if not chosen:
            misses["no note there" if entry >= 0 else "no entry"] += 1
        else:
            misses["/".join(f"{p - pitch:+d}" for p in sorted(chosen)) + " st"] += 1
    wrong = counted - pc
    return pc / max(counted, 1), exact / max(counted, 1), misses, late / max(wrong, 1)


def bench_sung_melody(work: Path) -> list[tuple[str, str]]:
    """A voice has the pitch of an instrument and the timbre of speech: the pitch must win."""
    started = time.perf_counter()
    d = work / "kinds-sung"
    d.mkdir(parents=True, exist_ok=True)
    corpus_mp4, corpus_notes, target_wav, target_notes = _sung_media(d)
    scale_start = corpus_notes[-(SCALE_MIDI[1] - SCALE_MIDI[0])][0]
    lines, out = [], []
    for run in _all_runs(corpus_mp4, target_wav, d):
        pc, exact, misses, late = sung_scores(run, target_notes, corpus_notes)
        in_scale = np.mean([s >= scale_start for _, s, e in run.rows if e >= 0])
        worst = ", ".join(f"{k} x{n}" for k, n in misses.most_common(4))
        lines.append(
            (run.name, f"{pc:.3f}", f"{exact:.3f}", f"{in_scale:.2f}", f"{late:.2f}", worst)
        )
        if not run.name.startswith("random"):
            goal = " (goal >= 0.90)" if run.name.startswith("livecat") else ""
            out += [
                (f"sung {run.name}: pitch class{goal}", f"{pc:.3f}"),
                (f"sung {run.name}: exact pitch", f"{exact:.3f}"),
            ]
    _table(
        f"sung melody: {SCORE} soprano sung (synthetic voice, vowels a-e-i-o-u) at "
        f"{SUNG_BPM:g} bpm; corpus: GM piano, the melody at {PIANO_BPM:g} bpm and MIDI "
        f"{SCALE_MIDI[0]}-{SCALE_MIDI[1] - 1} chromatic",
        (
            "method",
            "pitch class",
            "exact pitch",
            "picks in scale",
            f"misses <= {ONSET_S * 1e3:.0f} ms into a note",
            "commonest misses (corpus notes - sung, semitones)",
        ),
        lines,
    )
    print(
        "  scored at each picture's middle while a sung note sounds; the grain's notes: the "
        "corpus notes sounding at the source time heard there. Goal: pitch class >= 0.90"
    )
    print(f"  (sung melody took {time.perf_counter() - started:.0f} s)")
    return out


# -- loudness of speech -------------------------------------------------------------------------
MEL_N_FFT = 2048
MEL_HOP = 512
MEL_BANDS = 40
MEL_RANGE_HZ = (40.0, 12000.0)


def mel_weights() -> np.ndarray:
    """Per FFT bin (2048 points at 48 kHz), the sum of MEL_BANDS triangular filters spaced
    evenly on the HTK mel scale over MEL_RANGE_HZ, each of unit area (so each band gives the
    mean power density under it): summing the bands' powers weighs the spectrum as this."""
    bins_hz = np.fft.rfftfreq(MEL_N_FFT, 1.0 / SR)
    mel = np.linspace(*(2595 * np.log10(1 + np.array(MEL_RANGE_HZ) / 700)), MEL_BANDS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    triangles = np.maximum(
        0, np.minimum((bins_hz - lower) / (centre - lower), (upper - bins_hz) / (upper - centre))
    )
    return (triangles * 2 / (upper - lower)).sum(axis=0)


def mel_loudness_db(audio: np.ndarray) -> np.ndarray:
    """Mel loudness: the summed mel-band powers of Hann-windowed 2048-sample windows (43 ms)
    starting every 512 samples (10.7 ms) from sample 0, in dB, scaled so that white noise
    reads its own mean power (dBFS) and floored at -60 dB as quality.loudness_envelope is
    (a digital silence at -120 dB would otherwise weigh on the correlation like no speech
    sound does)."""
    window = np.hanning(MEL_N_FFT)
    weights = mel_weights()
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), MEL_N_FFT)
    power = np.abs(np.fft.rfft(frames[::MEL_HOP] * window, axis=1)) ** 2
    mel_power = power @ weights / (np.sum(window**2) * weights.sum())
    return 10.0 * np.log10(mel_power + 1e-6)


ENVELOPES = {
    "mel 43 ms / 10.7 ms": mel_loudness_db,
    "40 ms": lambda a: loudness_envelope(a, frame_s=0.04),
    "20 ms": lambda a: loudness_envelope(a, frame_s=0.02),
}


def envelope_correlations(target: np.ndarray, output: np.ndarray) -> dict[str, tuple]:
    """Per envelope: (correlation as is, the best correlation with the output moved earlier
    or later by up to 50 ms, that shift in ms: positive = the output was late). Both from
    sample 0 of each; a moved output is padded with silence. The shift is searched every
    5 ms, then every 1 ms around the best."""
    output = np.pad(output, (0, max(0, target.size - output.size)))[: target.size]
    reach, ms = round(0.05 * SR), SR // 1000
    results = {}
    for name, envelope in ENVELOPES.items():
        a = envelope(target)

        def corr(lag: int, envelope=envelope, a=a) -> float:
            moved = np.pad(output[lag:], (0, lag)) if lag >= 0 else np.pad(output, (-lag, 0))
            return float(np.corrcoef(a, envelope(moved[: target.size]))[0, 1])

        coarse = max(range(-reach, reach + 1, 5 * ms), key=corr)
        fine = range(max(coarse - 4 * ms, -reach), min(coarse + 4 * ms, reach) + 1, ms)
        best = max(fine, key=corr)
        results[name] = (corr(0), corr(best), best / SR * 1e3)
    return results


SPEAKING_DB = -40.0  # an envelope frame of the target this loud is speech, not a pause


def envelope_split(target: np.ndarray, output: np.ndarray) -> tuple[float, float, float]:
    """Where the mel envelope's correlation is won or lost, on the frames as is: (its
    correlation over the frames where the target speaks, the output's mean level there
    minus the target's in dB, the share of the target's pauses where the output sounds).
    The correlation over all frames mostly rewards quiet in the pauses; the first figure is
    the following of syllables."""
    output = np.pad(output, (0, max(0, target.size - output.size)))[: target.size]
    a, b = mel_loudness_db(target), mel_loudness_db(output)
    speaking = a >= SPEAKING_DB
    return (
        float(np.corrcoef(a[speaking], b[speaking])[0, 1]),
        float(np.mean(b[speaking] - a[speaking])),
        float(np.mean(b[~speaking] >= SPEAKING_DB)),
    )


def bench_speech_envelope(work: Path) -> list[tuple[str, str]]:
    """Speech is its loudness first: the output's envelope should rise and fall with the
    target's, at the picture rate and at the engine's hop."""
    import mediagen

    started = time.perf_counter()
    d = work / "kinds-speech"
    d.mkdir(parents=True, exist_ok=True)
    corpus_mp4, _ = _speech_corpus(work)
    target = _cached_wav(
        d / "target.wav",
        lambda p: mediagen.speak(TARGET_TEXT, voice="en-us+f3", path_wav=p, sr_hz=SR),
    )
    lines, splits, out = [], [], []
    for run in _all_runs(corpus_mp4, d / "target.wav", d):
        results = envelope_correlations(target, run.audio)
        speaking, level_db, pauses = envelope_split(target, run.audio)
        splits.append((run.name, f"{speaking:.3f}", f"{level_db:+.1f}", f"{pauses:.2f}"))
        lines.append(
            (
                run.name,
                *(f"{results[name][0]:.3f}" for name in ENVELOPES),
                *(f"{results[name][1]:.3f} at {results[name][2]:+.0f}" for name in ENVELOPES),
            )
        )
        if not run.name.startswith("random"):
            livecat = run.name.startswith("livecat")
            out += [
                (
                    f"speech {run.name}: mel loudness corr."
                    + (" (goal >= 0.93)" if livecat else ""),
                    f"{results['mel 43 ms / 10.7 ms'][0]:.3f}",
                ),
                (
                    f"speech {run.name}: 40 ms loudness corr."
                    + (" (goal >= 0.96)" if livecat else ""),
                    f"{results['40 ms'][0]:.3f}",
                ),
                (f"speech {run.name}: 20 ms loudness corr.", f"{results['20 ms'][0]:.3f}"),
            ]
    _table(
        f"speech envelope: corpus voice en ({CORPUS_TEXT[:20]}...), target voice en-us+f3 "
        f"({target.size / SR:.1f} s); correlation of loudness envelopes (dB), as is, and the "
        "best over shifts of the output within ±50 ms (ms; + = output late)",
        (
            "method",
            *ENVELOPES,
            *(f"best {name}" for name in ENVELOPES),
        ),
        lines,
    )
    _table(
        f"  where (mel envelope, as is): speech = target frames >= {SPEAKING_DB:g} dBFS "
        f"({np.mean(mel_loudness_db(target) >= SPEAKING_DB):.0%} of them)",
        ("method", "corr. while speaking", "output - target dB", "pauses with sound"),
        splits,
    )
    print(
        "  mel: 10 log10(1e-6 + sum of 40 unit-area mel bands (HTK, 40 Hz-12 kHz) of Hann "
        "2048-sample windows every 512 samples at 48 kHz, scaled so white noise reads its "
        "dBFS); 40 ms / 20 ms: 10 log10(1e-6 + mean power) of back-to-back frames "
        "(quality.loudness_envelope). Goals: mel >= 0.93, 40 ms >= 0.96"
    )
    print(f"  (speech envelope took {time.perf_counter() - started:.0f} s)")
    return out


SECTIONS = {
    "noise": bench_noise_bursts,
    "self": bench_self_target,
    "sung": bench_sung_melody,
    "speech-envelope": bench_speech_envelope,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=list(SECTIONS), help="sections to run")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    WORK.mkdir(exist_ok=True)
    started = time.perf_counter()
    results: list[tuple[str, str]] = []
    for name in args.only or list(SECTIONS):
        print(f"\n== {name} ==")
        results += SECTIONS[name](WORK)
    print("\n== summary ==")
    width = max(len(key) for key, _ in results) if results else 0
    for key, value in results:
        print(f"{key:<{width}} {value}")
    print(f"(kinds took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    raise SystemExit(main())
