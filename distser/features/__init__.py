"""Feature shards: openSMILE extraction on Ray Data, the Parquet store, arrays for training.

Example:
    >>> from distser.features import FeatureStore, TaskLoader, write_synthetic
    >>> from distser.protocols import loco
    >>> store = write_synthetic(str(getfixture("tmp_path")), scale=0.01)
    >>> loader = TaskLoader(store)
    >>> task = loader.task(loco(loader.manifest, "iemocap", unlabeled="librispeech"))
    >>> task.corpora, task.dim
    (['crema-d', 'msp-improv', 'msp-podcast'], 1582)
"""

from ._audio import FEATURE_SETS, ExtractionError, Extractor, content_hash, read_audio
from ._extract import ExtractReport, extract, extract_batches
from ._normalization import Normalization, PlanParts, fit_normalizer, normalize_target, statistics
from ._normalization import names as normalization_names
from ._store import (
    FeatureStore,
    ShardError,
    check_finite,
    latest,
    read_shard,
    shard_table,
    split_features,
    write_table_atomic,
)
from ._synthetic import PAPER_CORPORA, synthetic_manifest_and_features, write_synthetic
from ._task import Normalizer, TaskLoader, load_task, table_of

__all__ = [
    "FEATURE_SETS",
    "PAPER_CORPORA",
    "ExtractReport",
    "ExtractionError",
    "Extractor",
    "FeatureStore",
    "Normalization",
    "Normalizer",
    "PlanParts",
    "ShardError",
    "TaskLoader",
    "check_finite",
    "content_hash",
    "extract",
    "extract_batches",
    "fit_normalizer",
    "latest",
    "load_task",
    "normalization_names",
    "normalize_target",
    "read_audio",
    "read_shard",
    "shard_table",
    "split_features",
    "statistics",
    "table_of",
    "synthetic_manifest_and_features",
    "write_synthetic",
    "write_table_atomic",
]
