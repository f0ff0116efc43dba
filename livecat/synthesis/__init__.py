"""The matching engine shared by the live player and the offline render.

Thread-free and deterministic: the same input in any block sizes gives the same output.
"""

from livecat.synthesis.engine import Engine, EngineSettings, EngineState, signal_then_silence
from livecat.synthesis.grains import GrainPlayer

__all__ = ["Engine", "EngineSettings", "EngineState", "GrainPlayer", "signal_then_silence"]
