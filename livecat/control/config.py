"""``livecat live --config set.toml``: read, check and write the TOML set-up file.

A set file holds everything needed to bring a show or an installation back to the same
state::

    corpora = ["corpora/forest", "corpora/city"]

    [setup]            # start-up options: the `livecat live` flags of the same names
    input = "Scarlett"
    input_channels = [3, 4]
    fullscreen = true

    [params]           # live parameters (also OSC /livecat/param/<name> and MIDI targets)
    continuity = 0.5
    dry_wet = 0.8

    [midi]
    input = "nanoKONTROL"
    program_change = true

    [[midi.cc]]
    control = 1
    param = "continuity"

    [[midi.note]]
    note = 36
    action = "freeze"
    mode = "momentary"

Unknown tables and keys, and bad values, are errors that name the file and the line.
``[setup]`` keys are checked by the command line parser (:mod:`livecat.cli.live_commands`),
everything else here.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livecat.control.params import (
    ACTIONS_BY_NAME,
    PARAMS,
    PARAMS_BY_NAME,
    Value,
)
from livecat.errors import ConfigError, ParameterError, bytes_text

TOP_KEYS = ("corpora", "setup", "params", "midi")
SET_FILE_MAX_BYTES = 1 << 20  # a set with hundreds of MIDI mappings is a few tens of KiB
MIDI_KEYS = ("input", "program_change", "cc", "note")
CC_KEYS = ("control", "param", "channel", "min", "max", "curve")
NOTE_KEYS = ("note", "action", "channel", "mode")
CURVES = ("linear", "log", "exp")
NOTE_MODES = ("toggle", "momentary", "trigger")


@dataclass(frozen=True)
class CCMapping:
    """A MIDI control change moving a parameter.

    ``min``/``max`` narrow the parameter's range (default: all of it); ``curve`` shapes the
    0..127 travel (default: the parameter's own; ``exp`` spends more travel at the low end).
    ``channel`` is 1..16, or None for any.
    """

    control: int
    param: str
    channel: int | None = None
    min: float | None = None
    max: float | None = None
    curve: str | None = None


@dataclass(frozen=True)
class NoteMapping:
    """A MIDI note doing an action: ``toggle`` flips it on each note-on, ``momentary``
    holds it on while the key is down, ``trigger`` (for trigger actions) fires on note-on."""

    note: int
    action: str
    channel: int | None = None
    mode: str = "toggle"


@dataclass(frozen=True)
class MidiConfig:
    input: str | None = None  # port name substring; None: no MIDI
    program_change: bool = True  # program N selects corpus N (0-based)
    cc: tuple[CCMapping, ...] = ()
    note: tuple[NoteMapping, ...] = ()


@dataclass
class Config:
    """A parsed, checked set file. ``setup`` still holds raw TOML values (the CLI checks
    them); ``lines`` maps ``(table, key)`` to the line it was written on."""

    path: Path | None = None
    corpora: list[str] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Value] = field(default_factory=dict)
    midi: MidiConfig = field(default_factory=MidiConfig)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def line_of(self, table: str, key: str) -> int | None:
        return self.lines.get((table, key))

    def error(self, table: str, key: str, message: str) -> ConfigError:
        """A ConfigError naming the file and the key's line."""
        line = self.line_of(table, key)
        where = f"line {line}: " if line else ""
        return ConfigError(f"{where}{message}", path=self.path)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """``(table, key) -> first line number`` for a plain TOML file (tables by header;
    array-of-tables entries are numbered ``midi.cc#0``, ``midi.cc#1`` ...)."""
    lines: dict[tuple[str, str], int] = {}
    table = ""
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = header.group(1).replace('"', "").replace("'", "").strip()
            if line.lstrip().startswith("[["):
                index = counts.get(name, 0)
                counts[name] = index + 1
                table = f"{name}#{index}"
            else:
                table = name
            lines.setdefault(("", table), number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((table, key.group(1).strip("\"'")), number)
    return lines


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check ``path``. Raises ConfigError naming the file (and line) on any
    problem: unreadable, not a regular file, too large, not TOML, nested too deep, unknown
    table or key, bad value."""
    path = Path(path)
    return parse_config(_read_set_file(path), path=path)


def _read_set_file(path: Path) -> str:
    """The text of a set file, read only from a regular file of a set file's size.

    A FIFO would hang the reader for good (at start, or on the main thread at
    ``reload_config``), ``/dev/zero`` or a growing file would fill the memory, and opening
    some devices does something. So the name is checked before it is opened, and the open
    file again (the name may have been swapped meanwhile), opened without blocking; at most
    :data:`SET_FILE_MAX_BYTES` are read whatever the size says (``/proc`` files say 0).
    Newlines are read as text mode reads them."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    not_regular = ConfigError("cannot read the config file: not a regular file", path=path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise not_regular
        fd = os.open(path, flags)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise not_regular
            size = info.st_size
            data = b""
            while size <= SET_FILE_MAX_BYTES:
                chunk = os.read(fd, SET_FILE_MAX_BYTES + 1 - len(data))
                if not chunk:
                    break
                data += chunk
                size = max(size, len(data))
        finally:
            os.close(fd)
        if size > SET_FILE_MAX_BYTES:
            raise ConfigError(
                f"cannot read the config file: {size} bytes, more than a set file's "
                f"{bytes_text(SET_FILE_MAX_BYTES)}",
                path=path,
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the config file: {reason}", path=path) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_config(text: str, *, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    except RecursionError:
        raise ConfigError("not a set file: nested too deep", path=path) from None
    config = Config(path=path, lines=_key_lines(text))
    for key, value in data.items():
        if key not in TOP_KEYS:
            raise config.error("", key, _unknown_top_level(key, value))
    corpora = data.get("corpora", [])
    if isinstance(corpora, str):
        corpora = [corpora]
    if not isinstance(corpora, list) or not all(isinstance(c, str) for c in corpora):
        raise config.error("", "corpora", "corpora must be a list of corpus directories")
    base = path.parent if path is not None else Path()
    config.corpora = [str(base / c) if not Path(c).is_absolute() else c for c in corpora]
    for table in ("setup", "params", "midi"):
        if table in data and not isinstance(data[table], dict):
            raise config.error("", table, f"{table} must be a table: [{table}]")
    config.setup = dict(data.get("setup", {}))
    for key, value in data.get("params", {}).items():
        if key not in PARAMS_BY_NAME:
            raise config.error(
                "params",
                key,
                f"unknown parameter {key!r} in [params] (known: {', '.join(PARAMS_BY_NAME)})",
            )
        try:
            config.params[key] = PARAMS_BY_NAME[key].coerce(value)
        except ParameterError as exc:
            raise config.error("params", key, str(exc)) from None
    config.midi = _midi(data.get("midi", {}), config)
    return config


def _unknown_top_level(key: str, value: Any) -> str:
    """Say what an unknown top-level entry is and, for a live parameter, where it goes."""
    known = ", ".join("corpora = [...]" if k == "corpora" else f"[{k}]" for k in TOP_KEYS)
    if isinstance(value, dict):
        return f"unknown table [{key}] (known: {known})"
    if key in PARAMS_BY_NAME:
        return f"{key!r} is a live parameter: put it under [params]"
    return f"unknown key {key!r} (known: {known}; start-up flags go under [setup])"


def _midi(data: dict[str, Any], config: Config) -> MidiConfig:
    for key in data:
        if key not in MIDI_KEYS:
            raise config.error(
                "midi", key, f"unknown key {key!r} in [midi] (known: {', '.join(MIDI_KEYS)})"
            )
    port = data.get("input")
    if port is not None and not isinstance(port, str):
        raise config.error("midi", "input", "midi input must be a port name (a string)")
    program = data.get("program_change", True)
    if not isinstance(program, bool):
        raise config.error("midi", "program_change", "program_change must be true or false")
    ccs = []
    for i, entry in enumerate(_table_list(data, "cc", config)):
        table = f"midi.cc#{i}"
        _check_keys(entry, CC_KEYS, table, config)
        control = _int(entry, "control", 0, 127, table, config, required=True)
        name = entry.get("param")
        if name not in PARAMS_BY_NAME:
            raise config.error(
                table,
                "param",
                f"[[midi.cc]] param must be one of {', '.join(PARAMS_BY_NAME)}, got {name!r}",
            )
        p = PARAMS_BY_NAME[name]
        bounds = []
        for key in ("min", "max"):
            value = entry.get(key)
            if value is not None:
                try:
                    value = float(p.coerce(value)) if p.kind in ("float", "int") else None
                except ParameterError as exc:
                    raise config.error(table, key, f"[[midi.cc]] {key}: {exc}") from None
            bounds.append(value)
        curve = entry.get("curve")
        if curve is not None and curve not in CURVES:
            raise config.error(table, "curve", f"curve must be one of {', '.join(CURVES)}")
        if (curve or p.curve) == "log" and p.kind in ("float", "int"):
            lo = p.lo if bounds[0] is None else bounds[0]
            hi = p.hi if bounds[1] is None else bounds[1]
            if min(lo, hi) <= 0:
                raise config.error(
                    table,
                    "curve",
                    f"curve log needs min and max above 0 ({name} spans {lo:g}..{hi:g}): "
                    "set min, or use exp",
                )
        ccs.append(
            CCMapping(
                control=control,
                param=name,
                channel=_int(entry, "channel", 1, 16, table, config),
                min=bounds[0],
                max=bounds[1],
                curve=curve,
            )
        )
    notes = []
    for i, entry in enumerate(_table_list(data, "note", config)):
        table = f"midi.note#{i}"
        _check_keys(entry, NOTE_KEYS, table, config)
        note = _int(entry, "note", 0, 127, table, config, required=True)
        name = entry.get("action")
        if name not in ACTIONS_BY_NAME:
            raise config.error(
                table,
                "action",
                f"[[midi.note]] action must be one of {', '.join(ACTIONS_BY_NAME)}, got {name!r}",
            )
        kind = ACTIONS_BY_NAME[name].kind
        mode = entry.get("mode", "toggle" if kind == "toggle" else "trigger")
        if mode not in NOTE_MODES or (kind == "trigger") != (mode == "trigger"):
            allowed = "toggle or momentary" if kind == "toggle" else "trigger"
            raise config.error(table, "mode", f"mode for {name} must be {allowed}, got {mode!r}")
        notes.append(
            NoteMapping(
                note=note,
                action=name,
                channel=_int(entry, "channel", 1, 16, table, config),
                mode=mode,
            )
        )
    return MidiConfig(input=port, program_change=program, cc=tuple(ccs), note=tuple(notes))


def _table_list(data: dict[str, Any], key: str, config: Config) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise config.error("midi", key, f"write each mapping as a [[midi.{key}]] table")
    return value


def _check_keys(entry: dict[str, Any], known: tuple[str, ...], table: str, config: Config):
    for key in entry:
        if key not in known:
            name = table.split("#")[0]
            raise config.error(
                table, key, f"unknown key {key!r} in [[{name}]] (known: {', '.join(known)})"
            )


def _int(
    entry: dict[str, Any],
    key: str,
    lo: int,
    hi: int,
    table: str,
    config: Config,
    *,
    required: bool = False,
) -> int | None:
    value = entry.get(key)
    if value is None:
        if required:
            name = table.split("#")[0]
            line = config.line_of("", table)
            raise ConfigError(
                f"{f'line {line}: ' if line else ''}[[{name}]] needs {key} = {lo}..{hi}",
                path=config.path,
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise config.error(table, key, f"{key} must be an integer {lo}..{hi}, got {value!r}")
    return value


# -- writing ---------------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    """A TOML literal for a str, bool, int, float or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | os.PathLike):
        return json.dumps(os.fspath(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def path_for_set_file(path: str | os.PathLike[str], set_folder: Path | None) -> str:
    """``path`` as a set file in ``set_folder`` names it (the loader reads it back relative
    to that folder): relative, so a project folder of corpora and sets keeps working when it
    is moved or copied to another machine; absolute when the two share nothing but the root
    (or lie on different Windows drives), or when there is no folder (a dump to stdout)."""
    absolute = Path(os.path.abspath(path))
    if set_folder is None:
        return str(absolute)
    folder = Path(os.path.abspath(set_folder))
    try:
        common = Path(os.path.commonpath([absolute, folder]))
    except ValueError:  # different drives
        return str(absolute)
    if common == Path(common.anchor):
        return str(absolute)
    return Path(os.path.relpath(absolute, folder)).as_posix()


def dump_config(
    *,
    corpora: list[str],
    setup: dict[str, Any],
    params: dict[str, Value],
    midi: MidiConfig,
    set_folder: Path | None = None,
) -> str:
    """The TOML text of a set file that brings back this state. Corpora and the [setup]
    values that are paths (:class:`~pathlib.Path`) are written as :func:`path_for_set_file`
    names them for a set file in ``set_folder``."""
    out = ["# livecat live set (livecat live --dump-config); load with --config", ""]
    out.append(f"corpora = {toml_value([path_for_set_file(c, set_folder) for c in corpora])}")
    out += ["", "[setup]"]
    for key, value in setup.items():
        if isinstance(value, Path):
            value = path_for_set_file(value, set_folder)
        if value is not None:
            out.append(f"{key} = {toml_value(value)}")
    out += ["", "[params]"]
    for p in PARAMS:
        out.append(f"{p.name} = {toml_value(params.get(p.name, p.default))}  # {p.expects()}")
    out += ["", "[midi]"]
    if midi.input is not None:
        out.append(f"input = {toml_value(midi.input)}")
    out.append(f"program_change = {toml_value(midi.program_change)}")
    for cc in midi.cc:
        out += ["", "[[midi.cc]]"]
        for key in CC_KEYS:
            value = getattr(cc, key)
            if value is not None:
                out.append(f"{key} = {toml_value(value)}")
    for note in midi.note:
        out += ["", "[[midi.note]]"]
        for key in NOTE_KEYS:
            value = getattr(note, key)
            if value is not None:
                out.append(f"{key} = {toml_value(value)}")
    return "\n".join(out) + "\n"


def write_config(path: str | os.PathLike[str], text: str) -> None:
    """Write atomically: a power cut leaves the old file or the new one, never half. The
    temporary file is created anew (never through a link someone left at its name, which
    would have the set written over the file it points to)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:  # a leftover of a crashed run with this pid, or a planted link
            os.unlink(tmp)  # removes the link itself, never what it points to
            fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write the config file: {exc.strerror or exc}", path=path
        ) from None
