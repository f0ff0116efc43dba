"""A live session: the player, the display and the controls, wired together.

The session is where requests become state. Once per display tick (on the main thread) it
drains the control inbox (OSC, MIDI, keys, config reloads all land there), applies each
request to the player or the display, tells the observers (OSC feedback, virtual sinks)
what is playing, and keeps the ``--dump-config`` file current so that an installation
comes back to the same state after a power cut.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livecat.control.config import MidiConfig, dump_config, load_config, write_config
from livecat.control.params import ACTIONS, PARAMS, Value, engine_settings, format_value, param
from livecat.control.state import Controls, Request, Status
from livecat.errors import LivecatError, ParameterError
from livecat.live.player import LEVEL_DB, SOURCE_T, LivePlayer
from livecat.synthesis import EngineSettings

log = logging.getLogger(__name__)

DUMP_DEBOUNCE_S = 0.5  # a fader sweep rewrites the set file at most twice a second


class LiveSession:
    """Applies control requests; reports status.

    Parameters
    ----------
    player : LivePlayer
    controls : Controls
        Holds the starting parameter values (already applied by :meth:`start`).
    base_settings : EngineSettings
        Everything the registry does not cover (hop, seed, ...).
    corpora : list of str
        The corpus paths as given (``--dump-config`` writes them back).
    setup : dict
        The start-up options (``[setup]`` of the set file) for ``--dump-config``.
    config_path : Path, optional
        The ``--config`` file, re-read by the ``reload_config`` action.
    dump_path : Path, optional
        Kept equal to the current state (written on change and at exit).
    midi : MidiConfig
    """

    def __init__(
        self,
        player: LivePlayer,
        *,
        controls: Controls,
        base_settings: EngineSettings,
        corpora: list[str],
        setup: dict[str, Any],
        config_path: Path | None = None,
        dump_path: Path | None = None,
        midi: MidiConfig | None = None,
    ) -> None:
        self.player = player
        self.controls = controls
        self.base_settings = base_settings
        self.corpora = corpora
        self.setup = setup
        self.config_path = config_path
        self.dump_path = dump_path
        self.midi = midi or MidiConfig()
        self.display: Any = None  # set by attach(); the session outlives nothing
        self.observers: list[Callable[[Status], None]] = []
        self.every_second: list[Callable[[], object]] = []  # e.g. reopening a lost MIDI port
        self._last_second = time.monotonic()
        # MIDI (when enabled) hands its learned mappings here and takes reloaded ones.
        self.midi_mappings: Callable[[], MidiConfig] | None = None
        self.on_midi_config: Callable[[MidiConfig], None] | None = None
        self.applied = 0
        self._dirty = False
        self._engine_stale = False  # parameters applied that the engine has not been given
        self._help_stale = False
        self._last_dump = 0.0
        self._last_midi: MidiConfig | None = None

    def attach(self, display: Any) -> None:
        """Connect the display (its keys come here; it calls :meth:`tick`)."""
        self.display = display
        display.keys = self
        display.on_tick = self.tick
        self._refresh_help()

    def _refresh_help(self) -> None:
        """The window's help (key h): the keys, then every parameter with its current value
        and range, then the actions: all from the registry."""
        if self.display is None:
            return
        from livecat.output.display import KEY_HELP

        values = self.controls.values
        self.display.help_lines = [
            *KEY_HELP,
            *(f"{p.name} = {format_value(values[p.name])}  ({p.expects()})" for p in PARAMS),
            "actions: " + ", ".join(a.name for a in ACTIONS),
        ]

    def start(self) -> None:
        """Put the starting values into effect and write the dump file once."""
        for p in PARAMS:
            self._set_param(p.name, self.controls.values[p.name])
        self.player.set_engine_settings(engine_settings(self.controls.values, self.base_settings))
        if self.dump_path is not None:
            self.write_dump()

    # -- the main thread, once per display tick -------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        if self.every_second and now - self._last_second >= 1.0:
            self._last_second = now
            for task in self.every_second:
                try:
                    task()
                except Exception as exc:  # a controller's trouble must never stop the show
                    log.warning("livecat: %s", exc)
        refused: list[tuple[Request, LivecatError]] = []
        for request in self.controls.drain():
            try:
                self._apply(request)
            except LivecatError as exc:  # e.g. a corpus name that does not exist
                refused.append((request, exc))
                self.controls.refuse()
        self._settle()
        if refused:  # one line a tick, however many a flood of bad names brought
            request, exc = refused[-1]
            more = f"; {len(refused) - 1} more refused" if len(refused) > 1 else ""
            log.warning("livecat: %s (%s%s)", exc, request.origin or "control", more)
        if self.midi_mappings is not None:
            current = self.midi_mappings()
            if current != self._last_midi:
                self._last_midi = current
                self.midi = current
                self._dirty = True
        if self.observers:
            status = self.status()
            for observer in list(self.observers):
                try:
                    observer(status)
                except Exception as exc:  # a sink or sender must never stop the show
                    log.warning("livecat: %r failed and was removed: %s", observer, exc)
                    self.observers.remove(observer)
        if (
            self._dirty
            and self.dump_path is not None
            and time.monotonic() - self._last_dump >= DUMP_DEBOUNCE_S
        ):
            self.write_dump()

    def apply(self, request: Request) -> None:
        """Put one request into effect (main thread only)."""
        self._apply(request)
        self._settle()

    def _apply(self, request: Request) -> None:
        """:meth:`apply` but for what :meth:`_settle` does once for all of a tick's
        requests (a tick may bring a dozen parameters from a set file reload)."""
        if request.kind == "param":
            assert request.value is not None
            self._set_param(request.name, request.value)
            if param(request.name).engine_field is not None:
                self._engine_stale = True
            self._help_stale = True
        elif request.kind == "action":
            self._action(request.name, request.value)
        elif request.kind == "corpus":
            self.player.switch_to(self.corpus_index(request.name))
        self.applied += 1
        self.controls.version += 1
        self._dirty = True

    def _settle(self) -> None:
        """Hand the engine its new settings and refresh the window's help, once."""
        if self._engine_stale:
            self._engine_stale = False
            self.player.set_engine_settings(
                engine_settings(self.controls.values, self.base_settings)
            )
        if self._help_stale:
            self._help_stale = False
            self._refresh_help()

    def _set_param(self, name: str, value: Value) -> None:
        self.controls.values[name] = value
        player = self.player
        if name == "dry_wet":
            player.wet = float(value)
            player.dry = 1.0 - float(value)
        elif name == "volume":
            player.gain = 10.0 ** (float(value) / 20.0)
        elif name == "corpus_fade":
            player.corpus_fade_s = float(value)

    def _action(self, name: str, value: Value | None) -> None:
        toggles = self.controls.toggles
        if name in toggles:
            state = (not toggles[name]) if value is None else bool(value)
            toggles[name] = state
            if name == "mute_grains":
                self.player.muted = state
            elif self.display is not None:
                setattr(self.display, "frozen" if name == "freeze" else name, state)
        elif name in ("next_corpus", "prev_corpus"):
            step = 1 if name == "next_corpus" else -1
            self.player.switch_to((self.player.switch_request + step) % len(self.player.decks))
        elif name == "reload_config":
            self.reload_config()

    def corpus_index(self, which: str) -> int:
        """A corpus by 0-based number, directory name or path as given."""
        decks = self.player.decks
        if which.lstrip("-").isdigit():
            index = int(which)
            if 0 <= index < len(decks):
                return index
            raise ParameterError(f"no corpus {index}: {len(decks)} loaded (0..{len(decks) - 1})")
        for i, deck in enumerate(decks):
            if which in (deck.name, self.corpora[i], str(deck.corpus.path)):
                return i
        names = ", ".join(d.name for d in decks)
        raise ParameterError(f"no corpus named {which!r}; loaded: {names}")

    def reload_config(self) -> None:
        """Re-read ``--config``: its [params] and [midi] take effect; [setup] and corpora
        need a restart (said once in the log)."""
        if self.config_path is None:
            log.warning("livecat: reload_config: no --config file was given")
            return
        try:
            config = load_config(self.config_path)
        except LivecatError as exc:
            log.warning("livecat: reload_config: %s (the current set is kept)", exc)
            return
        for name, value in config.params.items():
            self.controls.request_param(name, value, origin="config")
        if self.on_midi_config is not None:
            self.on_midi_config(config.midi)
        self.midi = config.midi
        changed = sorted(k for k, v in config.setup.items() if self.setup.get(k) != v)
        if changed:
            log.warning(
                "livecat: reload_config: [setup] %s changed: restart livecat to apply",
                ", ".join(changed),
            )
        log.info("livecat: reloaded %s", self.config_path)

    # -- keys (the display's KeyTarget) ---------------------------------------------------------
    def key_action(self, name: str) -> None:
        self.controls.request_action(name, origin="key")

    def key_param_step(self, name: str, step: float) -> None:
        p = param(name)
        value = float(self.controls.values[name]) + step
        self.controls.request_param(name, round(min(max(value, p.lo), p.hi), 6), origin="key")

    def key_corpus(self, index: int) -> None:
        if index < len(self.player.decks):
            self.controls.request_corpus(index, origin="key")

    # -- what is playing -------------------------------------------------------------------------
    def status(self) -> Status:
        player = self.player
        display = self.display
        deck = player.decks[display.shown_deck if display is not None else player.active]
        entry = display.shown_entry if display is not None else int(player.shared[0])
        shared = player.shared_of(display.shown_deck) if display is not None else player.shared
        source = deck.corpus.source_of(entry).path if entry >= 0 else ""
        level = min(max((float(shared[LEVEL_DB]) + 60.0) / 60.0, 0.0), 1.0)
        return Status(
            entry=max(entry, -1),
            source=str(source),
            source_t_s=display.shown_source_t if display is not None else float(shared[SOURCE_T]),
            level=level,
            xruns=player.xruns(),
            corpus=deck.name,
            params=dict(self.controls.values),
            toggles=dict(self.controls.toggles),
        )

    def config_text(self) -> str:
        midi = self.midi_mappings() if self.midi_mappings is not None else self.midi
        return dump_config(
            corpora=self.corpora,
            setup=self.setup,
            params=self.controls.values,
            midi=midi,
            set_folder=self.dump_path.parent if self.dump_path is not None else None,
        )

    def write_dump(self) -> None:
        """Write the current set to the dump file (atomically); a failure is logged once per
        change and the show goes on."""
        assert self.dump_path is not None
        self._last_dump = time.monotonic()
        self._dirty = False
        try:
            write_config(self.dump_path, self.config_text())
        except LivecatError as exc:
            log.warning("livecat: %s", exc)

    def close(self) -> None:
        if self.dump_path is not None and self._dirty:
            self.write_dump()
