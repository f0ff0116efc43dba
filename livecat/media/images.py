"""Fitting corpus images into an output picture."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(
    image: np.ndarray,
    *,
    width: int,
    height: int,
    out: np.ndarray | None = None,
    brightness: float = 1.0,
) -> np.ndarray:
    """Scale ``image`` to fit ``width`` × ``height`` keeping its aspect; black bars fill the
    rest. Writes into ``out`` (reused between calls) when given; without ``out``, an image
    that already fits at full brightness comes back as it is, not copied."""
    if out is None and image.shape == (height, width, 3) and brightness >= 1.0:
        return image
    if out is None or out.shape != (height, width, 3):
        out = np.zeros((height, width, 3), np.uint8)
    else:
        out[:] = 0
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    x0, y0 = (width - new_w) // 2, (height - new_h) // 2
    target = out[y0 : y0 + new_h, x0 : x0 + new_w]
    if (new_w, new_h) == (w, h):
        target[:] = image
    else:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        cv2.resize(image, (new_w, new_h), dst=target, interpolation=interpolation)
    if brightness < 1.0:
        cv2.convertScaleAbs(out, dst=out, alpha=max(brightness, 0.0))
    return out
