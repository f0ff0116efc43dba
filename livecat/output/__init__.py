"""Where pictures go: the OpenCV window (main thread), or lines on stdout when headless.

The only package that imports OpenCV's GUI functions.
"""

from livecat.output.display import Display, DisplaySettings, screen_geometry

__all__ = ["Display", "DisplaySettings", "screen_geometry"]
