"""The one registry of what can be changed while livecat plays, and of the actions.

Every live parameter is declared once here, with its type, range, unit, default and help.
From this table come the ``livecat live`` flags, the ``[params]`` table of a config file,
the OSC addresses (``/livecat/param/<name>``), the MIDI mapping targets and the on-screen
help; ``tests/test_control.py`` checks that they all agree. Actions (freeze, blackout, ...)
are declared the same way.

The registry knows nothing about threads or engines: it validates and converts values.
Applying them is the live session's job (:mod:`livecat.live.session`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from livecat.errors import ParameterError
from livecat.synthesis.engine import GATE_MODES, LEVEL_MODES, EngineSettings

Value = float | int | bool | str

_ENGINE_DEFAULTS = EngineSettings()


@dataclass(frozen=True)
class Param:
    """One live parameter.

    Attributes
    ----------
    name : str
        snake_case; the config key, the OSC address ``/livecat/param/<name>``, the MIDI
        target, and (with dashes) the command-line flag ``--<name>``.
    kind : {"float", "int", "bool", "choice"}
    default : value
    lo, hi : float
        Range (numbers); bools are 0..1; choices index 0..len-1 for normalised control.
    unit : str
        Shown in help ("s", "dB", "dBFS", "" ...).
    help : str
    choices : tuple of str
        For ``kind == "choice"``.
    curve : {"linear", "log"}
        How a normalised 0..1 control (OSC ``/norm``, a MIDI CC) spreads over the range.
        ``log`` needs ``lo > 0``.
    engine_field : str or None
        The :class:`~livecat.synthesis.EngineSettings` field this sets (None: the mixer or
        the display).
    """

    name: str
    kind: str
    default: Value
    help: str
    lo: float = 0.0
    hi: float = 1.0
    unit: str = ""
    choices: tuple[str, ...] = ()
    curve: str = "linear"
    engine_field: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def osc_address(self) -> str:
        return f"/livecat/param/{self.name}"

    def coerce(self, value: Any) -> Value:
        """``value`` as this parameter's type, checked against its range.

        Accepts what the outside world sends: strings from the command line or a config
        file, ints for floats, 0/1 (or "on"/"off") for bools, a choice's name or index.
        Raises ParameterError naming the parameter.
        """
        try:
            if self.kind == "choice":
                if isinstance(value, str):
                    if value not in self.choices:
                        raise ValueError
                    return value
                if isinstance(value, bool):
                    raise ValueError
                index = int(value)
                if index != value or not 0 <= index < len(self.choices):
                    raise ValueError
                return self.choices[index]
            if self.kind == "bool":
                if isinstance(value, str):
                    text = value.strip().lower()
                    if text in ("1", "true", "on", "yes"):
                        return True
                    if text in ("0", "false", "off", "no"):
                        return False
                    raise ValueError
                if isinstance(value, bool):
                    return value
                if isinstance(value, int | float) and value in (0, 1):
                    return bool(value)
                raise ValueError
            if isinstance(value, bool):  # True is an int: never a number here
                raise ValueError
            number = float(value) if not isinstance(value, str) else float(value.strip())
            if not math.isfinite(number):
                raise ValueError
            if self.kind == "int":
                if number != int(number):
                    raise ValueError
                number = int(number)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: {self.expects()}, got {value!r}") from None
        if not self.lo <= number <= self.hi:
            raise ParameterError(f"{self.name}: {self.expects()}, got {value!r}")
        return number

    def expects(self) -> str:
        """What a valid value looks like, for error messages and help."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false (1 or 0)"
        unit = f" {self.unit}" if self.unit else ""
        kind = "an integer" if self.kind == "int" else "a number"
        return f"{kind} in {_fmt(self.lo)}..{_fmt(self.hi)}{unit}"

    def from_norm(self, x: float) -> Value:
        """The value a normalised control position ``x`` (0..1, clipped) stands for."""
        if not math.isfinite(x):
            raise ParameterError(f"{self.name}: normalised values are 0..1, got {x!r}")
        x = min(max(float(x), 0.0), 1.0)
        if self.kind == "bool":
            return x >= 0.5
        if self.kind == "choice":
            return self.choices[min(int(x * len(self.choices)), len(self.choices) - 1)]
        if self.curve == "log":
            value = self.lo * (self.hi / self.lo) ** x
        else:
            value = self.lo + x * (self.hi - self.lo)
        if self.kind == "int":
            return int(round(value))
        return value

    def to_norm(self, value: Value) -> float:
        """Inverse of :meth:`from_norm` (for feedback to controllers and MIDI learn)."""
        if self.kind == "bool":
            return 1.0 if value else 0.0
        if self.kind == "choice":
            return (self.choices.index(str(value)) + 0.5) / len(self.choices)
        v = float(value)
        if self.curve == "log":
            return math.log(v / self.lo) / math.log(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)

    def describe(self) -> str:
        """One line for ``--help``-like listings and the on-screen help."""
        return f"{self.name} ({self.expects()}; default {format_value(self.default)}): {self.help}"


@dataclass(frozen=True)
class Action:
    """One action: something done rather than set.

    ``toggle`` actions hold an on/off state (``/livecat/action/freeze 1`` sets it, with no
    argument it flips); ``trigger`` actions just happen.
    """

    name: str
    kind: str  # "toggle" or "trigger"
    help: str
    key: str = ""  # the window's key for it, if any

    @property
    def osc_address(self) -> str:
        return f"/livecat/action/{self.name}"


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


PARAMS: tuple[Param, ...] = (
    Param(
        "dry_wet",
        "float",
        1.0,
        "0 = the input only, 1 = the grains only",
    ),
    Param(
        "volume",
        "float",
        0.0,
        "output gain",
        lo=-60.0,
        hi=12.0,
        unit="dB",
    ),
    Param(
        "continuity",
        "float",
        _ENGINE_DEFAULTS.continuity,
        "preference for letting the current footage run on",
        engine_field="continuity",
    ),
    Param(
        "k",
        "int",
        _ENGINE_DEFAULTS.k,
        "candidates fetched from the index per decision",
        lo=1,
        hi=64,
        engine_field="k",
    ),
    Param(
        "no_repeat",
        "float",
        _ENGINE_DEFAULTS.no_repeat_s,
        "an entry jumped to is not jumped to again for this long",
        lo=0.0,
        hi=10.0,
        unit="s",
        engine_field="no_repeat_s",
    ),
    Param(
        "level",
        "choice",
        _ENGINE_DEFAULTS.level_mode,
        "compensate: grains follow the input's loudness; match: prefer entries as loud as "
        "the input; ignore: shape alone picks",
        choices=LEVEL_MODES,
        engine_field="level_mode",
    ),
    Param(
        "gate",
        "float",
        _ENGINE_DEFAULTS.gate_db,
        "input level below which nothing is searched; footage quieter is never chosen "
        "(-200: never)",
        lo=-200.0,
        hi=0.0,
        unit="dBFS",
        engine_field="gate_db",
    ),
    Param(
        "gate_mode",
        "choice",
        _ENGINE_DEFAULTS.gate_mode,
        "under the gate: hold the image, fade it out, or show the idle entry (black)",
        choices=GATE_MODES,
        engine_field="gate_mode",
    ),
    Param(
        "gate_fade",
        "float",
        _ENGINE_DEFAULTS.fade_s,
        "with gate_mode fade: time to fade the picture to black",
        lo=0.05,
        hi=30.0,
        unit="s",
        curve="log",
        engine_field="fade_s",
    ),
    Param(
        "align",
        "bool",
        _ENGINE_DEFAULTS.align_jumps,
        "a jump's grain starts in time with the input's onsets and in phase with the grain it "
        "replaces (off: on the entry's image time; saves up to 0.2 ms per jump)",
        engine_field="align_jumps",
    ),
    Param(
        "attacks",
        "bool",
        _ENGINE_DEFAULTS.attacks,
        "an onset (a hit, a consonant, a plucked note) is answered 10.7 ms after it by the "
        "footage's onset whose attack is most alike, placed where the input's was "
        "(off: from the hop's decisions alone)",
        engine_field="attacks",
    ),
    Param(
        "corpus_fade",
        "float",
        1.0,
        "crossfade of picture and sound when switching corpora",
        lo=0.0,
        hi=10.0,
        unit="s",
    ),
)

ACTIONS: tuple[Action, ...] = (
    Action("freeze", "toggle", "hold the picture (sound goes on)", key="space"),
    Action("blackout", "toggle", "black picture", key="b"),
    Action("mute_grains", "toggle", "silence the grains (the dry input still plays)", key="g"),
    Action("next_corpus", "trigger", "crossfade to the next corpus", key="]"),
    Action("prev_corpus", "trigger", "crossfade to the previous corpus", key="["),
    Action("reload_config", "trigger", "re-read the --config file's [params] and [midi]"),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
ACTIONS_BY_NAME: dict[str, Action] = {a.name: a for a in ACTIONS}


def param(name: str) -> Param:
    """The registered parameter ``name``; ParameterError listing the names otherwise."""
    try:
        return PARAMS_BY_NAME[name]
    except KeyError:
        raise ParameterError(
            f"no parameter {name!r}; parameters: {', '.join(PARAMS_BY_NAME)}"
        ) from None


def action(name: str) -> Action:
    """The registered action ``name``; ParameterError listing the names otherwise."""
    try:
        return ACTIONS_BY_NAME[name]
    except KeyError:
        raise ParameterError(f"no action {name!r}; actions: {', '.join(ACTIONS_BY_NAME)}") from None


def defaults() -> dict[str, Value]:
    return {p.name: p.default for p in PARAMS}


def engine_settings(values: dict[str, Value], base: EngineSettings) -> EngineSettings:
    """``base`` with every engine parameter in ``values`` applied."""
    changes = {
        p.engine_field: values[p.name]
        for p in PARAMS
        if p.engine_field is not None and p.name in values
    }
    return base.with_(**changes)


def help_lines() -> list[str]:
    """The parameters and actions, one line each (the on-screen help and ``--help``)."""
    lines = [f"{p.name} = {p.expects()}" for p in PARAMS]
    lines += [f"{a.name}{f' [{a.key}]' if a.key else ''}: {a.help}" for a in ACTIONS]
    return lines
