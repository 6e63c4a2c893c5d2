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

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use so that `--help` stays fast (distser._lazy).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._audio": ("FEATURE_SETS", "ExtractionError", "Extractor", "WorkerDied", "content_hash", "read_audio",),
    "._extract": ("ExtractReport", "extract", "extract_batches",),
    "._ssl": ("INSTALL_HINT", "SSLEmbedder", "embed_batches", "extract_ssl", "find_checkpoint",),
    "._ssl_identity": ("IDENTITY_FILE", "SSLIdentity", "is_ssl_feature_set",),
    "._store": ("FeatureStore", "ShardError", "check_finite", "feature_sets_in", "latest", "read_shard", "shard_table",
                 "split_features", "write_table_atomic",),
    "._synthetic": ("PAPER_CORPORA", "synthetic_corpora", "synthetic_manifest_and_features", "write_synthetic",),
    "._normalization": ("ADAPTS", "MIN_ADAPT_CLIPS", "Normalization", "PlanParts", "fit_normalizer",
                        "normalization_names", "normalize_target", "share_statistics", "statistics",),
    "._task": ("Normalizer", "TaskLoader", "load_task", "table_of",),
})
