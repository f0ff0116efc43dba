"""Video sinks: where the pictures go besides the window — other software on the same machine.

A sink receives the display's canvas (the letterboxed picture, BGR uint8, without the HUD or
badges: those are for the operator) once per display tick, from the display thread, whether
or not a window is open. It has to return quickly: the display thread also polls keys and
paints the window, so a sink hands the picture to its library and never waits for a
consumer or paces itself (pyvirtualcam's ``sleep_until_next_frame`` would stall the display).

Sinks are found by *kind* ("virtual-camera") in a registry that lists, per kind, the
backends to try in order (pyvirtualcam's own registry is the model): :func:`open_sink` opens
the first that works and, when none does, raises one :class:`~livecat.errors.OutputError`
that says why each failed and how to fix it::

    --virtual-camera: no virtual camera: v4l2loopback: no v4l2loopback device at /dev/video*
    — sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livecat

A sink that raises while the show runs is closed and dropped by :class:`SinkGroup` (one
warning in the log); the window and the other sinks go on.

Adding NDI, Syphon or Spout is one class and one registry entry:

1. a class with the :class:`VideoSink` methods. ``open`` imports its library lazily and
   raises ``OutputError`` with the reason and the fix (``pip install ndi-python``; "no NDI
   runtime: install it from ndi.video"); ``send`` hands the BGR canvas over without waiting
   (NDI: ``send_send_video_async`` with a BGRX frame kept between calls; Syphon on macOS and
   Spout on Windows share a GPU texture: upload the canvas into one texture owned by the sink
   and publish it);
2. ``register_kind("ndi", option="--ndi", missing="no NDI output")`` and
   ``register_backend("ndi", "ndi-python", NdiSink)`` at the end of this module (Syphon and
   Spout would be two backends of one kind, "texture-share", each registered only on its
   platform, as the virtual camera's are);
3. a ``--ndi [NAME]`` flag in :mod:`livecat.cli.output_options` that calls
   ``open_sink("ndi", ..., name=NAME)`` and adds the sink to the display's group.
"""

from __future__ import annotations

import functools
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from livecat.errors import OutputError

log = logging.getLogger(__name__)

CAMERA_SETUP_LINUX = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livecat"
CAMERA_INSTALL = "pip install 'livecat[camera]'"


@runtime_checkable
class VideoSink(Protocol):
    """What the display needs from an output.

    ``name`` is the backend's name ("v4l2loopback"); :meth:`describe` says what is open
    (device, size) for messages and the HUD.
    """

    name: str

    def open(self, width: int, height: int, fps: float) -> None:
        """Open for ``width`` x ``height`` pictures at about ``fps`` per second. Raises
        :class:`~livecat.errors.OutputError` with the reason and its fix."""

    def send(self, canvas_bgr: np.ndarray) -> None:
        """Hand over one picture (height x width x 3, BGR uint8, C-contiguous; the array is
        reused by the display: copy what must outlive the call). Called on the display
        thread at display rate: returns within a millisecond or two."""

    def close(self) -> None:
        """Release the device; safe to call twice, and after a failed :meth:`send`."""

    def describe(self) -> str:
        """One short line: what this sink sends to."""


SinkFactory = Callable[..., VideoSink]


@dataclass
class SinkKind:
    """One kind of output and the backends that can provide it, in the order they are tried.

    ``option`` is how the user asked for it (the prefix of error messages), ``missing`` what
    the error says when no backend works."""

    option: str
    missing: str
    backends: list[tuple[str, SinkFactory]] = field(default_factory=list)


REGISTRY: dict[str, SinkKind] = {}


def register_kind(kind: str, *, option: str, missing: str) -> None:
    """Declare a kind of output (kept, with its backends, if it already exists)."""
    if kind in REGISTRY:
        REGISTRY[kind].option, REGISTRY[kind].missing = option, missing
    else:
        REGISTRY[kind] = SinkKind(option=option, missing=missing)


def register_backend(kind: str, name: str, factory: SinkFactory) -> None:
    """Add a backend to ``kind`` (replacing one of the same name, keeping its place).
    ``factory(**options)`` returns an unopened sink; :func:`open_sink` opens it."""
    backends = REGISTRY[kind].backends
    for i, (existing, _) in enumerate(backends):
        if existing == name:
            backends[i] = (name, factory)
            return
    backends.append((name, factory))


def open_sink(kind: str, *, width: int, height: int, fps: float, **options: Any) -> VideoSink:
    """Open the first of ``kind``'s backends that works.

    Raises
    ------
    OutputError
        When every backend failed: one line naming each backend and why it failed (the
        reasons shared by several backends are said once).
    """
    if kind not in REGISTRY:
        raise OutputError(f"no such output: {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    spec = REGISTRY[kind]
    reasons: dict[str, list[str]] = {}
    for name, factory in spec.backends:
        try:
            sink = factory(**options)
            sink.open(width, height, fps)
        except Exception as exc:  # every backend's own failure, said and then the next
            reason = _one_line(exc)
            reasons.setdefault(reason, []).append(name)
            log.debug("%s: backend %s failed: %r", spec.option, name, exc)
            continue
        log.info("livecat: %s: %s", spec.option, sink.describe())
        return sink
    if not reasons:
        raise OutputError(f"{spec.option}: {spec.missing}: no backend for {platform.system()}")
    said = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
    raise OutputError(f"{spec.option}: {spec.missing}: {said}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class SinkGroup:
    """The display's open sinks. :meth:`send` gives each the canvas; one that raises is
    logged once, closed and dropped, and the show goes on without it."""

    def __init__(self, sinks: list[VideoSink] | None = None) -> None:
        self.sinks: list[VideoSink] = list(sinks or [])
        self.failed: list[str] = []  # what was dropped, and why (for tests and the HUD)

    def add(self, sink: VideoSink) -> None:
        self.sinks.append(sink)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def __len__(self) -> int:
        return len(self.sinks)

    def send(self, canvas_bgr: np.ndarray) -> None:
        if not self.sinks:
            return
        for sink in list(self.sinks):
            try:
                sink.send(canvas_bgr)
            except Exception as exc:  # a device removed mid-show must not end the show
                self._drop(sink, exc)

    def _drop(self, sink: VideoSink, exc: Exception) -> None:
        self.sinks.remove(sink)
        what = _describe(sink)
        self.failed.append(f"{what}: {_one_line(exc)}")
        log.warning(
            "livecat: %s failed: %s: closed it; the show goes on without it", what, _one_line(exc)
        )
        try:
            sink.close()
        except Exception as close_exc:
            log.debug("closing %s after its failure: %r", what, close_exc)

    def describe(self) -> str:
        return "; ".join(_describe(s) for s in self.sinks) or "none"

    def close(self) -> None:
        """Close every sink (errors while closing are logged, not raised: this runs while
        the show ends)."""
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:
                log.warning("livecat: closing %s: %s", _describe(sink), _one_line(exc))


def _describe(sink: VideoSink) -> str:
    try:
        return sink.describe()
    except Exception:
        return getattr(sink, "name", type(sink).__name__)


# -- the virtual camera (pyvirtualcam) ------------------------------------------------------------
class VirtualCameraSink:
    """A virtual camera that other software (OBS, Zoom, Resolume, a browser) picks like a
    webcam: v4l2loopback on Linux, OBS's virtual camera on macOS and Windows, Unity Capture on
    Windows — each through pyvirtualcam (``pip install 'livecat[camera]'``).

    v4l2loopback's device takes I420 (YUV 4:2:0). pyvirtualcam would convert the BGR canvas
    itself, but inside a call that holds the GIL (1-3 ms for a 1080p picture, at display
    rate, while the audio callback waits for the GIL); OpenCV converts into a preallocated
    buffer and lets go of the GIL, so for v4l2loopback the sink converts and pyvirtualcam
    only writes. Other backends (and odd sizes, which I420 cannot hold) get the canvas as
    BGR, its own layout, with no conversion in Python. Nothing paces the sends: the
    display's rate is the camera's rate.

    Parameters
    ----------
    backend : str
        pyvirtualcam's backend name ("v4l2loopback", "obs", "unitycapture").
    device : str, optional
        The device (``/dev/video4``; "OBS Virtual Camera"); the first free one when None.
    """

    def __init__(self, *, backend: str, device: str | None = None) -> None:
        self.name = backend
        self.device = device or None
        self._camera: Any = None
        self._size = (0, 0)
        self._i420: np.ndarray | None = None  # the converted picture, when the sink converts

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
            from pyvirtualcam.camera import BACKENDS
        except ImportError:
            raise OutputError(f"pyvirtualcam is not installed — {CAMERA_INSTALL}") from None
        if self.name not in BACKENDS:
            raise OutputError(
                f"not available here (pyvirtualcam has {', '.join(BACKENDS) or 'no backend'} "
                f"on {platform.system()})"
            )
        convert = self.name == "v4l2loopback" and width % 2 == 0 and height % 2 == 0
        try:
            self._camera = pyvirtualcam.Camera(
                width,
                height,
                fps,
                fmt=pyvirtualcam.PixelFormat.I420 if convert else pyvirtualcam.PixelFormat.BGR,
                device=self.device,
                backend=self.name,
            )
        except Exception as exc:
            raise OutputError(self._reason(exc)) from None
        self._size = (width, height)
        self._i420 = np.zeros((height * 3 // 2, width), np.uint8) if convert else None

    def _reason(self, exc: Exception) -> str:
        """pyvirtualcam's message, shortened to one line, with the fix."""
        text = " ".join(str(exc).split())
        text = text.removeprefix(f"'{self.name}' backend: ")
        low = text.lower()
        device = self.device or "the device"
        if "no v4l2 loopback device found" in low:
            return f"no v4l2loopback device at /dev/video* — {CAMERA_SETUP_LINUX}"
        if "permission" in low:
            return f"{device}: permission denied — sudo usermod -aG video $USER, then log in again"
        if "does not exist" in low:
            return (
                f"{device} does not exist — v4l2-ctl --list-devices lists the loopback "
                f"devices; {CAMERA_SETUP_LINUX}"
            )
        if "not a v4l2 device" in low or "not a video output device" in low:
            return (
                f"{device} is not a v4l2loopback device (a real camera?) — pick the loopback "
                "one from v4l2-ctl --list-devices"
            )
        if self.name == "obs" and "not installed" in low:
            return (
                "the OBS virtual camera is not installed — install OBS Studio and click "
                "'Start Virtual Camera' once"
            )
        return text

    def send(self, canvas_bgr: np.ndarray) -> None:
        if self._camera is None:
            raise OutputError(f"{self.describe()} is closed")
        if self._i420 is not None:
            cv2.cvtColor(canvas_bgr, cv2.COLOR_BGR2YUV_I420, dst=self._i420)
            self._camera.send(self._i420)
        else:
            self._camera.send(canvas_bgr)

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()

    def describe(self) -> str:
        device = self.device
        if self._camera is not None:
            try:
                device = self._camera.device
            except Exception:
                device = self.device
        width, height = self._size
        size = f" {width}x{height}" if width else ""
        return f"virtual camera {device or '(first free)'} ({self.name}){size}"


def _camera_backends() -> list[str]:
    """pyvirtualcam's backends for this platform, in its own order (known without
    importing it, so that a missing pyvirtualcam is reported per backend)."""
    system = platform.system()
    if system == "Linux":
        return ["v4l2loopback"]
    if system == "Darwin":
        return ["obs"]
    if system == "Windows":
        return ["obs", "unitycapture"]
    return []


register_kind("virtual-camera", option="--virtual-camera", missing="no virtual camera")
for _name in _camera_backends():
    register_backend("virtual-camera", _name, functools.partial(VirtualCameraSink, backend=_name))
