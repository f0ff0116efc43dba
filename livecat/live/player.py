"""The live player: an audio stream whose callback runs the engine.

Decision (measured, see README "Latency"): the engine runs *inside* the audio callback. One
decision (descriptor, HNSW query, re-ranking) costs ~0.2-0.4 ms on a 1M-entry corpus, and
comes once per 512-sample hop, i.e. every second 256-frame block: well inside the 5.3 ms
block period. A matcher thread with a one-block hand-off would add a block of latency and
GIL hand-offs between two Python threads for no gain at these costs.

What the callback may do: copy the input into preallocated buffers, run the engine (which
works on preallocated state; numpy's small temporaries aside), write the output, bump
counters and publish the current entry into a preallocated array. It never logs, prints,
touches the disk (grains are resident in RAM), or takes a lock the display holds.
"""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livecat.corpus import Corpus
from livecat.errors import DeviceError, ParameterError
from livecat.live.devices import resolve_device, sounddevice
from livecat.media import decode_audio
from livecat.synthesis import Engine, EngineSettings

# Indices into LivePlayer.shared (written by the audio thread, read by the display).
ENTRY, SOURCE_T, DISTANCE, LEVEL_DB, BRIGHTNESS, GATED, BLOCK_TIME, STREAM_T = range(8)
# Indices into LivePlayer.counters.
CALLBACKS, INPUT_OVERFLOWS, OUTPUT_UNDERFLOWS, DECISIONS, JUMPS = range(5)


@dataclass(frozen=True)
class LiveSettings:
    """Audio I/O choices (README: "livecat live")."""

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
    loop_input: bool = False
    silent: bool = False  # no audio device at all: an input file paced by a thread


class LivePlayer:
    """Runs the engine on live input; the display reads :attr:`shared` and :attr:`counters`.

    Parameters
    ----------
    corpus : Corpus
    engine_settings : EngineSettings
    settings : LiveSettings
    """

    TIMING_SLOTS = 1 << 14

    def __init__(
        self, corpus: Corpus, *, engine_settings: EngineSettings, settings: LiveSettings
    ) -> None:
        self.corpus = corpus
        self.settings = settings
        self.sr_hz = corpus.grain_sr_hz
        if settings.samplerate_hz not in (None, self.sr_hz):
            raise ParameterError(
                f"the corpus's grains are at {self.sr_hz} Hz; run the audio device at that "
                f"rate (JACK: jackd -r {self.sr_hz}); live resampling is not supported"
            )
        if settings.blocksize < 16 or settings.blocksize > 8192:
            raise ParameterError(f"--blocksize must be 16..8192, got {settings.blocksize}")
        self.max_block = max(settings.blocksize, 8192)
        self.engine = Engine(
            corpus, settings=engine_settings.with_(dry=0.0, wet=1.0), max_block=self.max_block
        )
        self.engine.reset()
        self._mono = np.zeros(self.max_block, np.float32)
        self._out = np.zeros(self.max_block, np.float32)
        self.shared = np.zeros(8, np.float64)
        self.shared[ENTRY] = -1
        self.counters = np.zeros(5, np.int64)
        self.callback_s = np.zeros(self.TIMING_SLOTS, np.float64)  # ring of callback durations
        self.dry = settings.dry
        self.wet = settings.wet
        self.muted = not settings.grains
        self.file_audio: np.ndarray | None = None
        self._file_pos = 0
        if settings.input_file is not None:
            self.file_audio = decode_audio(
                settings.input_file, sr_hz=self.sr_hz, align_to_video=False
            )
        self.finished = threading.Event()  # an input file ran out (and does not loop)
        self.stream = None
        self.stream_error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reconnector: threading.Thread | None = None
        self._abandoned: list = []
        self.restart_wanted = False  # the device is back after a loss: restart the process
        self.stuck = False  # PortAudio did not let go of a dead stream: exit without it
        self.started_at = 0.0
        self._channels = (
            [c - 1 for c in settings.input_channels] if settings.input_channels else None
        )
        # Real-time hygiene: the GC must not pause the callback; Python threads must hand the
        # GIL back quickly (STYLE.md: a 5 ms switch interval costs a whole block).
        gc.collect()
        gc.freeze()
        sys.setswitchinterval(0.0005)

    # -- the audio thread ----------------------------------------------------------------------
    def _next_file_block(self, frames: int) -> np.ndarray:
        mono = self._mono[:frames]
        audio = self.file_audio
        assert audio is not None
        got = 0
        while got < frames:
            take = min(frames - got, audio.size - self._file_pos)
            if take <= 0:
                if self.settings.loop_input:
                    self._file_pos = 0
                    continue
                mono[got:] = 0.0
                self.finished.set()
                break
            mono[got : got + take] = audio[self._file_pos : self._file_pos + take]
            self._file_pos += take
            got += take
        return mono

    def process(self, indata: np.ndarray | None, outdata: np.ndarray | None, frames: int) -> None:
        """One block: input (device or file) → engine → output. Runs on the audio thread."""
        started = time.perf_counter()
        if self.file_audio is not None:
            mono = self._next_file_block(frames)
        else:
            mono = self._mono[:frames]
            if indata is None:
                mono[:] = 0.0
            elif self._channels is None:
                mono[:] = indata[:, 0]
            else:
                mono[:] = indata[:, self._channels[0]]
                for c in self._channels[1:]:
                    mono += indata[:, c]
        out = self._out[:frames]
        engine = self.engine
        engine.process(mono, out)
        if outdata is not None:
            wet = 0.0 if self.muted else self.wet
            if wet != 1.0:
                out *= wet
            if self.dry:
                out += self.dry * mono
            outdata[:, :] = out[:, None]
        st = engine.state
        shared = self.shared
        if st.entry != shared[ENTRY]:
            shared[BLOCK_TIME] = started  # when the block that changed the picture arrived
        shared[ENTRY] = st.entry
        shared[SOURCE_T] = st.source_t_s
        shared[DISTANCE] = st.distance
        shared[LEVEL_DB] = st.level_db
        shared[BRIGHTNESS] = st.brightness
        shared[GATED] = st.gated
        shared[STREAM_T] = st.samples / self.sr_hz
        counters = self.counters
        counters[DECISIONS] = st.decisions
        counters[JUMPS] = st.jumps
        n = counters[CALLBACKS]
        self.callback_s[n % self.TIMING_SLOTS] = time.perf_counter() - started
        counters[CALLBACKS] = n + 1

    def _duplex_callback(self, indata, outdata, frames, time_info, status) -> None:
        if status.input_overflow:
            self.counters[INPUT_OVERFLOWS] += 1
        if status.output_underflow:
            self.counters[OUTPUT_UNDERFLOWS] += 1
        self.process(indata, outdata, frames)

    def _input_callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self.counters[INPUT_OVERFLOWS] += 1
        self.process(indata, None, frames)

    def _output_callback(self, outdata, frames, time_info, status) -> None:
        if status.output_underflow:
            self.counters[OUTPUT_UNDERFLOWS] += 1
        self.process(None, outdata, frames)

    # -- starting, supervising, stopping ----------------------------------------------------
    def start(self) -> None:
        """Open the stream (or the paced file thread). Raises DeviceError when it cannot."""
        self.started_at = time.perf_counter()
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
        kwargs = dict(
            samplerate=self.sr_hz, blocksize=s.blocksize, latency=s.latency, dtype="float32"
        )
        try:
            out_dev = resolve_device(s.output_device, kind="output")
            if self.file_audio is not None:
                stream = sd.OutputStream(
                    device=out_dev, channels=None, callback=self._output_callback, **kwargs
                )
            else:
                in_dev = resolve_device(s.input_device, kind="input")
                in_channels = max(self._channels) + 1 if self._channels else 1
                if s.grains or s.dry:
                    stream = sd.Stream(
                        device=(in_dev, out_dev),
                        channels=(in_channels, None),
                        callback=self._duplex_callback,
                        **kwargs,
                    )
                else:
                    stream = sd.InputStream(
                        device=in_dev, channels=in_channels, callback=self._input_callback, **kwargs
                    )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self.stream_error = str(exc)
            raise DeviceError(f"cannot open the audio stream: {exc}") from None
        self.stream = stream
        self.stream_error = None

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

    def _reconnect(self, dead) -> None:
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

    def stop(self) -> None:
        """Stop within a second, even if the stream hangs: a stream that is not running any
        more is abandoned rather than closed (PortAudio may block on it)."""
        self._stop.set()
        stream, self.stream = self.stream, None
        if stream is not None and stream.active:
            closer = threading.Thread(target=self._close, args=(stream,), daemon=True)
            closer.start()
            closer.join(timeout=1.0)
            self.stuck = closer.is_alive()
        elif stream is not None or (self._reconnector is not None and self._reconnector.is_alive()):
            self.stuck = True
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    @staticmethod
    def _close(stream) -> None:
        with contextlib.suppress(Exception):
            stream.stop(ignore_errors=True)
            stream.close(ignore_errors=True)

    # -- figures for the HUD and the benchmarks ------------------------------------------------
    def callback_percentiles(self) -> tuple[float, float]:
        """p50 and p99 of recent callback durations, seconds."""
        n = int(min(self.counters[CALLBACKS], self.TIMING_SLOTS))
        if n == 0:
            return 0.0, 0.0
        recent = self.callback_s[:n]
        return float(np.percentile(recent, 50)), float(np.percentile(recent, 99))

    def xruns(self) -> int:
        return int(self.counters[INPUT_OVERFLOWS] + self.counters[OUTPUT_UNDERFLOWS])
