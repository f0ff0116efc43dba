"""OSC in and out: ``--osc-listen HOST:PORT`` and ``--osc-send HOST:PORT``.

In (:class:`OscControl`): one daemon thread reads UDP datagrams, python-osc parses them, a
python-osc :class:`~pythonosc.dispatcher.Dispatcher` routes each message to a handler, and
the handler turns it into a request on :class:`~livecat.control.state.Controls` (validated
there, applied later by the main thread). Nothing here touches the engine, so nothing an OSC
sender does can reach the audio thread; anything malformed, oversized, unknown or wrongly
typed is counted (``ignored``, and ``controls.refused``) and dropped, and no datagram can
raise out of the server thread or stop it. Addresses::

    /livecat/param/<name>        value   the parameter's own units (see params.py)
    /livecat/param/<name>/norm   0..1    position in the parameter's range (its curve)
    /livecat/action/<name>       [1|0]   toggles: 1 on, 0 off, nothing flips;
                                         triggers: fire (a lone 0, a button's release, does not)
    /livecat/corpus/load         NAME    a corpus's name or path, or its 0-based position

Out (:class:`OscFeedback`): called by the display loop once per tick, it sends the status
(``/livecat/status/entry`` ...) every time and each parameter and toggle when it changed, so
controllers' faders and buttons follow what livecat is doing.
"""

from __future__ import annotations

import errno
import logging
import math
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from pythonosc.dispatcher import Dispatcher, Handler
from pythonosc.osc_message import OscMessage

from livecat.control.params import ACTIONS, PARAMS, PARAMS_BY_NAME, Param, Value
from livecat.control.state import Controls, Status
from livecat.errors import DeviceError, ParameterError

log = logging.getLogger(__name__)

PREFIX = "/livecat"
MAX_DATAGRAM = 8192  # bytes: a controller's message is tens of bytes; more is refused
MAX_BUNDLE_DEPTH = 4  # nested bundles deeper than this are refused
MAX_ADDRESS = 128  # bytes: livecat's longest address is under 50
MAX_ARGS = 8  # livecat's messages take one argument at most
# Messages taken from one datagram (a bundle); the rest are refused. Twice the addresses
# livecat listens to: a controller sending all its faders at once fits.
MAX_MESSAGES = 64
MAX_LOAD = 0.05  # share of one CPU the OSC thread may spend; beyond it pauses (a flood)
SLICE_S = 0.1  # the window over which that share is measured
MAX_CORPORA = 1000  # a corpus position beyond this is a sender's mistake, not a request
REFRESH_S = 2.0  # feedback: every parameter and toggle resent this often, changed or not
LOGGED_IGNORED = 10  # the first ignored messages are logged with the reason, then only counted

# Type tags python-osc parses; any other makes it log a warning per character, so such
# messages are refused before they reach it.
_KNOWN_TAGS = b"ihfdsbrmtTFN[]"
_BUNDLE = b"#bundle\x00"


class _Ignored(Exception):
    """A message refused by this module (the reason is the message)."""


def parse_endpoint(
    text: str, *, default_host: str = "127.0.0.1", allow_port_zero: bool = False
) -> tuple[str, int]:
    """``(host, port)`` from ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPV6]:PORT``.

    ``default_host`` is used when no host is written: 127.0.0.1 for listening means only
    programs on this machine can control livecat unless the user names another address.
    Port 0 (any free port) only with ``allow_port_zero``. Raises ParameterError.
    """
    usage = "expected PORT or HOST:PORT, e.g. 9000 or 127.0.0.1:9000 or [::1]:9000"
    raw = text.strip()
    if raw.startswith("["):
        match = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\w+)", raw)
        if match is None:
            raise ParameterError(f"OSC address {text!r}: {usage}")
        host, port_text = match.groups()
    elif raw.count(":") > 1:
        raise ParameterError(
            f"OSC address {text!r}: write IPv6 addresses in brackets, e.g. [::1]:9000"
        )
    elif ":" in raw:
        host, port_text = raw.split(":")
        host = host.strip() or default_host
    else:
        host, port_text = default_host, raw
    if not host or any(c.isspace() for c in host):
        raise ParameterError(f"OSC address {text!r}: {usage}")
    if not port_text.strip().isdigit():
        raise ParameterError(f"OSC address {text!r}: {usage}")
    port = int(port_text)
    lo = 0 if allow_port_zero else 1
    if not lo <= port <= 65535:
        raise ParameterError(f"OSC address {text!r}: the port must be {lo}..65535, got {port}")
    return host, port


def format_endpoint(host: str, port: int) -> str:
    """``HOST:PORT``, with IPv6 hosts in brackets (the form :func:`parse_endpoint` reads)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- in --------------------------------------------------------------------------------------------
class _ExactDispatcher(Dispatcher):
    """python-osc's dispatcher with exact address matching.

    Its own matching turns every incoming address into a regular expression: a sender's
    ``/a/*****...`` makes that backtrack for seconds, and every new address costs a
    compilation. livecat's addresses are fixed, so a dictionary look-up is enough; OSC
    address patterns (``*``, ``?``, ``[...]``, ``{...}``) are therefore not supported.
    """

    def handlers_for_address(self, address_pattern: str) -> Iterator[Handler]:
        handlers = self._map.get(address_pattern)
        if handlers:
            yield from handlers
        elif self._default_handler is not None:
            yield self._default_handler


class _Server(socketserver.UDPServer):
    """The transport: a blocking UDP server whose one thread handles every datagram itself
    (no thread per datagram: a flood must not spawn thousands)."""

    max_packet_size = 65536  # read whole datagrams, so oversized ones are seen and refused
    allow_reuse_address = False  # a port in use is an error, not a silent share

    def __init__(self, address: tuple[Any, ...], family: int, osc: OscControl) -> None:
        self.address_family = family
        self.osc = osc
        super().__init__(address, socketserver.BaseRequestHandler, bind_and_activate=True)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True  # every datagram is counted and judged in finish_request

    def finish_request(self, request: Any, client_address: Any) -> None:
        started = time.perf_counter()
        self.osc.handle_datagram(request[0])
        self.osc._pace(time.perf_counter() - started)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # handle_datagram catches everything; this is the last guard, never a traceback.
        self.osc._count_ignored("internal error")


class OscControl:
    """Receive OSC on ``host:port`` and turn messages into requests on ``controls``.

    Parameters
    ----------
    controls : Controls
    host : str
        Address to bind (127.0.0.1: this machine only; 0.0.0.0 or :: : the network).
    port : int
        UDP port; 0 picks a free one (see :attr:`address`).
    max_load : float or None
        Share of one CPU the thread may spend handling datagrams; once a 0.1 s window's
        share is spent it pauses until the window ends and the kernel drops what arrives
        meanwhile, so a flood costs a bounded share of the CPU (and of the GIL the audio
        callback needs). A controller's few hundred messages a second cost ~0.3 %. None: no
        limit.

    Counters (read from any thread): ``received`` datagrams; ``applied`` messages that
    became requests; ``ignored`` datagrams or messages refused (malformed, oversized,
    unknown address, wrong type or count of arguments, out of range, or beyond the first
    :data:`MAX_MESSAGES` of one datagram: each costs the main thread a request). A trigger's release
    (a lone 0) is neither.
    """

    def __init__(
        self,
        controls: Controls,
        *,
        host: str = "127.0.0.1",
        port: int,
        max_load: float | None = MAX_LOAD,
    ) -> None:
        self.controls = controls
        self.received = 0
        self.applied = 0
        self.ignored = 0
        self.last_ignored = ""  # the latest reason, for the HUD and logs
        self._reasons_logged = 0
        self.paused = 0  # times the thread paused because a flood spent its CPU share
        self._budget_s = None if max_load is None else max_load * SLICE_S
        self._slice_start = time.monotonic()
        self._slice_busy_s = 0.0
        self.dispatcher = self._make_dispatcher()
        self._thread: threading.Thread | None = None
        self._server = self._bind(host, port)

    # -- routing (no sockets: tests may call handle_datagram directly) -----------------------
    def _make_dispatcher(self) -> Dispatcher:
        dispatcher = _ExactDispatcher()
        for p in PARAMS:
            dispatcher.map(p.osc_address, self._on_param, p)
            dispatcher.map(p.osc_address + "/norm", self._on_norm, p)
        for a in ACTIONS:
            dispatcher.map(a.osc_address, self._on_action, a.name, a.kind)
        dispatcher.map(f"{PREFIX}/corpus/load", self._on_corpus)
        dispatcher.set_default_handler(self._on_unknown)
        return dispatcher

    def handle_datagram(self, data: bytes) -> None:
        """Route every message of one datagram (a message or a bundle). Never raises.

        ``received`` moves last, so whoever sees it move (the status line, a test waiting
        for the datagram) also sees what the datagram did to the other counters."""
        try:
            if len(data) > MAX_DATAGRAM:
                raise _Ignored(f"datagram of {len(data)} bytes (at most {MAX_DATAGRAM})")
            elements = _messages(data, 0)
        except _Ignored as exc:
            self._count_ignored(str(exc))
            elements = []
        except Exception as exc:  # nothing a sender does may escape
            self._count_ignored(f"malformed datagram ({type(exc).__name__})")
            elements = []
        try:
            if len(elements) > MAX_MESSAGES:
                excess = len(elements) - MAX_MESSAGES
                elements = elements[:MAX_MESSAGES]
                self._count_ignored(
                    f"bundle of {MAX_MESSAGES + excess} messages: the {excess} after the first "
                    f"{MAX_MESSAGES} are refused",
                    n=excess,
                )
            for element in elements:
                self._handle_message(element)
        finally:
            self.received += 1

    def _handle_message(self, element: bytes) -> None:
        address = element[: element.find(b"\x00")].decode("utf-8", "replace")
        try:
            _check_type_tags(element)
            message = OscMessage(element)
            address = message.address
            handled = False
            for handler in self.dispatcher.handlers_for_address(address):
                handled = True
                if self._invoke(handler, message):
                    self.applied += 1
            if not handled:
                raise _Ignored("unknown address")
        except ParameterError as exc:  # refused by Controls, which counted it
            self._count_ignored(f"{_short(address)}: {exc}", counted=True)
        except _Ignored as exc:
            self._count_ignored(f"{_short(address)}: {exc}")
        except Exception as exc:  # malformed, or a bug: never escapes
            self._count_ignored(f"{_short(address)}: malformed message ({type(exc).__name__})")

    def _invoke(self, handler: Handler, message: OscMessage) -> bool:
        """Call ``handler``; True when a request was made."""
        return bool(handler.invoke(("", 0), message))

    def _on_param(self, address: str, fixed: list[Any], *args: Any) -> bool:
        p: Param = fixed[0]
        value = _decimal(_one_arg(args))
        if not _fits(p, value):
            raise _Ignored(f"{p.expects()}, got {_type_name(value)} {_short(repr(value))}")
        self.controls.request_param(p.name, value, origin="osc")
        return True

    def _on_norm(self, address: str, fixed: list[Any], *args: Any) -> bool:
        p: Param = fixed[0]
        x = _decimal(_one_arg(args))
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise _Ignored(f"expects a number 0..1, got {_type_name(x)}")
        if not (math.isfinite(x) and 0.0 <= x <= 1.0):
            raise _Ignored(f"expects a number 0..1, got {x!r}")
        self.controls.request_param_norm(p.name, x, origin="osc")
        return True

    def _on_action(self, address: str, fixed: list[Any], *args: Any) -> bool:
        name, kind = fixed
        if kind == "trigger":
            if len(args) == 1 and isinstance(args[0], int | float) and args[0] == 0:
                return False  # a push button's release: the press already fired it
            self.controls.request_action(name, origin="osc")
            return True
        if len(args) > 1:
            raise _Ignored(f"expects 1, 0 or nothing, got {len(args)} arguments")
        if not args:
            self.controls.request_action(name, origin="osc")  # flip
            return True
        value = args[0]
        if not _is_number(value) and not isinstance(value, bool):
            raise _Ignored(f"expects 1, 0 or nothing, got {_type_name(value)}")
        self.controls.request_action(name, value, origin="osc")
        return True

    def _on_corpus(self, address: str, *args: Any) -> bool:
        value = _one_arg(args)
        which: str | int
        if isinstance(value, str) and value.strip():
            which = value
        elif _is_number(value) and math.isfinite(value) and value == int(value) and value >= 0:
            if value >= MAX_CORPORA:
                raise _Ignored(f"corpus position {value!r}: livecat plays fewer corpora")
            which = int(value)
        else:
            raise _Ignored(f"expects a corpus name or a position 0, 1, ..., got {value!r}")
        self.controls.request_corpus(which, origin="osc")
        return True

    def _on_unknown(self, address: str, *args: Any) -> bool:
        raise _Ignored("unknown address")

    def _count_ignored(self, reason: str, *, counted: bool = False, n: int = 1) -> None:
        """Count ``n`` refused messages of one reason (in ``controls.refused`` too, once
        each) and log the first few reasons."""
        self.ignored += n
        self.last_ignored = reason
        if not counted:
            self.controls.refuse(n)
        if self._reasons_logged < LOGGED_IGNORED:
            self._reasons_logged += 1
            log.warning("livecat: OSC: ignored %s", reason)
            if self._reasons_logged == LOGGED_IGNORED:
                log.warning("livecat: OSC: further ignored messages are only counted")

    # -- transport ---------------------------------------------------------------------------
    def _bind(self, host: str, port: int) -> _Server:
        where = format_endpoint(host, port)
        try:
            family, _, _, _, sockaddr = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise DeviceError(f"OSC: cannot listen on {where}: unknown host ({exc})") from None
        try:
            return _Server(sockaddr, family, self)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = " (another program has this port: choose another one)"
            raise DeviceError(f"OSC: cannot listen on {where}: {reason}{hint}") from None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (the real port when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> OscControl:
        """Serve on a daemon thread. Returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="livecat-osc",
                daemon=True,
            )
            self._thread.start()
            log.info("livecat: OSC: listening on %s", format_endpoint(*self.address))
        return self

    def summary(self) -> str:
        """One line for the end of a run."""
        paused = f", paused {self.paused} times by a flood" if self.paused else ""
        return (
            f"OSC in on {format_endpoint(*self.address)}: {self.received} datagrams, "
            f"{self.applied} applied, {self.ignored} ignored{paused}"
        )

    def close(self) -> None:
        """Stop serving and release the port (within ~0.2 s)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=1.0)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OscControl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace(self, busy_s: float) -> None:
        """Pause once this window's share of the CPU is spent (see ``max_load``)."""
        if self._budget_s is None:
            return
        now = time.monotonic()
        if now - self._slice_start >= SLICE_S:
            self._slice_start, self._slice_busy_s = now, 0.0
        self._slice_busy_s += busy_s
        if self._slice_busy_s >= self._budget_s:
            self.paused += 1
            time.sleep(max(0.0, self._slice_start + SLICE_S - now))
            self._slice_start, self._slice_busy_s = time.monotonic(), 0.0


def _resolve(host: str, port: int) -> tuple[Any, ...]:
    """The first address ``host`` resolves to, IPv4 first (so "localhost" means 127.0.0.1,
    where most controllers send)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"no address for {host}")
    return min(infos, key=lambda info: info[0] != socket.AF_INET)


def _messages(data: bytes, depth: int) -> list[bytes]:
    """The messages of a datagram: itself, or a bundle's elements (nested bundles walked,
    time tags ignored: a message is applied when it arrives, never scheduled)."""
    if data.startswith(_BUNDLE):
        if depth >= MAX_BUNDLE_DEPTH:
            raise _Ignored(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
        if len(data) < 16:
            raise _Ignored("malformed bundle (no time tag)")
        out: list[bytes] = []
        i = 16
        while i < len(data):
            if i + 4 > len(data):
                raise _Ignored("malformed bundle (truncated element size)")
            size = int.from_bytes(data[i : i + 4], "big", signed=True)
            i += 4
            if size <= 0 or size % 4 or i + size > len(data):
                raise _Ignored(f"malformed bundle (element size {size})")
            out += _messages(data[i : i + size], depth + 1)
            i += size
        return out
    if data.startswith(b"/"):
        return [data]
    raise _Ignored("malformed datagram (neither a message nor a bundle)")


def _check_type_tags(message: bytes) -> None:
    """Refuse, before python-osc parses them (byte by byte, in Python), addresses longer
    than any of livecat's, more arguments than any takes, and type tags python-osc does not
    know (it would log a warning per character)."""
    end = message.find(b"\x00", 0, MAX_ADDRESS + 1)
    if end < 0:
        raise _Ignored(f"address longer than {MAX_ADDRESS} bytes, or unterminated")
    start = (end // 4 + 1) * 4
    if start >= len(message):
        return  # no arguments
    stop = message.find(b"\x00", start, start + MAX_ARGS + 2)
    if stop < 0:
        raise _Ignored(f"more than {MAX_ARGS} arguments, or an unterminated type tag string")
    if message[start : start + 1] != b",":
        raise _Ignored("malformed message (no type tag string)")
    if message[start + 1 : stop].translate(None, _KNOWN_TAGS):
        raise _Ignored("malformed message (unknown type tag)")


def _decimal(value: Any) -> Any:
    """A float32 argument as the shortest decimal that is the same float32: controllers
    send 0.9 as 0.89999997615..., which the HUD and ``--dump-config`` should show as 0.9.
    Doubles that are not float32 values are left alone."""
    if type(value) is not float or not math.isfinite(value):
        return value
    try:
        packed = _FLOAT32.pack(value)
    except (OverflowError, struct.error):
        return value
    if _FLOAT32.unpack(packed)[0] != value:
        return value  # a double ('d') with more precision than float32
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if _FLOAT32.pack(short) == packed:
            return short
    return value


def _one_arg(args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise _Ignored(f"expects one argument, got {len(args)}")
    return args[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fits(p: Param, value: Any) -> bool:
    """Whether an OSC argument has a type ``p`` takes (its range is checked by Controls):
    numbers for numbers (a string "0.5" is a sender's mistake), 0/1 or T/F for bools,
    a name or a position for choices."""
    if p.kind in ("float", "int"):
        return _is_number(value)
    if p.kind == "bool":
        return _is_number(value) or isinstance(value, bool)
    return isinstance(value, str) or _is_number(value)


def _type_name(value: Any) -> str:
    return {bool: "a bool", int: "an int", float: "a float", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _short(text: str, n: int = 60) -> str:
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= n else text[: n - 3] + "..."


# -- out -------------------------------------------------------------------------------------------
def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8", "replace") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def _prefix(address: str, tags: str) -> bytes:
    return _osc_string(address) + _osc_string("," + tags)


_INT32 = struct.Struct(">i")
_FLOAT32 = struct.Struct(">f")


def _int32(value: int) -> bytes:
    return _INT32.pack(max(-(2**31), min(2**31 - 1, int(value))))


def _float32(value: float) -> bytes:
    value = float(value)
    if math.isfinite(value) and abs(value) > 3.4e38:
        value = math.copysign(3.4e38, value)
    return _FLOAT32.pack(value)


def encode_value(address: str, value: Value) -> bytes:
    """One OSC message carrying ``value``: int32 for ints and bools (0/1: what faders and
    buttons take), float32 for floats, a string for text."""
    if isinstance(value, bool | int):
        return _prefix(address, "i") + _int32(int(value))
    if isinstance(value, float):
        return _prefix(address, "f") + _float32(value)
    return _prefix(address, "s") + _osc_string(str(value))


class OscFeedback:
    """Send livecat's state to ``host:port`` once per display tick (:meth:`send`).

    Always: ``/livecat/status/entry`` (int, -1 when nothing is shown), ``.../source`` (string),
    ``.../source_t`` (float, seconds into the source), ``.../level`` (float 0..1, the input
    level over -60..0 dBFS) and ``.../xruns`` (int). When changed since the last send (and
    all of them every ``refresh_s``, so a controller started later catches up):
    ``/livecat/status/param/<name>`` value and ``.../<name>/norm`` 0..1 for every parameter,
    ``/livecat/status/action/<name>`` 0/1 for every toggle.

    The socket never blocks and send errors (nobody listening, a full buffer) are counted
    in ``failed``, never raised: the display loop must not wait on the network.
    """

    def __init__(self, *, host: str, port: int, refresh_s: float = REFRESH_S) -> None:
        where = format_endpoint(host, port)
        try:
            family, kind, proto, _, sockaddr = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise DeviceError(f"OSC: cannot send to {where}: unknown host ({exc})") from None
        self.target = where
        self.sent = 0
        self.failed = 0
        self.last_error = ""
        self._logged: set[str] = set()
        self.refresh_s = refresh_s
        self._sock = socket.socket(family, kind, proto)
        try:
            if family == socket.AF_INET:  # a broadcast address is allowed as the target
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self._sock.setblocking(False)
            self._sock.connect(sockaddr)  # also lets "nobody listening" be noticed and counted
        except OSError as exc:
            self._sock.close()
            raise DeviceError(f"OSC: cannot send to {where}: {exc.strerror or exc}") from None
        self._p_entry = _prefix(f"{PREFIX}/status/entry", "i")
        self._p_source = _prefix(f"{PREFIX}/status/source", "s")
        self._p_source_t = _prefix(f"{PREFIX}/status/source_t", "f")
        self._p_level = _prefix(f"{PREFIX}/status/level", "f")
        self._p_xruns = _prefix(f"{PREFIX}/status/xruns", "i")
        self._source = ""
        self._source_msg = self._p_source + _osc_string("")
        self._params: dict[str, Value] = {}
        self._toggles: dict[str, bool] = {}
        self._last_full = -math.inf
        log.info("livecat: OSC: sending feedback to %s", where)

    def send(self, status: Status) -> None:
        """Send ``status`` (see the class). Never raises for network trouble."""
        if status.source != self._source:
            self._source = status.source
            self._source_msg = self._p_source + _osc_string(status.source)
        self._send(self._p_entry + _int32(status.entry))
        self._send(self._source_msg)
        self._send(self._p_source_t + _float32(status.source_t_s))
        self._send(self._p_level + _float32(status.level))
        self._send(self._p_xruns + _int32(status.xruns))
        now = time.monotonic()
        full = now - self._last_full >= self.refresh_s
        if full:
            self._last_full = now
        for name, value in status.params.items():
            if full or self._params.get(name, _MISSING) != value:
                self._params[name] = value
                self._send_param(name, value)
        for name, on in status.toggles.items():
            if full or self._toggles.get(name, _MISSING) != on:
                self._toggles[name] = on
                self._send(_prefix(f"{PREFIX}/status/action/{name}", "i") + _int32(int(on)))

    def _send_param(self, name: str, value: Value) -> None:
        address = f"{PREFIX}/status/param/{name}"
        self._send(encode_value(address, value))
        p = PARAMS_BY_NAME.get(name)
        if p is not None:
            try:
                x = p.to_norm(value)
            except (ValueError, ZeroDivisionError, TypeError):
                return
            self._send(_prefix(address + "/norm", "f") + _float32(x))

    def _send(self, datagram: bytes) -> None:
        try:
            self._sock.send(datagram)
        except OSError as exc:
            self.failed += 1
            reason = exc.strerror or type(exc).__name__
            if reason not in self._logged:  # once per kind of trouble, not 60 times a second
                self._logged.add(reason)
                log.info("livecat: OSC: feedback to %s not delivered: %s", self.target, reason)
            self.last_error = reason
        else:
            self.sent += 1

    def summary(self) -> str:
        """One line for the end of a run."""
        return f"OSC feedback to {self.target}: {self.sent} sent, {self.failed} not delivered"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> OscFeedback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MISSING: Any = object()


# -- the address tables of docs/control.md (checked against the registry by the tests) -----------
def _osc_type(p: Param) -> str:
    return {
        "float": "float (an int will do)",
        "int": "int (a whole float will do)",
        "bool": "int 1/0, or T/F",
        "choice": "string, or int position",
    }[p.kind]


def _range(p: Param) -> str:
    if p.kind == "choice":
        return " \\| ".join(f"`{c}`" for c in p.choices)
    if p.kind == "bool":
        return "1 or 0"
    unit = f" {p.unit}" if p.unit else ""
    curve = ", log" if p.curve == "log" else ""
    return f"{p.lo:g}..{p.hi:g}{unit}{curve}"


def address_table() -> str:
    """The Markdown table of every address livecat listens to, from the registry."""
    from livecat.control.params import format_value

    rows = [
        "| address | argument | range | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for p in PARAMS:
        rows.append(
            f"| `{p.osc_address}` | {_osc_type(p)} | {_range(p)} | "
            f"{format_value(p.default)} | {p.help} |"
        )
    rows.append(
        f"| `{PREFIX}/param/<name>/norm` | float | 0..1 | | any parameter above by its "
        "position in its range (log ranges spread geometrically; choices split evenly) |"
    )
    for a in ACTIONS:
        if a.kind == "toggle":
            argument, effect = (
                "int or float 1/0, T/F, or none",
                f"{a.help}: 1 on, 0 off, none flips",
            )
        else:
            argument, effect = "none (a lone 0 is ignored)", a.help
        key = f" (key `{a.key}`)" if a.key else ""
        rows.append(f"| `{a.osc_address}` | {argument} | | | {effect}{key} |")
    rows.append(
        f"| `{PREFIX}/corpus/load` | string, or int | a corpus's name or path, or its "
        "position from 0 | | crossfade to that corpus |"
    )
    return "\n".join(rows)


def feedback_table() -> str:
    """The Markdown table of what ``--osc-send`` sends, from the registry."""
    when = f"on change, and every {REFRESH_S:g} s"
    rows = [
        "| address | type | when | value |",
        "|---|---|---|---|",
        f"| `{PREFIX}/status/entry` | int | every tick | the entry shown (-1: none) |",
        f"| `{PREFIX}/status/source` | string | every tick | its video file |",
        f"| `{PREFIX}/status/source_t` | float | every tick | seconds into that file |",
        f"| `{PREFIX}/status/level` | float | every tick | input level, 0..1 for -60..0 dBFS |",
        f"| `{PREFIX}/status/xruns` | int | every tick | audio blocks lost so far |",
    ]
    for p in PARAMS:
        kind = {"float": "float", "int": "int", "bool": "int", "choice": "string"}[p.kind]
        rows.append(f"| `{PREFIX}/status/param/{p.name}` | {kind} | {when} | {_range(p)} |")
    rows.append(
        f"| `{PREFIX}/status/param/<name>/norm` | float | {when} | each parameter as 0..1 |"
    )
    for a in ACTIONS:
        if a.kind == "toggle":
            rows.append(f"| `{PREFIX}/status/action/{a.name}` | int | {when} | 1 on, 0 off |")
    return "\n".join(rows)
