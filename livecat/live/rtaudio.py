"""The ``audio="rtmixer"`` path: python-rtmixer's C callback is the audio thread's only code,
so the real-time thread never needs the GIL.

Why: with a Python callback the SCHED_FIFO audio thread must take the GIL, and a preempted
Python thread holding it makes the audio thread wait (priority inversion): with the machine
loaded, 167 server xruns in 300 s against 2 for a pass-through client. rtmixer's callback is C
and only copies between the device and lock-free ring buffers.

The flow (docs/live.md, "--audio rtmixer"):

- the C callback records the input channels into an input :class:`rtmixer.RingBuffer` and
  plays an output ring (one ``record_ringbuffer`` and one ``play_ringbuffer`` action, both
  queued before the stream starts, so they begin in the same callback);
- the **feeder thread** (Python, normal priority) polls the input ring every millisecond and
  runs the Python path's own code on each block: the hand-over, the matcher
  (``match_pending``: decks, crossfades, controls, ``shared``, counters) and the grain
  rendering (``_render``: each grain at its exact sample), then the output mix (dry, wet,
  volume, mute) into the output ring. Decisions run before the block is rendered, so there
  is no hand-off block: grains start at their decision's own sample, as offline.

Timing: each callback adds one block to the input ring and takes one from the output ring,
so (frames waiting in the input ring + frames in the output ring) stays equal to the output
ring's prefill: the output is the offline engine's output delayed by exactly the prefill,
``rt_handoff_blocks`` blocks (plus the device's own latency), however late the feeder runs
within it. If the feeder falls further behind, the output ring runs dry: rtmixer then ends
the play action; the feeder counts it (``LATE_GRAINS``, once per gap), refills the prefill and
starts a new one. An input ring that ran full (the feeder stalled for :data:`RING_FRAMES`)
likewise ends the record action; it is restarted and counted (``DROPPED_BLOCKS``).

Why not one ``play_buffer(start=<stream time>)`` per grain, overlap-added by rtmixer: the
stream times PortAudio's JACK host API reports are read off the wall clock when the callback
wakes, not counted in frames; measured on JACK's dummy backend they wander 0-146 samples from
the frame grid (mostly +-4). Grains scheduled by time land that far off their sample, so the
output would not be the engine's output delayed by a constant. A ring's position is counted
in frames.

Only the feeder calls rtmixer (its action queue has a single writer); the display reads the
C callback's counters (:meth:`RtAudio.poll_stats`) and ``stream.active``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from livecat.live.devices import sounddevice

if TYPE_CHECKING:
    from livecat.live.player import LivePlayer

QSIZE = 64  # the action queue: two long-lived actions, and one more per restart
RING_FRAMES = 1 << 16  # 1.4 s of input at 48 kHz: the feeder may stall this long
POLL_S = 0.001


class RtAudio:
    """The rtmixer stream and the feeder thread's work for one :class:`LivePlayer`."""

    def __init__(self, player: LivePlayer) -> None:
        from livecat.live import player as lp  # loaded by now (it imports this module)

        self._slots = (lp.LATE_GRAINS, lp.DROPPED_BLOCKS, lp.CALLBACKS)
        self.player = player
        self.sr_hz = player.sr_hz
        self.block = player.settings.blocksize
        self.prefill = player.settings.rt_handoff_blocks * self.block  # samples
        self.stream: Any = None
        self.in_ring: Any = None
        self.out_ring: Any = None
        self.record: Any = None  # the record action
        self.play: Any = None  # the play action
        self.record_map = [1]
        self.out_channels = 0
        self.gaps = 0  # times the output ring ran dry
        self.restarts = 0  # times the input ring ran full
        self._in = np.zeros((self.block, 1), np.float32)
        self._out = np.zeros((self.block, 1), np.float32)
        self._zeros = np.zeros((self.prefill, 1), np.float32)
        self._file_t0 = -1.0

    # -- opening ---------------------------------------------------------------------------
    def open(
        self,
        *,
        in_dev: int | None,
        out_dev: int | None,
        channels: list[int] | None,
        kwargs: dict[str, Any],
    ) -> Any:
        """Open and start the rtmixer stream (Mixer for an input file, Recorder when nothing
        is played, else MixerAndRecorder); raises what sounddevice raises."""
        import rtmixer

        sounddevice()  # a missing PortAudio becomes a DeviceError
        p = self.player
        s = p.settings
        kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        self.record_map = [c + 1 for c in channels] if channels else [1]
        in_channels = max(self.record_map)
        if p.file_audio is not None:
            stream = rtmixer.Mixer(device=out_dev, channels=None, qsize=QSIZE, **kwargs)
            self.out_channels = int(stream.channels)
        elif s.grains or s.dry:
            stream = rtmixer.MixerAndRecorder(
                device=(in_dev, out_dev), channels=(in_channels, None), qsize=QSIZE, **kwargs
            )
            self.out_channels = int(stream.channels[1])
        else:
            stream = rtmixer.Recorder(device=in_dev, channels=in_channels, qsize=QSIZE, **kwargs)
        self.stream = stream
        self._in = np.zeros((self.block, len(self.record_map)), np.float32)
        if p.file_audio is None:
            self.in_ring = rtmixer.RingBuffer(4 * len(self.record_map), RING_FRAMES)
            self.record = stream.record_ringbuffer(self.in_ring, channels=self.record_map)
        if self.out_channels:
            self._out = np.zeros((self.block, self.out_channels), np.float32)
            self._zeros = np.zeros((self.prefill, self.out_channels), np.float32)
            self.out_ring = rtmixer.RingBuffer(4 * self.out_channels, RING_FRAMES)
            self._start_play()
        stream.start()
        return stream

    def _start_play(self) -> None:
        """Fill the output ring up to the prefill and queue the action that plays it."""
        ring = self.out_ring
        waiting = self.in_ring.read_available if self.in_ring is not None else 0
        missing = self.prefill - waiting - ring.read_available
        if missing > 0:
            ring.write(self._zeros[:missing])
        self.play = self.stream.play_ringbuffer(ring)

    # -- the feeder thread -----------------------------------------------------------------
    def run(self, stop: Any) -> None:
        """Poll the input ring (or pace the input file) and process block by block until
        ``stop`` is set."""
        feed = self._feed_file if self.player.file_audio is not None else self._feed_input
        while not stop.is_set():
            self._check_actions()
            if not feed():
                time.sleep(POLL_S)

    def _check_actions(self) -> None:
        """Restart an action rtmixer ended (output ring dry, input ring full); let rtmixer
        free the finished ones."""
        stream = self.stream
        live = stream.actions  # drains the result queue
        if self.play is not None and self.play not in live:
            self.gaps += 1
            self.player.counters[self._slots[0]] += 1
            self._start_play()
        if self.record is not None and self.record not in live:
            self.restarts += 1
            self.player.counters[self._slots[1]] += 1
            self.in_ring.flush()
            self.record = stream.record_ringbuffer(self.in_ring, channels=self.record_map)

    def _feed_input(self) -> bool:
        """Process every whole block waiting in the input ring; False if there was none."""
        ring = self.in_ring
        block = self.block
        done = False
        while ring.read_available >= block:
            ring.readinto(self._in)
            waiting = ring.read_available  # frames captured after this block
            p = self.player
            mono = p._mono[:block]
            mono[:] = self._in[:, 0]
            for c in range(1, self._in.shape[1]):
                mono += self._in[:, c]
            # When the block reached the audio thread, on the perf_counter clock (the Python
            # path stamps its callback's entry): one callback ago per block waiting behind it.
            arrived = time.perf_counter() - waiting / self.sr_hz
            self._process_block(mono, arrived)
            done = True
        return done

    def _feed_file(self) -> bool:
        """An input file: keep the output ring at its prefill, one block at a time."""
        if self.out_ring is None or self.out_ring.read_available > self.prefill - self.block:
            return False
        p = self.player
        mono = p._mono[: self.block]
        p._read_file(mono)
        self._process_block(mono, time.perf_counter())
        return True

    def _process_block(self, mono: np.ndarray, arrived: float) -> None:
        """The Python path's own steps, in the feeder: hand-over, match, render, mix."""
        p = self.player
        started = time.perf_counter()
        frames = mono.size
        p._hand_over(mono, frames, arrived)
        p.match_pending()
        out = p._out[:frames]
        p._render(out, frames)
        p._position += frames
        if self.out_ring is not None:
            p._write_output(self._out, out, mono)
            self.out_ring.write(self._out)
        # The timing ring holds the feeder's time per block (the C callback is not timed).
        n = int(p.counters[self._slots[2]])
        p.callback_s[n % p.TIMING_SLOTS] = time.perf_counter() - started
        p.counters[self._slots[2]] = n + 1

    def poll_stats(self) -> tuple[int, int, int]:
        """The C callback's cumulative (blocks, input overflows, output underflows). Read
        without resetting (plain reads of integers the callback writes), so any thread may
        call it; ``fetch_and_reset_stats`` would have to come from the feeder thread."""
        stream = self.stream
        if stream is None:
            return 0, 0, 0
        st = stream._state.stats
        return int(st.blocks), int(st.input_overflows), int(st.output_underflows)
