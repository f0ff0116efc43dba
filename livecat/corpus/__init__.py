"""The corpus: entries (image + grain + descriptor) on disk, and the index that finds them."""

from livecat.corpus.build import BuildReport, BuildSettings, build_corpus, expand_inputs
from livecat.corpus.store import (
    ENTRY_DTYPE,
    FORMAT_VERSION,
    Corpus,
    IndexSettings,
    SourceRecord,
    Weighting,
)

__all__ = [
    "ENTRY_DTYPE",
    "FORMAT_VERSION",
    "BuildReport",
    "BuildSettings",
    "Corpus",
    "IndexSettings",
    "SourceRecord",
    "Weighting",
    "build_corpus",
    "expand_inputs",
]
