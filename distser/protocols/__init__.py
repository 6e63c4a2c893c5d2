"""Deterministic evaluation protocols: leave-one-corpus-out and within-corpus cross-validation.

Example:
    >>> from distser.features import synthetic_manifest_and_features
    >>> from distser.protocols import loco
    >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
    >>> plan = loco(manifest, "crema-d", unlabeled="librispeech")
    >>> plan.test_corpus, plan.corpora
    ('crema-d', ['iemocap', 'msp-improv', 'msp-podcast'])
"""

from ._plan import SplitPlan, check_disjoint, labelled_corpora, loco, pool, unlabeled_corpora, within_corpus
from ._rules import (
    DEFAULT_RULE,
    PROTOCOL_SEED,
    RULES,
    GroupRule,
    OfficialSplitRule,
    SessionRule,
    group_column,
)

__all__ = [
    "DEFAULT_RULE",
    "PROTOCOL_SEED",
    "RULES",
    "GroupRule",
    "OfficialSplitRule",
    "SessionRule",
    "SplitPlan",
    "check_disjoint",
    "group_column",
    "labelled_corpora",
    "loco",
    "pool",
    "unlabeled_corpora",
    "within_corpus",
]
