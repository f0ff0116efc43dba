"""A corpus of the real on-disk format with synthetic content, for benchmarks at 1,000,000
entries: clustered descriptors, one shared image per source and a short shared grain store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from livecat.corpus.build import BuildSettings, _Writer
from livecat.corpus.store import ENTRY_DTYPE, SourceRecord, manifest_base


def write_synthetic_corpus(
    path: str | os.PathLike[str],
    *,
    entries: int = 1_000_000,
    entries_per_source: int = 90_000,
    fps: float = 25.0,
    seed: int = 0,
) -> Path:
    """Write (or reuse, if complete with that size) a synthetic corpus at ``path``."""
    path = Path(path)
    marker = path / f".synthetic-{entries}-{seed}"
    if marker.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    settings = BuildSettings()
    params = settings.params
    rng = np.random.default_rng(seed)
    writer = _Writer(path, settings)
    sr = settings.grain_sr_hz
    grain_seconds = 60
    noise = (rng.standard_normal(grain_seconds * sr) * 3000).astype(np.int16)
    centres = rng.standard_normal((2000, params.dim)).astype(np.float32) * 2.0
    done = 0
    while done < entries:
        count = min(entries_per_source, entries - done)
        image = np.full((360, 640, 3), rng.integers(0, 255, 3), np.uint8)
        cv2.putText(
            image,
            f"source {len(writer.sources)}",
            (40, 180),
            cv2.FONT_HERSHEY_SIMPLEX,
            2.0,
            (255, 255, 255),
            3,
        )
        blob = cv2.imencode(".jpg", image)[1].tobytes()
        offset = writer.images.tell()
        writer.images.write(blob)
        grain_offset = writer.grains.count
        writer.grains.append(noise)
        rows = np.zeros(count, ENTRY_DTYPE)
        rows["pts_s"] = np.arange(count) / fps
        rows["grain_start"] = grain_offset + (np.arange(count) * (sr // 25)) % (noise.size - sr)
        rows["image_offset"] = offset
        rows["image_size"] = len(blob)
        descriptors = centres[rng.integers(0, centres.shape[0], count)] + 0.4 * rng.standard_normal(
            (count, params.dim)
        ).astype(np.float32)
        levels = rng.uniform(-40, -10, count).astype(np.float32)
        record = SourceRecord(
            path=f"synthetic-{len(writer.sources)}.mp4",
            abs_path="",
            size=0,
            mtime=0.0,
            sha256="",
            duration_s=count / fps,
            fps=fps,
            entries=count,
            first_entry=0,
            width=640,
            height=360,
            image_width=640,
            image_height=360,
            audio_channels=1,
            audio_sr_hz=sr,
            grain_offset=grain_offset,
            grain_samples=noise.size,
        )
        writer.add_source(record, entries=rows, descriptors=descriptors, levels=levels)
        done += count
    manifest = manifest_base(
        params=params,
        grain_sr_hz=sr,
        image_max_side=640,
        jpeg_quality=90,
        index=settings.index,
        weighting=settings.weighting,
    )
    manifest["livecat_version"] = "synthetic"
    writer.finish(manifest)
    marker.touch()
    return path
