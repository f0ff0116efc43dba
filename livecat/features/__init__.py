"""Audio descriptors: the same numbers for a whole file and for a live stream, block by block.

Imports only numpy and scipy, so the analysis runs anywhere.
"""

from livecat.features.descriptor import (
    DESCRIBE_BATCH,
    DESCRIPTOR_KINDS,
    ENVELOPE_BLOCKS,
    Decimator,
    DescriptorBatch,
    DescriptorParams,
    DescriptorStream,
    describe_at,
    load_scipy,
    one_blas_thread,
    pitch_share,
)

__all__ = [
    "DESCRIBE_BATCH",
    "DESCRIPTOR_KINDS",
    "ENVELOPE_BLOCKS",
    "Decimator",
    "DescriptorBatch",
    "DescriptorParams",
    "DescriptorStream",
    "describe_at",
    "load_scipy",
    "one_blas_thread",
    "pitch_share",
]
