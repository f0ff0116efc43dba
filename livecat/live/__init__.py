"""The live player: audio I/O threads around the shared engine.

The only package that starts threads or imports sounddevice (lazily, so analysis and render
run on machines without PortAudio).
"""

from livecat.live.devices import describe_devices, resolve_device
from livecat.live.player import LivePlayer, LiveSettings

__all__ = ["LivePlayer", "LiveSettings", "describe_devices", "resolve_device"]
