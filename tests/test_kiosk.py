"""`livecat live --kiosk` end to end: a real JACK server (dummy backend) and a real X display
(Xvfb, its framebuffer in a file so that the mouse cursor can be seen: X screenshots leave it
out, the framebuffer has it)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import livehelpers
import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus
from livecat.media import decode_audio

SR = 48000
SCREEN = (800, 600)
SCREEN_SIZE = f"{SCREEN[0]}x{SCREEN[1]}"  # as Xvfb takes it
pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("kiosk-corpus")
    return mediagen.notes_corpus(d, seconds=8.0, seed=30, size=(320, 240), name="take.mp4")


def _framebuffer(fbdir: Path) -> np.ndarray:
    width, height = SCREEN
    data = np.fromfile(fbdir / "Xvfb_screen0", np.uint8)
    return data[data.size - width * height * 4 :].reshape(height, width, 4)[..., :3]


class _Xlib:
    """The libX11 calls these tests need beyond livehelpers': moving the pointer, a
    window's size."""

    def __init__(self, display: str) -> None:
        x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        vp, ul, i = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int
        x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype, x11.XDefaultRootWindow.argtypes = ul, [vp]
        x11.XWarpPointer.argtypes = [vp, ul, ul, i, i, ctypes.c_uint, ctypes.c_uint, i, i]
        x11.XGetWindowAttributes.argtypes = [vp, ul, vp]
        x11.XSync.argtypes = [vp, i]
        x11.XCloseDisplay.argtypes = [vp]
        self.x11 = x11
        self.dpy = x11.XOpenDisplay(display.encode())
        assert self.dpy, f"cannot open {display}"

    def warp(self, x: int, y: int) -> None:
        self.x11.XWarpPointer(self.dpy, 0, self.x11.XDefaultRootWindow(self.dpy), 0, 0, 0, 0, x, y)
        self.x11.XSync(self.dpy, 0)

    def size(self, window: int) -> tuple[int, int]:
        attributes = (ctypes.c_int * 64)()  # XWindowAttributes starts with x, y, width, height
        self.x11.XGetWindowAttributes(self.dpy, window, attributes)
        return attributes[2], attributes[3]

    def close(self) -> None:
        self.x11.XCloseDisplay(self.dpy)


def _cursor_pixels(display: str, fbdir: Path, tmp_path: Path, at: tuple[int, int]) -> int:
    """Pixels around ``at`` where the framebuffer differs from a screenshot: the cursor."""
    x, y = at
    shot = livehelpers.screenshot(display, tmp_path / "cursor.png")
    frame = _framebuffer(fbdir)
    region = (slice(max(0, y - 40), y + 40), slice(max(0, x - 40), x + 40))
    diff = np.abs(frame[region].astype(int) - shot[region].astype(int)).max(axis=2)
    return int(np.count_nonzero(diff > 30))


def _wait_for(predicate, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _top_level_size(display: str) -> tuple[int, int]:
    x = livehelpers._X11(display)
    try:
        window = x.find("livecat")
    finally:
        x.close()
    assert window is not None
    xlib = _Xlib(display)
    try:
        return xlib.size(window)
    finally:
        xlib.close()


def _white_in_top_band(display: str, tmp_path: Path) -> float:
    """The HUD's and help's white text (the corpus images' top quarter is coloured)."""
    shot = livehelpers.screenshot(display, tmp_path / "shot.png")
    return float(np.mean(shot[10:140, :500].min(axis=2) > 230))


def _live(corpus_dir: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "livecat", "live", str(corpus_dir), "--kiosk", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kiosk_is_fullscreen_ignores_keys_reopens_hides_the_cursor_logs_and_stops_on_sigterm(
    corpus_dir, tmp_path
):
    livehelpers.skip_without_tools()
    fbdir = tmp_path / "fb"
    server = f"livecat-kiosk-{os.getpid()}"
    center = (SCREEN[0] // 2, SCREEN[1] // 2)
    with (
        livehelpers.jack_server(server) as env,
        livehelpers.xvfb(
            60 + os.getpid() % 50, size=f"{SCREEN[0]}x{SCREEN[1]}", fbdir=fbdir
        ) as display,
    ):
        env = dict(env, DISPLAY=display, XDG_STATE_HOME=str(tmp_path / "state"))
        xlib = _Xlib(display)
        # Control: the check sees the cursor HighGUI's window shows when nothing hides it.
        control = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import cv2, numpy as np\n"
                "cv2.namedWindow('control', cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)\n"
                "cv2.resizeWindow('control', 800, 600)\n"
                "cv2.moveWindow('control', 0, 0)\n"
                "for _ in range(600):\n"
                "    cv2.imshow('control', np.full((600, 800, 3), 128, np.uint8))\n"
                "    cv2.waitKey(50)\n",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: livehelpers.window_exists(display, "control"), "the control window")
            time.sleep(0.5)
            xlib.warp(*center)
            time.sleep(0.5)
            with_cursor = _cursor_pixels(display, fbdir, tmp_path, center)
        finally:
            control.kill()
            control.wait()

        corpus = Corpus.open(corpus_dir)
        cut = decode_audio(corpus.sources[0].path, sr_hz=SR)[SR : 7 * SR]
        live = _live(corpus_dir, env)
        client = livehelpers.PlayRecord(server, cut, record_s=1.0)
        try:
            client.connect_to("PortAudio")
            _wait_for(lambda: livehelpers.window_exists(display, "livecat"), "livecat's window")
            time.sleep(1.0)
            size = _top_level_size(display)
            xlib.warp(*center)
            time.sleep(0.5)
            hidden = _cursor_pixels(display, fbdir, tmp_path, center)  # a still, black picture

            client.play()
            time.sleep(1.5)
            plain = _white_in_top_band(display, tmp_path)
            livehelpers.press_keys(display, "livecat", "dh")
            time.sleep(0.6)
            after_d_h = _white_in_top_band(display, tmp_path)
            corner = livehelpers.screenshot(display, tmp_path / "corner.png")[-30:, -30:]
            livehelpers.press_keys(display, "livecat", "qq", gap_s=0.05)
            livehelpers.press_keys(display, "livecat", "f")  # still fullscreen
            time.sleep(1.5)
            alive_after_keys = live.poll() is None
            size_after_keys = _top_level_size(display)

            assert livehelpers.close_window(display, "livecat")
            time.sleep(1.5)
            alive_after_close = live.poll() is None
            reopened = livehelpers.window_exists(display, "livecat")
            size_after_close = _top_level_size(display) if reopened else (0, 0)

            live.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            _, err = live.communicate(timeout=10)
            stop_s = time.monotonic() - stopped
        finally:
            client.close()
            xlib.close()
            if live.poll() is None:
                live.kill()
                live.communicate()

    assert with_cursor > 20, with_cursor  # the check works: a cursor is seen when shown
    assert hidden == 0, hidden
    assert size == SCREEN and size_after_keys == SCREEN, (size, size_after_keys)
    assert np.median(corner) > 60  # the picture reaches the screen's corner: fullscreen
    assert plain < 0.002 and after_d_h < 0.002, (plain, after_d_h)  # no HUD, no help
    assert alive_after_keys, err
    assert alive_after_close and reopened and size_after_close == SCREEN, err
    assert "the window was closed: reopening it (--kiosk)" in err
    assert live.returncode == 0 and "Traceback" not in err, err
    assert stop_s < 1.0, stop_s
    log = (tmp_path / "state" / "livecat" / "livecat.log").read_text()
    assert f" INFO livecat 0.1.0 started (pid {live.pid}): livecat live {corpus_dir} --kiosk" in log
    assert "reopening it (--kiosk)" in log and "livecat: stopped after" in log


def test_kiosk_waits_for_a_missing_sound_server_and_restarts_with_its_flags(corpus_dir, tmp_path):
    """At boot the sound server may come up after livecat: the window shows INPUT LOST,
    livecat probes every second, and restarts itself — still in kiosk mode — once it is up."""
    livehelpers.skip_without_tools()
    server = f"livecat-kiosk-late-{os.getpid()}"
    log_path = tmp_path / "kiosk.log"
    with livehelpers.xvfb(100 + os.getpid() % 40) as display:
        env = dict(
            os.environ,
            DISPLAY=display,
            JACK_DEFAULT_SERVER=server,
            JACK_NO_START_SERVER="1",
            JACK_NO_AUDIO_RESERVATION="1",
        )
        live = _live(corpus_dir, env, "--log-file", str(log_path))
        try:
            _wait_for(lambda: livehelpers.window_exists(display, "livecat"), "livecat's window")
            _wait_for(lambda: "waiting for the device" in log_path.read_text(), "the wait")
            time.sleep(1.5)
            shot = livehelpers.screenshot(display, tmp_path / "lost.png")
            assert live.poll() is None
            with livehelpers.jack_server(server) as jack_env:
                _wait_for(
                    lambda: log_path.read_text().count(" started (pid ") == 2,
                    "the restart",
                    timeout_s=40,
                )
                import jack

                client = jack.Client("livecat-test", servername=server, no_start_server=True)
                try:
                    _wait_for(
                        lambda: client.get_ports("PortAudio:in", is_input=True),
                        "livecat's JACK ports",
                    )
                finally:
                    client.close()
                assert jack_env["JACK_DEFAULT_SERVER"] == server
                live.send_signal(signal.SIGTERM)
                _, err = live.communicate(timeout=10)
        finally:
            if live.poll() is None:
                live.kill()
                live.communicate()
    badge = shot[10:30, 660:790].reshape(-1, 3)  # the canvas is the screen's size
    assert np.median(badge[:, 2]) > 150 and np.median(badge[:, 0]) < 60  # INPUT LOST, red
    assert live.returncode == 0 and "Traceback" not in err, err
    assert "the audio device is back: restarting" in err
    starts = [line for line in log_path.read_text().splitlines() if " started (pid " in line]
    expected = f"(pid {live.pid}): livecat live {corpus_dir} --kiosk --log-file {log_path}"
    assert len(starts) == 2 and all(line.endswith(expected) for line in starts), starts
