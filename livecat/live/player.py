"""The live player: an audio stream whose callback plays grains, and a matcher thread that
decides which ones.

Decision (measured with ``make bench`` on the 2-core VM, 1,000,000-entry corpus, 256 frames
at 48 kHz; docs/benchmarks.md, "Speed and latency"): the engine's decisions run on a **matcher
thread with a one-block hand-off**, not inside the audio callback. A decision (descriptor,
HNSW query, continuation descriptor, re-ranking) costs 0.46 ms p50 in a tight loop, but 1.7
ms p50 and 2.2 ms p99 (31-40 % of the 5.3 ms block) when it runs once per hop between idle
periods, as in a callback: caches and clocks go cold. With the display thread busy, waits
for the GIL brought the in-callback p99 to 65-77 % and xruns appeared. With the worker, the
callback only copies the input, renders the grains and starts those the matcher scheduled: a
few percent of the block, and what remains is GIL hand-over.

How the hand-off keeps the engine exact: the matcher runs the very same :class:`Engine` on
the very same blocks (so decisions fall at the same absolute samples as offline), but the
engine's grain player is replaced by :class:`GrainQueue`, which queues every grain start
for the audio thread, due ``handoff`` samples (one block) after the decision. The audio
thread's own :class:`GrainPlayer` starts each grain at exactly that sample, so the grains
that come out are the offline engine's output delayed by exactly one block (the unit tests
check this sample for sample). A decision that arrives after its due sample starts at the
next block and is counted (``LATE_GRAINS``).

``audio="rtmixer"`` (``--audio rtmixer``, rtaudio.py; docs/live.md, "--audio rtmixer") takes
Python off the audio thread altogether: python-rtmixer's C callback only copies the input
into a lock-free ring and plays an output ring; a feeder thread runs this class's own
hand-over, matcher and renderer on each block (deciding before rendering, so without the
hand-off block) and fills the output ring. The output is the offline engine's output delayed
by the ring's prefill (``rt_handoff_blocks``, 2 blocks). Why: a SCHED_FIFO thread that needs
the GIL waits for whichever Python thread holds it, however low its priority (priority
inversion): measured 167 server xruns in 300 s under load against 2 for a pass-through
client. The Python callback stays the default until the rtmixer path has been run on stage.

``matcher="callback"`` keeps the engine inside the callback (no hand-off delay); it is kept
for the benchmark's comparison and for machines with CPU to spare.

What the audio callback may do: copy the input into a preallocated ring, render grains,
write the output, bump counters, and release a lock the matcher waits on (releasing never
blocks). It never logs, prints, touches the disk (grains are resident in RAM), allocates
more than numpy's slice views, waits on a lock, or lets go of the GIL: numpy releases the
GIL for operations on more than 500 elements, and getting it back took up to 4 ms while
another thread ran Python (a 256 x 2 output copy alone had a 32 % p99), so the callback
works in chunks of :data:`CHUNK` samples; ``os.write`` to wake the matcher cost the same
and was replaced by the lock. Everything it shares is a preallocated numpy array read and
written under the GIL (each element write is atomic; a slot is filled before the counter
that publishes it moves).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livecat.corpus import Corpus
from livecat.errors import DeviceError, ParameterError
from livecat.live.devices import (
    check_input_channels,
    on_jack,
    resolve_device,
    sounddevice,
    supported_rates,
)
from livecat.live.rtaudio import RtAudio
from livecat.media import decode_audio
from livecat.synthesis import Engine, EngineSettings
from livecat.synthesis.grains import GrainPlayer

log = logging.getLogger(__name__)

# Indices into LivePlayer.shared (float64; written by the matcher, read by the display).
ENTRY, SOURCE_T, DISTANCE, LEVEL_DB, BRIGHTNESS, GATED, BLOCK_TIME, STREAM_T, QUERY_S = range(9)
SHARED_SLOTS = 9
# Indices into LivePlayer.counters (int64).
(
    CALLBACKS,
    INPUT_OVERFLOWS,
    OUTPUT_UNDERFLOWS,
    DECISIONS,
    JUMPS,
    LATE_GRAINS,
    DROPPED_BLOCKS,
    CALLBACK_ERRORS,
    XRUN_BLOCKS,
) = range(9)
COUNTER_SLOTS = 9
# Indices into the ring cursors (int64).
BLOCKS_WRITTEN, BLOCKS_READ, GRAINS_WRITTEN, GRAINS_READ = range(4)
# Columns of the grain schedule.
DUE, STORE, SOURCE_END, GAIN, DECK, ATTACK, NEXT_START = range(7)
# Indices into LivePlayer.mix (float64; written by the matcher, read by the display).
ACTIVE, FADING, PROGRESS = range(3)

MATCHERS = ("worker", "callback")
AUDIO_PATHS = ("python", "rtmixer")
# Samples per numpy operation on the audio thread: below numpy's 500-element threshold for
# releasing the GIL.
CHUNK = 256


@dataclass(frozen=True)
class LiveSettings:
    """Audio I/O choices (README.md, "livecat live"; docs/live.md, "Latency tuning")."""

    input_device: str | int | None = None
    output_device: str | int | None = None
    input_channels: tuple[int, ...] | None = None  # 1-based, mixed to mono
    samplerate_hz: int | None = None
    blocksize: int = 256
    latency: str | float = "low"
    grains: bool = True
    dry: float = 0.0
    wet: float = 1.0
    input_file: Path | None = None
    input_stream: int = 0  # which of input_file's audio streams (from 0)
    loop_input: bool = False
    silent: bool = False  # no audio device at all: an input file paced by a thread
    matcher: str = "worker"  # "worker" (one-block hand-off) or "callback"
    audio: str = "python"  # "python" (a Python callback) or "rtmixer" (a C callback, rtaudio.py)
    rt_handoff_blocks: int = 2  # rtmixer: blocks the feeder has to decide and submit a grain


class GrainQueue:
    """Stands in for the engine's grain player on the matcher thread: every grain the engine
    starts is written to a preallocated schedule for the audio thread, due ``handoff``
    samples after the decision (in the audio thread's sample count)."""

    def __init__(
        self,
        engine: Engine,
        *,
        handoff: int,
        schedule: np.ndarray,
        cursors: np.ndarray,
        deck: int = 0,
    ) -> None:
        self.engine = engine
        self.length = engine.player.length
        self.voices = engine.player.voices
        self.handoff = handoff
        self.schedule = schedule
        self.cursors = cursors
        self.deck = deck
        self.weight = 1.0  # crossfade gain while corpora are switched
        self.offset = 0  # audio-thread sample of the engine's sample 0 (moves if blocks drop)

    def reset(self) -> None:
        pass

    def render(self, out: np.ndarray) -> None:
        pass  # the audio thread renders

    def start(
        self,
        store_sample: int,
        *,
        source_end: int,
        gain: float,
        attack: bool = False,
        next_start: int | None = None,
    ) -> None:
        n = int(self.cursors[GRAINS_WRITTEN])
        row = self.schedule[n % self.schedule.shape[0]]
        row[DUE] = self.engine.state.samples + self.offset + self.handoff
        row[STORE] = store_sample
        row[SOURCE_END] = source_end
        row[GAIN] = gain * self.weight
        row[DECK] = self.deck
        row[ATTACK] = attack
        row[NEXT_START] = -1 if next_start is None else next_start
        self.cursors[GRAINS_WRITTEN] = n + 1  # publish after the row is complete


@dataclass
class Deck:
    """One loaded corpus: its engine (run by the matcher, or by the callback with
    ``matcher="callback"``) and, with the matcher, the queue the engine's grains go through
    and the audio thread's player for them."""

    corpus: Corpus
    name: str
    engine: Engine
    queue: GrainQueue | None = None
    player: GrainPlayer | None = None


class LivePlayer:
    """Runs the engine on live input; the display reads :attr:`shared` and :attr:`counters`.

    Parameters
    ----------
    corpora : Corpus or sequence of Corpus
        Several corpora are loaded at once and switched with :meth:`switch_to`: a crossfade
        of sound (equal power, on the grains' gains) and picture (the display blends the two
        decks' images), ``corpus_fade_s`` long. During a fade the matcher runs both engines.
    engine_settings : EngineSettings
    settings : LiveSettings
    names : sequence of str, optional
        Display names of the corpora (default: their directory names).
    """

    TIMING_SLOTS = 1 << 14
    BLOCK_SLOTS = 64  # input blocks the matcher may fall behind by (0.34 s at 256 frames)
    SCHEDULE_SLOTS = 256
    HISTORY = 16384  # input samples kept to prime a corpus switched to (0.34 s at 48 kHz)

    def __init__(
        self,
        corpora: Corpus | Sequence[Corpus],
        *,
        engine_settings: EngineSettings,
        settings: LiveSettings,
        names: Sequence[str] | None = None,
    ) -> None:
        corpora = [corpora] if isinstance(corpora, Corpus) else list(corpora)
        if not corpora:
            raise ParameterError("live needs at least one corpus")
        self.settings = settings
        self.sr_hz = corpora[0].grain_sr_hz
        for c in corpora[1:]:
            if c.grain_sr_hz != self.sr_hz:
                raise ParameterError(
                    f"{c.path}: grains at {c.grain_sr_hz} Hz, but {corpora[0].path} has "
                    f"{self.sr_hz} Hz: corpora played together must share one rate"
                )
        if settings.samplerate_hz not in (None, self.sr_hz):
            raise ParameterError(
                f"--samplerate {settings.samplerate_hz}: the corpus's grains are at "
                f"{self.sr_hz} Hz and livecat does not resample live; run the device at "
                f"{self.sr_hz} Hz (JACK: jackd -r {self.sr_hz}; PipeWire: "
                f"pw-metadata -n settings 0 clock.force-rate {self.sr_hz})"
            )
        if settings.blocksize < 16 or settings.blocksize > 8192:
            raise ParameterError(f"--blocksize must be 16..8192, got {settings.blocksize}")
        if settings.matcher not in MATCHERS:
            raise ParameterError(f"matcher must be one of {', '.join(MATCHERS)}")
        if settings.audio not in AUDIO_PATHS:
            raise ParameterError(f"--audio must be one of {', '.join(AUDIO_PATHS)}")
        if not 1 <= settings.rt_handoff_blocks <= 64:
            raise ParameterError(f"--rt-handoff must be 1..64, got {settings.rt_handoff_blocks}")
        if settings.audio == "rtmixer" and settings.matcher != "worker":
            raise ParameterError(
                "--audio rtmixer runs the engine on its feeder thread: it "
                "needs --matcher worker (or use --audio python)"
            )
        self.max_block = 8192
        self.worker = settings.matcher == "worker"
        self.handoff = settings.blocksize if self.worker else 0
        self.engine_settings = engine_settings.with_(dry=0.0, wet=1.0)
        self._schedule = np.zeros((self.SCHEDULE_SLOTS, NEXT_START + 1), np.float64)
        self._cursors = np.zeros(4, np.int64)
        # The rtmixer path (no Python on the audio thread); an input file without a device
        # is paced by a Python thread either way.
        rt = settings.audio == "rtmixer" and not settings.silent
        names = list(names) if names is not None else [Path(c.path).name for c in corpora]
        self.decks: list[Deck] = []
        for i, corpus in enumerate(corpora):
            engine = Engine(corpus, settings=self.engine_settings, max_block=self.max_block)
            engine.warm_up()  # before its grains are routed to the audio thread's schedule
            deck = Deck(corpus=corpus, name=names[i], engine=engine)
            if self.worker:
                deck.player = GrainPlayer(
                    engine.grains,
                    hop=engine.hop,
                    overlap=engine.settings.overlap,
                    max_block=self.max_block,
                )
                deck.queue = GrainQueue(
                    engine,
                    handoff=self.handoff,
                    schedule=self._schedule,
                    cursors=self._cursors,
                    deck=i,
                )
                engine.player = deck.queue  # type: ignore[assignment]
            self.decks.append(deck)
        self.rt = RtAudio(self) if rt else None
        if self.rt is not None:  # the feeder matches before it renders: no hand-off block
            for deck in self.decks:
                assert deck.queue is not None
                deck.queue.handoff = 0
            self.handoff = self.rt.prefill  # what the HUD adds to the device's latency
        # Audio-thread state, all preallocated.
        self._mono = np.zeros(self.max_block, np.float32)
        self._out = np.zeros(self.max_block, np.float32)
        self._shared = np.zeros((len(self.decks), SHARED_SLOTS), np.float64)
        self._shared[:, ENTRY] = -1
        self._shared[:, BRIGHTNESS] = 1.0
        # Which deck plays, which fades out (-1: none) and how far the fade is (0..1).
        self.mix = np.array([0.0, -1.0, 1.0])
        self.counters = np.zeros(COUNTER_SLOTS, np.int64)
        self.callback_s = np.zeros(self.TIMING_SLOTS, np.float64)  # ring of callback durations
        # perf_counter at callback entry minus PortAudio's currentTime: its excess over the
        # minimum is how late after the audio cycle began the callback got the GIL.
        self.entry_lag_s = np.zeros(self.TIMING_SLOTS, np.float64)
        self._blocks = np.zeros((self.BLOCK_SLOTS, self.max_block), np.float32)
        self._block_frames = np.zeros(self.BLOCK_SLOTS, np.int64)
        self._block_start = np.zeros(self.BLOCK_SLOTS, np.int64)  # audio-thread sample
        self._block_time = np.zeros(self.BLOCK_SLOTS, np.float64)  # perf_counter at arrival
        self._position = 0  # samples the audio thread has consumed
        self._players = [d.player for d in self.decks]  # the audio thread's, by deck
        if self.worker:
            self._match_in = np.zeros(self.max_block, np.float32)
            self._match_out = np.zeros(self.max_block, np.float32)
        # Matcher-side switching state.
        self._active = 0
        self._fading = -1
        self._fade_start = 0
        self._fade_len = 1
        self._history = np.zeros(self.HISTORY, np.float32)  # the latest input, a ring
        self._history_filled = 0
        self._prime = np.zeros(self.HISTORY, np.float32)
        self._pending_settings: EngineSettings | None = None
        self._seen = np.zeros((len(self.decks), 2), np.int64)  # decisions, jumps published
        self._tail: Deck | None = None  # callback matcher: the deck switched away from
        # Requests from the main thread (plain attribute writes, read by the matcher).
        self.switch_request = 0
        self.corpus_fade_s = 1.0
        self.dry = settings.dry
        self.wet = settings.wet
        self.gain = 1.0  # output volume (linear)
        self.muted = not settings.grains
        self.file_audio: np.ndarray | None = None
        self._file_pos = 0
        if settings.input_file is not None:
            self.file_audio = decode_audio(
                settings.input_file,
                sr_hz=self.sr_hz,
                align_to_video=False,
                channels=settings.input_channels,
                stream=settings.input_stream,
            )
        self.input_ended = False  # an input file ran out (and does not loop)
        self.callback_error: BaseException | None = None
        self.matcher_error: BaseException | None = None
        self.stream: Any = None
        self.callback_frames = 0  # frames in the latest callback (the audio thread writes it)
        self.stream_error: str | None = None
        self._thread: threading.Thread | None = None
        self._matcher: threading.Thread | None = None
        # Held while there is nothing to do; the audio thread releases it to wake the matcher
        # (release neither blocks nor drops the GIL, unlike a pipe write).
        self._wake = threading.Lock()
        self._wake.acquire()
        self._stop = threading.Event()
        self._reconnector: threading.Thread | None = None
        self._abandoned: list[Any] = []
        self.restart_wanted = False  # the device is back after a loss: restart the process
        self.stuck = False  # PortAudio did not let go of a dead stream (its exit would block)
        self.started_at = 0.0
        self._channels = (
            [c - 1 for c in settings.input_channels] if settings.input_channels else None
        )
        # Real-time hygiene: the GC must not pause the callback; Python threads must hand the
        # GIL back quickly (STYLE.md: a 5 ms switch interval costs a whole block).
        gc.collect()
        gc.freeze()
        sys.setswitchinterval(0.0005)

    # -- what the display and the controls see ---------------------------------------------------
    @property
    def active(self) -> int:
        """The deck whose picture and sound lead (the last one switched to)."""
        return int(self.mix[ACTIVE])

    @property
    def shared(self) -> np.ndarray:
        """The active deck's published state (indices ENTRY, SOURCE_T, ...)."""
        return self._shared[self.active]

    def shared_of(self, deck: int) -> np.ndarray:
        return self._shared[deck]

    @property
    def corpus(self) -> Corpus:
        return self.decks[self.active].corpus

    @property
    def engine(self) -> Engine:
        return self.decks[self.active].engine

    def switch_to(self, deck: int) -> None:
        """Crossfade to corpus ``deck`` (any thread; the matcher or callback acts on it)."""
        if not 0 <= deck < len(self.decks):
            raise ParameterError(f"no corpus {deck}: {len(self.decks)} loaded")
        self.switch_request = deck

    def set_engine_settings(self, settings: EngineSettings) -> None:
        """New selection knobs for every deck, applied before the next block is matched.
        Hop and overlap cannot change live (the grain schedule depends on them)."""
        settings = settings.with_(dry=0.0, wet=1.0)
        current = self.engine_settings
        if settings.hop_s != current.hop_s or settings.overlap != current.overlap:
            raise ParameterError("hop and overlap cannot change while playing")
        self.engine_settings = settings
        self._pending_settings = settings

    @property
    def finished(self) -> bool:
        """True once a non-looping input file has been played to its end."""
        return self.input_ended

    # -- the audio thread ----------------------------------------------------------------------
    def _read_file(self, mono: np.ndarray) -> None:
        audio = self.file_audio
        assert audio is not None
        frames = mono.size
        got = 0
        while got < frames:
            take = min(frames - got, CHUNK, audio.size - self._file_pos)
            if take <= 0:
                if self.settings.loop_input:
                    self._file_pos = 0
                    continue
                for lo in range(got, frames, CHUNK):
                    mono[lo : min(frames, lo + CHUNK)] = 0.0
                self.input_ended = True
                return
            mono[got : got + take] = audio[self._file_pos : self._file_pos + take]
            self._file_pos += take
            got += take

    def _read_input(self, indata: np.ndarray | None, mono: np.ndarray) -> None:
        """The block's mono input (device channels mixed, or the input file), in chunks."""
        if self.file_audio is not None:
            self._read_file(mono)
            return
        frames = mono.size
        channels = self._channels
        for lo in range(0, frames, CHUNK):
            hi = min(frames, lo + CHUNK)
            if indata is None:
                mono[lo:hi] = 0.0
            elif channels is None:
                mono[lo:hi] = indata[lo:hi, 0]
            else:
                mono[lo:hi] = indata[lo:hi, channels[0]]
                for c in channels[1:]:
                    mono[lo:hi] += indata[lo:hi, c]

    def _write_output(self, outdata: np.ndarray, out: np.ndarray, mono: np.ndarray) -> None:
        """Mix grains and dry input into every output channel, in chunks."""
        gain = self.gain
        wet = 0.0 if self.muted else self.wet * gain
        dry = self.dry * gain
        frames = out.size
        for lo in range(0, frames, CHUNK):
            hi = min(frames, lo + CHUNK)
            part = out[lo:hi]
            if wet != 1.0:
                part *= wet
            if dry:
                part += dry * mono[lo:hi]
            for c in range(outdata.shape[1]):
                outdata[lo:hi, c] = part

    def process(
        self, indata: np.ndarray | None, outdata: np.ndarray | None, frames: int, time_info=None
    ) -> None:
        """One block: input (device or file) → grains → output. Runs on the audio thread."""
        started = time.perf_counter()
        self.callback_frames = frames
        n = self.counters[CALLBACKS]
        slot = n % self.TIMING_SLOTS
        if time_info is not None:
            self.entry_lag_s[slot] = started - time_info.currentTime
        try:
            mono = self._mono[:frames]
            self._read_input(indata, mono)
            out = self._out[:frames]
            if self.worker:
                self._hand_over(mono, frames, started)
                self._render(out, frames)
            else:
                self._process_in_callback(mono, out, started)
            self._position += frames
            if outdata is not None:
                self._write_output(outdata, out, mono)
        except Exception as exc:  # never let an exception escape into PortAudio
            if outdata is not None:
                outdata.fill(0.0)
            self.counters[CALLBACK_ERRORS] += 1
            self.callback_error = exc
        if self.worker and self._wake.locked():
            try:  # noqa: SIM105  (contextlib.suppress would build an object every block)
                self._wake.release()  # last: the matcher wants the GIL as soon as it wakes
            except RuntimeError:  # stop() released it first
                pass
        self.callback_s[slot] = time.perf_counter() - started
        self.counters[CALLBACKS] = n + 1

    def _process_in_callback(self, mono: np.ndarray, out: np.ndarray, started: float) -> None:
        """``matcher="callback"``: the active deck's engine runs here. A corpus switch is
        immediate; the grains of the deck left behind ring out (no crossfade)."""
        request = self.switch_request
        if request != self._active:
            self._tail = self.decks[self._active]
            self._active = request
            self.decks[request].engine.reset()
            self.mix[ACTIVE] = request
        if self._pending_settings is not None:
            settings, self._pending_settings = self._pending_settings, None
            for deck in self.decks:
                deck.engine.apply(settings)
        engine = self.decks[self._active].engine
        engine.process(mono, out)
        tail = self._tail
        if tail is not None:
            tail.engine.player.render(out)
            if tail.engine.player.active() == 0:
                self._tail = None
        self._publish(self._active, engine.state, started)

    def _hand_over(self, mono: np.ndarray, frames: int, started: float) -> None:
        """Copy the block into the matcher's ring and wake the matcher."""
        cursors = self._cursors
        k = int(cursors[BLOCKS_WRITTEN])
        slot = k % self.BLOCK_SLOTS
        ring = self._blocks[slot]
        for lo in range(0, frames, CHUNK):
            hi = min(frames, lo + CHUNK)
            ring[lo:hi] = mono[lo:hi]
        self._block_frames[slot] = frames
        self._block_start[slot] = self._position
        self._block_time[slot] = started
        cursors[BLOCKS_WRITTEN] = k + 1

    def _render(self, out: np.ndarray, frames: int) -> None:
        """Render the grains into ``out``, starting the scheduled ones at their due sample."""
        players = self._players
        for lo in range(0, frames, CHUNK):
            out[lo : min(frames, lo + CHUNK)] = 0.0
        cursors = self._cursors
        schedule = self._schedule
        first = self._position
        end = first + frames
        done = 0
        slots = self.SCHEDULE_SLOTS
        while cursors[GRAINS_READ] < cursors[GRAINS_WRITTEN]:
            n = cursors[GRAINS_READ]
            row = schedule[n % slots]
            due = int(row[DUE])
            if due >= end:
                break
            at = due - first
            if at < 0:  # the matcher was late: start now, only the newest of those late
                self.counters[LATE_GRAINS] += 1
                if n + 1 < cursors[GRAINS_WRITTEN] and schedule[(n + 1) % slots, DUE] < first:
                    cursors[GRAINS_READ] = n + 1
                    continue
                at = 0
            if at > done:
                self._render_span(out, done, at)
                done = at
            players[int(row[DECK])].start(  # type: ignore[union-attr]
                int(row[STORE]),
                source_end=int(row[SOURCE_END]),
                gain=float(row[GAIN]),
                attack=bool(row[ATTACK]),
                next_start=int(row[NEXT_START]) if row[NEXT_START] >= 0 else None,
            )
            cursors[GRAINS_READ] += 1
        if done < frames:
            self._render_span(out, done, frames)

    def _render_span(self, out: np.ndarray, lo: int, hi: int) -> None:
        for player in self._players:
            for a in range(lo, hi, CHUNK):
                player.render(out[a : min(hi, a + CHUNK)])  # type: ignore[union-attr]

    def _publish(self, deck: int, st, block_time: float) -> None:
        """Make a deck's latest decision visible to the display (plain element writes)."""
        shared = self._shared[deck]
        if st.entry != shared[ENTRY]:
            shared[BLOCK_TIME] = block_time  # when the block that changed the picture arrived
        shared[ENTRY] = st.entry
        shared[SOURCE_T] = st.source_t_s
        shared[DISTANCE] = st.distance
        shared[LEVEL_DB] = st.level_db
        shared[BRIGHTNESS] = st.brightness
        shared[GATED] = st.gated
        shared[STREAM_T] = st.samples / self.sr_hz
        shared[QUERY_S] = st.query_s
        seen = self._seen[deck]
        for counter, now, column in ((DECISIONS, st.decisions, 0), (JUMPS, st.jumps, 1)):
            step = now - seen[column] if now >= seen[column] else now  # reset by a switch
            self.counters[counter] += step
            seen[column] = now

    def _count_xruns(self, status) -> None:
        """Count the block's xrun flags (one xrun may set both input and output flags)."""
        if status:
            overflow, underflow = status.input_overflow, status.output_underflow
            if overflow:
                self.counters[INPUT_OVERFLOWS] += 1
            if underflow:
                self.counters[OUTPUT_UNDERFLOWS] += 1
            if overflow or underflow:
                self.counters[XRUN_BLOCKS] += 1

    def _duplex_callback(self, indata, outdata, frames, time_info, status) -> None:
        self._count_xruns(status)
        self.process(indata, outdata, frames, time_info)

    def _input_callback(self, indata, frames, time_info, status) -> None:
        self._count_xruns(status)
        self.process(indata, None, frames, time_info)

    def _output_callback(self, outdata, frames, time_info, status) -> None:
        self._count_xruns(status)
        self.process(None, outdata, frames, time_info)

    # -- the matcher thread --------------------------------------------------------------------
    def match_pending(self) -> int:
        """Run the engines over every block the audio thread has handed over; returns how
        many. The matcher thread calls it when woken; tests call it directly."""
        cursors = self._cursors
        done = 0
        while cursors[BLOCKS_READ] < cursors[BLOCKS_WRITTEN]:
            k = int(cursors[BLOCKS_READ])
            if int(cursors[BLOCKS_WRITTEN]) - k > self.BLOCK_SLOTS:  # overwritten: skip
                skip_to = int(cursors[BLOCKS_WRITTEN]) - self.BLOCK_SLOTS + 1
                self.counters[DROPPED_BLOCKS] += skip_to - k
                cursors[BLOCKS_READ] = skip_to
                continue
            slot = k % self.BLOCK_SLOTS
            frames = int(self._block_frames[slot])
            start = int(self._block_start[slot])
            arrived = float(self._block_time[slot])
            block = self._match_in[:frames]
            block[:] = self._blocks[slot, :frames]
            if int(cursors[BLOCKS_WRITTEN]) - k > self.BLOCK_SLOTS:
                continue  # overwritten while copying: the check above skips it
            self._match_block(block, start, arrived)
            cursors[BLOCKS_READ] = k + 1
            done += 1
        return done

    def _match_block(self, block: np.ndarray, start: int, arrived: float) -> None:
        """One handed-over block through the active deck (and the one fading out)."""
        if self._pending_settings is not None:
            settings, self._pending_settings = self._pending_settings, None
            for deck in self.decks:
                deck.engine.apply(settings)
        if self.switch_request != self._active:
            self._switch(self.switch_request, start)
        progress = 1.0
        if self._fading >= 0:
            progress = min(1.0, max(0.0, (start - self._fade_start) / self._fade_len))
            if progress >= 1.0:
                self._fading = -1
                self.mix[FADING] = -1
        self.mix[PROGRESS] = progress
        frames = block.size
        for index, weight in (
            (self._active, math.sin(0.5 * math.pi * progress)),
            (self._fading, math.cos(0.5 * math.pi * progress)),
        ):
            if index < 0:
                continue
            deck = self.decks[index]
            engine, queue = deck.engine, deck.queue
            assert queue is not None
            queue.weight = weight
            # The engine counts only what it was fed: line its samples up with the audio
            # thread's (they differ after dropped blocks and for a deck switched to).
            queue.offset = start - engine.state.samples
            engine.process(block, self._match_out[:frames])
            self._publish(index, engine.state, arrived)
        self._remember(block)

    def _switch(self, target: int, start: int) -> None:
        """Make deck ``target`` lead from sample ``start``; the current one fades out. The
        new engine is reset and its analysis window filled with the latest input, so its
        first decision, one hop later, hears what the other deck heard."""
        if self._fading >= 0:
            self._shared[self._fading, ENTRY] = -1
        self._fading = self._active if self.corpus_fade_s > 0 else -1
        if self._fading < 0:
            self._shared[self._active, ENTRY] = -1
        self._active = target
        engine = self.decks[target].engine
        engine.reset()
        need = min(self._history_filled, self.HISTORY)
        if need:
            end = self._history_filled % self.HISTORY
            prime = self._prime[:need]
            tail = min(need, end)
            prime[need - tail :] = self._history[end - tail : end]
            if need > tail:
                prime[: need - tail] = self._history[self.HISTORY - (need - tail) :]
            engine.stream.push(prime)
        self._fade_start = start
        self._fade_len = max(1, int(self.corpus_fade_s * self.sr_hz))
        self.mix[FADING] = self._fading
        self.mix[PROGRESS] = 0.0 if self._fading >= 0 else 1.0
        self.mix[ACTIVE] = target

    def _remember(self, block: np.ndarray) -> None:
        """Keep the latest input (for priming a deck switched to)."""
        n = block.size
        at = self._history_filled % self.HISTORY
        first = min(n, self.HISTORY - at)
        self._history[at : at + first] = block[:first]
        if n > first:
            self._history[: n - first] = block[first:]
        self._history_filled += n

    def _feed_loop(self) -> None:
        """The rtmixer path's feeder thread (rtaudio.py): input ring → engines → grains."""
        assert self.rt is not None
        try:
            self.rt.run(self._stop)
        except Exception as exc:  # reported by the display, which then stops
            self.matcher_error = exc

    def _match_loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.acquire(timeout=0.2)
                self.match_pending()
        except Exception as exc:  # reported by the display, which then stops
            self.matcher_error = exc

    # -- starting, supervising, stopping ----------------------------------------------------
    def start(self) -> None:
        """Open the stream (or the paced file thread). Raises DeviceError when it cannot."""
        self.started_at = time.perf_counter()
        if self.rt is not None:
            self._open_stream()
            self._matcher = threading.Thread(
                target=self._feed_loop, name="livecat-feeder", daemon=True
            )
            self._matcher.start()
            return
        if self.worker:
            self._matcher = threading.Thread(
                target=self._match_loop, name="livecat-matcher", daemon=True
            )
            self._matcher.start()
        if self.settings.silent:
            if self.file_audio is None:
                raise ParameterError("running without an audio device needs --input-file")
            self._thread = threading.Thread(target=self._paced, name="livecat-paced", daemon=True)
            self._thread.start()
            return
        self._open_stream()

    def _open_stream(self) -> None:
        sd = sounddevice()
        s = self.settings
        in_dev = out_dev = None
        try:
            out_dev = resolve_device(s.output_device, kind="output")
            if self.file_audio is None:  # the device is the input
                in_dev = resolve_device(s.input_device, kind="input")
                check_input_channels(in_dev, s.input_channels or ())
        except (sd.PortAudioError, ValueError) as exc:
            self.stream_error = str(exc)
            raise DeviceError(self._open_error(exc, in_dev, out_dev)) from None
        used = [(in_dev, "input")] if self.file_audio is None else []
        used += [(out_dev, "output")] if s.grains or s.dry or self.file_audio is not None else []
        # On JACK, PortAudio given a block size of its own cuts JACK's periods into blocks
        # through a buffer a block long: 5.3 ms more latency at 256 frames. Given none, it
        # calls back with each period as it comes: when the period is --blocksize, as it
        # should be, the same blocks a block sooner; when not, the stream is opened again
        # with --blocksize (and a warning), as it was.
        if self.rt is None and on_jack(used):
            self._start_stream(in_dev, out_dev, blocksize=0)
            frames = self._first_block_frames()
            if frames in (s.blocksize, None):
                return
            self.stream.close()
            log.warning(
                "livecat: the JACK period is %d frames and --blocksize %d: PortAudio buffers "
                "between them (a block more latency); run livecat with --blocksize %d",
                frames,
                s.blocksize,
                frames,
            )
        self._start_stream(in_dev, out_dev, blocksize=s.blocksize)

    def _first_block_frames(self, *, timeout_s: float = 1.0) -> int | None:
        """Frames in the stream's first callback (None: none came within ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while self.counters[CALLBACKS] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.callback_frames or None

    def _start_stream(self, in_dev: int | None, out_dev: int | None, *, blocksize: int) -> None:
        sd = sounddevice()
        s = self.settings
        kwargs = dict(
            samplerate=self.sr_hz, blocksize=blocksize, latency=s.latency, dtype="float32"
        )
        self.callback_frames = 0
        try:
            if self.rt is not None:
                if self.file_audio is None and not (s.grains or s.dry):
                    out_dev = None
                stream = self.rt.open(
                    in_dev=in_dev, out_dev=out_dev, channels=self._channels, kwargs=kwargs
                )
            elif self.file_audio is not None:
                stream = sd.OutputStream(
                    device=out_dev, channels=None, callback=self._output_callback, **kwargs
                )
            else:
                in_channels = max(self._channels) + 1 if self._channels else 1
                if s.grains or s.dry:
                    stream = sd.Stream(
                        device=(in_dev, out_dev),
                        channels=(in_channels, None),
                        callback=self._duplex_callback,
                        **kwargs,
                    )
                else:
                    out_dev = None
                    stream = sd.InputStream(
                        device=in_dev, channels=in_channels, callback=self._input_callback, **kwargs
                    )
            if self.rt is None:
                stream.start()
        except ImportError as exc:
            raise DeviceError(
                f"--audio rtmixer needs the rtmixer package ({exc}): "
                "pip install 'livecat[rt]', or use --audio python"
            ) from None
        except (sd.PortAudioError, ValueError) as exc:
            self.stream_error = str(exc)
            raise DeviceError(self._open_error(exc, in_dev, out_dev)) from None
        self.stream = stream
        self.stream_error = None

    def _open_error(self, exc: Exception, in_dev: int | None, out_dev: int | None) -> str:
        """A one-line reason, with what would work when the device refused the rate."""
        text = f"cannot open the audio stream: {exc}"
        if "querying device" in str(exc).lower():  # PortAudio's words for "no such device"
            return (
                f"{text}: there is no sound device to open (is a sound server such as JACK "
                "or PipeWire running?); `livecat devices` lists what there is, and "
                "--input-file plays a file instead of a microphone"
            )
        if "sample rate" not in str(exc).lower():
            return text
        rates = []
        for kind, dev in (("input", in_dev), ("output", out_dev)):
            if kind == "input" and self.file_audio is not None:
                continue
            if kind == "output" and not (self.settings.grains or self.settings.dry):
                continue
            with contextlib.suppress(Exception):
                ok = supported_rates(dev, kind=kind)
                rates.append(f"{kind} accepts {', '.join(str(r) for r in ok) or 'none tried'}")
        return (
            f"the audio device refused {self.sr_hz} Hz, the corpus's grain rate"
            + (f" ({'; '.join(rates)})" if rates else "")
            + f": run the device or sound server at {self.sr_hz} Hz (JACK: jackd -r "
            f"{self.sr_hz}; PipeWire: pw-metadata -n settings 0 clock.force-rate {self.sr_hz})"
        )

    def _paced(self) -> None:
        """No audio device: feed the input file through :meth:`process` in real time."""
        block = self.settings.blocksize
        period = block / self.sr_hz
        next_t = time.perf_counter()
        while not self._stop.is_set():
            self.process(None, None, block)
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:  # fell far behind (machine suspended): do not race to catch up
                next_t = time.perf_counter()

    def supervise(self) -> bool:
        """Called about once a second by the display: is audio flowing? A stream that died
        (device unplugged, sound server gone) is replaced by a background reconnector that
        retries every second; the display never waits on PortAudio (closing a stream whose
        JACK server vanished can block for good)."""
        if self.settings.silent:
            return True
        self._poll_stats()
        if self.stream is not None and self.stream.active:
            return True
        if self._reconnector is None or not self._reconnector.is_alive():
            dead, self.stream = self.stream, None
            self.stream_error = "audio stream stopped"
            self._reconnector = threading.Thread(
                target=self._reconnect, args=(dead,), name="livecat-reconnect", daemon=True
            )
            self._reconnector.start()
        return False

    def _reconnect(self, dead: Any) -> None:
        """Wait for the audio device to come back, then ask for a restart.

        PortAudio cannot recover in-process from a sound server that went away (closing the
        dead stream or re-initialising blocks for good), so a child process probes the
        devices every second; once the stream could open again, :attr:`restart_wanted` is
        set and the command line re-executes livecat with the same arguments.
        """
        self._abandoned.append(dead)  # never closed: that would block
        probe = (
            "import sys\n"
            "from livecat.live.devices import resolve_device, sounddevice\n"
            "sd = sounddevice()\n"
            f"resolve_device({self.settings.input_device!r}, kind='input')\n"
            f"resolve_device({self.settings.output_device!r}, kind='output')\n"
            "sd.check_input_settings() if sd.query_devices() else sys.exit(1)\n"
        )
        while not self._stop.is_set():
            try:
                ok = (
                    subprocess.run(
                        [sys.executable, "-c", probe], capture_output=True, timeout=10
                    ).returncode
                    == 0
                )
            except subprocess.TimeoutExpired:
                ok = False
            if ok:
                self.restart_wanted = True
                return
            self._stop.wait(1.0)

    def stop(self, *, release: bool = True) -> None:
        """Stop within a second, even if the stream hangs: a stream that is not running any
        more is abandoned rather than closed (PortAudio may block on it).

        ``release=False`` stops the stream (silence, ports disconnected) but leaves it to
        PortAudio, for a process about to end with ``os._exit``: Debian's PortAudio 19.6
        aborts the whole process when JACK refuses a port unregister during close
        (``pa_jack.c: CleanUpStream: Assertion err == 0``), which a loaded server does.
        """
        self._stop.set()
        with contextlib.suppress(RuntimeError):  # the audio thread may release it first
            self._wake.release()
        stream, self.stream = self.stream, None
        if stream is not None and stream.active:
            closer = threading.Thread(
                target=self._close, args=(stream,), kwargs={"release": release}, daemon=True
            )
            closer.start()
            closer.join(timeout=0.5)
            self.stuck = closer.is_alive()
        elif stream is not None or (self._reconnector is not None and self._reconnector.is_alive()):
            self.stuck = True
        for thread in (self._thread, self._matcher):
            if thread is not None:
                thread.join(timeout=0.3)

    @staticmethod
    def _close(stream: Any, *, release: bool) -> None:
        with contextlib.suppress(Exception):
            stream.stop(ignore_errors=True)
            if release:
                stream.close(ignore_errors=True)

    # -- figures for the HUD and the benchmarks ------------------------------------------------
    def _recent(self, ring: np.ndarray, last: int | None) -> np.ndarray:
        n = int(self.counters[CALLBACKS])
        count = min(n, self.TIMING_SLOTS, last or self.TIMING_SLOTS)
        return ring[(np.arange(n - count, n)) % self.TIMING_SLOTS]

    def callback_percentiles(self, *, last: int | None = None) -> tuple[float, float]:
        """p50 and p99 of recent callback durations (Python entry to exit), seconds."""
        recent = self._recent(self.callback_s, last)
        if recent.size == 0:
            return 0.0, 0.0
        p50, p99 = np.percentile(recent, [50, 99])
        return float(p50), float(p99)

    def entry_delays(self, *, last: int | None = None) -> np.ndarray:
        """How late after its audio cycle began each recent callback got to run Python
        (waiting for the GIL, and upstream JACK clients), seconds; empty without timing."""
        lags = self._recent(self.entry_lag_s, last)
        lags = lags[lags != 0.0]
        return lags - lags.min() if lags.size else lags

    def device_latency_s(self) -> float:
        """The stream's reported input + output latency (0 without a stream)."""
        stream = self.stream
        if stream is None:
            return 0.0
        latency = stream.latency
        return float(sum(latency)) if isinstance(latency, tuple) else float(latency)

    def xruns(self) -> int:
        """Blocks PortAudio flagged with an input overflow or an output underflow."""
        self._poll_stats()
        return int(self.counters[XRUN_BLOCKS])

    def _poll_stats(self) -> None:
        """rtmixer path: copy the C callback's xrun counts into :attr:`counters`. It counts
        each flag, not blocks with either, so XRUN_BLOCKS is the larger of the two (one xrun
        usually sets both on a duplex stream)."""
        if self.rt is None or self.rt.stream is None:
            return
        _, overflows, underflows = self.rt.poll_stats()
        self.counters[INPUT_OVERFLOWS] = overflows
        self.counters[OUTPUT_UNDERFLOWS] = underflows
        self.counters[XRUN_BLOCKS] = max(overflows, underflows)

    def close(self) -> None:
        """Let the garbage collector have everything again: :meth:`__init__` froze the heap
        (no GC pauses during the show), which also keeps a dropped player alive for good."""
        gc.unfreeze()
