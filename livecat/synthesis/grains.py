"""Overlap-add grain playback from the corpus's grain store."""

from __future__ import annotations

import numpy as np

from livecat.errors import ParameterError

#: Samples over which an attack grain rises and the grains it cuts fall (1 ms at 48 kHz):
#: short enough to keep a drum's attack, long enough not to click.
ATTACK_FADE = 48


def _fade_in(length: int) -> np.ndarray:
    """A sin² rise over ``length`` samples (reversed, the matching fall): short enough to keep
    a drum's attack, smooth enough not to click."""
    return np.sin(0.5 * np.pi * (np.arange(length) + 0.5) / length) ** 2


def attack_window(
    window: np.ndarray, *, hop: int, next_start: int, fade: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Write into ``out`` the window of a grain that starts a run: at full level at once
    (after ``fade``, a 1 ms rise) instead of rising over half a grain. It is the sum of the
    grain ``window``s that would have started before it on the grid of the grains that follow
    it (the next one ``next_start`` samples after it), so they still sum to 1: a run of
    continuations from an attack plays the footage exactly, its attack included. Allocates
    nothing: it may run in the audio callback."""
    length = window.size
    out[:] = 0.0
    # The grains that would have started next_start - hop, next_start - 2 hop, ... before.
    shift = hop - next_start
    while shift < length:
        out[: length - shift] += window[shift:]
        shift += hop
    out[: fade.size] *= fade
    return out


def grain_window(*, hop: int, overlap: int) -> np.ndarray:
    """Periodic Hann window of ``hop * overlap`` samples scaled so that copies spaced ``hop``
    apart sum to exactly 1: a source played by consecutive grains comes out unchanged."""
    import scipy.signal  # not at the top: 0.6 s of every command's start

    if overlap < 2:
        raise ParameterError(f"grain overlap must be >= 2, got {overlap}")
    window = scipy.signal.get_window("hann", hop * overlap, fftbins=True)
    return (window * (2.0 / overlap)).astype(np.float32)


class GrainPlayer:
    """Plays windowed grains, each a slice of the grain store, summed into output blocks.

    All state is preallocated: starting a grain and rendering a block allocate nothing but
    numpy's small temporaries. At most ``overlap + 1`` grains sound at once; starting one more
    drops the oldest (which by then is finished unless grains start faster than ``hop``).

    Parameters
    ----------
    grains : ndarray, int16, shape (samples,)
        The grain store (resident in RAM for live use).
    hop : int
        Samples between grain starts.
    overlap : int
        Grain length in hops.
    max_block : int
        Largest block :meth:`render` will be asked for.
    """

    def __init__(self, grains: np.ndarray, *, hop: int, overlap: int, max_block: int) -> None:
        self.grains = grains
        self.window = grain_window(hop=hop, overlap=overlap)
        self.hop = hop
        self.length = self.window.size
        self._fade = _fade_in(min(ATTACK_FADE, self.length)).astype(np.float32)
        self._fall = self._fade[::-1].copy()
        # Each voice's attack window: it depends on when the grain after it starts. The usual
        # case (a hop later) is made now, not in the audio callback.
        usual = attack_window(
            self.window,
            hop=hop,
            next_start=hop,
            fade=self._fade,
            out=np.zeros(self.length, np.float32),
        )
        self._attack_windows = np.tile(usual, (overlap + 1, 1))
        self._attack_next = np.full(overlap + 1, hop, np.int64)  # next_start each was made for
        self.voices = overlap + 1
        self._start = np.zeros(self.voices, np.int64)  # first store sample of the grain
        self._end = np.zeros(self.voices, np.int64)  # store sample where its source ends
        self._pos = np.full(self.voices, self.length, np.int64)  # samples played; length = idle
        self._gain = np.zeros(self.voices, np.float32)
        self._attack = np.zeros(self.voices, bool)  # plays the attack window
        self._cut = np.full(self.voices, -1, np.int64)  # samples into its fall-out; -1: none
        self._next = 0
        self._scratch = np.zeros(max_block, np.float32)
        self.max_block = max_block

    def reset(self) -> None:
        self._pos[:] = self.length
        self._cut[:] = -1
        self._next = 0

    def start(
        self,
        store_sample: int,
        *,
        source_end: int,
        gain: float,
        attack: bool = False,
        next_start: int | None = None,
    ) -> None:
        """Begin a grain at the next rendered sample, reading the store from ``store_sample``.

        ``attack``: the grain starts at full level (:func:`attack_window`, for a next grain
        ``next_start`` samples later, a hop by default) and the grains still sounding fall
        out within :data:`ATTACK_FADE` samples, as a new hit cuts the ring of the last one."""
        if attack:
            sounding = (self._pos < self.length) & (self._cut < 0)
            self._cut[sounding] = 0
        v = self._next
        self._next = (v + 1) % self.voices
        self._start[v] = store_sample
        self._end[v] = source_end
        self._pos[v] = 0
        self._gain[v] = gain
        self._attack[v] = attack
        self._cut[v] = -1
        if attack:
            following = self.hop if next_start is None else min(max(next_start, 1), self.hop)
            if following != self._attack_next[v]:
                attack_window(
                    self.window,
                    hop=self.hop,
                    next_start=following,
                    fade=self._fade,
                    out=self._attack_windows[v],
                )
                self._attack_next[v] = following

    def active(self) -> int:
        return int(np.count_nonzero(self._pos < self.length))

    def render(self, out: np.ndarray) -> None:
        """Add the next ``len(out)`` samples of every sounding grain into ``out``."""
        n = out.size
        if n > self.max_block:
            raise ParameterError(f"block of {n} samples exceeds max_block {self.max_block}")
        for v in range(self.voices):
            pos = int(self._pos[v])
            if pos >= self.length:
                continue
            count = min(n, self.length - pos)
            src = int(self._start[v]) + pos
            avail = max(0, min(count, int(self._end[v]) - src))
            cut = int(self._cut[v])
            if cut >= 0:  # falling out: what is left of the fall, then silence
                count = min(count, self._fall.size - cut)
                avail = min(avail, count)
            if avail:
                scratch = self._scratch[:avail]
                window = self._attack_windows[v] if self._attack[v] else self.window
                np.multiply(
                    self.grains[src : src + avail],
                    window[pos : pos + avail],
                    out=scratch,
                    casting="unsafe",
                )
                if cut >= 0:
                    scratch *= self._fall[cut : cut + avail]
                scratch *= self._gain[v] / 32768.0
                out[:avail] += scratch
            if cut >= 0:
                self._cut[v] = cut + count
                if cut + count >= self._fall.size:
                    self._pos[v] = self.length  # fallen out: idle
                    self._cut[v] = -1
                    continue
            self._pos[v] = pos + count
