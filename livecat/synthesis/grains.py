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
    *, hop: int, overlap: int, next_start: int | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """The window of a grain that starts a run: at full level at once (after a 1 ms fade-in)
    instead of rising over half a grain. It is the sum of the windows of the grains that
    would have started before it on the grid of the grains that follow it (the next one
    ``next_start`` samples after it, a hop by default), so they still sum to 1: a run of
    continuations from an attack plays the footage exactly, its attack included."""
    window = grain_window(hop=hop, overlap=overlap)
    return _attack_window(
        window, hop=hop, next_start=hop if next_start is None else next_start, out=out
    )


def _attack_window(
    window: np.ndarray, *, hop: int, next_start: int, out: np.ndarray | None = None
) -> np.ndarray:
    length = window.size
    full = np.zeros(length, np.float32) if out is None else out
    full[:] = 0.0
    # The grains that would have started next_start - hop, next_start - 2 hop, ... before.
    shift = hop - next_start
    while shift < length:
        full[: length - shift] += window[shift:]
        shift += hop
    fade = min(ATTACK_FADE, length)
    if fade not in _FADES:  # made once: this may run in the audio callback
        _FADES[fade] = _fade_in(fade).astype(np.float32)
    full[:fade] *= _FADES[fade]
    return full


_FADES: dict[int, np.ndarray] = {}


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
        # Each voice's attack window: it depends on when the grain after it starts.
        self._attack_windows = np.zeros((overlap + 1, self.length), np.float32)
        self._attack_next = np.zeros(overlap + 1, np.int64)  # next_start it was made for
        for v in range(overlap + 1):  # the usual case made now, not in the audio callback
            _attack_window(self.window, hop=hop, next_start=hop, out=self._attack_windows[v])
        self._attack_next[:] = hop
        fall = _fade_in(min(ATTACK_FADE, self.length))[::-1].astype(np.float32)
        self._fall_size = fall.size
        # A voice's gain from the sample its fall starts: 1 before, the fall, then 0; read
        # as a slice starting at length + (position - fall start).
        self._fall_env = np.concatenate(
            [np.ones(self.length, np.float32), fall, np.zeros(self.length, np.float32)]
        )
        self.voices = overlap + 1
        self._start = np.zeros(self.voices, np.int64)  # first store sample of the grain
        self._end = np.zeros(self.voices, np.int64)  # store sample where its source ends
        self._pos = np.full(self.voices, self.length, np.int64)  # samples played; length = idle
        self._gain = np.zeros(self.voices, np.float32)
        self._attack = np.zeros(self.voices, bool)  # plays the attack window
        # Position (samples played) at which a voice starts to fall out; length: never.
        self._fall_at = np.full(self.voices, self.length, np.int64)
        self._next = 0
        self._scratch = np.zeros(max_block, np.float32)
        self.max_block = max_block

    def reset(self) -> None:
        self._pos[:] = self.length
        self._fall_at[:] = self.length
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
            sounding = self._pos < self.length
            self._fall_at[sounding] = np.minimum(self._fall_at[sounding], self._pos[sounding])
        v = self._next
        self._next = (v + 1) % self.voices
        self._start[v] = store_sample
        self._end[v] = source_end
        self._pos[v] = 0
        self._gain[v] = gain
        self._attack[v] = attack
        self._fall_at[v] = self.length
        if attack:
            following = self.hop if next_start is None else min(max(next_start, 1), self.hop)
            if following != self._attack_next[v]:
                _attack_window(
                    self.window, hop=self.hop, next_start=following, out=self._attack_windows[v]
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
            fall_at = int(self._fall_at[v])
            # Played to its end, or to the end of its fall.
            count = min(n, self.length - pos, fall_at + self._fall_size - pos)
            src = int(self._start[v]) + pos
            avail = max(0, min(count, int(self._end[v]) - src))
            falling = fall_at < pos + avail
            if avail:
                scratch = self._scratch[:avail]
                window = self._attack_windows[v] if self._attack[v] else self.window
                np.multiply(
                    self.grains[src : src + avail],
                    window[pos : pos + avail],
                    out=scratch,
                    casting="unsafe",
                )
                if falling:
                    at = self.length + pos - fall_at
                    scratch *= self._fall_env[at : at + avail]
                scratch *= self._gain[v] / 32768.0
                out[:avail] += scratch
            self._pos[v] = pos + count
            if pos + count >= fall_at + self._fall_size:
                self._pos[v] = self.length  # fallen out: idle
                self._fall_at[v] = self.length
