"""Writing H.264 + AAC files with PyAV, atomically (temporary name, renamed when complete)."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from livecat.errors import MediaError, ParameterError, free_bytes, write_error

AAC_FRAME = 1024
#: Containers that hold H.264 + AAC, as a hint in errors.
CONTAINERS = ".mp4, .mov or .mkv"
#: x264's speed presets, fastest first.
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# Sound is handed to the encoder this many samples at a time; PyAV cuts the AAC frames
# itself. The same bitstream as frame by frame, for 15-20 % less CPU on the writer's thread.
AUDIO_CHUNK = 16 * AAC_FRAME


# The colours of every picture video_frame() makes, as H.264 tags them (FFmpeg's numbers).
BT601_COLORSPACE = 6  # AVCOL_SPC_SMPTE170M
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
BT709_PRIMARIES = 1  # AVCOL_PRI_BT709
BT709_TRANSFER = 1  # AVCOL_TRC_BT709


def video_frame(bgr: np.ndarray) -> av.VideoFrame:
    """A BGR image as the H.264 encoder takes it (I420). Any thread may make these, so the
    encoder's own thread is left with only the encoding."""
    # OpenCV converts to I420 about 3x faster than swscale's bgr24 path.
    return av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), "yuv420p")


def temporary_sibling(path: Path) -> Path:
    """A hidden name beside ``path`` with the same suffix (so muxers pick the same format),
    with a random part: FFmpeg opens it by name and follows a link, so a name someone could
    guess (the pid alone) would let a link planted there have the render written over the
    file it points to."""
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(8)}{path.suffix}")


class MosaicWriter:
    """An H.264 + AAC file written picture by picture and block by block.

    Nothing appears at ``path`` until :meth:`close` succeeds; :meth:`abort` (or an exception
    inside a ``with`` block) removes the partial file.

    Parameters
    ----------
    path : Path
        Output file; its suffix picks the container (.mp4, .mov, .mkv).
    size : (width, height)
        Even numbers (yuv420p).
    fps : Fraction
    sr_hz : int
        Audio rate; the sound is mono (the corpus's grains are).
    crf : int
        x264 quality (lower is better; 18-23 is visually good).
    preset : str
        x264 speed preset.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: tuple[int, int],
        fps: Fraction,
        sr_hz: int,
        crf: int = 20,
        preset: str = "superfast",
    ) -> None:
        self.path = Path(path)
        if preset not in X264_PRESETS:  # x264 would print its own complaint as well
            raise ParameterError(
                f"unknown x264 preset {preset!r}; one of {', '.join(X264_PRESETS)}"
            )
        if self.path.is_dir():
            raise MediaError("is a directory: name the file to write, e.g. mosaic.mp4", path=path)
        if not self.path.parent.is_dir():
            raise MediaError("output directory does not exist", path=self.path)
        if not os.access(self.path.parent, os.W_OK):
            raise MediaError("output directory is not writable", path=self.path)
        self.tmp = temporary_sibling(self.path)
        self._free_at_start = free_bytes(self.tmp)
        # Nothing touches the disk before the first packet, so every refusal below (a name
        # with no container, a container without H.264, encoder settings x264 rejects) comes
        # before any work, and leaves nothing behind.
        try:
            self.container = av.open(str(self.tmp), mode="w")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            if "determine output format" not in str(exc):
                raise MediaError(f"cannot write ({exc})", path=self.path) from None
            named = f"'{self.path.suffix}'" if self.path.suffix else "a name without a suffix"
            raise MediaError(
                f"no container format for {named}: end the name in {CONTAINERS}", path=self.path
            ) from None
        try:
            self.video = self.container.add_stream("libx264", rate=fps)
            self.audio = self.container.add_stream("aac", rate=sr_hz, layout="mono")
        except ValueError:  # the container takes neither codec (.webm, .wav, ...)
            self.container.close()
            raise MediaError(
                f"a '{self.path.suffix}' file cannot hold H.264 + AAC: end the name in "
                f"{CONTAINERS}",
                path=self.path,
            ) from None
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        # video_frame() converts with BT.601 (OpenCV), and says so: untagged, an HD picture is
        # read as BT.709 by browsers and mpv, which would shift every green and red.
        video = self.video.codec_context
        video.colorspace = BT601_COLORSPACE
        video.color_range = LIMITED_RANGE
        video.color_primaries = BT709_PRIMARIES  # sRGB's, the corpus images' own
        video.color_trc = BT709_TRANSFER
        video.options = {"crf": str(crf), "preset": preset}
        self.video.thread_type = "AUTO"
        self.audio.codec_context.bit_rate = 128_000
        # FFmpeg's "fast" AAC coder: half the CPU of the default two-loop search, no audible
        # difference at 128 kbit/s mono (the render shares 2 cores with x264 and the engine).
        self.audio.codec_context.options = {"aac_coder": "fast"}
        for stream, name in ((self.video, "H.264"), (self.audio, "AAC")):
            try:
                stream.codec_context.open()
            except (av.error.FFmpegError, ValueError) as exc:
                self.container.close()
                raise MediaError(
                    f"the {name} encoder refuses its settings ({exc})", path=self.path
                ) from None
        self.sr_hz = sr_hz
        self.size = size
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._audio_samples = 0
        self._images = 0
        # Pictures and sound may be encoded on two threads; the container takes one at a time.
        self._mux_lock = threading.Lock()

    def __enter__(self) -> MosaicWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write_image(self, image: np.ndarray | av.VideoFrame) -> None:
        """Append a picture: a BGR image, or one already made by :func:`video_frame` (which
        may be written again: the encoder keeps its own copy)."""
        frame = image if isinstance(image, av.VideoFrame) else video_frame(image)
        frame.pts = self._images
        self._images += 1
        self._mux(self.video.encode(frame))

    def write_audio(self, samples: np.ndarray) -> None:
        """Append mono float samples (±1)."""
        samples = np.asarray(samples, np.float32)
        self._pending.append(samples)
        self._pending_samples += samples.size
        if self._pending_samples >= AUDIO_CHUNK:
            self._encode_pending()

    def _encode_pending(self) -> None:
        if self._pending_samples:
            self._encode_audio(np.concatenate(self._pending))
        self._pending, self._pending_samples = [], 0

    def _encode_audio(self, chunk: np.ndarray) -> None:
        mono = np.clip(chunk, -1.0, 1.0).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(mono, format="fltp", layout="mono")
        frame.sample_rate = self.sr_hz
        frame.pts = self._audio_samples
        frame.time_base = Fraction(1, self.sr_hz)
        self._audio_samples += chunk.size
        self._mux(self.audio.encode(frame))

    def _mux(self, packets) -> None:
        try:
            with self._mux_lock:
                self.container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: Exception) -> MediaError:
        # FFmpeg's own I/O errors (a full disk, a vanished folder) are OSErrors too.
        return write_error(exc, path=self.path, free_at_start=self._free_at_start)

    def close(self) -> None:
        """Flush the encoders and move the finished file into place."""
        self._encode_pending()
        self._mux(self.video.encode(None))
        self._mux(self.audio.encode(None))
        try:
            self.container.close()  # writes what the muxer still holds, and the index
        except (av.error.FFmpegError, OSError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise self._write_error(exc) from None
        if not self.tmp.exists():  # FFmpeg opens the file at the first packet
            raise MediaError("nothing was written: no pictures and no sound", path=self.path)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the file is being thrown away anyway
            self.container.close()
        self.tmp.unlink(missing_ok=True)


class BackgroundWriter:
    """Runs a :class:`MosaicWriter` on two threads of its own, one making (when handed a
    function) and encoding pictures, one encoding sound. Encoding releases the GIL, so it
    overlaps with the caller's engine, and x264 never waits behind the AAC encoder (4 % faster
    renders than one encoding thread, in eight alternating rounds).

    Arrays handed over must not be modified afterwards (pass copies or fresh arrays).
    """

    _STOP = object()

    def __init__(self, writer: MosaicWriter, *, depth: int = 64) -> None:
        self.writer = writer
        self._error: BaseException | None = None
        self._queues: dict[str, queue.Queue] = {}
        self._threads: list[threading.Thread] = []
        for kind in ("image", "audio"):
            self._queues[kind] = queue.Queue(maxsize=depth)
            thread = threading.Thread(
                target=self._run, args=(kind,), name=f"livecat-encoder-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, kind: str) -> None:
        items = self._queues[kind]
        while True:
            data = items.get()
            if data is self._STOP:
                return
            if self._error is not None:
                continue  # drain after a failure
            try:
                if kind == "image":
                    self.writer.write_image(data() if callable(data) else data)
                else:
                    self.writer.write_audio(data)
            except BaseException as exc:
                self._error = exc

    def _put(self, kind: str, item: object) -> None:
        if self._error is not None:
            raise self._error
        self._queues[kind].put(item)

    def write_image(
        self, image: np.ndarray | av.VideoFrame | Callable[[], np.ndarray | av.VideoFrame]
    ) -> None:
        """Queue a picture (see :meth:`MosaicWriter.write_image`), or a function that makes
        one: it is called on the encoding thread, in order."""
        self._put("image", image)

    def write_audio(self, samples: np.ndarray) -> None:
        self._put("audio", samples)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for items in self._queues.values():
            items.put(self._STOP)
        for thread in self._threads:
            thread.join()
        if exc_type is None and self._error is None:
            self.writer.close()
        else:
            self.writer.abort()
            if exc_type is None and self._error is not None:
                raise self._error
