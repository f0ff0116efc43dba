"""MIDI control: a controller's faders, pads and program changes become live requests.

Two layers, kept apart so the mapping is tested with built messages (routing separate from
transport, as in python-osc):

* :class:`MidiMapper` turns one mido message into :class:`~livecat.control.state.Controls`
  requests, following a :class:`~livecat.control.config.MidiConfig`, and does MIDI learn.
  It imports no MIDI library: anything with mido's message attributes will do.
* :class:`MidiInput` finds a port through mido's python-rtmidi backend (the
  ``livecat[midi]`` extra, imported only here), opens it with python-rtmidi and hands every
  message, parsed by mido, to the mapper from its own reader thread.

CC curves (``[[midi.cc]] curve``). For a CC value ``v`` = 0..127, ``x = v / 127``, over
``[min, max]`` (default: the parameter's whole range; ``min > max`` turns the fader round):

``linear``  ``min + x·(max − min)``
``log``     ``min·(max/min)^x``: equal travel for equal ratios (needs ``min > 0``); the
            default for parameters whose own curve is log (``gate_fade``)
``exp``     ``min + x²·(max − min)``: more travel at the low end — half-way up the fader
            is a quarter of the range, for fine control of small values

0 is exactly ``min`` and 127 exactly ``max``. Integers are rounded; a choice takes the
choice its slice of the travel covers (:meth:`Param.from_norm`); a bool is on from 64.

Threads: :class:`MidiInput`'s reader thread calls :meth:`MidiMapper.handle`; the mapper
only validates and appends to the Controls inbox. Learn is armed from the main thread. One
lock, held for a few statements while learning, is shared by those two threads only, never
by the audio thread. No Python runs in rtmidi's or JACK's own threads (see MidiInput).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, NamedTuple

from livecat.control.config import CCMapping, MidiConfig, NoteMapping
from livecat.control.params import ACTIONS, PARAMS, Param, Value, action, param
from livecat.control.state import Controls
from livecat.errors import DeviceError, ParameterError

log = logging.getLogger(__name__)

INSTALL_HINT = "MIDI needs mido and python-rtmidi: pip install 'livecat[midi]'"

#: ``api=`` names for :class:`MidiInput` → mido's rtmidi API names.
APIS = {
    "alsa": "LINUX_ALSA",
    "jack": "UNIX_JACK",
    "coremidi": "MACOSX_CORE",
    "winmm": "WINDOWS_MM",
}
_API_LABELS = {v: k.upper() if k in ("alsa", "jack") else k for k, v in APIS.items()}


# -- the mapping layer -----------------------------------------------------------------------------
class LearnTarget(NamedTuple):
    """Something MIDI learn can assign: ``kind`` is "param" (learnt from a CC) or "action"
    (learnt from a note)."""

    kind: str
    name: str


def learn_targets() -> list[LearnTarget]:
    """Every parameter, then every action, in registry order: what the window's learn mode
    cycles through."""
    return [LearnTarget("param", p.name) for p in PARAMS] + [
        LearnTarget("action", a.name) for a in ACTIONS
    ]


class _CCRule(NamedTuple):
    """A CC mapping with its range and curve resolved once, so the MIDI thread only does
    arithmetic."""

    mapping: CCMapping
    param: Param
    lo: float
    hi: float
    curve: str


def _rule(mapping: CCMapping) -> _CCRule:
    """Check ``mapping`` against the registry and resolve its defaults."""
    p = param(mapping.param)
    lo = p.lo if mapping.min is None else float(mapping.min)
    hi = p.hi if mapping.max is None else float(mapping.max)
    curve = mapping.curve or p.curve
    if curve not in ("linear", "log", "exp"):
        raise ParameterError(f"MIDI CC {mapping.control} → {p.name}: unknown curve {curve!r}")
    if p.kind in ("float", "int"):
        for bound in (lo, hi):
            p.coerce(int(bound) if p.kind == "int" and bound == int(bound) else bound)
        if curve == "log" and min(lo, hi) <= 0:
            raise ParameterError(
                f"MIDI CC {mapping.control} → {p.name}: curve log needs min and max above 0, "
                f"got {lo:g}..{hi:g}"
            )
    return _CCRule(mapping, p, lo, hi, curve)


def cc_value(mapping: CCMapping, value: int) -> Value:
    """The parameter value a CC ``value`` (0..127) stands for under ``mapping`` (see the
    module docstring for the curves). Raises ParameterError for a mapping that cannot work."""
    return _scale(_rule(mapping), value)


def _scale(rule: _CCRule, value: int) -> Value:
    p = rule.param
    value = min(max(int(value), 0), 127)
    if p.kind == "bool":
        return value >= 64
    x = value / 127.0
    if p.kind == "choice":
        return p.from_norm(x)
    lo, hi = rule.lo, rule.hi
    if value == 0:
        number = lo
    elif value == 127:
        number = hi
    elif rule.curve == "log":
        number = lo * (hi / lo) ** x
    else:
        t = x * x if rule.curve == "exp" else x
        number = lo * (1.0 - t) + hi * t
    number = min(max(number, min(lo, hi)), max(lo, hi))
    if p.kind == "int":
        return int(round(number))
    return number


class MidiMapper:
    """mido messages → Controls requests, and MIDI learn.

    Parameters
    ----------
    controls : Controls
        Where requests go (origin "midi").
    config : MidiConfig, optional
        The mappings (``[midi]`` of the set file). Raises ParameterError if a mapping names
        an unknown parameter or action, or asks for a log curve over a range touching 0.

    Counters (read from any thread): ``handled`` messages that led to a request or a learnt
    mapping, ``ignored`` messages nothing is mapped to (clock, aftertouch, unmapped CCs...),
    ``errors`` messages that could not be used (malformed, or a request Controls refused).
    :meth:`handle` never raises: a controller must never stop the show.
    """

    def __init__(self, controls: Controls, config: MidiConfig | None = None) -> None:
        self.controls = controls
        self._lock = threading.Lock()  # the MIDI thread and the main thread only
        self._config = MidiConfig()
        self._cc: dict[int, tuple[_CCRule, ...]] = {}
        self._notes: dict[int, tuple[NoteMapping, ...]] = {}
        self._learning: LearnTarget | None = None
        self.last_learned: CCMapping | NoteMapping | None = None
        self.handled = 0
        self.ignored = 0
        self.errors = 0
        self.learned = 0
        self.replace(config or MidiConfig())

    # -- configuration (main thread) -----------------------------------------------------------
    def replace(self, config: MidiConfig) -> None:
        """Use ``config``'s mappings from now on (start-up, and ``reload_config``)."""
        rules = [_rule(m) for m in config.cc]
        for m in config.note:
            _check_note(m)
        with self._lock:
            self._install(config, rules)

    def mappings(self) -> MidiConfig:
        """The mappings in use, learnt ones included (for ``--dump-config``)."""
        return self._config

    def _install(self, config: MidiConfig, rules: list[_CCRule]) -> None:
        """Swap in new lookup tables (caller holds the lock). The MIDI thread reads a table
        with one attribute access, so it sees the old one or the new one, never half."""
        cc: dict[int, tuple[_CCRule, ...]] = {}
        for r in rules:
            cc[r.mapping.control] = (*cc.get(r.mapping.control, ()), r)
        notes: dict[int, tuple[NoteMapping, ...]] = {}
        for m in config.note:
            notes[m.note] = (*notes.get(m.note, ()), m)
        self._config, self._cc, self._notes = config, cc, notes

    # -- learn (armed from the main thread) --------------------------------------------------------
    def learn(self, name: str) -> None:
        """Arm learn for parameter ``name``: the next control change, on any channel, moves it
        from then on (replacing what that control and channel did before)."""
        param(name)
        with self._lock:
            self._learning = LearnTarget("param", name)

    def learn_action(self, name: str) -> None:
        """Arm learn for action ``name``: the next note-on, on any channel, does it from then on
        (toggle actions: each press flips; trigger actions: each press fires)."""
        action(name)
        with self._lock:
            self._learning = LearnTarget("action", name)

    def arm(self, target: LearnTarget) -> None:
        """:meth:`learn` or :meth:`learn_action`, by the target's kind."""
        if target.kind == "param":
            self.learn(target.name)
        else:
            self.learn_action(target.name)

    def cancel_learn(self) -> None:
        with self._lock:
            self._learning = None

    @property
    def learning(self) -> LearnTarget | None:
        """What learn is armed for, or None."""
        return self._learning

    def describe(self, target: LearnTarget) -> str:
        """The controls currently mapped to ``target``, e.g. "CC 7 ch 1", or "unmapped"."""
        config = self._config
        if target.kind == "param":
            found = [_cc_label(m) for m in config.cc if m.param == target.name]
        else:
            found = [_note_label(m) for m in config.note if m.action == target.name]
        return ", ".join(found) if found else "unmapped"

    # -- messages (the MIDI reader thread) ---------------------------------------------------------
    def refuse(self) -> None:
        """Count a message that could not be parsed (the reader calls this)."""
        self.errors += 1

    def handle(self, message: Any) -> None:
        """Map one mido message to requests. Never raises; see the counters."""
        try:
            kind = message.type
            if kind == "control_change":
                used = self._control(message.channel, message.control, message.value)
            elif kind == "note_on" or kind == "note_off":
                down = kind == "note_on" and message.velocity > 0
                used = self._note(message.channel, message.note, down)
            elif kind == "program_change" and self._config.program_change:
                self.controls.request_corpus(int(message.program), origin="midi")
                used = True
            else:
                used = False
        except Exception as exc:  # a bad message, or a request Controls refused
            self.errors += 1
            log.debug("MIDI message %r not used: %s", message, exc)
            return
        if used:
            self.handled += 1
        else:
            self.ignored += 1

    def _control(self, channel: int, control: int, value: int) -> bool:
        if self._learning is not None:  # a cheap look first: the lock only while learning
            with self._lock:
                target = self._learning
                if target is not None and target.kind == "param":
                    self._learning = None
                    self._learn_cc(target.name, channel + 1, control)
                    return True
        used = False
        for rule in self._cc.get(control, ()):
            if rule.mapping.channel is None or rule.mapping.channel == channel + 1:
                self.controls.request_param(rule.param.name, _scale(rule, value), origin="midi")
                used = True
        return used

    def _note(self, channel: int, note: int, down: bool) -> bool:
        if down and self._learning is not None:
            with self._lock:
                target = self._learning
                if target is not None and target.kind == "action":
                    self._learning = None
                    self._learn_note(target.name, channel + 1, note)
                    return True
        used = False
        for m in self._notes.get(note, ()):
            if m.channel is None or m.channel == channel + 1:
                used = True
                if m.mode == "momentary":
                    self.controls.request_action(m.action, down, origin="midi")
                elif down:  # toggle flips, trigger fires; their note-offs do nothing
                    self.controls.request_action(m.action, origin="midi")
        return used

    def _learn_cc(self, name: str, channel: int, control: int) -> None:
        """Map ``control``/``channel`` to ``name`` (caller holds the lock). A mapping this
        message would have triggered is replaced; re-learning the same parameter keeps its
        min, max and curve."""
        config = self._config
        kept, new = [], CCMapping(control=control, param=name, channel=channel)
        for m in config.cc:
            if m.control == control and m.channel in (None, channel):
                if m.param == name:
                    new = replace(m, channel=channel)
                continue
            kept.append(m)
        kept.append(new)
        self._install(replace(config, cc=tuple(kept)), [_rule(m) for m in kept])
        self.last_learned = new
        self.learned += 1
        log.info("MIDI learn: %s → %s", _cc_label(new), name)

    def _learn_note(self, name: str, channel: int, note: int) -> None:
        config = self._config
        mode = "toggle" if action(name).kind == "toggle" else "trigger"
        kept, new = [], NoteMapping(note=note, action=name, channel=channel, mode=mode)
        for m in config.note:
            if m.note == note and m.channel in (None, channel):
                if m.action == name:
                    new = replace(m, channel=channel)
                continue
            kept.append(m)
        kept.append(new)
        self._install(replace(config, note=tuple(kept)), [_rule(m) for m in config.cc])
        self.last_learned = new
        self.learned += 1
        log.info("MIDI learn: %s → %s", _note_label(new), name)


def _check_note(mapping: NoteMapping) -> None:
    a = action(mapping.action)
    allowed = ("toggle", "momentary") if a.kind == "toggle" else ("trigger",)
    if mapping.mode not in allowed:
        raise ParameterError(
            f"MIDI note {mapping.note} → {a.name}: mode must be {' or '.join(allowed)}, "
            f"got {mapping.mode!r}"
        )


def _channel_label(channel: int | None) -> str:
    return "any channel" if channel is None else f"ch {channel}"


def _cc_label(m: CCMapping) -> str:
    return f"CC {m.control} {_channel_label(m.channel)}"


def _note_label(m: NoteMapping) -> str:
    return f"note {m.note} {_channel_label(m.channel)} ({m.mode})"


class LearnMenu:
    """The window's MIDI learn mode, as plain state the display drives (main thread).

    Keys: ``m`` turns learn mode on (arming the selected target) and off; in learn mode
    ``,`` and ``.`` select the previous/next target (parameters, then actions) and arm it.
    :meth:`overlay` is the line to show, None when learn mode is off.
    """

    KEYS = ("m", ",", ".")

    def __init__(self, mapper: MidiMapper) -> None:
        self.mapper = mapper
        self.targets = learn_targets()
        self.index = 0
        self.active = False

    @property
    def target(self) -> LearnTarget:
        return self.targets[self.index]

    def key(self, key: str) -> bool:
        """Handle ``key``; returns whether it was a learn key (otherwise the display's own)."""
        if key == "m":
            self.active = not self.active
            if self.active:
                self.mapper.arm(self.target)
            else:
                self.mapper.cancel_learn()
            return True
        if key in (",", ".") and self.active:
            step = 1 if key == "." else -1
            self.index = (self.index + step) % len(self.targets)
            self.mapper.arm(self.target)
            return True
        return False

    def overlay(self) -> str | None:
        if not self.active:
            return None
        target = self.target
        keys = "[, .] choose  [m] done"
        if self.mapper.learning == target:
            gesture = "move a control" if target.kind == "param" else "press a pad or key"
            now = self.mapper.describe(target)
            return f"MIDI learn: {target.name} — {gesture} (now: {now})  {keys}"
        return f"MIDI learn: {target.name} ← {self.mapper.describe(target)}  {keys}"


# -- the port --------------------------------------------------------------------------------------
def _mido() -> Any:
    """Import mido (and check for python-rtmidi) with a one-line fix hint."""
    try:
        import mido
        import rtmidi  # noqa: F401  (what opens the port)
    except ImportError as exc:
        raise DeviceError(f"{INSTALL_HINT} ({exc.name or exc} is missing)") from None
    return mido


def _api_name(api: str | None) -> str | None:
    """``alsa``/``jack``/... (or mido's own ``UNIX_JACK``...) → mido's API name."""
    if api is None:
        return None
    key = api.strip()
    if key.lower() in APIS:
        return APIS[key.lower()]
    if key.upper() in APIS.values():
        return key.upper()
    raise ParameterError(f"MIDI api must be one of {', '.join(APIS)}, got {api!r}")


def _backend(mido: Any, api: str) -> Any:
    return mido.Backend("mido.backends.rtmidi", api=api)


def _apis(mido: Any, api: str | None) -> list[str]:
    """The rtmidi APIs to look in: the one asked for, or every compiled one (on Linux ALSA
    then JACK), so a JACK-only rig (no ALSA sequencer, or PipeWire) works unasked."""
    if api is not None:
        return [api]
    return list(mido.Backend("mido.backends.rtmidi").module.get_api_names())


def resolve_port(spec: str, names: list[str]) -> str:
    """The port in ``names`` that ``spec`` names: a case-insensitive substring, an exact name
    winning over longer ones. DeviceError listing the candidates otherwise."""
    matches = [n for n in names if spec.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no MIDI input matches {spec!r}; {_listing(names)}")
    exact = [n for n in matches if n.lower() == spec.lower()]
    if len(exact) == 1:
        return exact[0]
    raise DeviceError(f"MIDI input {spec!r} is ambiguous: {_listing(matches, 'candidates')}")


def _listing(names: list[str], title: str = "available") -> str:
    if not names:
        return "no MIDI inputs available"
    return f"{title}: " + ", ".join(repr(n) for n in names)


def input_names(api: str | None = None) -> list[tuple[str, str]]:
    """Every MIDI input as ``(api, name)``, looking in every usable API (or ``api``)."""
    mido = _mido()
    found = []
    for a in _apis(mido, _api_name(api)):
        try:
            found += [(a, n) for n in _backend(mido, a).get_input_names()]
        except Exception as exc:  # an API that cannot start here (no sequencer, no server)
            log.debug("MIDI API %s unusable: %s", a, exc)
    return found


def describe_inputs(api: str | None = None) -> str:
    """The MIDI inputs, one a line (for ``livecat devices``)."""
    found = input_names(api)
    if not found:
        return "no MIDI inputs (is the controller plugged in? under JACK, is the server up?)"
    return "\n".join(f"  {_API_LABELS.get(a, a)}  {n}" for a, n in found)


class MidiInput:
    """A MIDI input port feeding a :class:`MidiMapper`, opened on construction.

    Parameters
    ----------
    mapper : MidiMapper
    port : str
        Case-insensitive substring of the port's name (``[midi] input``).
    api : {"alsa", "jack", "coremidi", "winmm"}, optional
        rtmidi API. By default every compiled one is tried in rtmidi's order, and the first
        with a matching port is used.
    poll_s : float
        How often the reader thread empties rtmidi's queue (5 ms: below a display tick,
        which is when requests are applied anyway).

    No Python runs in MIDI's own threads: rtmidi queues incoming messages in C++ and a
    reader thread takes them. With a Python callback, rtmidi's JACK backend would call
    Python from the JACK process thread, which then waits for the GIL: the whole JACK graph
    (livecat's audio included) stalls behind it, and closing the port while a message is in
    flight wedged the server in our tests.

    If the port disappears (cable pulled, the sending program quits) nothing breaks:
    messages stop. :meth:`check`, called by the main thread about once a second, notices,
    closes the port (``lost`` counts it) and reopens one matching ``port`` when it is back.
    Raises DeviceError when mido or python-rtmidi is missing, or when no port (or more than
    one) matches, listing the ports.
    """

    def __init__(
        self, mapper: MidiMapper, port: str, *, api: str | None = None, poll_s: float = 0.005
    ) -> None:
        self.mapper = mapper
        self.spec = port
        self.poll_s = poll_s
        self._mido = _mido()
        self._rt: Any = None  # one rtmidi client for the input's whole life
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._open_now = False
        self._closed = False
        self.lost = 0
        self.api, self.port_name = self._find(_api_name(api))
        import rtmidi

        try:
            self._rt = rtmidi.MidiIn(rtapi=getattr(rtmidi, f"API_{self.api}"), name="livecat-midi")
        except Exception as exc:
            raise DeviceError(f"cannot open MIDI ({_API_LABELS.get(self.api)}): {exc}") from None
        try:
            self._open(self.port_name)
        except DeviceError:
            self._rt.delete()
            raise

    def _find(self, api: str | None) -> tuple[str, str]:
        seen: list[str] = []
        problems: list[str] = []
        for a in _apis(self._mido, api):
            try:
                names = list(_backend(self._mido, a).get_input_names())
            except Exception as exc:
                problems.append(f"{_API_LABELS.get(a, a)}: {str(exc).strip()}")
                continue
            if any(self.spec.lower() in n.lower() for n in names):
                return a, resolve_port(self.spec, names)
            seen += names
        why = f" ({'; '.join(problems)})" if problems else ""
        raise DeviceError(f"no MIDI input matches {self.spec!r}; {_listing(seen)}{why}")

    def _open(self, name: str) -> None:
        try:
            index = list(self._rt.get_ports()).index(name)
            self._rt.open_port(index, name="midi_in")
        except Exception as exc:
            reason = "it is gone" if isinstance(exc, ValueError) else exc
            raise DeviceError(f"cannot open MIDI input {name!r}: {reason}") from None
        self.port_name = name
        self._open_now = True
        self._stop = threading.Event()
        self._reader = threading.Thread(
            target=self._read, args=(self._stop,), name="livecat-midi", daemon=True
        )
        self._reader.start()
        log.info("MIDI input: %s (%s)", name, _API_LABELS.get(self.api, self.api))

    def _read(self, stop: threading.Event) -> None:
        """The reader thread: parse what rtmidi queued and hand it to the mapper."""
        parse = self._mido.Message.from_bytes
        get = self._rt.get_message
        while not stop.wait(self.poll_s):
            while (item := get()) is not None:
                try:
                    message = parse(item[0])
                except (ValueError, TypeError):
                    self.mapper.refuse()
                    continue
                self.mapper.handle(message)

    @property
    def is_open(self) -> bool:
        return self._open_now

    def check(self) -> bool:
        """Main thread, about once a second: is the port still there? Closes it when it is
        gone and reopens one matching the same name when it is back. Returns whether open.
        The input's own rtmidi client lists the ports: no new JACK client per check."""
        if self._closed:
            return False
        try:
            names = list(self._rt.get_ports())
        except Exception as exc:
            log.debug("cannot list MIDI inputs: %s", exc)
            names = []
        if self._open_now:
            if self.port_name in names:
                return True
            log.warning("MIDI input %r is gone; waiting for it to come back", self.port_name)
            self.lost += 1
            self._close_port()
            return False
        matches = [n for n in names if self.spec.lower() in n.lower()]
        if not matches:
            return False
        try:
            self._open(resolve_port(self.spec, matches))
        except DeviceError as exc:
            log.warning("%s", exc)
            return False
        return True

    def _close_port(self) -> None:
        """Stop the reader, then close the port (keeping the client to list and reopen)."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if self._open_now:
            self._open_now = False
            try:
                self._rt.close_port()
            except Exception as exc:  # a vanished device may refuse a clean close
                log.debug("closing MIDI input %r: %s", self.port_name, exc)

    def close(self) -> None:
        """Stop: no more messages reach the mapper, :meth:`check` reopens nothing. Safe to
        call twice."""
        if self._closed:
            return
        self._closed = True
        self._close_port()
        self._rt.delete()

    def __enter__(self) -> MidiInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_midi(
    controls: Controls, config: MidiConfig, *, api: str | None = None
) -> tuple[MidiMapper, MidiInput | None]:
    """The mapper for ``config``, and its input port when ``config.input`` names one (None:
    mappings and learn still work for messages fed by other means, e.g. tests)."""
    mapper = MidiMapper(controls, config)
    port = MidiInput(mapper, config.input, api=api) if config.input is not None else None
    return mapper, port
