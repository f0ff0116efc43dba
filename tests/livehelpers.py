"""A real audio server (JACK, dummy backend) and a real display (Xvfb) for the live tests and
benchmarks, plus a JACK client that plays a sound into livecat and records what comes out."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SR = 48000
PERIOD = 256


# A subprocess environment with no sound server to find: livecat sees no audio devices.
NO_SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "JACK_NO_START_SERVER": "1",
    "JACK_DEFAULT_SERVER": "no-such-server",
}


def run_livecat(
    *args: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 60,
    max_file_bytes: int | None = None,
):
    """``python -m livecat ARGS`` in a child process, with no sound server to find.

    ``max_file_bytes`` stands in for a full disk: no file the child writes may grow past it
    (``RLIMIT_FSIZE``; a write past it fails with EFBIG). The child then writes no bytecode:
    a ``.pyc`` cut short at the limit (one short write, which the importer does not check)
    would break every later run."""
    env = dict(NO_SERVER_ENV if env is None else env)
    limit = None
    if max_file_bytes is not None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "livecat", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        preexec_fn=limit,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit status 2, the last ``livecat:`` line starts with ``message``, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("livecat:")]
    assert lines and lines[-1].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def missing_tools() -> list[str]:
    return [t for t in ("jackd", "Xvfb", "import") if shutil.which(t) is None]


def skip_without_tools() -> None:
    """Skip the calling test when the audio server, the X server or the screenshot tool is
    missing (``make test`` installs them on Debian)."""
    import pytest

    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (installed by `make test` on Debian)")


@contextmanager
def jack_server(name: str, *, period: int = PERIOD, realtime: bool = False):
    """``jackd --no-realtime -d dummy`` (``-R`` with ``realtime``: SCHED_FIFO, as a real
    rig runs it) under its own server name; yields the environment that points PortAudio and
    JACK clients at it."""
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    mode = "-R" if realtime else "--no-realtime"
    proc = subprocess.Popen(
        ["jackd", mode, "-n", name, "-d", "dummy", "-r", str(SR), "-p", str(period)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import jack

        deadline = time.monotonic() + 10
        while True:
            try:
                jack.Client("livecat-probe", servername=name, no_start_server=True).close()
                break
            except jack.JackOpenError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"jackd did not start: {proc.stderr.read()}") from None
                time.sleep(0.2)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a hung server must not hide what went wrong
            proc.kill()
            proc.wait()


@contextmanager
def xvfb(display: int, *, size: str = "800x600", fbdir: Path | None = None):
    """Xvfb on the first free display from ``:display`` on; yields its name (``":N"``).
    With ``fbdir`` its screen is also the file ``fbdir/Xvfb_screen0`` (XWD: a header, then
    BGRX pixels), cursor included, which screenshots leave out.

    A display is free when neither its lock file nor its socket exists: an X server killed
    without cleaning up leaves both, and a socket already there would look like ours at once.
    (Letting Xvfb pick with ``-displayfd``, or waiting on its lock file, made one window test
    fail 8 times in 28 under load, for reasons not found: otherwise this starts and waits for
    Xvfb exactly as that test was measured with.)"""
    number = next(
        (
            n
            for n in range(display, display + 200)
            if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
        ),
        None,
    )
    if number is None:
        raise RuntimeError(f"no free X display from :{display} to :{display + 199}")
    command = ["Xvfb", f":{number}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"]
    if fbdir is not None:
        fbdir.mkdir(parents=True, exist_ok=True)
        command += ["-fbdir", str(fbdir)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if proc.poll() is not None:
                raise RuntimeError(f"Xvfb :{number} exited at start (status {proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb :{number} did not start")
            time.sleep(0.1)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def screenshot(display: str, path: Path) -> np.ndarray:
    import cv2

    subprocess.run(
        ["import", "-display", display, "-window", "root", str(path)], check=True, timeout=20
    )
    return cv2.imread(str(path))


class PlayRecord:
    """A JACK client: plays ``sound`` into livecat's input once started, records livecat's
    first output port all along (from the moment it connects), and counts the server's
    xruns meanwhile (:attr:`xruns`)."""

    def __init__(self, server: str, sound: np.ndarray, *, record_s: float) -> None:
        import jack

        self.client = jack.Client("livecat-test", servername=server, no_start_server=True)
        self.out = self.client.outports.register("out")
        self.inp = self.client.inports.register("in")
        self.sound = np.asarray(sound, np.float32)
        self.recorded = np.zeros(int(record_s * SR), np.float32)
        self.rec_pos = 0
        self.play_pos = -1  # -1: not started
        self.play_started_frame = -1
        self.play_started_rec = -1  # rec_pos when playing started: same clock as recorded
        self.first_frame = -1
        # Where in each cycle this client finished (frames since the cycle began), a ring.
        self.finished_at = np.zeros(1 << 15, np.int64)
        self.cycles = 0
        self.lock = threading.Lock()
        self.xruns = 0
        self.xrun_times: list[float] = []  # time.monotonic() of each
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1
        self.xrun_times.append(time.monotonic())

    def _process(self, frames: int) -> None:
        if self.first_frame < 0:
            self.first_frame = self.client.last_frame_time
        buf = self.out.get_array()
        buf[:] = 0.0
        if self.play_pos >= 0:
            if self.play_started_frame < 0:
                self.play_started_frame = self.client.last_frame_time
                self.play_started_rec = self.rec_pos
            n = max(0, min(frames, self.sound.size - self.play_pos))
            buf[:n] = self.sound[self.play_pos : self.play_pos + n]
            self.play_pos += frames
        n = min(frames, self.recorded.size - self.rec_pos)
        if n > 0:
            self.recorded[self.rec_pos : self.rec_pos + n] = self.inp.get_array()[:n]
            self.rec_pos += n
        self.finished_at[self.cycles % self.finished_at.size] = self.client.frames_since_cycle_start
        self.cycles += 1

    def connect_to(self, prefix: str = "PortAudio", timeout_s: float = 20.0) -> None:
        """Wait for livecat's ports to appear; wire our output to its input and its first
        output to our input (dropping its automatic links to the dummy system ports)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ins = self.client.get_ports(f"{prefix}:in", is_audio=True, is_input=True)
            outs = self.client.get_ports(f"{prefix}:out", is_audio=True, is_output=True)
            if ins and outs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("livecat's JACK ports did not appear")
            time.sleep(0.1)
        for port in ins:
            for other in self.client.get_all_connections(port):
                self.client.disconnect(other, port)
        self.client.connect(self.out, ins[0])
        self.client.connect(outs[0], self.inp)

    def play(self) -> None:
        self.play_pos = 0

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class _X11:
    """The few libX11 calls the live tests need, through ctypes (no extra tools)."""

    def __init__(self, display: str) -> None:
        import ctypes
        import ctypes.util

        self.ct = ctypes
        x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
        vp, ul = ctypes.c_void_p, ctypes.c_ulong
        for name, restype, argtypes in (
            ("XOpenDisplay", vp, [ctypes.c_char_p]),
            ("XDefaultRootWindow", ul, [vp]),
            ("XInternAtom", ul, [vp, ctypes.c_char_p, ctypes.c_int]),
            ("XQueryTree", ctypes.c_int, [vp, ul, vp, vp, vp, vp]),
            ("XFetchName", ctypes.c_int, [vp, ul, vp]),
            ("XSendEvent", ctypes.c_int, [vp, ul, ctypes.c_int, ctypes.c_long, vp]),
            ("XStringToKeysym", ul, [ctypes.c_char_p]),
            ("XKeysymToKeycode", ctypes.c_ubyte, [vp, ul]),
            ("XFree", ctypes.c_int, [vp]),
            ("XFlush", ctypes.c_int, [vp]),
            ("XCloseDisplay", ctypes.c_int, [vp]),
        ):
            getattr(x11, name).restype = restype
            getattr(x11, name).argtypes = argtypes
        self.x11 = x11
        self.dpy = x11.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {display}")

    def close(self) -> None:
        self.x11.XCloseDisplay(self.dpy)

    def find(self, name: str, window: int | None = None) -> int | None:
        """The first window (depth first from the root) whose title is ``name``."""
        ct, x11 = self.ct, self.x11
        if window is None:
            window = x11.XDefaultRootWindow(self.dpy)
        title = ct.c_char_p()
        if x11.XFetchName(self.dpy, window, ct.byref(title)) and title.value:
            found = title.value.decode() == name
            x11.XFree(title)
            if found:
                return window
        root, parent = ct.c_ulong(), ct.c_ulong()
        children, count = ct.POINTER(ct.c_ulong)(), ct.c_uint()
        if not x11.XQueryTree(
            self.dpy, window, ct.byref(root), ct.byref(parent),
            ct.byref(children), ct.byref(count),
        ):  # fmt: skip
            return None
        try:
            for i in range(count.value):
                hit = self.find(name, children[i])
                if hit is not None:
                    return hit
        finally:
            if children:
                x11.XFree(children)
        return None

    def send(self, window: int, event) -> None:
        self.x11.XSendEvent(self.dpy, window, 1, 0, self.ct.byref(event))
        self.x11.XFlush(self.dpy)


def close_window(display: str, name: str) -> bool:
    """Ask the top-level window called ``name`` to close, as a window manager does (a
    WM_DELETE_WINDOW client message). Returns whether such a window was found."""
    import ctypes

    class ClientMessage(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
            ("pad", ctypes.c_long * 12),  # XEvent is 24 longs
        ]

    x = _X11(display)
    try:
        window = x.find(name)
        if window is None:
            return False
        event = ClientMessage()
        event.type = 33  # ClientMessage
        event.window = window
        event.message_type = x.x11.XInternAtom(x.dpy, b"WM_PROTOCOLS", 0)
        event.format = 32
        event.data[0] = x.x11.XInternAtom(x.dpy, b"WM_DELETE_WINDOW", 0)
        x.send(window, event)
        return True
    finally:
        x.close()


def press_keys(display: str, name: str, keys: str, *, gap_s: float = 0.15) -> bool:
    """Type ``keys`` (characters such as "q", "d", " ") into the window called ``name``
    with synthetic key events. Returns whether such a window was found."""
    import ctypes

    class KeyEvent(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("root", ctypes.c_ulong),
            ("subwindow", ctypes.c_ulong),
            ("time", ctypes.c_ulong),
            ("x", ctypes.c_int),
            ("y", ctypes.c_int),
            ("x_root", ctypes.c_int),
            ("y_root", ctypes.c_int),
            ("state", ctypes.c_uint),
            ("keycode", ctypes.c_uint),
            ("same_screen", ctypes.c_int),
            ("pad", ctypes.c_long * 12),
        ]

    names = {" ": b"space", "-": b"minus", "=": b"equal"}
    x = _X11(display)
    try:
        window = x.find(name)
        if window is None:
            return False
        for key in keys:
            keysym = x.x11.XStringToKeysym(names.get(key, key.encode()))
            for kind in (2, 3):  # KeyPress, KeyRelease
                event = KeyEvent()
                event.type = kind
                event.window = window
                event.root = x.x11.XDefaultRootWindow(x.dpy)
                event.same_screen = 1
                event.keycode = x.x11.XKeysymToKeycode(x.dpy, keysym)
                x.send(window, event)
            time.sleep(gap_s)
        return True
    finally:
        x.close()


def window_exists(display: str, name: str) -> bool:
    x = _X11(display)
    try:
        return x.find(name) is not None
    finally:
        x.close()
