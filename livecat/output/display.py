"""The display loop: runs on the main thread (HighGUI requires it on macOS), independent of
the audio block rate; reads what the audio thread publishes and never blocks it."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from livecat.corpus import Corpus
from livecat.errors import CorpusError, printable
from livecat.live.player import (
    ACTIVE,
    BLOCK_TIME,
    BRIGHTNESS,
    CALLBACK_ERRORS,
    DISTANCE,
    ENTRY,
    FADING,
    LATE_GRAINS,
    LEVEL_DB,
    PROGRESS,
    QUERY_S,
    SOURCE_T,
    STREAM_T,
    LivePlayer,
)
from livecat.media.images import letterbox
from livecat.output.sinks import SinkGroup

log = logging.getLogger(__name__)

WINDOW = "livecat"
ACTION_KEYS = {
    " ": "freeze",
    "b": "blackout",
    "g": "mute_grains",
    "]": "next_corpus",
    "[": "prev_corpus",
}
KEY_HELP = [
    "d  HUD on/off      h  this help",
    "f  fullscreen      Esc  leave fullscreen",
    "space  freeze      b  blackout",
    "g  mute grains     - / =  dry/wet",
    "[ / ]  previous / next corpus   1-9  corpus N",
    "m  MIDI learn (then , . choose what to learn)",
    "q q  quit",
]


class KeyTarget:
    """Where the window's keys go. The live session implements it with its control inbox;
    without one (tests, tools) the display flips its own state."""

    def key_action(self, name: str) -> None: ...

    def key_param_step(self, name: str, step: float) -> None: ...

    def key_corpus(self, index: int) -> None: ...


@dataclass(frozen=True)
class DisplaySettings:
    headless: bool = False
    fullscreen: bool = False
    geometry: tuple[int, int, int, int] | None = None  # x, y, width, height
    hud: bool = False
    fps: float = 60.0
    duration_s: float | None = None  # stop after this long (None: run until quit)
    stop_at_end_of_input: bool = True
    kiosk: bool = False  # keys ignored, a closed window comes back (docs/installations.md)


_ASCII = str.maketrans({"—": "-", "–": "-", "←": "<-", "→": "->", "…": "..."})


def _ascii(text: str) -> str:
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


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

    HUD_REFRESH_S = 0.5  # figures in the HUD are recomputed this often, not every tick

    def __init__(
        self,
        corpus: Corpus,
        player: LivePlayer,
        *,
        settings: DisplaySettings,
        on_change: Callable[[float, int, float, float], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        keys: KeyTarget | None = None,
        help_lines: list[str] | None = None,
    ) -> None:
        self.corpus = corpus
        self.player = player
        self.settings = settings
        self.on_change = on_change
        self.on_tick = on_tick  # called once per tick on this thread (controls, feedback)
        self.keys = keys
        self.help_lines = KEY_HELP + (help_lines or [])
        src = max(corpus.sources, key=lambda s: s.entries)
        if settings.geometry:
            self.size = settings.geometry[2], settings.geometry[3]
        else:
            self.size = src.image_width, src.image_height
        self.canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        self._overlay_canvas = np.zeros_like(self.canvas)
        self._fade_canvas = np.zeros_like(self.canvas)  # the deck fading out, while it does
        self.hud = settings.hud
        self.help = False
        self.frozen = False
        self.blackout = False
        self.fullscreen = settings.fullscreen
        self.audio_ok = True
        self.quit_armed_at = -10.0
        self.stop_requested = False
        self.shown_entry = -2
        self.shown_deck = 0
        self.shown_source_t = 0.0  # the shown entry's place in its source (kept when frozen)
        self.picture_latency_s: list[float] = []
        self.frames_shown = 0
        self.images_decoded = 0
        self._tick_times: list[float] = []
        # The last decoded image of each deck: (entry, image).
        self._decoded: dict[int, tuple[int, np.ndarray]] = {}
        self._undecodable: set[Any] = set()  # corpora whose damaged image was reported
        self._drawn: tuple | None = None  # what the canvas holds
        self._hud_cache: tuple[float, list[str]] = (-1.0, [])
        self._errors_reported = 0
        self.learn: Any = None  # MIDI learn mode (livecat.control.midi.LearnMenu), if MIDI is on
        self.sinks = SinkGroup()  # outputs besides the window: each tick's canvas, no HUD
        self._reopened_at = -10.0

    # -- window ------------------------------------------------------------------------------------
    def _open_window(self) -> None:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        cv2.resizeWindow(WINDOW, *self.size)
        if self.settings.geometry:
            cv2.moveWindow(WINDOW, self.settings.geometry[0], self.settings.geometry[1])
        self._apply_fullscreen()

    def _apply_fullscreen(self) -> None:
        if self.settings.headless:
            return
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, mode)

    # -- drawing -----------------------------------------------------------------------------------
    def _image(self, deck: int, entry: int) -> np.ndarray:
        """The entry's decoded image; each deck's last one is kept (decoding costs ms). An
        image that does not decode (a damaged corpus passes the check at open if only a
        JPEG's inside is broken) keeps the picture that was there, with one warning per
        corpus: the set goes on."""
        last = self._decoded.get(deck)
        if last is None or last[0] != entry:
            corpus = self.player.decks[deck].corpus
            try:
                image = corpus.image(entry)
            except CorpusError as exc:
                if corpus.path not in self._undecodable:
                    self._undecodable.add(corpus.path)
                    log.warning("livecat: %s (keeping the picture before it)", exc)
                image = last[1] if last is not None else np.zeros((2, 2, 3), np.uint8)
            last = (entry, image)
            self._decoded[deck] = last
            self.images_decoded += 1
        return last[1]

    def _draw(self, deck: int, entry: int, brightness: float, out: np.ndarray) -> None:
        if entry < 0:
            out[:] = 0
            return
        letterbox(
            self._image(deck, entry),
            width=self.size[0],
            height=self.size[1],
            out=out,
            brightness=brightness,
        )

    def _picture(
        self, deck: int, entry: int, brightness: float, fade: tuple[int, int, float] | None = None
    ) -> tuple[np.ndarray, bool]:
        """The canvas for ``entry`` of ``deck``, blended with ``fade = (deck, entry,
        progress)`` while corpora crossfade; redrawn only when something changed. Returns
        (canvas, redrawn)."""
        key = (
            deck,
            entry,
            round(brightness, 3),
            self.blackout,
            fade and fade[:2],
            fade and round(fade[2], 2),
        )
        if key == self._drawn:
            return self.canvas, False
        self._drawn = key
        if self.blackout:
            self.canvas[:] = 0
            return self.canvas, True
        self._draw(deck, entry, brightness, self.canvas)
        if fade is not None:
            self._draw(fade[0], fade[1], 1.0, self._fade_canvas)
            progress = min(max(fade[2], 0.0), 1.0)
            cv2.addWeighted(
                self.canvas, progress, self._fade_canvas, 1.0 - progress, 0.0, dst=self.canvas
            )
        return self.canvas, True

    def hud_lines(self) -> list[str]:
        """The HUD's text (figures at most :attr:`HUD_REFRESH_S` old)."""
        now = time.monotonic()
        if now - self._hud_cache[0] < self.HUD_REFRESH_S and self._hud_cache[1]:
            return self._hud_cache[1]
        p = self.player
        shared = p.shared
        entry = int(shared[ENTRY])
        deck = p.decks[p.active]
        source = deck.corpus.source_of(entry).path if entry >= 0 else "-"
        p50, p99 = p.callback_percentiles(last=2000)
        block_s = p.settings.blocksize / p.sr_hz
        recent = self.picture_latency_s[-200:]
        picture_ms = float(np.percentile(recent, 50)) * 1000 if recent else 0.0
        ticks = self._tick_times
        fps = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0
        audio_ms = (p.device_latency_s() + p.handoff / p.sr_hz) * 1000
        timed = "feeder" if p.rt is not None else "callback"
        corpus = f"[{p.active + 1}/{len(p.decks)} {deck.name}]  " if len(p.decks) > 1 else ""
        lines = [
            f"{corpus}{source} @ {shared[SOURCE_T]:.2f}s  entry {entry}",
            f"distance {shared[DISTANCE]:.2f}   level {shared[LEVEL_DB]:.0f} dBFS",
            f"latency: picture {picture_ms:.0f} ms, audio {audio_ms:.0f} ms   xruns {p.xruns()}"
            f"   late grains {int(p.counters[LATE_GRAINS])}",
            f"{timed} p50 {p50 / block_s:.0%} p99 {p99 / block_s:.0%} of {block_s * 1000:.1f} ms"
            f"   query {shared[QUERY_S] * 1000:.2f} ms   {fps:.0f} fps",
        ]
        if self.sinks or self.sinks.failed:
            failed = f"   {len(self.sinks.failed)} failed" if self.sinks.failed else ""
            lines.append(f"out: {self.sinks.describe()}{failed}")
        self._hud_cache = (now, lines)
        return lines

    def _overlay(self, canvas: np.ndarray) -> np.ndarray:
        image = self._overlay_canvas
        image[:] = canvas
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
            lines += self.help_lines
        learning = self._learn_line()
        if learning:
            lines.append(learning)
        for i, line in enumerate(lines):
            line = _ascii(line)  # OpenCV's Hershey fonts draw ASCII only
            y = 22 + 20 * i
            cv2.putText(
                image, line, (9, y + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA
            )
            cv2.putText(
                image, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
            )
        for i, badge in enumerate(self.badges()):
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

    def _learn_line(self) -> str | None:
        return self.learn.overlay() if self.learn is not None else None

    def badges(self) -> list[str]:
        return [
            b
            for b, on in (
                ("INPUT LOST", not self.audio_ok),
                ("FROZEN", self.frozen),
                ("BLACKOUT", self.blackout),
            )
            if on
        ]

    # -- keys --------------------------------------------------------------------------------------
    def handle_key(self, key: int) -> None:
        if key < 0 or self.settings.kiosk:  # kiosk: the keyboard belongs to the visitors
            return
        char = chr(key & 0xFF)
        now = time.monotonic()
        if self.learn is not None and self.learn.key(char):
            return
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
        elif char in ACTION_KEYS:
            self._key_action(ACTION_KEYS[char])
        elif char in "-=":
            step = -0.1 if char == "-" else 0.1
            if self.keys is not None:
                self.keys.key_param_step("dry_wet", step)
            else:
                self.player.wet = round(float(np.clip(self.player.wet + step, 0.0, 1.0)), 3)
                self.player.dry = round(1.0 - self.player.wet, 3)
        elif char in "123456789":
            index = int(char) - 1
            if self.keys is not None:
                self.keys.key_corpus(index)
            elif index < len(self.player.decks):
                self.player.switch_to(index)

    def _key_action(self, name: str) -> None:
        if self.keys is not None:
            self.keys.key_action(name)
        elif name == "freeze":
            self.frozen = not self.frozen
        elif name == "blackout":
            self.blackout = not self.blackout
        elif name == "mute_grains":
            self.player.muted = not self.player.muted
        elif name in ("next_corpus", "prev_corpus"):
            step = 1 if name == "next_corpus" else -1
            self.player.switch_to((self.player.active + step) % len(self.player.decks))

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
        next_tick = started
        try:
            while not self.stop_requested:
                now = time.monotonic()
                if s.duration_s is not None and now - started >= s.duration_s:
                    break
                if self.player.finished and s.stop_at_end_of_input:
                    ended_at = ended_at or now
                    if now - ended_at > 0.3:  # let the last grains ring out
                        break
                if now - last_supervise >= 1.0:
                    last_supervise = now
                    self._supervise()
                if self.player.restart_wanted or self.player.matcher_error is not None:
                    break
                self._tick()
                next_tick += period
                wait_s = next_tick - time.monotonic()
                if wait_s < -period:  # fell behind: do not try to catch up
                    next_tick = time.monotonic()
                if s.headless:
                    time.sleep(max(0.0, wait_s))
                    continue
                if wait_s >= 0.001:
                    self.handle_key(cv2.waitKeyEx(int(wait_s * 1000)))
                if self._window_closed():
                    if not s.kiosk:
                        break
                    self._reopen_window()
        finally:
            if not s.headless:
                with contextlib.suppress(cv2.error):
                    cv2.destroyAllWindows()

    @staticmethod
    def _window_closed() -> bool:
        """Closed by the user? (Qt's HighGUI raises, rather than answering 0, once the
        window is gone.)"""
        try:
            return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def _reopen_window(self) -> None:
        """Kiosk: a closed window comes straight back (HighGUI cannot refuse the close); at
        most once a second, should the window system keep refusing it."""
        now = time.monotonic()
        if now - self._reopened_at < 1.0:
            return
        self._reopened_at = now
        print("livecat: the window was closed: reopening it (--kiosk)", file=sys.stderr, flush=True)
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(WINDOW)
        self._open_window()
        self.frames_shown = 0  # show the picture at once, changed or not

    def _supervise(self) -> None:
        was_ok = self.audio_ok
        self.audio_ok = self.player.supervise()
        if was_ok and not self.audio_ok:
            print("livecat: audio input lost: retrying every second", file=sys.stderr, flush=True)
        errors = int(self.player.counters[CALLBACK_ERRORS])
        if errors > self._errors_reported:
            print(
                f"livecat: {errors - self._errors_reported} audio block(s) failed and were "
                f"silenced: {self.player.callback_error!r}",
                file=sys.stderr,
                flush=True,
            )
            self._errors_reported = errors

    def _tick(self) -> None:
        if self.on_tick is not None:
            self.on_tick()
        player = self.player
        mix = player.mix
        active, fading, progress = int(mix[ACTIVE]), int(mix[FADING]), float(mix[PROGRESS])
        shared = player.shared_of(active)
        entry = int(shared[ENTRY])
        brightness = float(shared[BRIGHTNESS])
        block_time = 0.0
        changed = (active, entry) != (self.shown_deck, self.shown_entry) and not self.frozen
        if changed:
            block_time = float(shared[BLOCK_TIME])
            self.shown_entry = entry
            self.shown_deck = active
            self.shown_source_t = float(shared[SOURCE_T])
            if self.on_change is not None:
                self.on_change(
                    float(shared[STREAM_T]), entry, float(shared[SOURCE_T]), float(shared[DISTANCE])
                )
        fade = None
        if fading >= 0 and progress < 1.0 and not self.frozen:
            fade = (fading, int(player.shared_of(fading)[ENTRY]), progress)
        if self.settings.headless:
            if changed:
                self._print(entry)
                if block_time:
                    self.picture_latency_s.append(time.perf_counter() - block_time)
            if self.sinks:  # "with or without the window": the canvas is drawn for them
                self.sinks.send(
                    self._picture(self.shown_deck, self.shown_entry, brightness, fade)[0]
                )
            return
        canvas, redrawn = self._picture(self.shown_deck, self.shown_entry, brightness, fade)
        self.sinks.send(canvas)
        overlay = self.hud or self.help or bool(self.badges()) or bool(self._learn_line())
        if redrawn or overlay or self.frames_shown == 0:
            cv2.imshow(WINDOW, self._overlay(canvas) if overlay else canvas)
            self.handle_key(cv2.waitKeyEx(1))  # paints the window
            self.frames_shown += 1
        if changed and block_time:
            self.picture_latency_s.append(time.perf_counter() - block_time)
        self._tick_times = [*self._tick_times[-59:], time.monotonic()]

    def _print(self, entry: int) -> None:
        t = float(self.player.shared[STREAM_T])
        if entry < 0:
            print(f"{t:8.2f}s  (black)", flush=True)
            return
        src = self.player.decks[self.shown_deck].corpus.source_of(entry)
        print(
            f"{t:8.2f}s  entry {entry:6d}  {printable(src.path)} @ "
            f"{self.player.shared[SOURCE_T]:.2f}s"
            f"  distance {self.player.shared[DISTANCE]:.2f}",
            file=sys.stdout,
            flush=True,
        )
