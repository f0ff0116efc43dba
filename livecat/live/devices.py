"""Audio devices by index or name substring, the way python-sounddevice matches them, with
errors that list the candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livecat.errors import DeviceError

INSTALL_HINT = "PortAudio is missing: on Debian/Ubuntu `sudo apt install libportaudio2`"


def sounddevice() -> Any:
    """Import sounddevice lazily, turning a missing PortAudio into a clear error."""
    try:
        import sounddevice as sd
    except OSError as exc:  # the module is there, the library is not
        raise DeviceError(f"{INSTALL_HINT} ({exc})") from None
    return sd


def _devices() -> list[dict[str, Any]]:
    sd = sounddevice()
    return [dict(d, index=i) for i, d in enumerate(sd.query_devices())]


def describe_devices() -> str:
    """The device list for ``livecat devices``: index, name, host API, channels, defaults."""
    sd = sounddevice()
    hostapis = sd.query_hostapis()
    default_in, default_out = sd.default.device
    lines = []
    for d in _devices():
        marks = ("<" if d["index"] == default_in else " ") + (
            ">" if d["index"] == default_out else " "
        )
        lines.append(
            f"{marks} {d['index']:3d}  {d['name']}  ({hostapis[d['hostapi']]['name']}; "
            f"{d['max_input_channels']} in, {d['max_output_channels']} out, "
            f"{d['default_samplerate']:.0f} Hz)"
        )
    if not lines:
        return "no audio devices (is a sound server such as JACK or PipeWire running?)"
    return "\n".join(lines) + "\n(< default input, > default output)"


def resolve_device(spec: str | int | None, *, kind: str) -> int | None:
    """Index of the device named by ``spec`` (an index or a case-insensitive substring of
    its name) that has ``kind`` ("input" or "output") channels; None means the default."""
    if spec is None or spec == "":
        return None
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = [d for d in _devices() if d[key] > 0]
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        if any(d["index"] == index for d in devices):
            return index
        raise DeviceError(f"no {kind} device with index {index}; {_listing(devices)}")
    matches = [d for d in devices if str(spec).lower() in d["name"].lower()]
    if len(matches) == 1:
        return int(matches[0]["index"])
    if not matches:
        raise DeviceError(f"no {kind} device matches {spec!r}; {_listing(devices)}")
    exact = [d for d in matches if d["name"].lower() == str(spec).lower()]
    if len(exact) == 1:
        return int(exact[0]["index"])
    raise DeviceError(f"{kind} device {spec!r} is ambiguous: {_listing(matches, 'candidates')}")


def check_input_channels(device: int | None, channels: Sequence[int]) -> None:
    """Refuse ``--input-channels`` beyond what the input device has, naming the device and its
    count: PortAudio itself only says "Invalid number of channels"."""
    if not channels:
        return
    index = device
    if index is None:
        index = int(sounddevice().default.device[0])
    found = [d for d in _devices() if d["index"] == index]
    if not found:  # no default input: PortAudio's own error says so
        return
    have = int(found[0]["max_input_channels"])
    if max(channels) > have:
        wanted = ",".join(str(c) for c in channels)
        raise DeviceError(
            f"--input-channels {wanted}: input device {index} {found[0]['name']!r} has "
            f"{have} channel{'s' if have != 1 else ''} (see `livecat devices`)"
        )


def _listing(devices: list[dict[str, Any]], title: str = "available") -> str:
    if not devices:
        return "none available (see `livecat devices`)"
    return f"{title}: " + ", ".join(f"{d['index']} {d['name']!r}" for d in devices)


COMMON_RATES_HZ = (44100, 48000, 88200, 96000, 32000, 22050, 16000)


def on_jack(devices: Sequence[tuple[int | None, str]]) -> bool:
    """Whether every one of ``devices`` (index or None for the default, and "input" or
    "output") is a device of PortAudio's JACK host API."""
    sd = sounddevice()
    try:
        infos = [sd.query_devices(device, kind=kind) for device, kind in devices]
        names = [str(sd.query_hostapis(info["hostapi"])["name"]) for info in infos]
    except (sd.PortAudioError, ValueError):
        return False
    return bool(names) and all("JACK" in name for name in names)


def supported_rates(device: int | None, *, kind: str) -> list[int]:
    """The common sample rates ``device`` accepts (PortAudio's own check, nothing opened)."""
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    ok = []
    for rate in COMMON_RATES_HZ:
        try:
            check(device=device, samplerate=rate)
        except Exception:
            continue
        ok.append(rate)
    return sorted(ok)
