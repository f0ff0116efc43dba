"""The engine: input audio in, (entry on screen, output audio) out, block by block.

Every ``hop`` samples (at absolute stream positions, so block sizes never change the result)
the engine describes the input window that ends there, asks the HNSW index for ``k``
candidates, re-ranks them (continuity, no-repeat, level) and starts a grain of the winner.
A grain that continues the previous one reads the very next ``hop`` of its source, so a run of
continuations plays the footage's own sound, seamlessly.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from livecat.corpus import Corpus
from livecat.errors import ParameterError
from livecat.features import (
    DESCRIBE_BATCH,
    Decimator,
    DescriptorBatch,
    DescriptorStream,
)
from livecat.features.onsets import (
    ATTACK_PARTS,
    MAX_REPORT_DELAY,
    ONSET_BLOCK,
    AttackDescriber,
    OnsetDetector,
)
from livecat.synthesis.grains import GrainPlayer

LEVEL_MODES = ("compensate", "match", "ignore")
GATE_MODES = ("hold", "fade", "idle")


# Jump alignment (see Engine._aligned_start): contour block and offset resolution, samples.
_ALIGN_BLOCK = 128
_ALIGN_STEP = 16
_ALIGN_COARSE = 4  # the coarse pass looks at every 4th offset
_ALIGN_MIN_RANGE_DB = 6.0  # an input contour flatter than this has no onset to align to
# Phase alignment: half the period of the lowest pitch aligned (100 Hz), s; the normalised
# correlation that counts as a clear waveform match.
_PHASE_REACH_S = 0.005
_PHASE_MIN_CORR = 0.5
# The smallest "typical near-match distance", as a share of the distance between unrelated
# entries (Engine._typical_distance). The bench's music and speech corpora measure 0.12-0.36;
# footage that loops exactly, 0.0005-0.002.
_TYPICAL_FLOOR = 0.02
# A grain whose loudest part is this much above its start brings an attack (a drum's hit
# after its tail, a note after a rest); an input this much above its 16 ms before has one.
_ATTACK_DB = 12.0
# An input whose newest 5 ms is less than this above its quietest 5 ms of the 16 before is
# calm: a tail, a held sound, noise (whose parts wander by a dB or two).
_CALM_DB = 3.0
# Continuation windows described at once: the playhead's next 8 hops. A run of continuations
# then costs one batch (about 1.2 single descriptors) per 8 decisions instead of one each.
_CONT_BATCH = 8
# What an onset is answered from: the input's first 10.7 ms after it, matched against the
# footage's onsets described the same way (livecat.features.onsets). Longer tells drums
# apart better and answers later.
_ATTACK_S = 512 / 48000
# A footage onset this close to where the input's would be in it is the same onset (samples).
_ONSET_SLACK = 128


def _power_db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(power + 1e-12)


def _contour(db: np.ndarray) -> np.ndarray:
    """Loudness contour(s) along the last axis, from levels in dB: floored 40 dB under each
    contour's peak and mean removed, so only the shape counts, not the level."""
    db = np.maximum(db, db.max(axis=-1, keepdims=True) - 40.0)
    return db - db.mean(axis=-1, keepdims=True)


def _db(power: float) -> float:
    return 10.0 * math.log10(power + 1e-12)


@dataclass(frozen=True)
class EngineSettings:
    """Selection and playback knobs (docs/selection.md, "Selection knobs").

    Attributes
    ----------
    hop_s : float
        Time between decisions and grain starts (default 512 samples at 48 kHz, 10.7 ms).
    overlap : int
        Grain length in hops (4: each grain lasts 43 ms and 4 overlap at any time).
    k : int
        Candidates fetched from the index per decision.
    continuity : float, 0..1
        Preference for letting the current footage run on. Continuing costs its distance
        times ``(1 - continuity)``; jumping costs the best candidate's distance plus
        ``continuity`` times the corpus's typical near-match distance. 0 jumps to the nearest
        entry every hop; 0.2 lets real footage run while it still fits; 1 never jumps unless
        the footage ends or its loudness drifts away from the input's.
    no_repeat_s : float
        An entry jumped to is not jumped to again for this long (continuations are free).
    level_mode : {"compensate", "match", "ignore"}
        compensate: play each grain at the input's level (gain limited to ``max_gain_db``);
        match: prefer entries as loud as the input (``level_weight`` per 10 dB);
        ignore: shape alone picks, grains keep their own level.
    level_weight : float
        With ``match``: distance added per 10 dB of level difference.
    max_gain_db : float
        Largest boost or cut ``compensate`` applies.
    gate_db : float
        Input level (dBFS over the analysis window) below which the engine stops searching;
        also the search floor: footage quieter than it (:meth:`Corpus.audible_levels_db`) is
        never returned by the index.
    gate_mode : {"hold", "fade", "idle"}
        While gated: hold the last image; fade it to black over ``fade_s``; or show
        ``idle_entry`` (black when -1). No grains start while gated.
    fade_s : float
    idle_entry : int
    dry, wet : float, 0..1
        Gains of the input and of the grains in the output.
    jitter : float
        Pick at random (seeded) among candidates within ``(1 + jitter)`` of the best distance.
    align_jumps : bool
        Start a jump's grain in time with the input's onsets (within half the entry spacing)
        and in phase with the grain it takes over from (within 5 ms), instead of exactly at
        the entry's image time. See :meth:`Engine._aligned_start`.
    seed : int
    lead_s : float
        How much earlier than decided the output will be heard: 0 live; a render's lead
        (``livecat render --lead``), which moves every picture and grain earlier to take
        out the engine's reaction time. With a lead of a hop or more there are no attack
        grains (see ``Engine._decide``).
    """

    hop_s: float = 512 / 48000
    overlap: int = 4
    k: int = 10
    continuity: float = 0.2
    no_repeat_s: float = 0.5
    level_mode: str = "compensate"
    level_weight: float = 0.5
    max_gain_db: float = 24.0
    gate_db: float = -55.0
    gate_mode: str = "hold"
    fade_s: float = 1.0
    idle_entry: int = -1
    dry: float = 0.0
    wet: float = 1.0
    jitter: float = 0.0
    align_jumps: bool = True
    seed: int = 0
    lead_s: float = 0.0
    attacks: bool = True

    def __post_init__(self) -> None:
        if self.level_mode not in LEVEL_MODES:
            raise ParameterError(f"level mode must be one of {', '.join(LEVEL_MODES)}")
        if self.gate_mode not in GATE_MODES:
            raise ParameterError(f"gate mode must be one of {', '.join(GATE_MODES)}")
        if not 0.0 <= self.continuity <= 1.0:
            raise ParameterError(f"continuity must be 0..1, got {self.continuity}")
        if self.k < 1:
            raise ParameterError(f"k must be >= 1, got {self.k}")
        if self.hop_s <= 0 or self.overlap < 2:
            raise ParameterError("hop_s must be > 0 and overlap >= 2")
        for name in ("dry", "wet"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"{name} must be 0..1, got {getattr(self, name)}")

    @classmethod
    def plain(cls, **overrides: Any) -> EngineSettings:
        """Nearest neighbour and nothing else: the original method's selection."""
        base = dict(
            continuity=0.0,
            no_repeat_s=0.0,
            level_mode="ignore",
            gate_db=-200.0,
            align_jumps=False,
            attacks=False,
        )
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes: Any) -> EngineSettings:
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# Decisions of a known input worked out at a time: the batch a build describes a file in, so
# BLAS rounds the same products; 2.7 s of input at the default hop.
_KNOWN_CHUNK = DESCRIBE_BATCH
# Samples of a known input pushed through the onset detector at a time (8 MB as float64).
_KNOWN_ONSET_CHUNK = 1 << 20


def signal_then_silence(signal: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Samples [start, stop) of ``signal`` followed by silence: a render's target and the
    lead's tail, without copying the whole target to append it (an hour is 0.7 GB)."""
    if stop <= signal.shape[0]:
        return signal[start:stop]
    return np.pad(signal[start:stop], (0, stop - max(start, signal.shape[0])))


class _KnownInput:
    """The query (normalised descriptor), input level and the index's ``k`` candidates for
    every decision of a known input (:meth:`Engine.precompute_input`).

    Rows are worked out vectorised, ``_KNOWN_CHUNK`` decisions at a time, as the engine
    reaches them: a render's first pictures wait milliseconds instead of the whole target's
    analysis, and the rest overlaps with the encoding. Only the analysis samples the next
    chunk's windows need are kept, so memory does not grow with the input's length.
    """

    def __init__(
        self,
        signal: np.ndarray,
        *,
        samples: int,
        hop: int,
        sr_hz: int,
        corpus: Corpus,
        index: Any,
        k: int,
    ) -> None:
        params = corpus.params
        self.corpus = corpus
        self.index = index
        self.k = k
        self.signal = signal  # then silence up to `samples`
        self.hop = hop
        self.rows = samples // hop
        decisions = np.arange(1, self.rows + 1, dtype=np.int64)
        # Analysis samples seen by each decision: the window ending there is analysis
        # samples [end - n_fft, end), silence before the start.
        factor = sr_hz // params.sr_hz
        self.ends = -(-(decisions * hop) // factor)
        # Analysis samples from `_origin` on, with n_fft samples of silence before the start.
        self._analysis = np.zeros(params.n_fft)
        self._origin = -params.n_fft
        self._decimator = Decimator(factor)
        self._heard = 0  # input samples decimated
        self.queries = np.empty((self.rows, params.dim), np.float32)
        self.levels_db = np.empty(self.rows, np.float32)
        self.labels = np.empty((self.rows, k), np.uint64)
        self.distances = np.empty((self.rows, k), np.float32)
        self._describer = DescriptorBatch(params, rows=max(1, min(_KNOWN_CHUNK, self.rows)))
        self.ready = 0  # rows worked out

    def ensure(self, row: int) -> None:
        """Work out rows up to and including ``row``."""
        n = self.corpus.params.n_fft
        while row >= self.ready:
            first, stop = self.ready, min(self.ready + _KNOWN_CHUNK, self.rows)
            heard = stop * self.hop  # input samples the last of these decisions has heard
            fresh = self._decimator.process(signal_then_silence(self.signal, self._heard, heard))
            self._heard = heard
            # Keep what the first window of this chunk reaches back to, and the new samples.
            keep = self.ends[first] - n - self._origin
            self._analysis = np.concatenate([self._analysis[keep:], fresh])
            self._origin += keep
            # The window ending at e starts at analysis sample e - n_fft.
            self._describer.cut(self._analysis, self.ends[first:stop] - n - self._origin)
            descriptors, self.levels_db[first:stop] = self._describer.describe(count=stop - first)
            queries = self.corpus.normalise(descriptors, out=self.queries[first:stop])
            # The index answers a batch many times faster than one query at a time, and its
            # answer to a query does not depend on what came before.
            if self.k:  # 0: nothing in the corpus is audible, and the engine stays gated
                labels, sq = self.index.knn_query(queries, k=self.k)
                self.labels[first:stop] = labels
                np.sqrt(np.maximum(sq, 0.0), out=self.distances[first:stop])
            self.ready = stop


@dataclass
class EngineState:
    """What the engine last decided; read by the display, the HUD and the match log."""

    entry: int = -1  # entry whose image belongs on screen (-1: none yet / black)
    source: int = -1
    source_t_s: float = 0.0  # playhead in the source, seconds
    distance: float = 0.0
    level_db: float = -120.0
    gated: bool = True
    brightness: float = 1.0  # 0..1, below 1 while fading out under the gate
    decisions: int = 0
    jumps: int = 0
    query_s: float = 0.0  # wall time of the last index query
    samples: int = 0  # input samples processed since reset


class Engine:
    """Consumes input blocks of any size; produces output audio and the entry to show.

    Parameters
    ----------
    corpus : Corpus
    settings : EngineSettings
    max_block : int
        Largest block :meth:`process` will get (buffers are preallocated for it).
    grains : ndarray, optional
        The grain store to play from; defaults to a resident copy of the corpus's.
    """

    def __init__(
        self,
        corpus: Corpus,
        *,
        settings: EngineSettings | None = None,
        max_block: int = 8192,
        grains: np.ndarray | None = None,
    ) -> None:
        self.corpus = corpus
        self.settings = settings or EngineSettings()
        self.sr_hz = corpus.grain_sr_hz
        self.max_block = max_block
        self.index = corpus.index
        count = len(corpus)
        self._count = count
        # Resident copies: the audio thread must never page-fault into the corpus files.
        self.grains = corpus.resident_grains() if grains is None else grains
        self.vectors = corpus.normalise(np.asarray(corpus.descriptors))
        self.levels_db = np.array(corpus.levels_db, dtype=np.float32)
        self.audible_db = corpus.audible_levels_db()
        self.rise_db = corpus.rise_ahead_db()
        self.entry_source = np.array(corpus.entries["source"], dtype=np.int64)
        self.entry_grain = np.array(corpus.entries["grain_start"], dtype=np.int64)
        self.entry_pts = np.array(corpus.entries["pts_s"], dtype=np.float64)
        self.source_first = np.array([s.first_entry for s in corpus.sources], np.int64)
        self.source_count = np.array([s.entries for s in corpus.sources], np.int64)
        self.source_grain0 = np.array([s.grain_offset for s in corpus.sources], np.int64)
        self.source_grain_end = self.source_grain0 + np.array(
            [s.grain_samples for s in corpus.sources], np.int64
        )
        self._last_jump = np.full(count, np.iinfo(np.int64).min // 2, np.int64)
        self._query = np.zeros((1, corpus.params.dim), np.float32)
        # The descriptors of the playhead's next windows (see _continuation_distance), or None
        # where the analysis rate is below the grain rate (seed).
        self._cont_batch = (
            DescriptorBatch(corpus.params, rows=_CONT_BATCH)
            if corpus.params.sr_hz == self.sr_hz
            else None
        )
        self._cont_queries = np.zeros((_CONT_BATCH, corpus.params.dim), np.float32)
        self._cont_levels = np.zeros(_CONT_BATCH)  # apply() below empties the cache
        corpus.set_search_floor(self.settings.gate_db)  # before the typical distance: its
        self.typical_distance = self._typical_distance()  # searches must not return silence
        # Jump alignment's reach (half an entry either way) and contour length: the corpus's.
        self._align_reach = self._median_entry_spacing() // 2
        self._align_blocks = max(1, corpus.params.n_fft // _ALIGN_BLOCK)
        self._phase_reach = int(_PHASE_REACH_S * self.sr_hz)
        # Onsets: the input's found as it comes, answered from the footage's. Needs the
        # input at the grain rate (every descriptor but seed).
        # No shorter than the detector needs to report an onset, or a live stream's small
        # blocks would hear of some onsets only after their answer was due.
        # (A whole number of the attack contour's parts.)
        attack_len = max(round(_ATTACK_S * self.sr_hz), MAX_REPORT_DELAY)
        self._attack_len = -(-attack_len // ATTACK_PARTS) * ATTACK_PARTS
        self._attacks = (
            corpus.attacks(length=self._attack_len) if self._cont_batch is not None else None
        )
        self._attack_describer = AttackDescriber(attack=self._attack_len, sr_hz=self.sr_hz)
        self._detector = OnsetDetector(floor_db=self.settings.gate_db)
        self._onsets: deque[tuple[int, int]] = deque()
        self.state = EngineState()
        self.apply(self.settings)

    @property
    def reaction_s(self) -> float:
        """How late the engine's choice follows a change in its input: the change must fill
        half the analysis window's energy (:attr:`DescriptorParams.delay_s`), then wait for
        the next decision, and a picture shows the decision made by its middle (up to one
        hop for the two). 25.4 ms at the defaults; the render's tone-step test measures it.
        A live set cannot avoid it; ``livecat render`` takes it out (``lead_s``)."""
        return self.corpus.params.delay_s + self.hop / self.sr_hz

    def _typical_distance(self, *, sample: int = 500) -> float:
        """Median distance from an entry to its nearest entry elsewhere (not its own
        neighbours in time): the scale of a "good match" in this corpus.

        Floored at ``_TYPICAL_FLOOR`` of the median distance between two entries at random:
        in footage that repeats itself exactly (loops, steady tones) the nearest entry
        elsewhere is the same sound, its distance is noise, and continuity priced on it would
        have no force, so the engine would cut between copies of one sound at every hop."""
        if self._count < 8:
            return 1.0
        rng = np.random.default_rng(0)
        audible = np.flatnonzero(self.audible_db >= self.corpus.search_floor_db)
        k = min(8, audible.size)
        if k < 2:
            return 1.0
        picks = rng.choice(audible, min(sample, audible.size), replace=False)
        labels, sq = self.index.knn_query(self.vectors[picks], k=k)
        far = np.abs(labels - picks[:, None]) > 2
        same_source = self.entry_source[labels] == self.entry_source[picks][:, None]
        far |= ~same_source
        d = np.where(far, np.sqrt(np.maximum(sq, 0)), np.inf).min(axis=1)
        d = d[np.isfinite(d)]
        if not d.size:
            return 1.0
        others = self.vectors[rng.permutation(picks)]
        unrelated = float(np.median(np.linalg.norm(self.vectors[picks] - others, axis=1)))
        return max(float(np.median(d)), _TYPICAL_FLOOR * unrelated)

    def _median_entry_spacing(self) -> int:
        """Grain samples between neighbouring entries of one source (one image apart)."""
        same = self.entry_source[1:] == self.entry_source[:-1]
        steps = np.diff(self.entry_grain)[same]
        return int(np.median(steps)) if steps.size else 0

    # -- configuration -----------------------------------------------------------------------
    def apply(self, settings: EngineSettings) -> None:
        """Change knobs. Hop and overlap changes reset playback; others take effect at once."""
        old = getattr(self, "hop", None)
        self.settings = settings
        hop = max(16, int(round(settings.hop_s * self.sr_hz)))
        if (
            hop != old
            or getattr(self, "player", None) is None
            or self.player.voices != settings.overlap + 1
        ):
            self.hop = hop
            self.player = GrainPlayer(
                self.grains, hop=hop, overlap=settings.overlap, max_block=self.max_block
            )
            self.stream = DescriptorStream(self.corpus.params, input_sr_hz=self.sr_hz)
            self._to_hop = hop
            self._forget_continuations()
        # Silent entries never answer a sound: the index leaves them out of its answers
        # (Corpus.set_search_floor), so all k candidates are audible, however much of the
        # footage is silence. 0 when nothing in the corpus is audible: the gate stays shut.
        self.corpus.set_search_floor(settings.gate_db)
        self._k = min(settings.k, self.corpus.searchable())
        # Loudness is compared over the last hop: short enough to follow syllables.
        self._level_window = self.hop
        self._level_window_analysis = max(
            1, self._level_window * self.corpus.params.sr_hz // self.sr_hz
        )
        self._no_repeat = int(settings.no_repeat_s * self.sr_hz)
        self._lead = max(0, round(settings.lead_s * self.sr_hz))
        self._rng = np.random.default_rng(settings.seed)
        self._fade_step = self.hop / max(settings.fade_s * self.sr_hz, 1.0)
        self._detector.floor_db = settings.gate_db
        # The audible onsets' descriptors, their squared norms and a buffer for their dot
        # products with a query: a decision then allocates nothing the size of the footage's
        # onsets (it may run in the audio callback, and long footage has tens of thousands).
        attacks = self._attacks
        audible = (
            np.flatnonzero(attacks.levels_db >= settings.gate_db)
            if attacks is not None
            else np.zeros(0, np.int64)
        )
        self._attack_audible = audible
        self._attack_matrix = (
            np.ascontiguousarray(attacks.descriptors[audible])
            if attacks is not None
            else np.zeros((0, 1), np.float32)
        )
        self._attack_norms = np.einsum("ij,ij->i", self._attack_matrix, self._attack_matrix)
        self._attack_dots = np.zeros(audible.size, np.float32)

    def precompute_input(self, signal: np.ndarray, *, samples: int | None = None) -> None:
        """Announce a whole known input (offline render): ``signal``, followed by silence up
        to ``samples`` in all if given. Its descriptors, the same the stream would compute at
        every decision, and the index's candidates for each are then worked out in vectorised
        batches instead of one decision at a time. Call after :meth:`reset`, then
        :meth:`process` the same samples from their start; ``signal`` must not change
        meanwhile."""
        total = signal.shape[0] if samples is None else max(samples, signal.shape[0])
        self._known = _KnownInput(
            signal,
            samples=total,
            hop=self.hop,
            sr_hz=self.sr_hz,
            corpus=self.corpus,
            index=self.index,
            k=self._k,
        )
        if self._attacks is not None and self.settings.attacks:
            # Its onsets too, in a few large pushes instead of one per block (the detector
            # finds the same onsets for any split); the silence after it included, as the
            # stream will hear it.
            for lo in range(0, total, _KNOWN_ONSET_CHUNK):
                part = signal_then_silence(signal, lo, min(lo + _KNOWN_ONSET_CHUNK, total))
                onsets = self._detector.push(part)
                for onset, rise in zip(onsets, self._detector.rises, strict=True):
                    self._onsets.append((rise, onset + self._attack_len))
            self._onsets_known = True

    def warm_up(self, *, seconds: float = 1.0, block: int = 256) -> None:
        """Play ``seconds`` of noise, then as much of a tone and of silence, through the
        engine, then :meth:`reset` it. Every path (gate, search, jumps, continuations,
        alignment) runs once, so numpy's temporaries and the heap they come from are mapped
        before a live set instead of page-faulting in its first blocks (141-165 faults in the
        demo's first 2 s cold, 2 warm). The output is then what a fresh engine gives."""
        n = int(seconds * self.sr_hz)
        rng = np.random.default_rng(0)
        t = np.arange(n) / self.sr_hz
        signal = np.concatenate(
            [0.1 * rng.standard_normal(n), 0.2 * np.sin(2 * np.pi * 220.0 * t), np.zeros(n)]
        ).astype(np.float32)
        out = np.zeros(block, np.float32)
        for start in range(0, signal.size - block + 1, block):
            self.process(signal[start : start + block], out)
        self.reset()

    def reset(self) -> None:
        """Forget all streaming state: the next sample is the start of a new stream."""
        self._known = None
        self.player.reset()
        self.stream.reset()
        self._forget_continuations()
        self._to_hop = self.hop
        self._last_jump[:] = np.iinfo(np.int64).min // 2
        self._rng = np.random.default_rng(self.settings.seed)
        self.state = EngineState()
        self._playhead = -1  # store sample the current grain started from
        self._playhead_at = 0  # stream sample at which it did
        self._last_start = -(2**62)  # stream sample at which it started
        self._gate_open = False
        self._detector = OnsetDetector(floor_db=self.settings.gate_db)
        self._attack_due = -1  # stream sample at which an input onset is answered
        self._attack_rise = -1  # where that onset's rise began
        self._onsets.clear()  # (rise, due) of the onsets heard after the current one
        self._onsets_known = False  # all of them, from precompute_input
        self._hold_until = -1  # grid decisions continue an attack's grain until then
        self._lag = 0  # how far the run's footage plays behind the input (_heard_point)
        self._attack_start_due = -1  # stream sample at which a decided attack's grain starts
        # (footage onset, gain, gain in dB before the peak limit, distance, lag) of the
        # attack whose grain is due.
        self._pending_attack: tuple[int, float, float, float, int] = (0, 1.0, 0.0, 0.0, 0)
        self._run_start = -(2**62)  # stream sample of the last jump

    _playhead = -1
    _playhead_at = 0
    _attack_due = -1
    _attack_rise = -1
    _hold_until = -1
    _lag = 0
    _attack_start_due = -1
    _onsets_known = False
    _run_start = -(2**62)
    _last_start = -(2**62)
    _gate_open = False
    _known: _KnownInput | None = None
    _gain_db = 0.0  # level gap (input - footage, dB) when the last grain started

    # -- processing --------------------------------------------------------------------------
    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Consume ``block`` (mono float32 at the corpus grain rate) and write as many output
        samples into ``out`` (allocated if None). Decisions fall at absolute multiples of the
        hop, so any split of a stream into blocks gives identical output."""
        n = block.shape[0]
        if out is None:
            out = np.zeros(n, np.float32)
        else:
            out[:n] = 0.0
        if self._attacks is not None and self.settings.attacks and not self._onsets_known:
            # Onsets anywhere in the block are known now; each is answered a fixed time
            # after it (_ATTACK_S), which the loop below stops at, whatever the block size.
            onsets = self._detector.push(block[:n])
            for onset, rise in zip(onsets, self._detector.rises, strict=True):
                self._onsets.append((rise, onset + self._attack_len))
        pos = 0
        while pos < n:
            if self._onsets and self._attack_due < self.state.samples:
                # The next onset (they come at least ONSET_REFRACTORY apart, more than
                # _ATTACK_S: one is answered before the next one's rise).
                self._attack_rise, self._attack_due = self._onsets.popleft()
            step = min(n - pos, self._to_hop)
            for due in (self._attack_due, self._attack_start_due):
                if due >= self.state.samples:
                    step = min(step, due - self.state.samples)
            if step:
                self.stream.push(block[pos : pos + step])
                self.player.render(out[pos : pos + step])
                pos += step
                self._to_hop -= step
                self.state.samples += step
            if self._to_hop == 0:
                self._to_hop = self.hop
                self._decide()
            if self._attack_due == self.state.samples:  # not answered by a grid decision
                self._attack_due = -1
                self._decide_attack()
            if self._attack_start_due == self.state.samples:
                self._start_attack()
        s = self.settings
        if s.wet != 1.0:
            out[:n] *= s.wet
        if s.dry:
            out[:n] += s.dry * block[:n]
        return out

    def _decide(self) -> None:
        s = self.settings
        st = self.state
        st.decisions += 1
        row = st.decisions - 1
        known = self._known if self._known and row < self._known.rows else None
        if known:
            known.ensure(row)
            desc, level_db = None, float(known.levels_db[row])
        else:
            desc, level_db = self.stream.describe()
        st.level_db = level_db
        threshold = s.gate_db + (0.0 if self._gate_open else 3.0)  # 3 dB hysteresis
        if level_db < threshold or not self._k:
            self._gate_open = False
            st.gated = True
            if s.gate_mode == "fade":
                st.brightness = max(0.0, st.brightness - self._fade_step)
            elif s.gate_mode == "idle":
                self._show(s.idle_entry if 0 <= s.idle_entry < self._count else -1)
            # The footage's time runs on under the gate, unplayed (_continuation): after a
            # pause, going on where the footage is now is a candidate like any other (a cut
            # of the corpus's own sound pauses where its footage does, and comes back in the
            # right place).
            return
        gate_was_open, self._gate_open = self._gate_open, True
        st.gated = False
        st.brightness = 1.0
        if self._attack_due == st.samples:  # an onset is answered here, on the grid
            self._attack_due = -1
            if self._decide_attack():
                return
        if st.samples < self._attack_start_due:
            return  # an attack's grain starts shortly (_start_attack); nothing before it
        # (A rise is known once its block of ONSET_BLOCK samples is in, whatever the split.)
        rise = self._detector.rise_at
        heard = st.samples - ONSET_BLOCK
        if (self._attack_rise <= heard and st.samples < self._attack_due) or 0 <= rise <= heard:
            # An onset is heard (or a rise the detector will report as one once it has seen
            # its peak, OnsetDetector.rise_at) and will be answered from its attack
            # (_decide_attack) within _ATTACK_S. Until then, no jump answers it from a window
            # that mostly holds the sound before it, and no run plays on into a hit of its
            # own (under a render's lead, either would sound before the input's onset),
            # unless the footage is the input's own sound (:meth:`_runs_into_a_change`).
            if gate_was_open:  # else nothing sounds to play on: a fade-in would be an onset
                self._hold_attack(rise=rise if rise >= 0 else self._attack_rise)
            elif (cont := self._continuation()) is not None:
                # Show where the footage, run on under the gate, is at the input's newest
                # sound, if it sounds there.
                t_s = (self._heard_point(*cont[::-1]) - self.source_grain0[st.source]) / self.sr_hz
                entry = self._entry_at(st.source, float(t_s))
                if self.audible_db[entry] >= s.gate_db:
                    st.source_t_s, st.entry = float(t_s), entry
            return
        if st.samples < self._hold_until and self._hold_attack():
            return
        if known:
            self._query[0] = known.queries[row]
        else:
            self.corpus.normalise(desc, out=self._query[0])
        if known and known.k == self._k:
            labels, dist = known.labels[row], known.distances[row]
        else:
            started = time.perf_counter()
            labels, sq_dist = self.index.knn_query(self._query, k=self._k)
            st.query_s = time.perf_counter() - started
            labels = labels[0]
            dist = np.sqrt(np.maximum(sq_dist[0], 0.0))
        if s.level_mode == "match":
            dist = dist + s.level_weight * np.abs(self.levels_db[labels] - level_db) / 10.0
        now = st.samples
        # The index returns no silent entry (apply()); another engine sharing this corpus
        # may have set a lower floor, so check. An entry jumped to lately waits out the
        # no-repeat time, unless that would leave nothing to choose.
        audible = self.audible_db[labels] >= s.gate_db
        keep = audible
        if self._no_repeat:
            keep = audible & ((now - self._last_jump[labels]) >= self._no_repeat)
        if keep.any():
            labels, dist = labels[keep], dist[keep]
        elif audible.any():
            labels, dist = labels[audible], dist[audible]
        # While the input has no attack, a grain that brings one (the footage's next hit,
        # which the entry's descriptor of the sound before it cannot know) plays an onset
        # the input never had: take one without, where there is one.
        input_rise_db, input_swell_db = self._input_rise_db()
        calm = gate_was_open and input_swell_db < _CALM_DB
        if calm:
            smooth = self.rise_db[labels] < _ATTACK_DB
            if smooth.any() and not smooth.all():
                labels, dist = labels[smooth], dist[smooth]
        best = int(np.argmin(dist))
        if s.jitter > 0 and labels.size > 1:
            near = np.flatnonzero(dist <= dist[best] * (1.0 + s.jitter))
            best = int(near[self._rng.integers(near.size)])
        choice, choice_dist = int(labels[best]), float(dist[best])
        start = int(self.entry_grain[choice])

        cont = self._continuation() if s.continuity > 0 else None
        if cont is not None:
            cont_entry, cont_start = cont
            # The footage's sound that corresponds to the input's window: the grain's start
            # itself, but after an attack, which plays the footage's hit where the input's
            # was (later than decided, or earlier under a lead), that much later.
            heard = self._heard_point(cont_start, cont_entry)
            # Footage whose loudness drifts away from the input's (it falls silent while the
            # input speaks, or the reverse) cannot be levelled by gain without pumping: jump.
            input_db = self._recent_input_db()
            source_db = self._recent_source_db(heard, source=int(self.entry_source[cont_entry]))
            needed_db = min(max(input_db - source_db, -s.max_gain_db), s.max_gain_db)
            drifted = (
                s.level_mode == "compensate"
                and max(input_db, source_db) > s.gate_db  # silence has no loudness to follow
                and abs(needed_db - self._gain_db) > 12.0
            )
            same_place = (
                self.entry_source[choice] == self.entry_source[cont_entry]
                and abs(choice - cont_entry) <= 1
            )
            if drifted or self._runs_into_a_change(
                cont_start, cont_entry, level_db, heard=heard, calm=calm
            ):
                cont = None
            elif same_place:  # the best match is where the footage already is: play on
                choice, start = cont_entry, cont_start
            else:
                # Continuing costs its distance, less a continuity share; jumping costs the
                # best candidate's distance plus a continuity share of the corpus's typical
                # near-match distance (so two near-perfect matches do not trade places).
                jump_cost = choice_dist + s.continuity * self.typical_distance
                # Always the exact descriptor of the playhead's window: the stored entries
                # around it, 40 ms apart, are no bound in fast sound (a plosive), where
                # they judged the footage's own continuation far off and jumped away.
                cont_dist, _ = self._continuation_distance(heard, cont_entry, level_db)
                if cont_dist * (1.0 - s.continuity) <= jump_cost:
                    choice, choice_dist, start = cont_entry, cont_dist, cont_start
                else:
                    cont = None
        if cont is None:
            self._lag = 0
            self._run_start = now
            st.jumps += 1
            self._last_jump[choice] = now
            if s.align_jumps:
                # Just after the gate the playhead ran on unplayed: no grain to be in phase with.
                in_time, start = self._aligned_start(start, choice, in_phase=gate_was_open)
                # The phase nudge moves the grain, not the footage point that matches the
                # input: the run's continuations are judged from that point (a 1 ms nudge
                # made the footage's own sound look far from itself and jump away).
                self._lag = in_time - start
        source = int(self.entry_source[choice])
        # Live, a grain after silence, or a jump on the input's attack, starts at full level
        # and cuts what still sounds, instead of rising over half a grain: the output's onset
        # follows the input's within a hop, as sharp (a drum's hit, a noise burst's first
        # 20 ms). Not when the output is led (a render's lead, which already starts every
        # grain a reaction time earlier than decided): there it would sound before the
        # input's attack, where the rise of an ordinary grain meets it.
        attack = self._lead < self.hop and (
            now - self._last_start >= self.player.length
            or (cont is None and input_rise_db >= _ATTACK_DB)
        )
        gain = 1.0
        if s.level_mode == "compensate":
            gain = self._compensating_gain(
                start, source, jump=cont is None, attack=attack, lag=self._lag
            )
        self._play(start, source, gain=gain, attack=attack)
        st.distance = choice_dist
        self._show_run(source, continuing=cont is not None)

    def _play(
        self,
        start: int,
        source: int,
        *,
        gain: float,
        attack: bool = False,
        next_start: int | None = None,
    ) -> None:
        """Start a grain of ``source`` from store sample ``start`` now, and make it the
        playhead the next decisions continue from (and the source time shown)."""
        st = self.state
        self.player.start(
            start,
            source_end=int(self.source_grain_end[source]),
            gain=gain,
            attack=attack,
            next_start=next_start,
        )
        self._last_start = st.samples
        self._playhead, self._playhead_at = start, st.samples
        st.source = source
        st.source_t_s = (start - int(self.source_grain0[source])) / self.sr_hz

    def _decide_attack(self) -> bool:
        """Answer an input onset from the footage's onsets (:meth:`Corpus.attacks`): the one
        whose first ``_ATTACK_S`` is shaped most like the input's since its onset starts a
        grain at full level, its attack where the input's was (a render's lead allowing;
        live, ``_ATTACK_S`` later). Returns False (nothing done) when the onset is under the
        gate, the footage has none, or the footage playing already plays this onset."""
        s, st = self.settings, self.state
        candidates = self._attack_audible
        if not (candidates.size and s.attacks):  # (switched off since the onset was heard)
            return False
        window = self.stream.latest_window()[-self._attack_len :]
        level_db = _db(float(np.dot(window, window)) / window.size)
        if level_db < s.gate_db:
            return False
        attacks = self._attacks
        query = self._attack_describer.describe(window)[0] * attacks.scale
        # Squared distances, |d|^2 - 2 d.q + |q|^2, on buffers made when the gate was set.
        dots = np.dot(self._attack_matrix, query, out=self._attack_dots)
        dots *= -2.0
        dots += self._attack_norms
        nearest = int(np.argmin(dots))
        best = int(candidates[nearest])
        best_sq = max(float(dots[nearest]) + float(np.dot(query, query)), 0.0)
        now = st.samples
        # Footage that plays an onset of its own at the input's (a cut of the corpus's own
        # sound, a loop, a groove in time) plays on, unless that onset is clearly unlike.
        # (Only a run that began before the onset: one the hop's decisions started since,
        # reacting to it, answered it from the sound before it.)
        cont = self._continuation()
        if cont is not None and self._run_start <= now - self._attack_len:
            playing = self._plays_this_attack(cont, query, best_sq, level_db=level_db)
            if playing is not None:
                # Line the run up with the footage's onset: a run a millisecond off the
                # input describes unlike it around an onset, and jumps away.
                self._playhead += playing
                return False
        # Led by a render's lead, the attack can sound where the input's did: its grain
        # starts that much later (_start_attack), the footage's hit at its start.
        delay = min(max(0, self._lead - self._attack_len), self.player.length)
        gain, gain_db = 1.0, 0.0
        if s.level_mode == "compensate":
            # Like for like, the input's attack against the footage's; and, as after any
            # jump (_compensating_gain), the grain itself no more than 6 dB above the input
            # (a footage hit that starts softly must not be boosted by that softness), and
            # its peak below full scale.
            source = int(attacks.sources[best])
            onset = int(attacks.positions[best])
            stop = min(onset + self.player.length, int(self.source_grain_end[source]))
            segment = self.grains[onset:stop]
            grain_db = _db(
                float(np.dot(segment, segment.astype(np.float32))) / (32768.0**2 * segment.size)
            )
            gain_db = min(level_db - float(attacks.levels_db[best]), level_db + 6.0 - grain_db)
            gain_db = min(max(gain_db, -s.max_gain_db), s.max_gain_db)
            peak = max(int(segment.max()), -int(segment.min()), 1) / 32768.0
            gain = min(10.0 ** (gain_db / 20.0), 0.99 / peak)
        self._pending_attack = (best, gain, gain_db, math.sqrt(best_sq), self._attack_len + delay)
        self._attack_start_due = now + delay
        if not delay:
            self._start_attack()
        return True

    def _start_attack(self) -> None:
        """Start the grain of the attack :meth:`_decide_attack` chose, at full level from the
        footage's hit; the next decision plays it on (:meth:`_hold_attack`)."""
        best, gain, gain_db, distance, lag = self._pending_attack
        self._attack_start_due = -1
        st, attacks = self.state, self._attacks
        now = st.samples
        source = int(attacks.sources[best])
        start = int(attacks.positions[best])
        if self.settings.level_mode == "compensate":
            self._gain_db = gain_db
        self._play(start, source, gain=gain, attack=True, next_start=self._to_hop)
        self._gate_open, st.gated, st.brightness = True, False, 1.0
        st.jumps += 1
        self._last_jump[int(attacks.entries[best])] = now
        # The footage's hit sounds where the input's did: the run plays behind the input's
        # newest sound by the time since the input's onset.
        self._lag = lag
        self._run_start = now
        # The next decision's window still holds mostly the sound before the onset: it plays
        # the attack on. From the one after, the ordinary decisions take over, and hear a
        # note's pitch, which the attack's descriptor does not hold.
        self._hold_until = now + self.hop
        st.distance = distance
        # The picture of the hit: the first whose analysis window holds the onset.
        st.entry = self._entry_at(source, st.source_t_s, at_or_after=True)

    def _heard_point(self, start: int, entry: int) -> int:
        """The footage's sample that corresponds to the input's newest, for a continuation
        from ``start``: ``start`` plus the run's lag (:meth:`_decide_attack`), within the
        source."""
        end = int(self.source_grain_end[int(self.entry_source[entry])])
        return min(start + self._lag, end)

    def _plays_this_attack(
        self, cont: tuple[int, int], query: np.ndarray, best_sq: float, *, level_db: float
    ) -> int | None:
        """Whether continuing plays the input's attack already, and if so by how many
        samples the run should move to line up with it (None: it does not). Yes, in place,
        when the footage's last ``_ATTACK_S`` is as close as the best onset and as loud as
        the input's, within 3 dB (the same sound, wherever the detector placed the footage's
        onset, if it found one: the sound before a cut's start differs); yes, moved onto it,
        when the footage has an onset where the input has (within ``_ONSET_SLACK``) no more
        than twice as far from it as the best."""
        attacks = self._attacks
        entry, start = cont
        heard = self._heard_point(start, entry)
        at = heard - self._attack_len  # where the footage's onset would have to be
        source = int(self.entry_source[entry])
        if at >= int(self.source_grain0[source]):
            own = self.grains[at:heard] * (1.0 / 32768.0)
            if abs(_db(float(np.dot(own, own)) / own.size) - level_db) <= 3.0:
                diff = self._attack_describer.describe(own)[0] * attacks.scale - query
                if float(np.dot(diff, diff)) <= best_sq + 1e-6:
                    return 0
        near = int(np.searchsorted(attacks.positions, at - _ONSET_SLACK))
        if near < attacks.positions.size and attacks.positions[near] <= at + _ONSET_SLACK:
            diff = attacks.descriptors[near] - query
            if float(np.dot(diff, diff)) <= 4.0 * best_sq + 1e-6:
                return int(attacks.positions[near]) - at
        return None

    def _hold_attack(self, *, rise: int = -1) -> bool:
        """The decision after an attack: play the attack's footage on (the input's
        descriptor window still holds mostly the sound before the onset). False
        when it cannot (the source ends or falls silent). With ``rise`` (the stream sample
        where an input onset's rise began, its attack not yet decided): play on only if
        the footage brings no hit of its own but one at the input's (its own sound)."""
        cont = self._continuation()
        if cont is None:
            return False
        entry, start = cont
        source = int(self.entry_source[entry])
        if self._falls_silent(start, source):
            return False
        if rise >= 0:
            # The footage's sample that lines up with the input's rise.
            at = self._heard_point(start, entry) - (self.state.samples - rise)
            positions = self._attacks.positions
            i = int(np.searchsorted(positions, start + _ONSET_SLACK))
            ahead = i < positions.size and positions[i] < start + self.player.length
            if ahead and not -_ONSET_SLACK <= positions[i] - at <= MAX_REPORT_DELAY:
                return False  # a hit of the footage's own, not the input's
            if not ahead and self._rise_ahead_db(start, source) >= _ATTACK_DB:
                return False
        s = self.settings
        gain = 1.0
        if s.level_mode == "compensate" and rise >= 0:
            gain = 10.0 ** (self._gain_db / 20.0)  # the input's attack must not level it up
        elif s.level_mode == "compensate":
            gain = self._compensating_gain(start, source, jump=False, lag=self._lag)
        self._play(start, source, gain=gain)
        self._show_run(source, continuing=True)
        return True

    def _continuation_distance(
        self, start: int, entry: int, level_db: float
    ) -> tuple[float, float]:
        """How far continuing is from the input: the descriptor of the source's own sound
        just before ``start`` (what the input window would be, were the input this footage),
        computed from the grain store; the playhead falls between entries' analysis points.
        Returns (distance, that window's level in dB)."""
        if self._cont_batch is None:  # analysis rate below the grain rate (seed): nearest entry
            return self._distance(entry, level_db), float(self.levels_db[entry])
        source = int(self.entry_source[entry])
        row, off = divmod(start - self._cont_first, self.hop)
        if source != self._cont_source or off or not 0 <= row < self._cont_rows:
            self._describe_continuations(start, source)
            row = 0
        diff = self._cont_queries[row] - self._query[0]
        d = math.sqrt(float(np.dot(diff, diff)))
        cont_level = float(self._cont_levels[row])
        if self.settings.level_mode == "match":
            d += self.settings.level_weight * abs(cont_level - level_db) / 10
        return d, cont_level

    def _describe_continuations(self, start: int, source: int) -> None:
        """Describe, in one batch, the windows of ``source`` that end at ``start`` and at
        the next hops: a run of continuations asks for them one hop after another."""
        n_fft = self.corpus.params.n_fft
        first, end = int(self.source_grain0[source]), int(self.source_grain_end[source])
        windows = self._cont_batch.windows
        windows[:] = 0.0
        rows = 0
        for row in range(_CONT_BATCH):
            stop = start + row * self.hop
            if stop > end:
                break
            lo = max(stop - n_fft, first)
            windows[row, n_fft - (stop - lo) :] = self.grains[lo:stop]
            rows += 1
        windows *= 1.0 / 32768.0
        descriptors, levels = self._cont_batch.describe()
        self.corpus.normalise(descriptors, out=self._cont_queries)
        self._cont_levels[:] = levels
        self._cont_first, self._cont_source, self._cont_rows = start, source, rows

    def _forget_continuations(self) -> None:
        self._cont_first, self._cont_source, self._cont_rows = -1, -1, 0

    def _aligned_start(self, start: int, entry: int, *, in_phase: bool = True) -> tuple[int, int]:
        """Where a jump's grain should really start: near the entry, in time with the input
        (:meth:`_onset_aligned`), then in phase with the grain it takes over from
        (:meth:`_phase_aligned`). Returns both: the footage point in time with the input,
        and the grain's start."""
        in_time = self._onset_aligned(start, entry)
        return in_time, self._phase_aligned(in_time, entry) if in_phase else in_time

    def _onset_aligned(self, start: int, entry: int) -> int:
        """Slide a jump's grain start, up to half the entry spacing either way, to where the
        footage's loudness contour over the last analysis window lines up with the input's.

        Entries sit one image apart (40 ms at 25 fps) but the input's window can end anywhere
        between two of them: starting at the entry itself leaves the grains up to 20 ms early
        or late against the input, which smears onsets and makes every like-for-like level
        comparison afterwards disagree. Contours are the energies of ``_ALIGN_BLOCK`` sample
        blocks in dB (a gain never changes their shape, so this works at any input level),
        compared every ``_ALIGN_STEP`` samples of offset (coarse to fine) from one running
        sum: less than one exact descriptor costs. Needs the input at the grain rate (every
        descriptor but ``seed``).
        """
        if self._cont_batch is None or self._align_reach < _ALIGN_STEP:
            return start
        n = self._align_blocks * _ALIGN_BLOCK
        source = int(self.entry_source[entry])
        first = max(start - self._align_reach, int(self.source_grain0[source]) + n)
        last = min(
            start + self._align_reach, int(self.source_grain_end[source]) - self.player.length
        )
        if last <= first:
            return start
        blocks = self.stream.latest_window()[-n:].reshape(-1, _ALIGN_BLOCK)
        contour_in = _contour(_power_db(np.einsum("ij,ij->i", blocks, blocks) / _ALIGN_BLOCK))
        if float(np.ptp(contour_in)) < _ALIGN_MIN_RANGE_DB:
            return start  # a steady input has no onset to line up with: spare the search
        # Energies of _ALIGN_STEP sub-blocks (one pass over the int16 store), then of
        # _ALIGN_BLOCK blocks starting at every sub-block (a running sum): each candidate's
        # contour is a strided pick of those. Few numpy calls on long arrays, as each of those
        # lets go of the GIL, and getting it back from a busy display thread is what costs.
        per_block = _ALIGN_BLOCK // _ALIGN_STEP
        subs = (last - first + n) // _ALIGN_STEP
        segment = self.grains[first - n : first - n + subs * _ALIGN_STEP].reshape(subs, -1)
        sub_energy = np.einsum("ij,ij->i", segment, segment, dtype=np.float64)
        running = np.concatenate(([0.0], np.cumsum(sub_energy)))
        scale = 1.0 / (_ALIGN_BLOCK * 32768.0**2)
        block_db = _power_db((running[per_block:] - running[:-per_block]) * scale)
        candidates = subs - self._align_blocks * per_block + 1  # starts first, first + STEP, ..
        spread = per_block * np.arange(self._align_blocks)

        def best_of(picks: np.ndarray) -> int:
            cost = np.mean((_contour(block_db[picks[:, None] + spread]) - contour_in) ** 2, 1)
            # A flat contour says nothing about timing: stay nearest the entry unless it does.
            cost += 1e-3 * np.abs(first + _ALIGN_STEP * picks - start) / _ALIGN_STEP
            return int(picks[int(np.argmin(cost))])

        # Coarse (every _ALIGN_COARSE sub-blocks), then fine around the coarse best.
        coarse = best_of(np.arange(0, candidates, _ALIGN_COARSE))
        lo, hi = max(coarse - _ALIGN_COARSE + 1, 0), min(coarse + _ALIGN_COARSE, candidates)
        return first + _ALIGN_STEP * best_of(np.arange(lo, hi))

    def _phase_aligned(self, start: int, entry: int) -> int:
        """Nudge a jump's grain start, by less than half the longest period we align
        (``_PHASE_REACH_S``), to where its waveform best matches the sound it takes over from:
        the current grain's own continuation (the WSOLA idea). Two grains of one steady note
        overlap-added out of phase beat and cancel; in phase, the note sounds whole. Applied
        only when the match is clear (normalised correlation above ``_PHASE_MIN_CORR``), which
        is tonal sound; noise keeps its onset alignment."""
        if self._playhead < 0:
            return start
        reach = self._phase_reach
        span = 2 * self.hop  # the new grain's rise, where the old grains still sound
        old_source = self.state.source
        ref_start = self._playhead + (self.state.samples - self._playhead_at)
        source = int(self.entry_source[entry])
        if (
            ref_start + span > self.source_grain_end[old_source]
            or start - reach < self.source_grain0[source]
            or start + reach + self.player.length > self.source_grain_end[source]
        ):
            return start
        reference = self.grains[ref_start : ref_start + span].astype(np.float32)
        region = self.grains[start - reach : start + reach + span].astype(np.float32)
        corr = np.correlate(region, reference, "valid")
        best = int(np.argmax(corr))  # the region's energy hardly changes over a few ms
        window = region[best : best + span]
        norm = math.sqrt(float(np.dot(window, window)) * float(np.dot(reference, reference)))
        return start + best - reach if corr[best] >= _PHASE_MIN_CORR * norm > 0 else start

    def _distance(self, entry: int, level_db: float) -> float:
        """Distance from the current query to one entry, as the re-ranking measures it."""
        diff = self.vectors[entry] - self._query[0]
        d = math.sqrt(float(np.dot(diff, diff)))
        if self.settings.level_mode == "match":
            d += self.settings.level_weight * abs(float(self.levels_db[entry]) - level_db) / 10
        return d

    def _recent_input_db(self, *, since_onset: bool = False) -> float:
        """Level of the input's last ``level_window`` samples, dBFS; with ``since_onset``, of
        those from the first 16 that come within 20 dB of the loudest 16: the first decision
        after an onset may hear 1 ms of it, and the quiet before must not count."""
        recent = self.stream.latest_window()[-self._level_window_analysis :]
        if since_onset and recent.size >= 32:
            parts = recent[recent.size % 16 :].reshape(-1, 16)
            power = np.einsum("ij,ij->i", parts, parts)
            first = int(np.argmax(power >= 0.01 * power.max()))
            return _db(float(power[first:].sum()) / (16 * (power.size - first)))
        return _db(float(np.dot(recent, recent)) / recent.size)

    def _recent_source_db(self, start: int, *, source: int, default_db: float = -120.0) -> float:
        """Level of the source's last ``level_window`` samples before store sample ``start``."""
        lo = max(start - self._level_window, int(self.source_grain0[source]))
        before = self.grains[lo:start]
        if not before.size:
            return default_db
        return _db(float(np.dot(before, before.astype(np.float32))) / (32768.0**2 * before.size))

    def _runs_into_a_change(
        self,
        start: int,
        entry: int,
        level_db: float,
        *,
        heard: int,
        calm: bool,
    ) -> bool:
        """Whether continuing from ``start`` would play what the input does not: fade the
        output out under a sounding input (:meth:`_falls_silent`), or, while the input has
        no attack (``calm``), bring the footage's next one (:meth:`_rise_ahead_db`). Not when
        the footage is a closer match than a typical one: footage that is the input's own
        sound knows what comes next, so it plays on. ``heard``: the footage's point that
        corresponds to the input's newest sample (:meth:`_heard_point`)."""
        source = int(self.entry_source[entry])
        if not (
            self._falls_silent(start, source)
            or (calm and self._rise_ahead_db(start, source) >= _ATTACK_DB)
        ):
            return False
        return self._continuation_distance(heard, entry, level_db)[0] > self.typical_distance

    def _input_rise_db(self) -> tuple[float, float]:
        """How much louder the input's newest part of a grain's eight is than the louder and
        than the quieter of the three before it, dB: the first says an attack is under way,
        the second that the input is not calm (a swell, a note after a dip, rises too)."""
        part = self.player.length // 8
        window = self.stream.latest_window()
        if window.size < 4 * part:
            return 0.0, 0.0
        parts = window[-4 * part :].reshape(4, part)
        power = np.einsum("ij,ij->i", parts, parts)
        newest = _db(float(power[3]) / part)
        return newest - _db(float(power[:3].max()) / part), newest - _db(
            float(power[:3].min()) / part
        )

    def _rise_ahead_db(self, start: int, source: int) -> float:
        """:meth:`Corpus.rise_ahead_db` for a grain from any store sample (a continuation's
        falls between entries): its loudest part of eight against the louder of its first
        and the one before it, every 4th sample."""
        part = self.player.length // 8
        lo, hi = int(self.source_grain0[source]), int(self.source_grain_end[source])
        if start - part < lo or start + 8 * part > hi:
            return 0.0
        parts = self.grains[start - part : start + 8 * part : 4].reshape(9, -1)
        power = np.einsum("ij,ij->i", parts, parts, dtype=np.float64)
        before = max(float(power[0]), float(power[1]))
        return _db(float(power[2:].max())) - _db(before)

    def _falls_silent(self, start: int, source: int) -> bool:
        """Whether a grain from store sample ``start`` ends in silence (its second half below
        the gate) while the input is sounding. Grains overlap ``overlap`` hops, so a run of
        continuations that reaches the footage's silence fades the output out over a grain's
        length whatever is decided then: the jump must come while the new grain still has
        sound to cover the old ones' silence. Half a grain, not its last hop: the dip between
        two notes of a phrase is not silence."""
        stop = min(start + self.player.length, int(self.source_grain_end[source]))
        tail = self.grains[max(stop - self.player.length // 2, start) : stop]
        if not tail.size:
            return True
        power = float(np.dot(tail, tail.astype(np.float32))) / (32768.0**2 * tail.size)
        return _db(power) < self.settings.gate_db

    def _compensating_gain(
        self, start: int, source: int, *, jump: bool, attack: bool = False, lag: int = 0
    ) -> float:
        """Gain that brings the footage to the input's level, like for like: the input's
        last ``level_window`` samples against the source's last ones before ``start``, so an
        exact match plays at gain 1 and the output's loudness follows the input within a hop.

        Limited to ±max_gain_db; after a jump (and for any boost) to what keeps the grain
        itself no more than 6 dB above the input (a grain starting on an onset after a quiet
        moment must not be boosted by that quietness); and to what keeps its peak below full
        scale. An ``attack`` grain follows the input since its onset, not its whole last hop
        (:meth:`_recent_input_db`): it holds that gain at full weight for a hop. ``lag``:
        the run plays the footage that much behind the input (:meth:`_heard_point`), so the
        footage's level is taken that much later.
        """
        stop = min(start + self.player.length, int(self.source_grain_end[source]))
        if stop <= start:
            return 0.0
        input_db = self._recent_input_db(since_onset=attack)
        heard = min(start + lag, stop)
        source_db = self._recent_source_db(heard, source=source, default_db=input_db)
        limit = self.settings.max_gain_db
        gain_db = min(max(input_db - source_db, -limit), limit)
        self._gain_db = gain_db
        segment = self.grains[start:stop]
        grain_db = _db(
            float(np.dot(segment, segment.astype(np.float32))) / (32768.0**2 * segment.size)
        )
        if jump or gain_db > 0.0:
            # After a jump the source's last hop says little about the grain that follows it
            # (it may be the quiet before an onset): keep the grain itself near the input's
            # level. A continuation keeps the like-for-like gain, onsets included.
            gain_db = min(gain_db, input_db + 6.0 - grain_db)
            if not jump:
                gain_db = max(gain_db, 0.0)
        peak = max(int(segment.max()), -int(segment.min()), 1) / 32768.0
        return min(10.0 ** (gain_db / 20.0), 0.99 / peak)

    def _continuation(self) -> tuple[int, int] | None:
        """(entry on screen, store sample) one hop after the current grain, if its source
        goes on that long."""
        if self._playhead < 0:
            return None
        start = self._playhead + (self.state.samples - self._playhead_at)
        source = self.state.source
        if start + self.player.length > self.source_grain_end[source]:
            return None
        t_s = (start - int(self.source_grain0[source])) / self.sr_hz
        return self._entry_at(source, t_s), start

    def _entry_at(self, source: int, t_s: float, *, at_or_after: bool = False) -> int:
        """The entry of ``source`` on screen at ``t_s``; with ``at_or_after``, the first at
        or after it."""
        first = int(self.source_first[source])
        count = int(self.source_count[source])
        pts = self.entry_pts[first : first + count]
        if at_or_after:
            k = int(np.searchsorted(pts, t_s - 1e-9, side="left"))
        else:
            k = int(np.searchsorted(pts, t_s + 1e-9, side="right")) - 1
        return first + min(max(k, 0), count - 1)

    def _show_run(self, source: int, *, continuing: bool) -> None:
        """Show the entry where the grain just started plays; a run never steps back (an
        attack showed the picture after its onset, which the run's next grains may start
        before)."""
        st = self.state
        entry = self._entry_at(source, st.source_t_s)
        if continuing and st.entry >= 0 and int(self.entry_source[st.entry]) == source:
            entry = max(entry, st.entry)
        st.entry = entry

    def _show(self, entry: int) -> None:
        st = self.state
        st.entry = entry
        if entry >= 0:
            st.source = int(self.entry_source[entry])
            st.source_t_s = float(self.entry_pts[entry])
