"""A real audio server (JACK, dummy backend) and a real display (Xvfb) for the live tests and
benchmarks, plus a JACK client that plays a sound into livecat and records what comes out."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SR = 48000
PERIOD = 256


def missing_tools() -> list[str]:
    return [t for t in ("jackd", "Xvfb", "import") if shutil.which(t) is None]


@contextmanager
def jack_server(name: str, *, period: int = PERIOD):
    """``jackd --no-realtime -d dummy`` under its own server name; yields the environment
    that points PortAudio and JACK clients at it."""
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(SR), "-p", str(period)],
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
        proc.wait(timeout=10)


@contextmanager
def xvfb(display: int, *, size: str = "800x600"):
    proc = subprocess.Popen(
        ["Xvfb", f":{display}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.1)
        yield f":{display}"
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
        self.first_frame = -1
        self.lock = threading.Lock()
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        if self.first_frame < 0:
            self.first_frame = self.client.last_frame_time
        buf = self.out.get_array()
        buf[:] = 0.0
        if self.play_pos >= 0:
            if self.play_started_frame < 0:
                self.play_started_frame = self.client.last_frame_time
            n = max(0, min(frames, self.sound.size - self.play_pos))
            buf[:n] = self.sound[self.play_pos : self.play_pos + n]
            self.play_pos += frames
        n = min(frames, self.recorded.size - self.rec_pos)
        if n > 0:
            self.recorded[self.rec_pos : self.rec_pos + n] = self.inp.get_array()[:n]
            self.rec_pos += n

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
