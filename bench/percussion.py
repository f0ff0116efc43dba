"""Percussion benchmarks: does the output keep the target's hits, and show the right drum?

drums    — General MIDI drums rendered dry by FluidSynth (FluidR3 GM, MIDI channel 10). Corpus
           = every drum alone, then grooves and fills, on the Standard kit at 100 bpm (55 s).
           Targets = other grooves at 128 bpm, and isolated hits of each class 0.6-1 s apart
           in a seeded order, each on the Power kit (where the goals are set) and on the
           TR-808 kit. Ground truth = the MIDI hits.
beatbox  — espeak-ng saying percussion syllables one at a time, placed on a timeline with
           seeded gaps, against the same drum corpus; ground truth = where each was placed.

Two scores, both read from the rendered output and its match log (nothing inside the engine):

onset F1        the onsets :func:`detect_onsets` finds in the output's sound against the
                target's true hit times (±50 ms, one-to-one). Hits that coincide (kick + hat)
                are one onset. The detector is checked on each target itself first.
hit-class acc.  for each target onset at t, the picture shown at t + 20 ms (the match-log row
                whose interval holds it): the classes of the corpus onset sounding where that
                picture's grain plays (:func:`class_at`). Right when they include one of the
                target onset's classes, so a kick + hat shown for a hat counts: a picture
                cannot show half a hit, and the corpus grooves, like any drummer's, rarely
                play a drum alone. The random-picks column shows what this leniency is worth.
                A picture's source time is where its grain plays at the picture's middle:
                livecat's ``source_t_s``; for the original, the middle of the chosen slice.

Each is measured for livecat (default render, and at a live set's timing, ``lead_s=0``), the
original method (bench/seed_method.py: nearest raw 16 kHz spectrum per 1/fps slice, its output
the concatenated 1/fps clips of the 48 kHz corpus sound) and random picks, which no score
should rate well.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 48000
FPS = 25.0
CORPUS_KIT = ("Standard", 0)
# The goals are set on the first: a kit of the same kind (acoustic), clearly different (bigger,
# brighter kick and snare, other toms). An 808 drum's nearest acoustic sound is often another
# drum (its kick is a low sine, like a floor tom), so its rows have no goal.
TARGET_KITS = (("Power", 16), ("TR-808", 25))
CORPUS_BPM = 100.0
TARGET_BPM = 128.0
TOLERANCE_S = 0.05  # onset F1 window, as MIREX and mir_eval
PICTURE_DELAY_S = 0.02  # the picture judged is the one shown this long after a hit
HIT_REACH_S = 0.25  # a grain this long after a corpus hit still shows that hit
TAIL_S = 0.06  # a grain starting later than this after its hit plays the hit's tail

# GM drum notes by hit class. Claps (39) and side stick (37) count as snare.
CLASSES = ("kick", "snare", "hat", "tom", "cymbal")
CLASS_NOTES = {
    "kick": (35, 36),
    "snare": (37, 38, 39, 40),
    "hat": (42, 44, 46),
    "tom": (41, 43, 45, 47, 48, 50),
    "cymbal": (49, 51, 52, 55, 57, 59),
}
NOTE_CLASS = {note: name for name, notes in CLASS_NOTES.items() for note in notes}

Hit = tuple[float, int, int]  # start_s, GM drum note, velocity


# -- patterns -----------------------------------------------------------------------------------
# One bar of 16 steps per line: note, then a step string. x = normal, X = accent, g = ghost,
# . = rest. Velocities are humanised (seeded) around 95, 120 and 40.
_VELOCITY = {"x": 95, "X": 120, "g": 40}

CORPUS_BARS = {
    "rock": [
        (42, "X.x.X.x.X.x.X.x."),
        (38, "....X.......X..."),
        (36, "X.......x.x....."),
    ],
    "funk": [
        (42, "XxxxXxxxXxxxXxxx"),
        (38, "....X..g.g..X..g"),
        (36, "x..x..x...x..x.."),
    ],
    "ride": [
        (51, "x.x.x.x.x.x.x.x."),
        (44, "....x.......x..."),
        (40, "....X.......X..."),
        (35, "x.....x.x......."),
    ],
    "open-hat": [
        (42, "x.x.x.x.x.x.x..."),
        (46, "..............X."),
        (39, "....X.......X..."),
        (36, "X.....xx..x....."),
    ],
    "crash": [
        (49, "X..............."),
        (42, "..x.x.x.x.x.x.x."),
        (37, "....x.......x..."),
        (36, "X.....x...x....."),
    ],
    "fill-toms": [
        (50, "XxX............."),
        (48, "...xX..........."),
        (47, ".....xX........."),
        (45, ".......xX......."),
        (43, ".........xX....."),
        (41, "...........xXxX."),
        (38, "g..............X"),
    ],
    "fill-snare": [
        (38, "X.x.XgxgX.xxXxXX"),
        (43, "..............X."),
        (36, "X.......X......."),
    ],
    "cymbals": [
        (57, "X..............."),
        (55, "....X..........."),
        (52, "........X......."),
        (59, "............X..."),
        (36, "X.......x......."),
    ],
}
CORPUS_FORM = (
    *("rock", "rock", "funk", "funk", "fill-toms", "crash", "ride", "ride"),
    *("open-hat", "open-hat", "fill-snare", "cymbals", "funk"),
)

TARGET_BARS = {
    "disco": [
        (36, "X...x...X...x..."),
        (46, "..x...x...x...x."),
        (42, "x...x...x...x..."),
        (38, "....X.......X..."),
    ],
    "break": [
        (36, "X.x.......x....."),
        (38, "....X..g.X..X..."),
        (42, "x.x.x.x.x.x.x.xX"),
    ],
    "toms": [
        (36, "X.....x...x....."),
        (45, "..x.....x......."),
        (41, ".....x.......x.."),
        (39, "....X.......X..."),
        (44, "x.x.x.x.x.x.x.x."),
    ],
    "ride": [
        (51, "X...x...X...x..."),
        (37, "........x......."),
        (40, "....X.......X..."),
        (35, "x.....x.x..x...."),
    ],
    "fill": [
        (38, "xxX............."),
        (48, "...X..x........."),
        (47, "....x..X........"),
        (43, "........x.X....."),
        (41, "...........X.x.."),
        (36, "..............X."),
        (49, "..............X."),
    ],
    "crash": [
        (57, "X..............."),
        (36, "X.....x...x....."),
        (38, "....X.......X..."),
        (42, "..x.x.x.x.x.x.x."),
    ],
}
TARGET_FORM = (
    *("disco", "disco", "break", "break", "fill", "crash", "toms", "toms"),
    *("ride", "ride", "fill", "crash", "break"),
)


def bar_hits(form: list[str], bars: dict, *, bpm: float, start_s: float, seed: int) -> list[Hit]:
    """The hits of ``form`` (names of ``bars``) played one bar after another from
    ``start_s``, velocities humanised by ±12 (seeded), timing exact."""
    rng = np.random.default_rng(seed)
    step_s = 60.0 / bpm / 4
    hits = []
    for b, name in enumerate(form):
        for note, steps in bars[name]:
            for i, mark in enumerate(steps):
                if mark != ".":
                    velocity = int(np.clip(_VELOCITY[mark] + rng.integers(-12, 13), 20, 127))
                    hits.append((start_s + (16 * b + i) * step_s, note, velocity))
    return sorted(hits)


def isolated_hits(
    notes_by_class: dict[str, list[int]],
    *,
    per_class: int,
    gap_s: tuple[float, float],
    start_s: float,
    seed: int,
    velocities: tuple[int, int] = (60, 120),
) -> list[Hit]:
    """``per_class`` single hits of each class in a seeded random order, drum and velocity
    drawn at random within the class and range, ``gap_s`` (min, max) apart."""
    rng = np.random.default_rng(seed)
    order = [name for name in notes_by_class for _ in range(per_class)]
    rng.shuffle(order)
    hits, t = [], start_s
    for name in order:
        note = int(rng.choice(notes_by_class[name]))
        hits.append((t, note, int(rng.integers(velocities[0], velocities[1] + 1))))
        t += float(rng.uniform(*gap_s))
    return hits


def corpus_hits() -> list[Hit]:
    """About 55 s: every drum alone (kicks, snares and hats soft and loud, toms and cymbals
    once; cymbals given 1.2 s to ring, the rest 0.6 s), in a seeded order, then 13 bars of
    grooves and fills."""
    rng = np.random.default_rng(1)
    singles = [
        (note, velocity)
        for note in sorted(NOTE_CLASS)
        for velocity in (
            (int(rng.integers(60, 121)),) if NOTE_CLASS[note] in ("tom", "cymbal") else (50, 110)
        )
    ]
    hits: list[Hit] = []
    t = 0.2
    for i in rng.permutation(len(singles)):
        note, velocity = singles[i]
        hits.append((t, note, velocity))
        # Off the 1/fps grid by a seeded fraction of a picture, as hits in footage are: on
        # it, every attack would open a slice of the original method's.
        t += (1.2 if NOTE_CLASS[note] == "cymbal" else 0.6) + float(rng.uniform(0, 1 / FPS))
    return hits + bar_hits(CORPUS_FORM, CORPUS_BARS, bpm=CORPUS_BPM, start_s=t + 0.4, seed=2)


# -- ground truth -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Onset:
    t_s: float
    classes: frozenset[str]


def onsets_of(hits: list[tuple[float, str]], *, merge_s: float = 0.03) -> list[Onset]:
    """(time, class) hits grouped into onsets: hits within ``merge_s`` of a group's first
    sound as one, its classes the union."""
    out: list[Onset] = []
    for t_s, name in sorted(hits):
        if out and t_s - out[-1].t_s < merge_s:
            out[-1] = Onset(out[-1].t_s, out[-1].classes | {name})
        else:
            out.append(Onset(t_s, frozenset({name})))
    return out


def class_at(onsets: list[Onset], source_t_s: float) -> frozenset[str]:
    """The classes a picture of the corpus at ``source_t_s`` shows: those of the most recent
    corpus onset at or before ``source_t_s`` + 20 ms (a grain starting just before a hit plays
    it), if within :data:`HIT_REACH_S`; else ``{"none"}`` (silence, or a long tail)."""
    i = _last_at_or_before(onsets, source_t_s + 0.02)
    if i < 0 or source_t_s + 0.02 - onsets[i].t_s > HIT_REACH_S:
        return frozenset({"none"})
    return onsets[i].classes


def _last_at_or_before(onsets: list[Onset], t_s: float) -> int:
    times = np.array([o.t_s for o in onsets])
    return int(np.searchsorted(times, t_s, side="right")) - 1


# -- onset detection ----------------------------------------------------------------------------
def _mel_filters(*, sr_hz: int, n_fft: int, n_bands: int, fmin_hz: float, fmax_hz: float):
    """Triangular filters, equally spaced on the mel scale, (n_bands, n_fft // 2 + 1)."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(fmin_hz), mel(fmax_hz), n_bands + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr_hz)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (bins[None] - lo) / (mid - lo)
    fall = (hi - bins[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(rise, fall))


def onset_strength(
    audio: np.ndarray, *, sr_hz: int = SR, hop_s: float = 0.01, n_fft: int = 1024, lag: int = 3
) -> np.ndarray:
    """Spectral flux: per ``hop_s`` frame, the mean over 40 mel bands (30 Hz-16 kHz) of the
    rise in dB since the previous frame, rises only. dB floored at -80 dBFS per band, so
    silence and a codec's noise floor do not flicker; frame n is centred on n * hop_s.

    A Blackman-Harris window: a Hann window's side lobes spill a loud low sine (an 808 kick)
    into the bands above at a level that swings with the sine's phase, which reads as new
    onsets every few frames."""
    import scipy.signal

    hop = int(round(hop_s * sr_hz))
    padded = np.pad(np.asarray(audio, np.float64), (n_fft // 2, n_fft))
    count = audio.size // hop + 1
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    window = scipy.signal.windows.blackmanharris(n_fft)
    spectra = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    # Power of a full-scale sine through this window, so 0 dB = full scale in a band.
    full_scale = (window.sum() / 2) ** 2
    bands = (
        spectra
        @ _mel_filters(sr_hz=sr_hz, n_fft=n_fft, n_bands=40, fmin_hz=30.0, fmax_hz=16000.0).T
    )
    db = 10.0 * np.log10(np.maximum(bands / full_scale, 1e-8))
    # The rise over the loudest of the last ``lag`` frames, not the last one alone: a decaying
    # sound whose level wobbles (beating partials, a low sine against the frame) makes no flux.
    recent = np.full_like(db, -80.0)
    for back in range(1, lag + 1):
        recent[back:] = np.maximum(recent[back:], db[:-back])
    return np.maximum(0.0, db - recent).mean(axis=1)


def detect_onsets(
    audio: np.ndarray,
    *,
    sr_hz: int = SR,
    hop_s: float = 0.01,
    delta_db: float = 2.0,
    min_ioi_s: float = 0.03,
    mean_before_s: float = 0.1,
    mean_after_s: float = 0.03,
) -> np.ndarray:
    """Onset times (s) of ``audio``: peaks of :func:`onset_strength`.

    A frame is an onset when it is the largest within ±``min_ioi_s`` (so two onsets are at
    least that far apart) and exceeds the flux's local mean (``mean_before_s`` before to
    ``mean_after_s`` after) by ``delta_db``, the mean rise per band. The adaptive part keeps a
    busy passage's steady rustle from counting; the fixed part keeps a decaying tail's small
    rises from counting. The time reported is the frame's centre less half a hop: the flux
    compares a frame with the one before, so the change lies between them.
    """
    flux = onset_strength(audio, sr_hz=sr_hz, hop_s=hop_s)
    reach = max(1, int(round(min_ioi_s / hop_s)))
    before, after = int(round(mean_before_s / hop_s)), int(round(mean_after_s / hop_s))
    padded = np.pad(flux, (max(reach, before), max(reach, after)))
    offset = max(reach, before)
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    picks = []
    for n in range(flux.size):
        p = n + offset
        if flux[n] < padded[p - reach : p + reach + 1].max():
            continue
        local_mean = (cumulative[p + after + 1] - cumulative[p - before]) / (before + after + 1)
        if flux[n] >= local_mean + delta_db and (not picks or n - picks[-1] > reach):
            picks.append(n)
    return (np.array(picks, np.float64) - 0.5) * hop_s


def match_onsets(
    truth_s: np.ndarray, found_s: np.ndarray, *, tolerance_s: float = TOLERANCE_S
) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, found index) within ``tolerance_s``, closest first."""
    pairs = sorted(
        (abs(f - t), i, j)
        for i, t in enumerate(truth_s)
        for j, f in enumerate(found_s)
        if abs(f - t) <= tolerance_s
    )
    used_t, used_f, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((i, j))
    return out


def onset_f1(truth_s: np.ndarray, found_s: np.ndarray) -> float:
    matched = len(match_onsets(truth_s, found_s))
    return 2 * matched / max(len(truth_s) + len(found_s), 1)


def onset_lags_s(truth_s: np.ndarray, found_s: np.ndarray, *, reach_s: float = 0.15) -> np.ndarray:
    """For each true onset, the nearest found onset's lag (found - truth) within ±``reach_s``
    (wider than the F1's window, so late onsets show how late)."""
    lags = []
    for t in truth_s:
        if found_s.size:
            d = found_s[np.argmin(np.abs(found_s - t))] - t
            if abs(d) <= reach_s:
                lags.append(d)
    return np.array(lags)


# -- scoring a method ---------------------------------------------------------------------------
@dataclass
class Picks:
    """What a method did: its output sound, and per picture (t_s, source_t_s, entry); the
    source time is where the picture's grain plays at the picture's middle."""

    audio: np.ndarray
    rows: list[tuple[float, float, int]]


@dataclass
class Score:
    f1: float
    precision: float
    recall: float
    accuracy: float
    lags_s: np.ndarray  # per target onset: the nearest output onset's lag, within ±150 ms
    grain_age_s: np.ndarray  # per target onset: shown source time - its corpus onset (nan: none)
    grain_drop_db: np.ndarray  # per target onset: how far under its corpus onset's peak
    extra_after_s: np.ndarray  # per unmatched output onset: time since the last target onset
    # (target class, shown classes) -> count, for target onsets of one class; "late X": more
    # than HIT_REACH_S after a corpus X (scored as "none"); "black": no picture.
    confusion: dict[tuple[str, str], int]


class CorpusTruth:
    """The corpus's onsets and loudness (10 ms frames), to read what a picture shows."""

    def __init__(self, onsets: list[Onset], audio: np.ndarray) -> None:
        self.onsets = onsets
        n = int(0.01 * SR)
        frames = audio[: audio.size // n * n].reshape(-1, n).astype(np.float64)
        self.level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)

    def _level(self, start_s: float, stop_s: float) -> float:
        a, b = int(start_s * 100), max(int(start_s * 100) + 1, int(stop_s * 100))
        return float(10 * np.log10(np.mean(10 ** (self.level_db[a:b] / 10)) + 1e-10))

    def grain(self, source_t_s: float) -> tuple[float, float]:
        """(s since the corpus onset a grain at ``source_t_s`` follows, dB its first 40 ms lie
        under that onset's first 50 ms); nan, nan before the first onset."""
        i = _last_at_or_before(self.onsets, source_t_s + 0.02)
        if i < 0:
            return np.nan, np.nan
        onset_s = self.onsets[i].t_s
        peak = float(self.level_db[int(onset_s * 100) : int(onset_s * 100) + 5].max())
        return source_t_s - onset_s, peak - self._level(source_t_s, source_t_s + 0.04)


def score(picks: Picks, truth: list[Onset], corpus: CorpusTruth, *, n_samples: int) -> Score:
    """Both scores of one method on one target (see the module's docstring)."""
    truth_s = np.array([o.t_s for o in truth])
    found_s = detect_onsets(picks.audio[:n_samples])
    pairs = match_onsets(truth_s, found_s)
    matched = len(pairs)
    extra_s = np.delete(found_s, [j for _, j in pairs])
    last = np.searchsorted(truth_s, extra_s, side="right") - 1
    extra_after_s = np.where(last >= 0, extra_s - truth_s[np.maximum(last, 0)], np.inf)
    starts = np.array([r[0] for r in picks.rows])
    right = 0
    ages, drops = [], []
    confusion: dict[tuple[str, str], int] = {}
    for onset in truth:
        k = max(0, int(np.searchsorted(starts, onset.t_s + PICTURE_DELAY_S, side="right")) - 1)
        _, source_t_s, entry = picks.rows[k]
        shown = class_at(corpus.onsets, source_t_s) if entry >= 0 else frozenset({"none"})
        right += bool(shown & onset.classes)
        age, drop = corpus.grain(source_t_s) if entry >= 0 else (np.nan, np.nan)
        ages.append(age)
        drops.append(drop)
        if len(onset.classes) == 1:
            label = "+".join(sorted(shown))
            if entry < 0:
                label = "black"
            elif label == "none" and np.isfinite(age):
                # Long after a hit: name it ("late cymbal": a crash still ringing).
                last = _last_at_or_before(corpus.onsets, source_t_s + 0.02)
                label = "late " + "+".join(sorted(corpus.onsets[last].classes))
            key = (next(iter(onset.classes)), label)
            confusion[key] = confusion.get(key, 0) + 1
    return Score(
        f1=2 * matched / max(truth_s.size + found_s.size, 1),
        precision=matched / max(found_s.size, 1),
        recall=matched / max(truth_s.size, 1),
        accuracy=right / max(len(truth), 1),
        lags_s=onset_lags_s(truth_s, found_s),
        grain_age_s=np.array(ages),
        grain_drop_db=np.array(drops),
        extra_after_s=extra_after_s,
        confusion=confusion,
    )


def _read_matches(path: Path) -> list[tuple[float, float, int]]:
    with open(path) as f:
        return [
            (float(r["t_s"]), float(r["source_t_s"]), int(r["entry"])) for r in csv.DictReader(f)
        ]


def livecat_picks(corpus_dir: Path, target_wav: Path, out: Path, *, lead_s: float | None) -> Picks:
    """livecat's default render (``lead_s`` None) or a live set's timing (0), read back from
    the output file and its match log."""
    from livecat.corpus import Corpus
    from livecat.media import decode_audio
    from livecat.render import render

    matches = out.with_suffix(".csv")
    render(Corpus.open(corpus_dir), target_wav, out, matches=matches, fps=FPS, lead_s=lead_s)
    audio = decode_audio(out, sr_hz=SR, align_to_video=False)
    return Picks(audio, _read_matches(matches))


def slice_picks(corpus_audio: np.ndarray, chosen: np.ndarray) -> Picks:
    """Picture k shows corpus slice ``chosen[k]`` and plays that slice's own 1/fps clip (how
    the original method's output is made). Its source time is the clip's middle, where the
    clip is at the picture's middle: what livecat's match log gives (the grain that starts
    at the picture's middle), so both are read the same way."""
    clip = int(round(SR / FPS))
    audio = np.concatenate([corpus_audio[c * clip : (c + 1) * clip] for c in chosen])
    rows = [(k / FPS, (int(c) + 0.5) / FPS, int(c)) for k, c in enumerate(chosen)]
    return Picks(audio.astype(np.float32), rows)


def original_picks(corpus_mp4: Path, corpus_audio: np.ndarray, target_wav: Path) -> Picks:
    """The original method (bench/seed_method.py), as quality.original_f1 runs it."""
    import seed_method

    from livecat.media import decode_audio

    chosen = seed_method.pick_slices(
        decode_audio(corpus_mp4, sr_hz=seed_method.SR),
        decode_audio(target_wav, sr_hz=seed_method.SR),
        fps=FPS,
    )
    return slice_picks(corpus_audio, chosen)


def random_picks(corpus_audio: np.ndarray, n_samples: int, *, seed: int = 0) -> Picks:
    """Random corpus slices, made like the original's output: a method that listens to
    nothing, to show what the scores give for no skill at all."""
    rng = np.random.default_rng(seed)
    slices = int(corpus_audio.size / SR * FPS)
    return slice_picks(corpus_audio, rng.integers(0, slices, int(np.ceil(n_samples / SR * FPS))))


# -- media --------------------------------------------------------------------------------------
def _video_from_audio(path: Path, audio: np.ndarray) -> None:
    import mediagen

    if not path.exists():
        mediagen.write_video(
            path, fps=FPS, size=(320, 180), duration_s=audio.size / SR, audio=audio, sr_hz=SR
        )


def _drums_wav(path: Path, hits: list[Hit], kit: int) -> np.ndarray:
    """Rendered once, then read back (the hits are seeded: the same each run)."""
    import mediagen

    if path.exists():
        return mediagen.read_audio(path, sr_hz=SR)
    return mediagen.render_drum_hits(hits, kit=kit, path_wav=path, sr_hz=SR, tail_s=1.5)


@dataclass
class DrumCorpus:
    path: Path  # the livecat corpus
    mp4: Path  # its one video
    audio: np.ndarray  # that video's sound, 48 kHz, sample 0 at its first picture
    truth: CorpusTruth


_BUILT: dict[Path, DrumCorpus] = {}


def drum_corpus(work: Path) -> DrumCorpus:
    """The corpus video (made once) and the livecat corpus, built afresh once per process
    with the default settings: the descriptor may have changed since the last run."""
    from livecat.corpus import build_corpus
    from livecat.media import decode_audio

    d = work / "drums"
    if d in _BUILT:
        return _BUILT[d]
    d.mkdir(parents=True, exist_ok=True)
    hits = corpus_hits()
    _video_from_audio(d / "corpus.mp4", _drums_wav(d / "corpus.wav", hits, CORPUS_KIT[1]))
    build_corpus([d / "corpus.mp4"], d / "corpus")
    audio = decode_audio(d / "corpus.mp4", sr_hz=SR)
    onsets = onsets_of([(t, NOTE_CLASS[n]) for t, n, _ in hits])
    _BUILT[d] = DrumCorpus(d / "corpus", d / "corpus.mp4", audio, CorpusTruth(onsets, audio))
    return _BUILT[d]


METHODS = ("livecat", "live timing", "original", "random")
CEILING = "the corpus itself"


def score_methods(
    corpus: DrumCorpus, target_wav: Path, truth: list[Onset], out_dir: Path
) -> dict[str, Score]:
    """Every method on one target."""
    import mediagen

    n_samples = mediagen.read_audio(target_wav, sr_hz=SR).size
    stem = out_dir / f"out-{target_wav.stem}"
    picks = {
        "livecat": livecat_picks(corpus.path, target_wav, stem.with_suffix(".mp4"), lead_s=None),
        "live timing": livecat_picks(
            corpus.path, target_wav, stem.with_name(stem.name + "-live.mp4"), lead_s=0.0
        ),
        "original": original_picks(corpus.mp4, corpus.audio, target_wav),
        "random": random_picks(corpus.audio, n_samples),
    }
    return {m: score(p, truth, corpus.truth, n_samples=n_samples) for m, p in picks.items()}


def self_check(audio: np.ndarray, truth: list[Onset]) -> tuple[float, float]:
    """The detector's F1 on a target against its own truth, and its median lag (s)."""
    truth_s = np.array([o.t_s for o in truth])
    found = detect_onsets(audio)
    return onset_f1(truth_s, found), float(np.median(onset_lags_s(truth_s, found)))


# -- reports ------------------------------------------------------------------------------------
def _print_table(scores: dict[str, dict[str, Score]], *, with_f1: bool = True) -> None:
    print(f"  {'score':<16} {'target':<18}" + "".join(f"{m:>12}" for m in METHODS))
    metrics = (("onset F1", "f1"), ("hit-class acc.", "accuracy"))
    for label, metric in metrics if with_f1 else metrics[1:]:
        for name, by_method in scores.items():
            print(
                f"  {label:<16} {name:<18}"
                + "".join(f"{getattr(by_method[m], metric):12.3f}" for m in METHODS)
            )


def _lag_histogram(lags_s: np.ndarray) -> str:
    edges_ms = np.arange(-50, 151, 25)
    counts, _ = np.histogram(lags_s * 1000, bins=edges_ms)
    return " ".join(
        f"[{a:+d},{b:+d}):{c}" for a, b, c in zip(edges_ms[:-1], edges_ms[1:], counts, strict=True)
    )


def _extra_summary(s: Score) -> str:
    """When the output's onsets that match no hit come, after the last hit."""
    edges_s = (0.0, 0.05, 0.1, 0.2, 0.4, np.inf)
    counts, _ = np.histogram(s.extra_after_s, bins=edges_s)
    cells = " ".join(
        f"[{a * 1000:.0f},{b * 1000:.0f}):{c}" if np.isfinite(b) else f">={a * 1000:.0f}:{c}"
        for a, b, c in zip(edges_s[:-1], edges_s[1:], counts, strict=True)
    )
    return f"{s.extra_after_s.size} output onsets match no hit; ms after the last hit: {cells}"


def _grain_summary(s: Score) -> str:
    """Where the pictures shown at the target's hits come from in the corpus."""
    n = max(s.grain_age_s.size, 1)
    age, drop = s.grain_age_s, s.grain_drop_db
    known = ~np.isnan(age)
    return (
        f"picture at a hit: on its corpus hit's attack (<= {TAIL_S * 1000:.0f} ms after it) "
        f"{np.sum(age[known] <= TAIL_S) / n:.0%}, later in the hit "
        f"{np.sum((age[known] > TAIL_S) & (age[known] <= HIT_REACH_S)) / n:.0%}, more than "
        f"{HIT_REACH_S * 1000:.0f} ms after any hit {np.sum(age[known] > HIT_REACH_S) / n:.0%}"
        f"; on a quiet tail (> 20 dB under its hit's attack) "
        f"{np.sum(drop[known] > 20) / n:.0%}"
    )


def _confusion_lines(confusion: dict[tuple[str, str], int]) -> list[str]:
    """Per target class, what its pictures showed, most often first."""
    lines = []
    for c in CLASSES:
        shown = sorted(((n, s) for (t, s), n in confusion.items() if t == c), reverse=True)
        if shown:
            total = sum(n for n, _ in shown)
            lines.append(f"      {c} ({total}): " + ", ".join(f"{s} {n}" for n, s in shown))
    return lines


def _print_details(scores: dict[str, dict[str, Score]]) -> None:
    for name, by_method in scores.items():
        print(f"  {name}:")
        for m in METHODS[:3]:
            s = by_method[m]
            median_ms = np.median(s.lags_s) * 1000 if s.lags_s.size else np.nan
            print(
                f"    {m}: onsets P {s.precision:.2f} R {s.recall:.2f}; output-onset lag "
                f"behind the target's hit (nearest within ±150 ms, {s.lags_s.size} hits, "
                f"median {median_ms:+.0f} ms): {_lag_histogram(s.lags_s)}"
            )
            print(f"    {m}: {_extra_summary(s)}")
            print(f"    {m}: {_grain_summary(s)}")
        print(
            "    livecat: what the picture at a lone hit showed, by the hit's class ('late X': "
            f"more than {HIT_REACH_S * 1000:.0f} ms after a corpus X, scored as none)"
        )
        for line in _confusion_lines(by_method["livecat"].confusion):
            print(line)


# -- drums --------------------------------------------------------------------------------------
def drum_targets() -> dict[str, list[Hit]]:
    return {
        "grooves": bar_hits(TARGET_FORM, TARGET_BARS, bpm=TARGET_BPM, start_s=0.3, seed=3),
        "isolated": isolated_hits(
            {c: list(n) for c, n in CLASS_NOTES.items()},
            per_class=6,
            gap_s=(0.6, 1.0),
            start_s=0.3,
            seed=4,
        ),
    }


def bench_drums(work: Path) -> list[tuple[str, str]]:
    """GM drums: a Standard-kit corpus; grooves and isolated hits on other kits as targets."""
    started = time.perf_counter()
    corpus = drum_corpus(work)
    d = work / "drums"
    scores: dict[str, dict[str, Score]] = {}
    checks = []
    for kit_name, kit in TARGET_KITS:
        for part, hits in drum_targets().items():
            name = f"{kit_name} {part}"
            wav = d / f"target-{kit_name.lower()}-{part}.wav"
            audio = _drums_wav(wav, hits, kit)
            truth = onsets_of([(t, NOTE_CLASS[n]) for t, n, _ in hits])
            checks.append((name, audio.size / SR, len(truth), *self_check(audio, truth)))
            scores[name] = score_methods(corpus, wav, truth, d)
    # The corpus as its own target: the scores of finding the very hit every time, which
    # shows they can be high (a broken measure would keep them low).
    truth = corpus.truth.onsets
    checks.append((CEILING, corpus.audio.size / SR, len(truth), *self_check(corpus.audio, truth)))
    scores[CEILING] = score_methods(corpus, d / "corpus.wav", truth, d)
    print(
        f"drums: corpus = GM {CORPUS_KIT[0]} kit at {CORPUS_BPM:.0f} bpm "
        f"({corpus.audio.size / SR:.0f} s, {len(corpus.truth.onsets)} onsets); targets on the "
        f"{' and '.join(k for k, _ in TARGET_KITS)} kits: grooves at {TARGET_BPM:.0f} bpm and "
        "isolated hits (6 per class, 0.6-1 s apart)"
    )
    for name, seconds, count, f1, lag_s in checks:
        print(
            f"  onset detector, target '{name}' ({seconds:.0f} s, {count} onsets): "
            f"F1 {f1:.3f}, median lag {lag_s * 1000:+.1f} ms"
        )
    _print_table(scores)
    _print_details({name: s for name, s in scores.items() if name != CEILING})
    print(f"  (drums took {time.perf_counter() - started:.0f} s)")
    return _drum_summary(scores, detector_f1=min(c[3] for c in checks))


def _drum_summary(
    scores: dict[str, dict[str, Score]], *, detector_f1: float
) -> list[tuple[str, str]]:
    """Summary rows; the goals are named on the first target kit's rows."""
    out = []
    for metric, label in (("f1", "onset F1"), ("accuracy", "hit-class acc.")):
        for name, by_method in scores.items():
            if name == CEILING:
                continue
            value = {m: getattr(by_method[m], metric) for m in METHODS}
            goals = name.startswith(TARGET_KITS[0][0])
            goal, goal_gain = (" (goal >= 0.90)", " (goal >= +0.15)") if goals else ("", "")
            gain = value["livecat"] - value["original"]
            out += [
                (f"drums {label} {name}, livecat{goal}", f"{value['livecat']:.4f}"),
                (f"drums {label} {name}, original method", f"{value['original']:.4f}"),
                # Four places: a gain just short of the goal must not print as the goal.
                (f"drums {label} {name}, gain{goal_gain}", f"{gain:+.4f}"),
                (f"drums {label} {name}, live timing", f"{value['live timing']:.4f}"),
                (f"drums {label} {name}, random picks", f"{value['random']:.4f}"),
            ]
    ceiling = scores[CEILING]["livecat"]
    out += [
        (
            f"drums livecat on {CEILING}: onset F1, hit-class acc.",
            f"{ceiling.f1:.4f}, {ceiling.accuracy:.4f}",
        ),
        ("drums onset detector on the targets, min F1 (must be >= 0.95)", f"{detector_f1:.4f}"),
    ]
    return out


# -- beatbox ------------------------------------------------------------------------------------
# Syllables as espeak-ng phonemes ([[...]]) and the drum each stands for, after the usual
# beatbox vocabulary: "buh"/"boom" the kick (voiced lip burst, the lowest sound), "kuh"/"k"
# the snare (a dry mid-band burst), "t"/"ts" the closed hi-hat (short, high), "shh"/"ch" the
# cymbal (a longer hiss). Each takes one onset by the detector (a "psh" takes two: p, then
# sh). Toms have no syllable everyone agrees on and are left out.
SYLLABLES = {
    "kick": ("[[b'U]]", "[[b'Um]]"),
    "snare": ("[[k'@]]", "[[kh]]"),
    "hat": ("[[t]]", "[[ts]]"),
    "cymbal": ("[[S:]]", "[[tS]]"),
}


def _trimmed(audio: np.ndarray, *, below_db: float = -40.0, keep_s: float = 0.002) -> np.ndarray:
    """``audio`` from ``keep_s`` before its first to its last 5 ms frame louder than
    ``below_db`` under its loudest frame: espeak-ng's leading and trailing silence cut off, so
    the syllable's onset is where it is placed."""
    n = int(0.005 * SR)
    frames = audio[: audio.size // n * n].reshape(-1, n)
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(db > db.max() + below_db)
    start = max(0, loud[0] * n - int(keep_s * SR))
    return audio[start : (loud[-1] + 1) * n]


def beatbox_target(
    d: Path, *, per_syllable: int = 6, seed: int = 5
) -> tuple[Path, np.ndarray, list[Onset]]:
    """Each syllable ``per_syllable`` times in a seeded order, 0.25-0.6 s of silence after
    each, peak at -6 dBFS; returns (wav path, sound, onsets)."""
    import mediagen

    rng = np.random.default_rng(seed)
    takes = {}
    for name, phonemes in SYLLABLES.items():
        for i, p in enumerate(phonemes):
            raw = d / f"syllable-{name}-{i}.wav"
            audio = (
                mediagen.read_audio(raw, sr_hz=SR)
                if raw.exists()
                else mediagen.speak(p, voice="en", path_wav=raw, sr_hz=SR)
            )
            takes[(name, i)] = _trimmed(audio)
    order = [key for key in takes for _ in range(per_syllable)]
    rng.shuffle(order)
    pieces, hits, t_s = [np.zeros(int(0.3 * SR), np.float32)], [], 0.3
    for key in order:
        hits.append((t_s, key[0]))
        gap = np.zeros(int(rng.uniform(0.25, 0.6) * SR), np.float32)
        pieces += [takes[key], gap]
        t_s += (takes[key].size + gap.size) / SR
    audio = np.concatenate([*pieces, np.zeros(int(0.5 * SR), np.float32)])
    audio *= 0.5 / np.abs(audio).max()
    wav = d / "target-beatbox.wav"
    mediagen.write_audio(wav, audio, sr_hz=SR)
    return wav, audio, onsets_of(hits)


def bench_beatbox(work: Path) -> list[tuple[str, str]]:
    """espeak-ng percussion syllables against the drum corpus: is the right drum shown?"""
    started = time.perf_counter()
    corpus = drum_corpus(work)
    d = work / "beatbox"
    d.mkdir(parents=True, exist_ok=True)
    wav, audio, truth = beatbox_target(d)
    f1_self, lag_s = self_check(audio, truth)
    scores = {"beatbox": score_methods(corpus, wav, truth, d)}
    print(
        f"beatbox: espeak-ng syllables, {len(truth)} in {audio.size / SR:.0f} s ("
        + ", ".join(f"{c} {' '.join(s)}" for c, s in SYLLABLES.items())
        + "), against the drum corpus"
    )
    print(
        f"  onset detector on the target itself: F1 {f1_self:.3f}, median lag "
        f"{lag_s * 1000:+.1f} ms (onset F1 is not a goal here: a syllable's vowel is an onset "
        "of its own)"
    )
    _print_table(scores)
    _print_details(scores)
    print(f"  (beatbox took {time.perf_counter() - started:.0f} s)")
    s = scores["beatbox"]
    return [
        ("beatbox hit-class acc., livecat (goal >= 0.75)", f"{s['livecat'].accuracy:.4f}"),
        ("beatbox hit-class acc., original method", f"{s['original'].accuracy:.4f}"),
        ("beatbox hit-class acc., live timing", f"{s['live timing'].accuracy:.4f}"),
        ("beatbox hit-class acc., random picks", f"{s['random'].accuracy:.4f}"),
    ]


def main() -> None:
    """Both benchmarks into the worktree's .bench-work/, then their summary."""
    import sys

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "tests")]
    work = here.parent / ".bench-work"
    work.mkdir(exist_ok=True)
    started = time.perf_counter()
    rows = bench_drums(work) + bench_beatbox(work)
    print("\n== summary ==")
    for key, value in rows:
        print(f"{key:<64} {value}")
    print(f"(percussion bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
