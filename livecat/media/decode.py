"""Reading video and audio files with PyAV.

Everything here raises :class:`~livecat.errors.MediaError` naming the file, never a raw
FFmpeg error, so the corpus builder can skip a broken file with one clear line.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import cv2
import numpy as np

from livecat.errors import MediaError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
    ]
)

# FFmpeg's own chatter stays off (we report errors ourselves), and off at the C level: with any
# log level set, PyAV's callback takes the GIL for every error an FFmpeg thread logs. A decoder
# freed mid-stream (a build stopped by a full disk, a generator dropped) waits for its threads
# while holding the GIL, and one of them logging then waits for the GIL: livecat hung for good.
av.logging.set_level(None)


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds, read from its headers without decoding."""

    path: Path
    duration_s: float
    has_video: bool
    fps: float | None
    width: int | None
    height: int | None
    image_count_estimate: int
    # One short name per audio stream, in order (``#1 eng, 6 ch, ac3``), so a user can tell
    # a film's dubs and commentary apart.
    audio_streams: tuple[str, ...] = ()
    # (channels, rate in Hz) of each audio stream, in the same order.
    audio_formats: tuple[tuple[int, int], ...] = ()

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_formats)


# The steps FFmpeg's autorotate (the ffmpeg and ffplay commands) takes to show a picture
# upright, named as its filters (transpose=..., hflip, vflip), done with OpenCV; each gives
# the very pixels FFmpeg's filter gives (checked against it).
_STEPS = {
    "clock": lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE),
    "cclock": lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE),
    "cclock_flip": cv2.transpose,
    "clock_flip": lambda image: cv2.flip(cv2.transpose(image), -1),
    "hflip": lambda image: cv2.flip(image, 1),
    "vflip": lambda image: cv2.flip(image, 0),
}
_QUARTER_TURNS = frozenset(["clock", "cclock", "cclock_flip", "clock_flip"])


def side_data(frame: av.VideoFrame) -> list[Any]:
    """The side data (``av.sidedata.SideData``) attached to ``frame``, in any PyAV: up to
    18.1.0 iterating the container gives them, from 18.1.1 it gives their types (a mapping's
    keys), and ``values()`` works only in the latter."""
    container = frame.side_data
    return [item if hasattr(item, "type") else container[item] for item in container]


@dataclass(frozen=True)
class Upright:
    """How a decoded picture is turned to stand as players show it.

    Phones store a portrait clip as landscape pictures plus a display matrix saying "turn
    these a quarter"; decoders, PyAV's included, hand out the pictures as stored. Without this
    a performer's phone footage would lie on its side in the corpus.
    """

    steps: tuple[str, ...] = ()

    @property
    def swaps_sides(self) -> bool:
        """True for a quarter turn: the upright picture is as wide as the stored one is high."""
        return any(step in _QUARTER_TURNS for step in self.steps)

    def apply(self, image: np.ndarray) -> np.ndarray:
        for step in self.steps:
            image = _STEPS[step](image)
        return image

    @classmethod
    def of(cls, frame: av.VideoFrame) -> Upright:
        """The turn of ``frame``'s display matrix, decided as FFmpeg's autorotate decides it
        (a quarter turn, with a flip where the matrix mirrors). A matrix that is not a whole
        number of quarter turns (which no camera writes) is left alone."""
        data = next((d for d in side_data(frame) if d.type.name == "DISPLAYMATRIX"), None)
        if data is None or data.buffer_size < 36:
            return cls()
        m = np.frombuffer(bytes(data)[:36], np.int32).astype(np.float64) / 65536.0
        scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
        if scale0 == 0.0 or scale1 == 0.0:
            return cls()
        # av_display_rotation_get(): the counter-clockwise angle. Autorotate turns the picture
        # by its negative, taken into [0, 360).
        counter_clockwise = -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))
        theta = -round(counter_clockwise)
        theta -= 360.0 * math.floor(theta / 360.0 + 0.9 / 360.0)
        if abs(theta - 90.0) < 1.0:
            return cls(("cclock_flip" if m[3] > 0 else "clock",))
        if abs(theta - 180.0) < 1.0:
            flips = (("hflip", m[0] < 0), ("vflip", m[4] < 0))
            return cls(tuple(name for name, flip in flips if flip))
        if abs(theta - 270.0) < 1.0:
            return cls(("clock_flip" if m[3] < 0 else "cclock",))
        if abs(theta) < 1.0 and m[4] < 0:
            return cls(("vflip",))
        return cls()


@dataclass(frozen=True)
class DecodedImage:
    """One decoded video picture, converted to BGR at the corpus size on demand.

    Conversion is left to :meth:`bgr` so it can run on a worker thread (OpenCV and swscale
    release the GIL) while the decoder goes on; BT.601 YUV 4:2:0 pictures convert with OpenCV,
    which is several times faster than a scaled ``to_ndarray(format="bgr24")``, the others
    with swscale, which knows every colour matrix and range.

    Attributes
    ----------
    pts_s : float
        Presentation time in seconds from the file's start.
    pixels : ndarray or av.VideoFrame
        I420 planes stacked, shape (h * 3 // 2, w), or the decoded picture itself.
    layout : {"i420", "frame"}
    size : (width, height)
        The size to scale the stored picture to, before it is turned upright.
    upright : Upright
        How to turn it to stand as players show it.
    """

    pts_s: float
    pixels: np.ndarray | av.VideoFrame
    layout: str
    size: tuple[int, int]
    upright: Upright = Upright()

    def bgr(self) -> np.ndarray:
        image = self.pixels
        if self.layout == "frame":
            # swscale, told the picture's colours as tagged (PyAV passes the matrix on by
            # itself, not the range).
            image = image.to_ndarray(
                width=self.size[0],
                height=self.size[1],
                format="bgr24",
                interpolation="AREA",
                src_color_range=image.color_range or None,
                threads=1,  # the build runs one conversion per core already
            )
        else:
            h, w = image.shape[0] * 2 // 3, image.shape[1]
            if (w, h) != self.size and self.size[0] % 2 == 0 == self.size[1] % 2:
                image = _scale_i420(image, width=w, height=h, size=self.size)
            image = cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420)
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        return self.upright.apply(image)


def _scale_i420(
    planes: np.ndarray, *, width: int, height: int, size: tuple[int, int]
) -> np.ndarray:
    """Scale stacked I420 planes before colour conversion: converting the smaller picture
    costs a fraction of converting the decoder's full-size one."""
    new_w, new_h = size
    y = planes[:height]
    chroma = planes[height:].reshape(2, height // 2, width // 2)
    out = np.empty((new_h * 3 // 2, new_w), np.uint8)
    cv2.resize(y, (new_w, new_h), dst=out[:new_h], interpolation=cv2.INTER_AREA)
    scaled = out[new_h:].reshape(2, new_h // 2, new_w // 2)
    for plane in range(2):
        scaled[plane] = cv2.resize(
            chroma[plane], (new_w // 2, new_h // 2), interpolation=cv2.INTER_AREA
        )
    return out


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaError("no such file", path=path)
    if not os.access(path, os.R_OK):
        raise MediaError("permission denied", path=path)
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)", path=path)
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable media file ({_reason(exc)})", path=path) from exc
    except OSError as exc:
        raise MediaError(f"cannot open ({exc.strerror or exc})", path=path) from exc


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0]


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a file's streams and duration from its headers."""
    path = Path(path)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        duration_s = 0.0
        if container.duration is not None:
            duration_s = container.duration / av.time_base
        elif video is not None and video.duration is not None and video.time_base:
            duration_s = float(video.duration * video.time_base)
        fps = None
        count = 0
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = float(rate) if rate else None
            count = video.frames or int(round(duration_s * (fps or 25.0)))
        return MediaInfo(
            path=path,
            duration_s=duration_s,
            has_video=video is not None,
            fps=fps,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            image_count_estimate=count,
            audio_streams=tuple(
                _audio_stream_name(number, stream)
                for number, stream in enumerate(container.streams.audio)
            ),
            audio_formats=tuple(
                (s.codec_context.channels or 0, s.codec_context.sample_rate or 0)
                for s in container.streams.audio
            ),
        )


def check_audio_stream(path: Path, stream: int, *, count: int) -> None:
    """Raise the one-line error for an audio stream number a file with ``count`` lacks."""
    if not 0 <= stream < count:
        numbers = "#0" if count == 1 else f"#0-#{count - 1}"
        raise MediaError(f"no audio stream #{stream}: the file has {count} ({numbers})", path=path)


def _audio_stream_name(number: int, stream: av.audio.stream.AudioStream) -> str:
    parts = [stream.language] if stream.language else []
    channels = stream.codec_context.channels
    parts += [f"{channels} ch" if channels else "", stream.codec_context.name]
    return f"#{number} " + ", ".join(p for p in parts if p)


def fit_size(width: float, height: float, *, max_side: int) -> tuple[int, int]:
    """Scale (width, height) so the longer side is at most ``max_side``, keeping the aspect;
    both results even (what H.264 and most scalers want)."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


# Colour matrices OpenCV's I420 conversion (BT.601, limited range) decodes as FFmpeg does:
# BT.601 under either of its names, and untagged, which FFmpeg takes for BT.601 too.
_BT601_OR_UNTAGGED = frozenset([2, 5, 6])  # AVCOL_SPC_UNSPECIFIED, _BT470BG, _SMPTE170M
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def _opencv_converts_as_ffmpeg(frame: av.VideoFrame) -> bool:
    """Whether OpenCV (3x faster than swscale here) gives this picture the colours FFmpeg,
    and so every player, gives it. Not for BT.709, which nearly all HD cameras tag: read as
    BT.601 its 75 % yellow bar comes out (7, 203, 190) in BGR instead of (0, 190, 190)."""
    return (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0 == frame.height % 2
        and frame.colorspace in _BT601_OR_UNTAGGED
        and frame.color_range != _FULL_RANGE
    )


def _pixel_aspect(stream: av.video.stream.VideoStream) -> float:
    """Width of one of the stream's pixels as shown, in heights: 64/45 for a 16:9 PAL DVD's
    720x576; 1 where the file says nothing (or something absurd)."""
    ratio = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    aspect = float(ratio) if ratio else 1.0
    return aspect if 0.25 <= aspect <= 4.0 else 1.0


def iter_images(path: str | os.PathLike[str], *, max_side: int) -> Iterator[DecodedImage]:
    """Decode every picture of the first video stream in presentation order, scaled down so the
    longer side is at most ``max_side`` pixels.

    Uses the presentation timestamp of each picture, so variable-frame-rate files keep their
    real timing. Pictures come out as players show them: upright (:class:`Upright`) and,
    where pixels are not square (DV, DVD, anamorphic HD), at the shown aspect. A file that
    breaks off mid-stream yields what could be decoded and then raises :class:`MediaError`.
    """
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream", path=path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size: tuple[int, int] | None = None
        upright = Upright()
        previous_s: float | None = None
        step_s = 1.0 / float(stream.average_rate or 25)
        start_s = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        try:
            for frame in container.decode(stream):
                if size is None:
                    shown_width = frame.width * _pixel_aspect(stream)
                    size = fit_size(shown_width, frame.height, max_side=max_side)
                    upright = Upright.of(frame)
                if frame.pts is not None:
                    pts_s = float(frame.pts * frame.time_base) - start_s
                else:
                    pts_s = 0.0 if previous_s is None else previous_s + step_s
                if previous_s is not None and pts_s <= previous_s:
                    continue  # duplicate or out-of-order timestamp: keep the first
                previous_s = pts_s
                if _opencv_converts_as_ffmpeg(frame):
                    yield DecodedImage(pts_s, frame.to_ndarray(), "i420", size, upright)
                else:
                    yield DecodedImage(pts_s, frame, "frame", size, upright)
        except av.error.FFmpegError as exc:
            raise MediaError(f"video stream broke off ({_reason(exc)})", path=path) from exc


def decode_audio(
    path: str | os.PathLike[str],
    *,
    sr_hz: int,
    align_to_video: bool = True,
    stream: int = 0,
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """Decode audio stream number ``stream`` (counting audio streams only, as FFmpeg's
    ``-map 0:a:N`` does) to mono float32 at ``sr_hz``: FFmpeg's own downmix, or the sum of
    ``channels`` (1-based, as ``--input-channels`` sums a device's), so a multitrack
    recording of a show's interface rehearses with the channels the show will use.

    Sample 0 is aligned with the video's first presentation time (``align_to_video``) or the
    file's start, padding with silence or trimming a codec's priming samples as needed, so
    ``round(pts_s * sr_hz)`` indexes the sound heard with a picture.
    """
    path = Path(path)
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio stream", path=path)
        check_audio_stream(path, stream, count=len(container.streams.audio))
        chosen = container.streams.audio[stream]
        origin_s = 0.0
        video = container.streams.video[0] if container.streams.video else None
        if align_to_video and video is not None and video.start_time is not None:
            origin_s = float(video.start_time * video.time_base)
        picks = [c - 1 for c in channels] if channels else None
        resampler: av.AudioResampler | None = None
        duration_s = float(container.duration / av.time_base) if container.duration else 60.0
        samples = _Samples(expected=int((duration_s + 1.0) * sr_hz))

        def keep(out: av.AudioFrame) -> None:
            data = out.to_ndarray()  # (channels, n) planar, or (1, n) mono
            samples.append(data.reshape(-1) if picks is None else data[picks].sum(axis=0))

        try:
            for frame in container.decode(chosen):
                if resampler is None:
                    first_s = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                    samples.shift(int(round((first_s - origin_s) * sr_hz)))
                    if picks is None:
                        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr_hz)
                    else:
                        have = frame.layout.nb_channels
                        if max(picks) >= have or min(picks) < 0:
                            raise MediaError(
                                f"channels {','.join(map(str, channels))} asked for, but audio "
                                f"stream #{stream} has {have}",
                                path=path,
                            )
                        resampler = av.AudioResampler(
                            format="fltp", layout=frame.layout, rate=sr_hz
                        )
                for out in resampler.resample(frame):
                    keep(out)
            if resampler is not None:
                for out in resampler.resample(None):
                    keep(out)
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio stream broke off ({_reason(exc)})", path=path) from exc
        if samples.decoded == 0:
            raise MediaError("audio stream holds no samples", path=path)
        return samples.result()


class _Samples:
    """Decoded sound gathered in one growing array: a list of chunks joined at the end held an
    hour's target (0.7 GB of float32) two or three times over while it was decoded."""

    def __init__(self, *, expected: int) -> None:
        self.data = np.empty(max(expected, 1 << 16), np.float32)
        self.size = 0
        self.decoded = 0  # samples the decoder gave, before any were dropped
        self._drop = 0  # samples still to drop from the front

    def shift(self, samples: int) -> None:
        """Start with ``samples`` of silence, or (if negative) drop that many decoded ones:
        sample 0 is then the chosen origin (a video's first picture, or the file's start)."""
        if samples > 0:
            self.append(np.zeros(samples, np.float32))
            self.decoded = 0
        else:
            self._drop = -samples

    def append(self, chunk: np.ndarray) -> None:
        self.decoded += chunk.size
        if self._drop:
            dropped = min(self._drop, chunk.size)
            chunk, self._drop = chunk[dropped:], self._drop - dropped
        end = self.size + chunk.size
        if end > self.data.size:
            grown = np.empty(max(end, self.data.size * 3 // 2), np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = chunk
        self.size = end

    def result(self) -> np.ndarray:
        """The samples; copied only when the estimate left much unused room."""
        if self.data.size > self.size + self.size // 8 + (1 << 16):
            return self.data[: self.size].copy()
        return self.data[: self.size]


def rate_fraction(fps: float) -> Fraction:
    """A frame rate as an exact fraction (29.97 → 30000/1001)."""
    for denominator in (1, 1001):
        numerator = fps * denominator
        if abs(numerator - round(numerator)) < 1e-3 * denominator:
            return Fraction(int(round(numerator)), denominator)
    return Fraction(fps).limit_denominator(1001)
