"""Kiosk pieces that are not the display loop itself: hiding the mouse cursor on X11, and
the screen's size for a window that must cover it.

The cursor is hidden with the XFixes extension (``XFixesHideCursor`` on the root window),
through ctypes: no extra Python package, and it works whatever toolkit draws the window and
whatever cursor that window sets. X keeps a cursor hidden only while the connection that hid
it stays open, so :class:`HiddenCursor` holds its own connection until :meth:`close` (or the
process's end: the cursor comes back by itself if livecat dies).

Where it cannot work (no libX11/libXfixes, Wayland without X, no $DISPLAY) livecat logs one
warning and goes on with the cursor showing.

A fullscreen request is carried out by the window manager; an installation that starts X with
livecat alone (``xinit``, no window manager) would keep a small window in a corner. So kiosk
mode also gives the window the screen's own position and size (:func:`screen_area`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import subprocess

log = logging.getLogger(__name__)

XFIXES_MAJOR = 6  # HideCursor needs XFixes 4 or later; ask for what current servers have


class HiddenCursor:
    """Hides the pointer on every screen of an X display while it is open.

    Raises
    ------
    OSError
        When libX11/libXfixes cannot be loaded, the display cannot be opened, or the server
        has no usable XFixes extension.
    """

    def __init__(self, display: str | None = None) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise OSError("no X display ($DISPLAY is unset)")
        x11 = _load("X11", "libX11.so.6")
        xfixes = _load("Xfixes", "libXfixes.so.3")
        vp, ul, ip = ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int)
        x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
        x11.XScreenCount.restype, x11.XScreenCount.argtypes = ctypes.c_int, [vp]
        x11.XRootWindow.restype, x11.XRootWindow.argtypes = ul, [vp, ctypes.c_int]
        x11.XSync.restype, x11.XSync.argtypes = ctypes.c_int, [vp, ctypes.c_int]
        x11.XCloseDisplay.restype, x11.XCloseDisplay.argtypes = ctypes.c_int, [vp]
        xfixes.XFixesQueryExtension.restype = ctypes.c_int
        xfixes.XFixesQueryExtension.argtypes = [vp, ip, ip]
        xfixes.XFixesQueryVersion.restype = ctypes.c_int
        xfixes.XFixesQueryVersion.argtypes = [vp, ip, ip]
        for call in ("XFixesHideCursor", "XFixesShowCursor"):
            getattr(xfixes, call).restype = None
            getattr(xfixes, call).argtypes = [vp, ul]
        self._x11, self._xfixes = x11, xfixes
        self.display = name
        self._dpy = x11.XOpenDisplay(name.encode())
        if not self._dpy:
            raise OSError(f"cannot open X display {name}")
        try:
            event, error = ctypes.c_int(), ctypes.c_int()
            if not xfixes.XFixesQueryExtension(self._dpy, ctypes.byref(event), ctypes.byref(error)):
                raise OSError(f"X display {name} has no XFixes extension")
            # The server answers requests of the version the client announced: without this
            # call it would refuse HideCursor (XFixes 4) as an unknown request.
            major, minor = ctypes.c_int(XFIXES_MAJOR), ctypes.c_int(0)
            xfixes.XFixesQueryVersion(self._dpy, ctypes.byref(major), ctypes.byref(minor))
            if major.value < 4:
                raise OSError(f"X display {name} has XFixes {major.value}; hiding needs 4")
            screens = range(x11.XScreenCount(self._dpy))
            self._roots = [x11.XRootWindow(self._dpy, i) for i in screens]
            for root in self._roots:
                xfixes.XFixesHideCursor(self._dpy, root)
            x11.XSync(self._dpy, 0)
        except BaseException:
            x11.XCloseDisplay(self._dpy)
            self._dpy = None
            raise

    def close(self) -> None:
        """Show the cursor again and close the connection."""
        dpy, self._dpy = self._dpy, None
        if dpy:
            for root in self._roots:
                self._xfixes.XFixesShowCursor(dpy, root)
            self._x11.XSync(dpy, 0)
            self._x11.XCloseDisplay(dpy)


def screen_area(display: str | None = None) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) for a window covering the first monitor: ``xrandr``'s when it
    is installed, else the whole X screen's; None without X."""
    from livecat.output.display import screen_geometry

    try:
        return screen_geometry(0)
    except (OSError, subprocess.SubprocessError):
        pass
    name = display if display is not None else os.environ.get("DISPLAY", "")
    if not name:
        return None
    try:
        x11 = _load("X11", "libX11.so.6")
    except OSError:
        return None
    vp = ctypes.c_void_p
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
    x11.XDefaultScreen.restype, x11.XDefaultScreen.argtypes = ctypes.c_int, [vp]
    for call in ("XDisplayWidth", "XDisplayHeight"):
        getattr(x11, call).restype = ctypes.c_int
        getattr(x11, call).argtypes = [vp, ctypes.c_int]
    x11.XCloseDisplay.restype, x11.XCloseDisplay.argtypes = ctypes.c_int, [vp]
    dpy = x11.XOpenDisplay(name.encode())
    if not dpy:
        return None
    try:
        screen = x11.XDefaultScreen(dpy)
        return 0, 0, x11.XDisplayWidth(dpy, screen), x11.XDisplayHeight(dpy, screen)
    finally:
        x11.XCloseDisplay(dpy)


def _load(name: str, fallback: str) -> ctypes.CDLL:
    path = ctypes.util.find_library(name) or fallback
    try:
        return ctypes.CDLL(path)
    except OSError:
        raise OSError(f"lib{name} is not installed ({path})") from None


def hide_cursor(display: str | None = None) -> HiddenCursor | None:
    """Hide the pointer for the rest of the show; None (and one warning) when it cannot."""
    try:
        hidden = HiddenCursor(display)
    except OSError as exc:
        log.warning("livecat: --kiosk: cannot hide the mouse cursor: %s; going on", exc)
        return None
    log.debug("cursor hidden on %s", hidden.display)
    return hidden
