"""Requests from the outside world (OSC, MIDI, keys, config reloads) and the current values.

Any thread may *request* a change: the request is validated on the caller's thread (so a bad
value is refused there, counted, and never reaches the engine) and appended to an inbox.
Only the main thread *applies* requests (:meth:`Controls.drain`), once per display tick, so
nothing an OSC or MIDI sender does can touch the engine or the audio thread directly
(STYLE.md: "parse into actions on a queue").
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from livecat.control.params import ACTIONS, PARAMS, Value, action, defaults, param
from livecat.errors import ParameterError

# Actions whose second request in a row adds nothing to the first (re-reading the same set
# file): drain() keeps only the latest. Toggles and corpus steps are not: each flips or moves.
IDEMPOTENT = frozenset({"reload_config"})


@dataclass(frozen=True)
class Request:
    """One validated request. ``kind`` is "param", "action" or "corpus"."""

    kind: str
    name: str
    value: Value | None = None
    origin: str = ""  # "osc", "midi", "key", "config": for logs and tests


class Controls:
    """The inbox and the state it leads to.

    Parameters
    ----------
    values : dict, optional
        Starting parameter values (missing ones take the registry defaults).
    inbox_size : int
        Requests kept when the main thread falls behind; the oldest are dropped (and
        counted) rather than letting a flood of messages grow memory.
    """

    def __init__(self, values: dict[str, Value] | None = None, *, inbox_size: int = 4096) -> None:
        self.values: dict[str, Value] = defaults()
        for name, value in (values or {}).items():
            self.values[name] = param(name).coerce(value)
        self.toggles: dict[str, bool] = {a.name: False for a in ACTIONS if a.kind == "toggle"}
        self._inbox: collections.deque[Request] = collections.deque(maxlen=inbox_size)
        self._lock = threading.Lock()  # only between requesting threads, never the audio one
        self.requested = 0
        self.refused = 0  # requests with a bad name or value (counted, never raised)
        self.version = 0  # bumped whenever an applied request changed something
        self.coalesced = 0  # requests dropped by drain() for a later one of the same effect

    # -- any thread ------------------------------------------------------------------------------
    def request_param(self, name: str, value: object, *, origin: str = "") -> None:
        """Ask for ``name = value``; raises ParameterError (and counts it) when invalid."""
        try:
            p = param(name)
            self._put(Request("param", name, p.coerce(value), origin))
        except ParameterError:
            self._refuse()
            raise

    def request_param_norm(self, name: str, x: object, *, origin: str = "") -> None:
        """Ask for ``name`` at normalised position ``x`` (0..1) of its range."""
        try:
            p = param(name)
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise ParameterError(f"{name}/norm: expected a number 0..1, got {x!r}")
            self._put(Request("param", name, p.from_norm(float(x)), origin))
        except ParameterError:
            self._refuse()
            raise

    def request_action(self, name: str, value: object = None, *, origin: str = "") -> None:
        """Ask for action ``name``; toggles take 1/0 (set) or nothing (flip)."""
        try:
            a = action(name)
            state: bool | None = None
            if value is not None and a.kind == "toggle":
                if isinstance(value, bool):
                    state = value
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    if value not in (0, 1):
                        raise ParameterError(f"{name}: expected 1 or 0, got {value!r}")
                    state = bool(value)
                else:
                    raise ParameterError(f"{name}: expected 1 or 0, got {value!r}")
            self._put(Request("action", name, state, origin))
        except ParameterError:
            self._refuse()
            raise

    def request_corpus(self, which: str | int, *, origin: str = "") -> None:
        """Ask for a switch to corpus ``which`` (its name, path or 0-based position)."""
        if isinstance(which, bool) or not isinstance(which, str | int):
            self._refuse()
            raise ParameterError(f"corpus: expected a name or a number, got {which!r}")
        self._put(Request("corpus", str(which), None, origin))

    def refuse(self, n: int = 1) -> None:
        """Count ``n`` messages that never became requests (malformed, unknown address...)."""
        self._refuse(n)

    def _put(self, request: Request) -> None:
        with self._lock:
            self._inbox.append(request)
            self.requested += 1

    def _refuse(self, n: int = 1) -> None:
        with self._lock:
            self.refused += n

    # -- the main thread -----------------------------------------------------------------------
    def drain(self, limit: int = 256) -> list[Request]:
        """Take up to ``limit`` pending requests, oldest first. For parameters only the
        latest request per name survives (a fader sends dozens per second), and of the
        idempotent actions (:data:`IDEMPOTENT`) only the latest of each: a bundle full of
        ``reload_config`` reads the set file once. What is dropped so is counted
        in ``coalesced``."""
        taken: list[Request] = []
        with self._lock:
            while self._inbox and len(taken) < limit:
                taken.append(self._inbox.popleft())
        latest: dict[tuple[str, str], int] = {}
        for i, r in enumerate(taken):
            if r.kind == "param" or (r.kind == "action" and r.name in IDEMPOTENT):
                latest[r.kind, r.name] = i
        kept = [r for i, r in enumerate(taken) if latest.get((r.kind, r.name), i) == i]
        self.coalesced += len(taken) - len(kept)
        return kept

    def pending(self) -> int:
        return len(self._inbox)

    def snapshot(self) -> dict[str, Value]:
        """A copy of the current parameter values."""
        return dict(self.values)


def registered_names() -> tuple[list[str], list[str]]:
    """(parameter names, action names): what every front end must reach."""
    return [p.name for p in PARAMS], [a.name for a in ACTIONS]


@dataclass(frozen=True)
class Status:
    """What livecat is doing, once per display tick: the feedback OSC sends and the HUD
    shows. ``level`` is the input level mapped to 0..1 (-60..0 dBFS)."""

    entry: int
    source: str
    source_t_s: float
    level: float
    xruns: int
    corpus: str
    params: dict[str, Value]
    toggles: dict[str, bool]
