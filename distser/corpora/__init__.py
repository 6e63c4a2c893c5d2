"""Corpus folders -> one manifest table (pandas): one row per utterance, same columns for every corpus.

Loaders read each corpus's own distribution layout and label files (RAVDESS, TESS, SAVEE, EmoDB,
LibriSpeech, CREMA-D, IEMOCAP, MSP-IMPROV, MSP-Podcast) or a generic CSV manifest, map the corpus's
label codes to the four benchmark emotions (:data:`EMOTIONS`) and drop the other classes.

Example:
    >>> from distser.corpora import load_corpus, load_corpora, CORPORA
    >>> sorted(CORPORA)[:3]
    ['crema-d', 'csv', 'emodb']
    >>> frame = load_corpus("ravdess", "../shared/corpora/ravdess")  # doctest: +SKIP
    >>> list(frame.columns) == list(MANIFEST_COLUMNS)  # doctest: +SKIP
    True
    >>> specs = ["tess=../shared/corpora/tess", "savee=../shared/corpora/savee"]
    >>> both = load_corpora(specs)  # doctest: +SKIP

Missing values read as None or NaN depending on the column dtype; test them with ``isna()``.
"""

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use: ``--help`` needs only CORPUS_NAMES (no pandas).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "distser.arrays": ("EMOTIONS",),
    "._csv": ("load_manifest_csv",),
    "._names": ("CORPUS_NAMES",),
    "._registry": ("CORPORA", "LoaderInfo", "load_corpora", "load_corpus", "parse_corpus_spec"),
    "._schema": ("MANIFEST_COLUMNS", "CorpusError", "CorpusWarning", "make_manifest"),
})
