"""Live control: the parameter registry, the request inbox, set files, OSC and MIDI."""

from livecat.control.params import ACTIONS, PARAMS, Action, Param, action, param
from livecat.control.state import Controls, Request

__all__ = ["ACTIONS", "PARAMS", "Action", "Controls", "Param", "Request", "action", "param"]
