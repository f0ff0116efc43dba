"""Offline rendering: a target sound re-created out of the corpus as a mosaic video."""

from livecat.render.mosaic import RenderReport, render

__all__ = ["RenderReport", "render"]
