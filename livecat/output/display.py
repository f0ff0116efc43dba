"""The display loop: runs on the main thread (HighGUI requires it on macOS), independent of
the audio block rate; reads what the audio thread publishes and never blocks it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from livecat.corpus import Corpus
from livecat.live.player import (
    BLOCK_TIME,
    BRIGHTNESS,
    DISTANCE,
    ENTRY,
    LEVEL_DB,
    SOURCE_T,
    STREAM_T,
    LivePlayer,
)
from livecat.media.images import letterbox

WINDOW = "livecat"
HELP = [
    "d  HUD on/off",
    "f  fullscreen      Esc  leave fullscreen",
    "space  freeze      b  blackout",
    "g  mute grains     - / =  dry/wet",
    "h  this help       q q  quit",
]


@dataclass(frozen=True)
class DisplaySettings:
    headless: bool = False
    fullscreen: bool = False
    geometry: tuple[int, int, int, int] | None = None  # x, y, width, height
    hud: bool = False
    fps: float = 60.0
    duration_s: float | None = None  # stop after this long (None: run until quit)
    stop_at_end_of_input: bool = True


def screen_geometry(index: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of monitor ``index`` from ``xrandr --listmonitors`` (X11)."""
    if shutil.which("xrandr") is None:
        raise OSError("--screen needs xrandr (X11); use --window-geometry X,Y,W,H instead")
    text = subprocess.run(
        ["xrandr", "--listmonitors"], capture_output=True, text=True, timeout=5
    ).stdout
    found = re.findall(r"^\s*(\d+):\s+\S+\s+(\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)", text, re.M)
    for number, w, h, x, y in found:
        if int(number) == index:
            return int(x), int(y), int(w), int(h)
    raise OSError(f"no screen {index}; xrandr lists {len(found)}")


class Display:
    """Shows the current entry; handles keys, the HUD and the badges.

    Parameters
    ----------
    corpus, player
    settings : DisplaySettings
    on_change : callable(t_s, entry, source_t_s, distance), optional
        Called (on this thread) whenever the picture changes: the match log.
    """

    def __init__(
        self,
        corpus: Corpus,
        player: LivePlayer,
        *,
        settings: DisplaySettings,
        on_change: Callable[[float, int, float, float], None] | None = None,
    ) -> None:
        self.corpus = corpus
        self.player = player
        self.settings = settings
        self.on_change = on_change
        src = max(corpus.sources, key=lambda s: s.entries)
        if settings.geometry:
            self.size = settings.geometry[2], settings.geometry[3]
        else:
            self.size = src.image_width, src.image_height
        self.canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        self.hud = settings.hud
        self.help = False
        self.frozen = False
        self.blackout = False
        self.fullscreen = settings.fullscreen
        self.audio_ok = True
        self.quit_armed_at = -10.0
        self.stop_requested = False
        self.shown_entry = -2
        self.picture_latency_s: list[float] = []
        self.frames_shown = 0
        self._fps_window: list[float] = []

    # -- window ------------------------------------------------------------------------------------
    def _open_window(self) -> None:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        cv2.resizeWindow(WINDOW, *self.size)
        if self.settings.geometry:
            cv2.moveWindow(WINDOW, self.settings.geometry[0], self.settings.geometry[1])
        self._apply_fullscreen()

    def _apply_fullscreen(self) -> None:
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, mode)

    # -- drawing -----------------------------------------------------------------------------------
    def _picture(self, entry: int, brightness: float) -> np.ndarray:
        if entry < 0 or self.blackout:
            self.canvas[:] = 0
            return self.canvas
        return letterbox(
            self.corpus.image(entry),
            width=self.size[0],
            height=self.size[1],
            out=self.canvas,
            brightness=brightness,
        )

    def hud_lines(self) -> list[str]:
        p = self.player
        shared = p.shared
        entry = int(shared[ENTRY])
        source = self.corpus.source_of(entry).path if entry >= 0 else "-"
        p50, p99 = p.callback_percentiles()
        block_s = p.settings.blocksize / p.sr_hz
        latency = (
            np.percentile(self.picture_latency_s[-200:], 50) * 1000
            if self.picture_latency_s
            else 0.0
        )
        fps = (
            (len(self._fps_window) - 1) / (self._fps_window[-1] - self._fps_window[0])
            if len(self._fps_window) > 1
            else 0.0
        )
        return [
            f"{source} @ {shared[SOURCE_T]:.2f}s  entry {entry}",
            f"distance {shared[DISTANCE]:.2f}   level {shared[LEVEL_DB]:.0f} dBFS",
            f"picture latency {latency:.0f} ms   xruns {p.xruns()}",
            f"callback p50 {p50 / block_s:.0%} p99 {p99 / block_s:.0%} of {block_s * 1000:.1f} ms"
            f"   query {p.engine.state.query_s * 1000:.2f} ms   {fps:.0f} fps",
        ]

    def _overlay(self, image: np.ndarray) -> np.ndarray:
        lines: list[str] = []
        if self.hud:
            lines += self.hud_lines()
            level = float(np.clip((self.player.shared[LEVEL_DB] + 60) / 60, 0, 1))
            cv2.rectangle(
                image,
                (8, image.shape[0] - 14),
                (8 + int(level * (image.shape[1] - 16)), image.shape[0] - 6),
                (80, 220, 80),
                -1,
            )
        if self.help:
            lines += HELP
        for i, line in enumerate(lines):
            y = 22 + 20 * i
            cv2.putText(
                image, line, (9, y + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA
            )
            cv2.putText(
                image, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
            )
        badges = [
            b
            for b, on in (
                ("INPUT LOST", not self.audio_ok),
                ("FROZEN", self.frozen),
                ("BLACKOUT", self.blackout),
            )
            if on
        ]
        for i, badge in enumerate(badges):
            x = image.shape[1] - 150
            cv2.rectangle(
                image, (x, 8 + 30 * i), (image.shape[1] - 8, 32 + 30 * i), (0, 0, 200), -1
            )
            cv2.putText(
                image,
                badge,
                (x + 8, 27 + 30 * i),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.55,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
        return image

    # -- keys --------------------------------------------------------------------------------------
    def handle_key(self, key: int) -> None:
        if key < 0:
            return
        char = chr(key & 0xFF)
        now = time.monotonic()
        if char == "q":
            if now - self.quit_armed_at < 2.0:
                self.stop_requested = True
            self.quit_armed_at = now
        elif char == "d":
            self.hud = not self.hud
        elif char == "h":
            self.help = not self.help
        elif char == "f":
            self.fullscreen = not self.fullscreen
            self._apply_fullscreen()
        elif key & 0xFF == 27 and self.fullscreen:
            self.fullscreen = False
            self._apply_fullscreen()
        elif char == " ":
            self.frozen = not self.frozen
        elif char == "b":
            self.blackout = not self.blackout
            self.shown_entry = -2  # redraw
        elif char == "g":
            self.player.muted = not self.player.muted
        elif char in "-=":
            step = -0.1 if char == "-" else 0.1
            self.player.wet = float(np.clip(self.player.wet + step, 0.0, 1.0))
            self.player.dry = 1.0 - self.player.wet

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Show pictures until quit (q twice, window closed, stop(), duration, end of input)."""
        s = self.settings
        if not s.headless:
            self._open_window()
        period = 1.0 / s.fps
        started = time.monotonic()
        last_supervise = started
        ended_at: float | None = None
        while not self.stop_requested:
            now = time.monotonic()
            if s.duration_s is not None and now - started >= s.duration_s:
                break
            if self.player.finished.is_set() and s.stop_at_end_of_input:
                ended_at = ended_at or now
                if now - ended_at > 0.3:  # let the last grains ring out
                    break
            if now - last_supervise >= 1.0:
                last_supervise = now
                self.audio_ok = self.player.supervise()
            if self.player.restart_wanted:
                break
            self._tick()
            if s.headless:
                time.sleep(period)
                continue
            key = cv2.waitKeyEx(max(1, int(period * 1000)))
            self.handle_key(key)
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                break  # the window was closed
        if not s.headless:
            cv2.destroyAllWindows()

    def _tick(self) -> None:
        shared = self.player.shared
        entry = int(shared[ENTRY])
        brightness = float(shared[BRIGHTNESS])
        changed = entry != self.shown_entry and not self.frozen
        if changed:
            block_time = float(shared[BLOCK_TIME])
            self.shown_entry = entry
            if self.on_change is not None:
                self.on_change(
                    float(shared[STREAM_T]), entry, float(shared[SOURCE_T]), float(shared[DISTANCE])
                )
        if self.settings.headless:
            if changed:
                self._print(entry)
                if block_time:
                    self.picture_latency_s.append(time.perf_counter() - block_time)
            return
        image = self._picture(self.shown_entry, brightness)
        if self.hud or self.help or not self.audio_ok or self.frozen or self.blackout:
            image = self._overlay(image.copy())
        cv2.imshow(WINDOW, image)
        self.frames_shown += 1
        self._fps_window = [*self._fps_window, time.monotonic()][-60:]
        if changed and block_time:
            self.picture_latency_s.append(time.perf_counter() - block_time)

    def _print(self, entry: int) -> None:
        t = float(self.player.shared[STREAM_T])
        if entry < 0:
            print(f"{t:8.2f}s  (black)", flush=True)
            return
        src = self.corpus.source_of(entry)
        print(
            f"{t:8.2f}s  entry {entry:6d}  {src.path} @ {self.player.shared[SOURCE_T]:.2f}s"
            f"  distance {self.player.shared[DISTANCE]:.2f}",
            file=sys.stdout,
            flush=True,
        )
