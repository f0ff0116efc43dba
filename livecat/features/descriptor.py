"""Spectral descriptors of short audio windows.

A descriptor describes the analysis *window* of ``n_fft`` samples that ends at a given sample.
The corpus computes it for the window ending at each image's presentation time; the live
engine computes it for the window ending at the newest input sample. Both go through
:class:`DescriptorBatch`, the one copy of the arithmetic, so a file analysed whole and the same
samples streamed block by block give identical numbers (see ``tests/test_features.py``).

Four kinds exist:

``"mfcc-pitch"`` (default)
    Mel-cepstral coefficients 1..``n_mfcc`` (spectral shape; coefficient 0, the overall level,
    is dropped) followed by a pitch profile: one bin per semitone from ``pitch_fmin_hz`` to
    ``pitch_fmax_hz`` (61 bins by default, B1 to B6), L2-normalised. The profile is built from the
    spectrum's peaks, each placed at its exact frequency (parabolic interpolation of the log
    magnitude) and shared between its two nearest semitones, so a partial lands on its note
    even where FFT bins are wider than a semitone; keeping octaves apart tells a chord's
    voicing from another with the same pitch classes. None of it changes when the input gets
    louder or softer; the window's level is returned separately (``level_db``) so matching can
    use it, ignore it, or compensate for it.
``"timbre-pitch"``
    For any sound, pitched or not. Mel-cepstral coefficients 1..``n_mfcc``; the window's
    loudness contour (the level of each of its ``ENVELOPE_BLOCKS`` parts in dB, relative to
    their mean: an attack rises, a decaying tail falls, whatever the level); its harmonicity
    (0..1, the normalised autocorrelation's highest peak over the pitch range: a sung or
    played note near 1, noise low) and spectral flatness (dB over the pitch range: noise
    near 0, chords far below); and the semitone profile of ``"mfcc-pitch"`` scaled by
    :func:`pitch_share` of those two, so pitch counts as much as the sound has one
    and the random peaks of noise do not drown its timbre.
    Not yet the default: on footage of steady noise it jumps between entries at nearly
    every hop (docs/benchmarks.md).
``"mfcc-chroma"``
    The same cepstrum followed by a 12-bin chroma vector (FFT bins folded onto pitch classes).
    The default of corpora built before the pitch profile; still built and read.
``"seed"``
    The method livecat grew from: the raw power spectrum of a Hann-windowed 512-point FFT at
    16 kHz. Kept only as a baseline to measure against; its numbers follow the input level.
"""

from __future__ import annotations

import math
import threading
from contextlib import ContextDecorator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from livecat.errors import ParameterError

DESCRIPTOR_KINDS = ("mfcc-pitch", "timbre-pitch", "mfcc-chroma", "seed")
#: Kinds analysed through the low-delay window with a semitone profile.
_PROFILE_KINDS = ("timbre-pitch", "mfcc-pitch")
#: Parts of the window whose levels make the loudness contour of ``"timbre-pitch"`` (5.3 ms
#: each at the default 2048 samples, 48 kHz): enough to tell an attack from a decay.
ENVELOPE_BLOCKS = 8

# Spectral peaks weaker than this (relative to the window's strongest, 60 dB) are not
# partials. The low-delay window's sidelobes sit at -51 dB, so a pure sine leaves small extra
# peaks; -46 dB removed them without changing the music benchmark, and lowered speech a bit.
_PEAK_FLOOR = 1e-3

#: Level reported for digital silence, in dB relative to full scale.
SILENCE_DB = -120.0


@dataclass(frozen=True)
class DescriptorParams:
    """Everything that decides a descriptor's numbers; stored in every corpus.

    Attributes
    ----------
    kind : {"timbre-pitch", "mfcc-pitch", "mfcc-chroma", "seed"}
    sr_hz : int
        Analysis sample rate. Must divide the corpus grain rate (48 kHz by default), so the
        live input reaches it by an integer decimation that is identical offline and live.
    n_fft : int
        Window length in samples at ``sr_hz`` (2048 at 48 kHz = 43 ms).
    n_mels : int
        Mel bands between ``fmin_hz`` and ``fmax_hz``.
    n_mfcc : int
        Cepstral coefficients kept (1..n_mfcc; 0 is the level and is left out).
    fmin_hz, fmax_hz : float
        Band limits of the mel filterbank.
    chroma_fmin_hz, chroma_fmax_hz : float
        Band limits of the chroma (pitch-class) projection.
    chroma_log_gain : float
        Chroma is taken from ``log(1 + gain * |X| / max|X|)``: the compression evens out
        how loud each harmonic is, so the same notes on another instrument give nearly the
        same chroma. 0 uses plain magnitudes. The pitch profile weighs its peaks the same way.
    pitch_fmin_hz, pitch_fmax_hz : float
        Range of the pitch profile (``timbre-pitch``, ``mfcc-pitch``) and of the lags the
        harmonicity looks at (``timbre-pitch``): spectral peaks outside it are ignored and
        it has one bin per semitone in between.
    window_fall : int or None
        ``timbre-pitch`` and ``mfcc-pitch`` analyse through a low-delay window: a sin² rise over
        ``n_fft - window_fall`` samples and a cos² fall over the last ``window_fall``
        (None: the last quarter, so the shape holds at any ``n_fft``), so the newest sound
        weighs most. The window's centre of mass sits 17 ms before its end
        (2048/512 at 48 kHz) where a Hann window of the same frequency resolution puts it
        32 ms back; the picture changes that much sooner after a note does. ``n_fft // 2``
        is a Hann window. The other kinds always use Hann.
    """

    kind: str = "mfcc-pitch"
    sr_hz: int = 48000
    n_fft: int = 2048
    n_mels: int = 40
    n_mfcc: int = 12
    fmin_hz: float = 40.0
    fmax_hz: float = 12000.0
    chroma_fmin_hz: float = 100.0
    chroma_fmax_hz: float = 4000.0
    chroma_log_gain: float = 100.0
    pitch_fmin_hz: float = 60.0
    pitch_fmax_hz: float = 2000.0
    window_fall: int | None = None

    def __post_init__(self) -> None:
        if self.window_fall is None:  # stored resolved, so a manifest names the real window
            object.__setattr__(self, "window_fall", max(16, self.n_fft // 4))
        if self.kind not in DESCRIPTOR_KINDS:
            raise ParameterError(
                f"unknown descriptor kind {self.kind!r}; "
                f"choose one of {', '.join(DESCRIPTOR_KINDS)}"
            )
        # Bounds a manifest from a stranger cannot get past: each of these sizes an array.
        if not (0 < self.sr_hz <= 384000 and 64 <= self.n_fft <= 65536):
            raise ParameterError(
                f"need 0 < sr_hz <= 384000 and 64 <= n_fft <= 65536, got {self.sr_hz}, {self.n_fft}"
            )
        if not (1 <= self.n_mels <= 512 and 0 <= self.chroma_log_gain < math.inf):
            raise ParameterError(
                f"need 1 <= n_mels <= 512 and a finite chroma_log_gain >= 0, got "
                f"{self.n_mels}, {self.chroma_log_gain}"
            )
        if self.kind != "seed":
            if not 0 < self.fmin_hz < self.fmax_hz <= self.sr_hz / 2:
                raise ParameterError(
                    f"mel band {self.fmin_hz}-{self.fmax_hz} Hz must lie within "
                    f"0-{self.sr_hz / 2} Hz"
                )
            if not 1 <= self.n_mfcc < self.n_mels:
                raise ParameterError(f"need 1 <= n_mfcc < n_mels, got {self.n_mfcc}, {self.n_mels}")
        if self.kind == "timbre-pitch" and self.n_fft % ENVELOPE_BLOCKS:
            raise ParameterError(
                f"n_fft must be a multiple of {ENVELOPE_BLOCKS} for timbre-pitch, got {self.n_fft}"
            )
        if self.kind in _PROFILE_KINDS and not 16 <= self.window_fall <= self.n_fft // 2:
            raise ParameterError(
                f"window_fall must be 16..n_fft/2 ({self.n_fft // 2}), got {self.window_fall}"
            )
        if self.kind in _PROFILE_KINDS and not (
            self.sr_hz / self.n_fft < self.pitch_fmin_hz < self.pitch_fmax_hz < self.sr_hz / 2
        ):
            raise ParameterError(
                f"pitch range {self.pitch_fmin_hz}-{self.pitch_fmax_hz} Hz must lie between "
                f"the first FFT bin ({self.sr_hz / self.n_fft:g} Hz) and {self.sr_hz / 2} Hz"
            )

    @classmethod
    def seed(cls) -> DescriptorParams:
        """The original method's settings: 16 kHz, 512-point FFT, raw power spectrum."""
        return cls(kind="seed", sr_hz=16000, n_fft=512)

    @property
    def pitch_midi_range(self) -> tuple[int, int]:
        """First and last semitone (MIDI note numbers) of the pitch profile."""
        return round(float(_hz_to_midi(self.pitch_fmin_hz))), round(
            float(_hz_to_midi(self.pitch_fmax_hz))
        )

    @property
    def pitch_dim(self) -> int:
        """Length of the pitch part: 12 chroma bins, or one bin per semitone of the profile."""
        if self.kind in _PROFILE_KINDS:
            low, high = self.pitch_midi_range
            return high - low + 1
        return 12

    @property
    def timbre_dim(self) -> int:
        """Length of the part before the pitch part: the cepstrum, and for ``timbre-pitch``
        the loudness contour, the harmonicity and the spectral flatness (the last two)."""
        return self.n_mfcc + (ENVELOPE_BLOCKS + 2 if self.kind == "timbre-pitch" else 0)

    @property
    def dim(self) -> int:
        """Length of one descriptor vector."""
        return self.n_fft // 2 + 1 if self.kind == "seed" else self.timbre_dim + self.pitch_dim

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self.n_fft / self.sr_hz

    @property
    def delay_s(self) -> float:
        """How long after a change in the sound the change holds half of the analysis
        window's energy (the window's square, since descriptors come from the power
        spectrum): from then on the descriptor looks more like the new sound than the old.
        14.8 ms for the default low-delay window; half the window for Hann."""
        weight = _analyser(self).window[::-1] ** 2
        half = np.cumsum(weight)
        return float(np.searchsorted(half, 0.5 * half[-1])) / self.sr_hz

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hz_to_midi(f_hz: Any) -> Any:
    """MIDI note number (fractional) of a frequency, or of an array of them."""
    return 69.0 + 12.0 * np.log2(np.asarray(f_hz, np.float64) / 440.0)


def low_delay_window(*, n_fft: int, fall: int) -> np.ndarray:
    """An asymmetric analysis window: sin² rise over ``n_fft - fall`` samples, cos² fall over
    the last ``fall``. Weighing the newest samples most puts the window's centre of mass
    close to its end, so a descriptor of the window ending now describes what sounds now."""
    rise = n_fft - fall
    rising = np.sin(0.5 * np.pi * (np.arange(rise) + 0.5) / rise) ** 2
    falling = np.cos(0.5 * np.pi * (np.arange(fall) + 0.5) / fall) ** 2
    return np.concatenate([rising, falling])


def mel_filterbank(
    *, sr_hz: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float
) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), area-normalised; shape (n_mels, n_fft//2+1)."""

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sr_hz)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (upper - lower)  # equal area, so wide bands do not dominate
    return weights


def chroma_filterbank(*, sr_hz: int, n_fft: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """Map FFT bins onto 12 pitch classes (C=0), each bin shared between its two nearest
    semitones; shape (12, n_fft//2+1)."""
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sr_hz)
    weights = np.zeros((12, bin_hz.size))
    in_band = (bin_hz >= fmin_hz) & (bin_hz <= fmax_hz)
    midi = 69.0 + 12.0 * np.log2(bin_hz[in_band] / 440.0)
    low = np.floor(midi)
    frac = midi - low
    columns = np.flatnonzero(in_band)
    np.add.at(weights, (low.astype(int) % 12, columns), 1.0 - frac)
    np.add.at(weights, ((low.astype(int) + 1) % 12, columns), frac)
    return weights


def load_scipy() -> None:
    """Import the parts of scipy livecat uses, which otherwise load on first use (imported
    at the top, they cost every command 1 s of start-up). Commands that time their work call
    this before their clock starts, so a speed figure is the work's, not Python's start-up."""
    import scipy.fft
    import scipy.signal  # noqa: F401


class _Analyser:
    """Precomputed window and filterbanks for one set of :class:`DescriptorParams`."""

    def __init__(self, params: DescriptorParams) -> None:
        import scipy.fft  # here, not at the top: with scipy.signal, 1 s of every command's start
        import scipy.signal

        self.params = params
        if params.kind in _PROFILE_KINDS:
            self.window = low_delay_window(n_fft=params.n_fft, fall=params.window_fall)
        else:
            self.window = scipy.signal.get_window("hann", params.n_fft, fftbins=True)
        if params.kind != "seed":
            self.mel = mel_filterbank(
                sr_hz=params.sr_hz,
                n_fft=params.n_fft,
                n_mels=params.n_mels,
                fmin_hz=params.fmin_hz,
                fmax_hz=min(params.fmax_hz, params.sr_hz / 2),
            )
            self.mel_t = np.ascontiguousarray(self.mel.T)
            dct = scipy.fft.dct(np.eye(params.n_mels), type=2, norm="ortho", axis=0)
            self.dct = np.ascontiguousarray(dct[1 : params.n_mfcc + 1].T)  # (n_mels, n_mfcc)
        if params.kind == "mfcc-chroma":
            self.chroma = chroma_filterbank(
                sr_hz=params.sr_hz,
                n_fft=params.n_fft,
                fmin_hz=params.chroma_fmin_hz,
                fmax_hz=min(params.chroma_fmax_hz, params.sr_hz / 2),
            )
            self.chroma_t = np.ascontiguousarray(self.chroma.T)
        if params.kind == "timbre-pitch":
            # Harmonicity: lags of the pitch range, and the window's own (circular)
            # autocorrelation there, which the signal's is divided by (Boersma 1993).
            self.lags = slice(
                max(1, int(params.sr_hz / params.pitch_fmax_hz)),
                min(params.n_fft // 2, int(math.ceil(params.sr_hz / params.pitch_fmin_hz)) + 1),
            )
            own = np.fft.irfft(np.abs(np.fft.rfft(self.window)) ** 2, n=params.n_fft)
            self.window_acf = np.ascontiguousarray(own[self.lags] / own[0])
        if params.kind in _PROFILE_KINDS:
            # Bins that may hold a peak inside the pitch range (each needs both neighbours).
            bin_hz = params.sr_hz / params.n_fft
            first = max(1, math.ceil(params.pitch_fmin_hz / bin_hz))
            last = min(params.n_fft // 2 - 1, math.floor(params.pitch_fmax_hz / bin_hz))
            self.peak_bins = slice(first, last + 1)
            self.peak_bin_numbers = np.arange(first, last + 1, dtype=np.float64)
            self.midi_low = params.pitch_midi_range[0]


_ANALYSERS: dict[DescriptorParams, _Analyser] = {}


def _analyser(params: DescriptorParams) -> _Analyser:
    analyser = _ANALYSERS.get(params)
    if analyser is None:
        analyser = _ANALYSERS[params] = _Analyser(params)
    return analyser


def _pitch_profile(magnitude: np.ndarray, a: _Analyser, out: np.ndarray) -> None:
    """Write the L2-normalised semitone profile of each row of ``magnitude`` into ``out``.

    Part of :class:`DescriptorBatch`'s arithmetic. Peaks quieter than 60 dB below the
    window's strongest are ignored; each peak weighs ``log(1 + chroma_log_gain * |X| /
    max|X|)``. Only the peaks (a few dozen of a window's ~80 candidate bins) go through the
    interpolation.
    """
    params = a.params
    rows, bins = magnitude.shape[0], out.shape[1]
    band = a.peak_bins
    centre = magnitude[:, band]
    below = magnitude[:, band.start - 1 : band.stop - 1]
    above = magnitude[:, band.start + 1 : band.stop + 1]
    strongest = magnitude.max(axis=1) + 1e-30
    is_peak = (centre > below) & (centre >= above) & (centre > _PEAK_FLOOR * strongest[:, None])
    row, col = np.nonzero(is_peak)
    peak, peak_strongest = centre[row, col], strongest[row]
    # Parabolic interpolation of the log magnitude: the partial's frequency within its bin
    # (the window's main lobe is close to a parabola in dB), at most half a bin either way.
    floor = 1e-9 * peak_strongest
    log_below = np.log(below[row, col] + floor)
    log_centre = np.log(peak + floor)
    log_above = np.log(above[row, col] + floor)
    curvature = log_below - 2.0 * log_centre + log_above  # < 0: the centre is a maximum
    # A top flat to rounding (an impulse's even spectrum) has no parabola: the bin's centre.
    # Dividing anyway gave NaN and a RuntimeWarning, printed from the audio callback.
    offset = np.zeros_like(curvature)
    np.divide(0.5 * (log_below - log_above), curvature, out=offset, where=curvature < 0.0)
    bin_hz = params.sr_hz / params.n_fft
    semitone = _hz_to_midi((a.peak_bin_numbers[col] + offset) * bin_hz) - a.midi_low
    if params.chroma_log_gain > 0:
        weight = np.log1p(peak * (params.chroma_log_gain / peak_strongest))
    else:
        weight = peak / peak_strongest
    lower = np.floor(semitone)
    upper_share = np.sin((0.5 * np.pi) * (semitone - lower)) ** 2  # cos² / sin² crossfade
    # Accumulate with a guard bin at each end, which takes whatever falls outside the range.
    slot = np.clip(lower.astype(np.intp) + 1, 0, bins) + (bins + 2) * row
    size = rows * (bins + 2)
    profile = np.bincount(slot, weight * (1.0 - upper_share), size)
    profile += np.bincount(slot + 1, weight * upper_share, size)
    profile = profile.reshape(rows, bins + 2)[:, 1:-1]
    norm = np.sqrt(np.einsum("ij,ij->i", profile, profile))[:, None]
    out[:] = np.where(norm > 1e-9, profile / np.maximum(norm, 1e-9), 1.0 / math.sqrt(bins))


# Harmonicity just above white noise's (its window's highest autocorrelation peak among
# ~780 lags: 0.09-0.11), and the least of ensembles: a single voice or instrument reaches
# 0.9, four voices of piano, violin, flute or trumpet keep 0.45-0.55 in nine windows of ten.
_NOISE_HARMONICITY = 0.15
_PITCHED_HARMONICITY = 0.45
# Spectral flatness over the pitch range, dB: white noise -2.5 (-2 to -3), a piano chorale's
# four voices -10 to -17 (their autocorrelation peaks lower than one voice's: 0.55-0.9).
_NOISE_FLATNESS_DB = -3.0
_PITCHED_FLATNESS_DB = -12.0


def pitch_share(harmonicity: np.ndarray, flatness_db: np.ndarray) -> np.ndarray:
    """How much of the pitch profile a window keeps in ``timbre-pitch`` (0..1): all of it
    where either the waveform repeats (harmonicity: a note) or the spectrum is peaky (low
    flatness: a chord, whose several periods make the autocorrelation peak lower); none for
    noise; linear in between (a fricative, a cymbal's wash). Scaling by the harmonicity
    alone cost the chorale benchmark 0.012."""
    by_period = (harmonicity - _NOISE_HARMONICITY) / (_PITCHED_HARMONICITY - _NOISE_HARMONICITY)
    by_peaks = (flatness_db - _NOISE_FLATNESS_DB) / (_PITCHED_FLATNESS_DB - _NOISE_FLATNESS_DB)
    return np.clip(np.maximum(by_period, by_peaks), 0.0, 1.0)


def one_blas_thread() -> ContextDecorator:
    """A context (or function decorator) in which numpy's matrix products stay on the
    calling thread.

    livecat's batch jobs (corpus build, render) keep both cores busy with threads of their
    own; after each product large enough to split, OpenBLAS's extra thread spins for up to
    0.1 s on a core they need. The live path's products are too small to be split.
    """
    return threadpool_limits.wrap(limits=1, user_api="blas")


# Windows described at a time by describe_at: 256 keeps the temporaries (4 MB) in cache and is
# 1.5x as fast as 1024.
DESCRIBE_BATCH = 256


_thread_batches = threading.local()


def _reusable_batch(params: DescriptorParams, *, rows: int) -> DescriptorBatch:
    """This thread's batch for ``params``, kept between describe_at calls: a fresh batch's
    buffers fault in page by page on first use, which doubled the cost of a file's first 256
    windows (8-10 ms against 4)."""
    batches: dict[tuple[DescriptorParams, int], DescriptorBatch] = getattr(
        _thread_batches, "batches", {}
    )
    _thread_batches.batches = batches
    if (params, rows) not in batches:
        batches[(params, rows)] = DescriptorBatch(params, rows=rows)
    return batches[(params, rows)]


def describe_at(
    signal: np.ndarray,
    end_samples: np.ndarray,
    params: DescriptorParams,
    *,
    batch: int = DESCRIBE_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Describe the windows of ``signal`` that end (exclusive) at each of ``end_samples``.

    Samples before the signal's start or after its end count as silence, exactly as a stream
    that starts from silence would see them. ``batch`` windows are described at a time (the
    numbers do not depend on it, but for BLAS rounding a product of another height
    differently in the last bit).
    """
    signal = np.asarray(signal, dtype=np.float64)
    ends = np.asarray(end_samples, dtype=np.int64)
    n = params.n_fft
    padded = np.concatenate([np.zeros(n), signal, np.zeros(n)])
    out = np.empty((ends.size, params.dim), np.float32)
    levels = np.empty(ends.size, np.float32)
    if ends.size == 0:
        return out, levels
    describer = _reusable_batch(params, rows=batch)
    for start in range(0, ends.size, batch):
        chunk = np.clip(ends[start : start + batch], 0, signal.size + n)
        k = chunk.size
        describer.cut(padded, chunk)  # the window ending at e is padded[e : e + n]
        out[start : start + k], levels[start : start + k] = describer.describe(count=k)
    return out, levels


class Decimator:
    """Streaming integer-factor decimation (anti-alias FIR + keep every ``factor``-th sample).

    State carries across calls, so feeding a signal in blocks of any size gives the very same
    output as feeding it whole. ``factor == 1`` passes samples through.
    """

    def __init__(self, factor: int) -> None:
        if factor < 1:
            raise ParameterError(f"decimation factor must be >= 1, got {factor}")
        self.factor = factor
        if factor > 1:
            import scipy.signal  # not at the top: see _Analyser

            self._taps = scipy.signal.firwin(16 * factor + 1, 0.9 / factor)
            self._lfilter = scipy.signal.lfilter
            self._state = np.zeros(self._taps.size - 1)
        self._phase = 0  # input samples to skip before the next kept one

    def reset(self) -> None:
        if self.factor > 1:
            self._state[:] = 0.0
        self._phase = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Return the decimated samples produced by ``block`` (may be empty)."""
        block = np.asarray(block, dtype=np.float64)
        if self.factor == 1:
            return block
        filtered, self._state = self._lfilter(self._taps, 1.0, block, zi=self._state)
        kept = filtered[self._phase :: self.factor]
        self._phase = (self._phase - block.size) % self.factor
        return kept


class DescriptorStream:
    """Online twin of :func:`describe_at`: push blocks, ask for the newest window's descriptor.

    Keeps the last ``n_fft`` analysis samples in a ring (initially silence), so memory and
    per-call work are fixed whatever the block size.

    Parameters
    ----------
    params : DescriptorParams
    input_sr_hz : int
        Rate of the pushed blocks; a whole multiple of ``params.sr_hz``.
    """

    def __init__(self, params: DescriptorParams, *, input_sr_hz: int) -> None:
        if input_sr_hz % params.sr_hz:
            raise ParameterError(
                f"input rate {input_sr_hz} Hz is not a whole multiple of the analysis rate "
                f"{params.sr_hz} Hz"
            )
        self.params = params
        self.decimator = Decimator(input_sr_hz // params.sr_hz)
        self._ring = np.zeros(2 * params.n_fft)  # doubled so the newest window is one slice
        self._write = params.n_fft
        self._batch = DescriptorBatch(params, rows=1)  # the arithmetic, on its buffers

    def reset(self) -> None:
        self.decimator.reset()
        self._ring[:] = 0.0
        self._write = self.params.n_fft

    def push(self, block: np.ndarray) -> None:
        """Append input samples (mono, at ``input_sr_hz``)."""
        samples = self.decimator.process(block)
        n = self.params.n_fft
        if samples.size >= n:
            self._ring[:n] = samples[-n:]
            self._write = n
            return
        if self._write + samples.size > self._ring.size:
            keep = n - samples.size
            self._ring[:keep] = self._ring[self._write - keep : self._write]
            self._write = keep
        self._ring[self._write : self._write + samples.size] = samples
        self._write += samples.size

    def latest_window(self) -> np.ndarray:
        """The newest ``n_fft`` analysis samples (a view; do not keep it)."""
        return self._ring[self._write - self.params.n_fft : self._write]

    def describe(self) -> tuple[np.ndarray, float]:
        """Descriptor and level (dB) of the newest window.

        A one-row :class:`DescriptorBatch`, on buffers allocated once: the live engine calls
        this inside the audio callback. The returned array is reused by the next call; copy
        it to keep it.
        """
        self._batch.windows[0] = self.latest_window()
        descriptors, levels = self._batch.describe()
        return descriptors[0], float(levels[0])


class DescriptorBatch:
    """Describe up to a fixed number of windows at once, on buffers allocated once.

    The one copy of the descriptor arithmetic. Its callers: :class:`DescriptorStream` (one
    row, inside the audio callback, which must not allocate); the engine's continuation
    windows (the playhead's next 8, which cost about 1.2 single windows: 0.17 against
    0.15 ms); and :func:`describe_at` and a render's known input (256 rows, where reusing the
    buffers halves the cost against fresh arrays). Each row's numbers do not depend on the
    other rows, nor on how many are described but for BLAS rounding a product of another
    height differently in the last bit.

    Fill :attr:`windows` (shape ``(rows, n_fft)``, analysis-rate samples, full scale ±1),
    then call :meth:`describe`.
    """

    def __init__(self, params: DescriptorParams, *, rows: int) -> None:
        if rows < 1:
            raise ParameterError(f"rows must be >= 1, got {rows}")
        self.params = params
        # Made here, not on the first describe(): that may be inside the audio callback.
        self._analyser = _analyser(params)
        bins = params.n_fft // 2 + 1
        self.windows = np.zeros((rows, params.n_fft))
        self._windowed = np.zeros((rows, params.n_fft))
        self._spectrum = np.zeros((rows, bins), np.complex128)
        self._power = np.zeros((rows, bins))
        self._scratch = np.zeros((rows, bins))
        self._mel = np.zeros((rows, max(params.n_mels, 1)))
        self._cepstrum = np.zeros((rows, params.n_mfcc))
        self._chroma = np.zeros((rows, 12))  # mfcc-chroma only
        self._norm = np.zeros(rows)  # mfcc-chroma only
        self._out = np.zeros((rows, params.dim), np.float32)
        self._levels = np.zeros(rows)
        if params.kind == "timbre-pitch":
            self._acf = np.zeros((rows, params.n_fft))
            self._blocks = np.zeros((rows, ENVELOPE_BLOCKS))

    def cut(self, padded: np.ndarray, starts: np.ndarray) -> None:
        """Fill the first ``len(starts)`` windows with ``padded[s : s + n_fft]`` for each
        start ``s`` (rows of a sliding view: 15x faster than gathering by an index array)."""
        view = np.lib.stride_tricks.sliding_window_view(padded, self.params.n_fft)
        self.windows[: len(starts)] = view[starts]

    def describe(self, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors ``(count, dim)`` float32 and levels ``(count,)`` in dB (float64) of the
        first ``count`` windows (all by default); both arrays are reused by the next call."""
        params = self.params
        a = self._analyser
        k = self.windows.shape[0] if count is None else count
        windows = self.windows[:k]
        levels = np.einsum("ij,ij->i", windows, windows, out=self._levels[:k])
        levels /= params.n_fft
        levels += 1e-12
        np.log10(levels, out=levels)
        levels *= 10.0
        np.maximum(levels, SILENCE_DB, out=levels)
        windowed = np.multiply(windows, a.window, out=self._windowed[:k])
        spectrum = np.fft.rfft(windowed, axis=1, out=self._spectrum[:k])
        power = np.multiply(spectrum.real, spectrum.real, out=self._power[:k])
        scratch = np.multiply(spectrum.imag, spectrum.imag, out=self._scratch[:k])
        power += scratch
        out = self._out[:k]
        if params.kind == "seed":
            out[:] = power
            return out, levels
        n_mfcc = params.n_mfcc
        mel = np.dot(power, a.mel_t, out=self._mel[:k])
        # Mel cepstrum: a gain change shifts every log-mel band equally, which only moves c0.
        # The floor follows each window's own peak (80 dB below it), so a gain change scales
        # the floor too and the shape stays exactly level-independent, even for pure sounds.
        mel += 1e-8 * mel.max(axis=1, keepdims=True) + 1e-30
        np.log10(mel, out=mel)
        out[:, :n_mfcc] = np.dot(mel, a.dct, out=self._cepstrum[:k])
        if params.kind == "timbre-pitch":
            self._envelope_and_pitchedness(windows, power, out)
        magnitude = np.sqrt(power, out=scratch)
        if params.kind in _PROFILE_KINDS:
            profile = out[:, params.timbre_dim :]
            _pitch_profile(magnitude, a, profile)
            if params.kind == "timbre-pitch":
                harmonicity, flatness_db = out[:, params.timbre_dim - 2 : params.timbre_dim].T
                profile *= pitch_share(harmonicity, flatness_db)[:, None]
            return out, levels
        if params.chroma_log_gain > 0:
            magnitude *= params.chroma_log_gain / (magnitude.max(axis=1, keepdims=True) + 1e-30)
            np.log1p(magnitude, out=magnitude)
        chroma = np.dot(magnitude, a.chroma_t, out=self._chroma[:k])
        norm = np.einsum("ij,ij->i", chroma, chroma, out=self._norm[:k])
        np.sqrt(norm, out=norm)
        flat = norm <= 1e-9  # no tone at all: every pitch class alike
        np.maximum(norm, 1e-9, out=norm)
        np.divide(chroma, norm[:, None], out=out[:, n_mfcc:], casting="same_kind")
        out[flat, n_mfcc:] = 1.0 / math.sqrt(12.0)
        return out, levels

    def _envelope_and_pitchedness(
        self, windows: np.ndarray, power: np.ndarray, out: np.ndarray
    ) -> None:
        """Write ``timbre-pitch``'s loudness contour, harmonicity and spectral flatness into
        ``out``'s columns after the cepstrum. Called before ``power`` is overwritten."""
        params, a = self.params, self._analyser
        k, n_mfcc = windows.shape[0], params.n_mfcc
        parts = windows.reshape(k, ENVELOPE_BLOCKS, -1)
        db = np.einsum("ijk,ijk->ij", parts, parts, out=self._blocks[:k])
        db *= ENVELOPE_BLOCKS / params.n_fft
        db += 1e-12
        np.log10(db, out=db)
        db *= 10.0
        # Floored 40 dB under the loudest part, so the silence before an attack counts as
        # "quiet", not as its exact depth; the mean removed, so the level does not count.
        np.maximum(db, db.max(axis=1, keepdims=True) - 40.0, out=db)
        db -= db.mean(axis=1, keepdims=True)
        out[:, n_mfcc : n_mfcc + ENVELOPE_BLOCKS] = db
        acf = np.fft.irfft(power, n=params.n_fft, axis=1, out=self._acf[:k])
        energy = acf[:, 0].copy()
        peaks = (acf[:, a.lags] / a.window_acf).max(axis=1)
        harmonicity = np.where(energy > 1e-20, peaks / np.maximum(energy, 1e-20), 0.0)
        out[:, n_mfcc + ENVELOPE_BLOCKS] = np.clip(harmonicity, 0.0, 1.0)
        # Spectral flatness (geometric over arithmetic mean of the power) over the pitch
        # range's bins; digital silence reads as flat (0 dB).
        band = power[:, a.peak_bins] + 1e-20
        flatness = np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)
        out[:, n_mfcc + ENVELOPE_BLOCKS + 1] = 10.0 * np.log10(np.maximum(flatness, 1e-6))
