"""Decoding and encoding media with PyAV (FFmpeg)."""

from livecat.media.decode import (
    VIDEO_EXTENSIONS,
    DecodedImage,
    MediaInfo,
    decode_audio,
    iter_images,
    probe,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "DecodedImage",
    "MediaInfo",
    "decode_audio",
    "iter_images",
    "probe",
]
