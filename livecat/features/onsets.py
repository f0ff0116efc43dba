"""Onsets and attacks: where a hit, a plosive or a note starts, and what its first moment is.

The engine's descriptor (:mod:`livecat.features.descriptor`) describes the 43 ms before a
decision; a drum hit is over in less. So the corpus's onsets and the input's are found by one
detector (:class:`OnsetDetector`, the same numbers whether it reads a corpus source whole or a
stream block by block), and the first ``attack`` samples after each are described on their
own (:class:`AttackDescriber`): the shape of the spectrum in the first few milliseconds, which
tells a kick from a snare from a hat whatever the kit, the level or the sound before it.

The detector works on blocks of :data:`ONSET_BLOCK` samples (1.3 ms at 48 kHz). A block is an
onset when its level, or the level of its first difference (the sound above about 5 kHz,
where a hat or a consonant shows over a kick's tail), rises :data:`ONSET_RISE_DB` above the
loudest of the blocks before it (about 10 ms), it is above ``floor_db``, and no onset came in
the last :data:`ONSET_REFRACTORY` blocks.
"""

from __future__ import annotations

import math

import numpy as np

#: Samples per detector block (at the grain rate).
ONSET_BLOCK = 64
#: Blocks before a block that it must rise above (skipping the one just before it, where a
#: slow attack has begun already): 8 blocks, 10.7 ms at 48 kHz.
ONSET_REACH = 8
#: Rise over those blocks that makes an onset, dB.
ONSET_RISE_DB = 10.0
#: Blocks after an onset in which no other may start (32 ms): a flam is one hit.
ONSET_REFRACTORY = 24
#: Blocks after a rise looked at to place the onset (6.7 ms), and how far under their
#: loudest the onset's block may be (dB).
ONSET_LOOKAHEAD = 5
ONSET_PEAK_DB = 10.0
# Share of the peak amplitude that places an onset within its block.
_ONSET_AMPLITUDE = 0.3
# Samples before an onset's block in which it may yet be placed.
_ONSET_LEAD = 16
#: The longest time (samples) from an onset's position to the push that reports it: the
#: rise's block and its lookahead, and the most an onset is placed before that block.
#: Whoever answers onsets at least this long after them answers every split of a stream
#: alike.
MAX_REPORT_DELAY = (ONSET_LOOKAHEAD + 2) * ONSET_BLOCK + _ONSET_LEAD
# Judged blocks kept before the unjudged ones: the reach and the block just before.
_CONTEXT = ONSET_REACH + 2
#: Mel bands of an attack's descriptor, and their range.
ATTACK_BANDS = 24
#: Parts of an attack whose levels make its contour.
ATTACK_PARTS = 4
_ATTACK_FMIN_HZ = 50.0
_ATTACK_FMAX_HZ = 12000.0
_ATTACK_FFT = 1024


def _block_levels_db(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level (dB) of each whole ``ONSET_BLOCK`` of ``samples`` and of its first difference.
    ``samples`` carries one sample before the first block (for the difference)."""
    x = np.asarray(samples, np.float64)
    blocks = (x.size - 1) // ONSET_BLOCK
    body = x[1 : 1 + blocks * ONSET_BLOCK].reshape(blocks, ONSET_BLOCK)
    diff = np.diff(x[: 1 + blocks * ONSET_BLOCK]).reshape(blocks, ONSET_BLOCK)
    level = np.einsum("ij,ij->i", body, body) / ONSET_BLOCK
    high = np.einsum("ij,ij->i", diff, diff) / ONSET_BLOCK
    return 10.0 * np.log10(level + 1e-12), 10.0 * np.log10(high + 1e-12)


class OnsetDetector:
    """Streaming onset detector: push samples, get the onsets' absolute sample positions.

    Positions are the first sample of the onset's block, counted from the first sample ever
    pushed (plus ``origin``); any split of a signal into pushes gives the same onsets. An
    onset is reported once the :data:`ONSET_LOOKAHEAD` blocks after its rise have come in,
    and placed at the first block within :data:`ONSET_PEAK_DB` of their loudest: the
    pre-echo a lossy codec (AAC, MP3) smears before a hit, 20-30 dB under it, rises from
    silence too, and the footage's onsets must be where its hits are, not where its codec's
    noise starts.

    Parameters
    ----------
    floor_db : float
        A block quieter than this (dBFS over the block, full scale ±1 or ±32768 per
        ``full_scale``) is never an onset: the gate's level.
    full_scale : float
        The samples' full scale (1.0 for float audio, 32768 for the int16 grain store).
    origin : int
        Absolute position of the first sample pushed.
    """

    def __init__(self, *, floor_db: float, full_scale: float = 1.0, origin: int = 0) -> None:
        self.floor_db = floor_db
        self._offset_db = 20.0 * math.log10(full_scale)
        self._origin = origin
        # Levels of the blocks not yet judged, after the _CONTEXT judged ones before them.
        self._level = np.full(_CONTEXT, -120.0)
        self._high = np.full(_CONTEXT, -120.0)
        self._raw = np.zeros(_CONTEXT * ONSET_BLOCK + 1)  # their samples, one before
        self._first = -_CONTEXT  # block number of _level[0]
        self._pending = np.zeros(ONSET_BLOCK + 1)  # sample before the block, partial block
        self._held = 1  # samples in _pending (the first is the one before)
        self._last_onset = -(10**9)  # block number
        #: Where a rise starts (absolute sample) that will be judged once its lookahead
        #: has come in, likely an onset; -1: none.
        self.rise_at = -1
        #: Where the rise of each onset the last push returned starts (its block).
        self.rises: list[int] = []

    def push(self, samples: np.ndarray) -> list[int]:
        """Consume ``samples``; return the onsets judged with them."""
        samples = np.asarray(samples)
        need = ONSET_BLOCK + 1 - self._held
        if samples.size < need:
            self._pending[self._held : self._held + samples.size] = samples
            self._held += samples.size
            self.rises = []
            return []
        whole = (samples.size - need) // ONSET_BLOCK * ONSET_BLOCK + need
        joined = np.concatenate([self._pending[: self._held], samples[:whole]])
        rest = samples[whole:]
        level, high = _block_levels_db(joined)
        self._pending[0] = joined[-1]
        self._pending[1 : 1 + rest.size] = rest
        self._held = 1 + rest.size
        self._level = np.concatenate([self._level, level - self._offset_db])
        self._high = np.concatenate([self._high, high - self._offset_db])
        self._raw = np.concatenate([self._raw, joined[1:]])
        return self._judge()

    def _judge(self) -> list[int]:
        """Judge every block whose lookahead has come in; keep the rest and the context.
        Also note where a rise among the rest starts (:attr:`rise_at`)."""
        level, high = self._level, self._high
        self.rises = []
        stop = level.size - ONSET_LOOKAHEAD  # blocks [_CONTEXT, stop) can be judged
        count = max(0, stop - _CONTEXT)
        # The loudest of the ONSET_REACH blocks before each, skipping the one just before:
        # blocks 2 .. ONSET_REACH + 1 back, a maximum over shifted slices (a few calls,
        # whatever the number of blocks).
        n = level.size
        ref = level[_CONTEXT - 2 : n - 2].copy()
        ref_high = high[_CONTEXT - 2 : n - 2].copy()
        for back in range(3, ONSET_REACH + 2):
            np.maximum(ref, level[_CONTEXT - back : n - back], out=ref)
            np.maximum(ref_high, high[_CONTEXT - back : n - back], out=ref_high)
        fresh = slice(_CONTEXT, None)
        by_level = level[fresh] - ref >= ONSET_RISE_DB
        by_high = high[fresh] - ref_high >= ONSET_RISE_DB
        rises = (by_level | by_high) & (level[fresh] >= self.floor_db)
        onsets = []
        for i in np.flatnonzero(rises[:count]):
            block = self._first + _CONTEXT + int(i)
            if block - self._last_onset <= ONSET_REFRACTORY:
                continue
            # The first block, from the one before the rise, within ONSET_PEAK_DB of the
            # loudest of the lookahead, in the band that rose.
            band = level if by_level[i] else high
            at = _CONTEXT + int(i)
            span = band[at - 1 : at + ONSET_LOOKAHEAD + 1]
            first = int(np.argmax(span >= span[1:].max() - ONSET_PEAK_DB)) - 1
            self._last_onset = block + max(first, 0)
            sample = self._first_loud_sample(at + first, high_band=not by_level[i])
            onsets.append(self._origin + (block + first) * ONSET_BLOCK + sample)
            self.rises.append(self._origin + block * ONSET_BLOCK)
        self.rise_at = -1
        for i in np.flatnonzero(rises[count:]):
            block = self._first + _CONTEXT + count + int(i)
            if block - self._last_onset > ONSET_REFRACTORY:
                self.rise_at = self._origin + block * ONSET_BLOCK
                break
        self._level = level[count:].copy()
        self._high = high[count:].copy()
        self._raw = self._raw[count * ONSET_BLOCK :].copy()
        self._first += count
        return onsets

    def _first_loud_sample(self, at: int, *, high_band: bool) -> int:
        """Where, from :data:`_ONSET_LEAD` samples before block ``at`` to its end, the onset
        is: the first sample to reach :data:`_ONSET_AMPLITUDE` of the peak amplitude of
        those and the next block (of the first difference when the hit showed in the high
        band), so the footage's onsets and the input's agree to a sample or two whatever
        the phase of their blocks. Not further back: a codec's pre-echo reaches as high."""
        lo = at * ONSET_BLOCK + 1 - _ONSET_LEAD  # _raw[0] is the sample before block 0
        x = self._raw[lo - 1 : lo + _ONSET_LEAD + 2 * ONSET_BLOCK]
        x = np.abs(np.diff(x)) if high_band else np.abs(x[1:])
        first = int(np.argmax(x >= _ONSET_AMPLITUDE * x.max()))
        return min(first, _ONSET_LEAD + ONSET_BLOCK - 1) - _ONSET_LEAD


def store_onsets(
    store: np.ndarray, bounds: np.ndarray, *, floor_db: float, attack: int
) -> np.ndarray:
    """Onsets (store sample positions) of every source of an int16 grain store, each with
    ``attack`` samples of its source after it; ``bounds`` is (sources, 2) start/stop."""
    found: list[int] = []
    for lo, hi in np.asarray(bounds, np.int64):
        detector = OnsetDetector(floor_db=floor_db, full_scale=32768.0, origin=int(lo))
        chunk = 1 << 20
        for a in range(int(lo), int(hi), chunk):
            for onset in detector.push(np.asarray(store[a : min(a + chunk, int(hi))], np.float32)):
                if onset + attack <= hi:
                    found.append(onset)
    return np.array(found, np.int64)


class AttackDescriber:
    """Describe the first ``attack`` samples after an onset: the shape of their spectrum
    (``ATTACK_BANDS`` mel bands, 50 Hz-12 kHz as the main descriptor: above it lossy codecs and
    band-limited inputs differ more than drums do; in units of 10 dB, less their mean, so the
    level does not count) and its loudness contour over ``ATTACK_PARTS`` parts (same
    units): how fast it rises and falls, which tells a hat's tick from a snare's crack as
    much as the spectrum does."""

    def __init__(self, *, attack: int, sr_hz: int) -> None:
        from livecat.features.descriptor import mel_filterbank

        self.attack = attack
        n_fft = max(_ATTACK_FFT, attack)
        # Full weight from the first sample (the attack itself), a cos² fall over the last
        # quarter so the cut does not splash over the spectrum.
        fall = attack // 4
        self.window = np.ones(attack)
        self.window[-fall:] = np.cos(0.5 * np.pi * (np.arange(fall) + 0.5) / fall) ** 2
        self.n_fft = n_fft
        self.mel_t = np.ascontiguousarray(
            mel_filterbank(
                sr_hz=sr_hz,
                n_fft=n_fft,
                n_mels=ATTACK_BANDS,
                fmin_hz=_ATTACK_FMIN_HZ,
                fmax_hz=min(_ATTACK_FMAX_HZ, sr_hz / 2),
            ).T
        )
        self.dim = ATTACK_BANDS + ATTACK_PARTS
        # Factors for the distance between attacks: the spectrum and the contour, both in the
        # same units (10 dB), as two halves of equal weight whatever their number of
        # dimensions. Not each dimension by its spread in the footage: the spread of the
        # lowest bands is mostly the difference between a kick and a hat, the very thing to
        # tell apart.
        self.scale = np.empty(self.dim, np.float32)
        self.scale[:ATTACK_BANDS] = 1.0 / math.sqrt(ATTACK_BANDS)
        self.scale[ATTACK_BANDS:] = 1.0 / math.sqrt(ATTACK_PARTS)

    def describe(self, windows: np.ndarray) -> np.ndarray:
        """Descriptors (rows, dim) float32 of ``windows`` (rows, attack), full scale ±1."""
        windows = np.atleast_2d(np.asarray(windows, np.float64))
        spectrum = np.fft.rfft(windows * self.window, n=self.n_fft, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        bands = power @ self.mel_t
        bands = np.log10(bands + 1e-8 * bands.max(axis=1, keepdims=True) + 1e-30)
        bands -= bands.mean(axis=1, keepdims=True)
        parts = windows.reshape(windows.shape[0], ATTACK_PARTS, -1)
        contour = np.log10(np.einsum("ijk,ijk->ij", parts, parts) + 1e-12)
        contour = np.maximum(contour, contour.max(axis=1, keepdims=True) - 4.0)
        contour -= contour.mean(axis=1, keepdims=True)
        return np.concatenate([bands, contour], axis=1).astype(np.float32)
