"""Video sinks (the virtual camera and its registry), the display feeding them with or without
a window, kiosk keys, and the log file — without a sound server or a display."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import types
from pathlib import Path

import cv2
import livehelpers
import mediagen
import numpy as np
import pytest

from livecat.cli import logfile
from livecat.corpus import Corpus
from livecat.errors import OutputError
from livecat.live import LivePlayer, LiveSettings
from livecat.media.images import letterbox
from livecat.output import sinks as sinks_module
from livecat.output.display import Display, DisplaySettings
from livecat.output.sinks import SinkGroup, open_sink, register_backend, register_kind
from livecat.synthesis import EngineSettings

SR = 48000


@pytest.fixture(scope="module")
def corpus(notes_corpus: Corpus) -> Corpus:
    return notes_corpus


@pytest.fixture(scope="module")
def input_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sinks-in") / "in.wav"
    mediagen.write_audio(path, mediagen.varied_notes(1.5, seed=3), sr_hz=SR)
    return path


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the sink registry: kinds registered by a test vanish after it."""
    monkeypatch.setattr(sinks_module, "REGISTRY", dict(sinks_module.REGISTRY))
    return sinks_module.REGISTRY


class FakeSink:
    """Records what it is sent (copies: the display reuses its canvas), with the entry and
    brightness the display showed at that moment; can be told to fail."""

    def __init__(self, *, display: Display | None = None, fail_after: int | None = None):
        self.name = "fake"
        self.display = display
        self.fail_after = fail_after
        self.size: tuple[int, int, float] | None = None
        self.frames: list[tuple[np.ndarray, int, float]] = []
        self.closed = 0

    def open(self, width: int, height: int, fps: float) -> None:
        self.size = (width, height, fps)

    def send(self, canvas_bgr: np.ndarray) -> None:
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            raise OSError("No such device")  # as a write to an unplugged device says
        # (deck, entry, brightness, blackout, fading deck and entry, fade progress)
        drawn = self.display._drawn if self.display else None
        entry, brightness = drawn[1:3] if drawn else (-1, 1.0)
        self.frames.append((canvas_bgr.copy(), entry, brightness))

    def close(self) -> None:
        self.closed += 1

    def describe(self) -> str:
        return "fake sink"


class Refusing:
    def __init__(self, reason: str, **options) -> None:
        self.name = "refusing"
        self.reason = reason

    def open(self, width: int, height: int, fps: float) -> None:
        raise OutputError(self.reason)


def test_without_a_virtual_camera_the_error_names_each_backend_why_and_the_fix():
    pytest.importorskip("pyvirtualcam")
    if sys.platform != "linux":
        pytest.skip("the message checked here is v4l2loopback's (Linux)")
    try:
        sink = open_sink("virtual-camera", width=320, height=240, fps=30)
    except OutputError as exc:
        message = str(exc)
    else:  # pragma: no cover - a machine with v4l2loopback loaded
        sink.close()
        pytest.skip("a v4l2loopback device exists here: nothing fails")
    assert message.startswith("--virtual-camera: no virtual camera: v4l2loopback: ")
    assert "no v4l2loopback device at /dev/video*" in message
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in message
    assert "\n" not in message and isinstance(OutputError(message), OSError)


def test_a_named_device_that_is_missing_is_said_so():
    pytest.importorskip("pyvirtualcam")
    if sys.platform != "linux":
        pytest.skip("v4l2loopback devices are Linux's")
    with pytest.raises(OutputError, match=r"v4l2loopback: /dev/video97 does not exist — v4l2-ctl"):
        open_sink("virtual-camera", width=320, height=240, fps=30, device="/dev/video97")


@pytest.fixture
def fake_pyvirtualcam(monkeypatch):
    """Just enough of pyvirtualcam: records what is opened and sent, and fails the test if
    the display thread is ever paced by it."""
    record: dict = {"sent": []}

    class Camera:
        def __init__(self, width, height, fps, *, fmt, device, backend):
            record.update(width=width, height=height, fps=fps, fmt=fmt, device=device)
            record["backend"] = backend
            self.device = device or "/dev/video7"

        def send(self, frame):
            record["sent"].append(frame)

        def sleep_until_next_frame(self):
            raise AssertionError("the display thread must not be paced by the camera")

        def close(self):
            record["closed"] = True

    fake = types.ModuleType("pyvirtualcam")
    fake.Camera = Camera
    fake.PixelFormat = types.SimpleNamespace(BGR="BGR", RGB="RGB", I420="I420")
    fake_camera = types.ModuleType("pyvirtualcam.camera")
    fake_camera.BACKENDS = {"v4l2loopback": object, "obs": object, "unitycapture": object}
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    monkeypatch.setitem(sys.modules, "pyvirtualcam.camera", fake_camera)
    return record


def test_the_virtual_camera_is_sent_each_picture_without_being_paced(fake_pyvirtualcam):
    record = fake_pyvirtualcam
    sink = open_sink("virtual-camera", width=64, height=48, fps=60.0)
    assert record["device"] is None
    assert (record["width"], record["height"], record["fps"]) == (64, 48, 60.0)
    assert sink.describe() == f"virtual camera /dev/video7 ({record['backend']}) 64x48"
    canvas = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    sink.send(canvas)
    sink.send(canvas)
    first, second = record["sent"]
    if record["backend"] == "v4l2loopback":
        # The device's own I420, converted by OpenCV (which lets go of the GIL) into one
        # buffer reused for every picture; pyvirtualcam only writes it.
        assert record["fmt"] == "I420" and first is second
        np.testing.assert_array_equal(first, cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420))
    else:
        assert record["fmt"] == "BGR" and first is canvas  # the canvas itself
    sink.close()
    sink.close()
    assert record["closed"]
    with pytest.raises(OutputError, match="is closed"):
        sink.send(canvas)
    named = open_sink("virtual-camera", width=63, height=47, fps=60.0, device="/dev/video4")
    assert record["device"] == "/dev/video4" and "/dev/video4" in named.describe()
    assert record["fmt"] == "BGR"  # I420 cannot hold odd sizes: BGR, converted by the backend
    odd = np.zeros((47, 63, 3), np.uint8)
    named.send(odd)
    assert record["sent"][-1] is odd


def test_without_pyvirtualcam_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails
    with pytest.raises(OutputError) as error:
        open_sink("virtual-camera", width=320, height=240, fps=30)
    message = str(error.value)
    assert "pyvirtualcam is not installed — pip install 'livecat[camera]'" in message
    backends = [name for name, _ in sinks_module.REGISTRY["virtual-camera"].backends]
    assert message.startswith(f"--virtual-camera: no virtual camera: {', '.join(backends)}: ")


def test_the_registry_tries_each_backend_in_order_and_reports_every_reason(registry):
    register_kind("test-out", option="--test-out", missing="no test output")
    register_backend("test-out", "alpha", lambda **o: Refusing("library missing — pip it", **o))
    register_backend("test-out", "beta", lambda **o: Refusing("no receiver", **o))
    register_backend("test-out", "gamma", lambda **o: Refusing("library missing — pip it", **o))
    with pytest.raises(OutputError) as error:
        open_sink("test-out", width=8, height=6, fps=10, colour="red")
    assert str(error.value) == (
        "--test-out: no test output: alpha, gamma: library missing — pip it; beta: no receiver"
    )
    register_backend("test-out", "delta", FakeSink)
    sink = open_sink("test-out", width=8, height=6, fps=10)
    assert isinstance(sink, FakeSink) and sink.size == (8, 6, 10)
    assert isinstance(sink, sinks_module.VideoSink)
    with pytest.raises(OutputError, match="no such output: 'nope'"):
        open_sink("nope", width=8, height=6, fps=10)


def _player(corpus: Corpus, input_wav: Path) -> LivePlayer:
    settings = LiveSettings(input_file=input_wav, silent=True, grains=False)
    return LivePlayer(corpus, engine_settings=EngineSettings(), settings=settings)


def _show(display: Display) -> None:
    display.player.start()
    try:
        display.run()
    finally:
        display.player.stop()


def test_headless_display_draws_and_sends_each_tick_the_canvas_of_the_entry_shown(
    corpus, input_wav, registry
):
    """'With or without the window': headless, the canvas is still drawn for the sinks, at
    the display's rate, and it is the letterboxed image of the entry on show (the gate holds
    the image by default: full brightness)."""
    player = _player(corpus, input_wav)
    display = Display(corpus, player, settings=DisplaySettings(headless=True, fps=30.0))
    register_kind("test-out", option="--test-out", missing="no test output")
    register_backend("test-out", "fake", FakeSink)
    width, height = display.size
    sink = open_sink("test-out", width=width, height=height, fps=30.0, display=display)
    display.sinks.add(sink)
    _show(display)
    assert sink.size == (160, 120, 30.0)
    assert len(sink.frames) >= 30  # 1.5 s at 30 per second, one per tick
    entries = {entry for _, entry, _ in sink.frames}
    assert len(entries - {-1}) >= 3, entries  # the picture followed the input
    for canvas, entry, brightness in sink.frames[:: max(1, len(sink.frames) // 12)]:
        assert canvas.shape == (height, width, 3) and canvas.dtype == np.uint8
        if entry < 0:
            assert not canvas.any()
        else:
            expected = letterbox(
                corpus.image(entry), width=width, height=height, brightness=brightness
            )
            np.testing.assert_array_equal(canvas, expected)
    assert sink.closed == 0  # the display does not close what the CLI opened


def test_a_sink_that_fails_mid_show_is_logged_once_closed_dropped_and_the_show_goes_on(
    corpus, input_wav, caplog
):
    player = _player(corpus, input_wav)
    display = Display(corpus, player, settings=DisplaySettings(headless=True, fps=30.0))
    failing = FakeSink(display=display, fail_after=5)
    healthy = FakeSink(display=display)
    display.sinks.add(failing)
    display.sinks.add(healthy)
    with caplog.at_level(logging.WARNING, logger="livecat"):
        _show(display)
    assert len(failing.frames) == 5 and failing.closed == 1
    assert len(healthy.frames) >= 30  # kept receiving until the input's end
    assert player.finished  # the show ended by itself, at the end of the input
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "livecat: fake sink failed: No such device: closed it; the show goes on without it"
    ]
    assert display.sinks.failed == ["fake sink: No such device"]
    assert display.sinks.describe() == "fake sink"
    assert any(line.startswith("out: fake sink   1 failed") for line in display.hud_lines())


def test_closing_the_group_closes_every_sink_and_survives_a_failing_close(caplog):
    class BadClose(FakeSink):
        def close(self) -> None:
            raise OSError("busy")

    good, bad = FakeSink(), BadClose()
    group = SinkGroup([bad, good])
    with caplog.at_level(logging.WARNING, logger="livecat"):
        group.close()
    assert good.closed == 1 and not group
    assert "livecat: closing fake sink: busy" in caplog.text


def test_virtual_camera_cli_error_is_one_line_and_nothing_runs(corpus, input_wav):
    pytest.importorskip("pyvirtualcam")
    if sys.platform != "linux":
        pytest.skip("the message checked here is v4l2loopback's (Linux)")
    result = livehelpers.run_livecat(
        "live", str(corpus.path), "--input-file", str(input_wav), "--headless", "--virtual-camera"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("livecat: --virtual-camera: no virtual camera: v4l2loopback: ")
    assert "entry" not in result.stdout  # the show did not start


def test_kiosk_ignores_every_key(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    display = Display(corpus, player, settings=DisplaySettings(headless=True, kiosk=True))
    for key in "dhqqf b g-=":
        display.handle_key(ord(key))
    display.handle_key(27)  # Esc
    assert not (display.hud or display.help or display.stop_requested)
    assert not (display.frozen or display.blackout or player.muted)
    assert player.wet == 1.0


def test_the_log_file_gets_every_stderr_line_with_a_timestamp_and_a_start_line(
    tmp_path, monkeypatch, capsys
):
    path = tmp_path / "logs" / "livecat.log"
    root = logging.getLogger()
    before = list(root.handlers)
    monkeypatch.setattr(sys, "argv", ["livecat", "live", "corpus", "--kiosk"])
    try:
        assert logfile.log_to_file(path) == path
        print("livecat: audio input lost: retrying every second", file=sys.stderr)
        sys.stderr.write("partial ")
        sys.stderr.write("line\n")
        logging.getLogger("livecat.output.sinks").warning("livecat: a warning")
    finally:
        handlers = [h for h in root.handlers if h not in before]
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        if isinstance(sys.stderr, logfile.StderrToLog):
            monkeypatch.setattr(sys, "stderr", sys.stderr.stream)
    lines = path.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    assert lines[0].split(" INFO ")[1].startswith("livecat 0.1.0 started (pid ")
    assert lines[0].endswith("): livecat live corpus --kiosk")
    assert [line.split(" ", 3)[3] for line in lines[1:]] == [
        "livecat: audio input lost: retrying every second",
        "partial line",
        "livecat: a warning",
    ]
    assert all(re.match(stamp, line) for line in lines)
    assert "retrying every second" in capsys.readouterr().err  # stderr still has it
    handler = next(h for h in handlers if isinstance(h, logging.handlers.RotatingFileHandler))
    assert handler.maxBytes == 1 << 20 and handler.backupCount == 4


def test_kiosk_logs_to_the_xdg_state_directory_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert logfile.default_log_path() == tmp_path / "state" / "livecat" / "livecat.log"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert logfile.default_log_path() == tmp_path / ".local/state/livecat/livecat.log"


def test_an_unwritable_log_file_is_a_one_line_error(corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = livehelpers.run_livecat(
        "live",
        str(corpus.path),
        "--headless",
        "--log-file",
        str(blocker / "livecat.log"),  # under a file: cannot exist
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"livecat: --log-file {blocker / 'livecat.log'}: cannot write")
    assert len(result.stderr.splitlines()) == 1
