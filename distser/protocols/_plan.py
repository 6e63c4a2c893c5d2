"""Split plans: which utterance ids train, validate and test, for LOCO and within-corpus protocols."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._rules import OfficialSplitRule, group_column, rule_for


@dataclass(frozen=True)
class SplitPlan:
    """Utterance ids per part of one protocol fold. Ids only: the feature store turns them into arrays.

    ``train`` and ``valid`` map each training corpus (sorted) to its ids.
    """

    name: str
    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    test_corpus: str
    test: np.ndarray
    unlabeled_corpus: str | None = None
    unlabeled: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))

    @property
    def corpora(self) -> list[str]:
        return list(self.train)

    def sizes(self) -> dict[str, int]:
        sizes = {f"train/{c}": len(ids) for c, ids in self.train.items()}
        sizes |= {f"valid/{c}": len(ids) for c, ids in self.valid.items()}
        sizes[f"test/{self.test_corpus}"] = len(self.test)
        if self.unlabeled_corpus:
            sizes[f"unlabeled/{self.unlabeled_corpus}"] = len(self.unlabeled)
        return sizes


def labelled_corpora(manifest: pd.DataFrame) -> list[str]:
    """Corpora with at least one emotion label, sorted."""
    return sorted(manifest.loc[manifest["label"].notna(), "corpus"].unique())


def unlabeled_corpora(manifest: pd.DataFrame) -> list[str]:
    """Corpora without any emotion label (candidates for pseudo-emotion labels), sorted."""
    labelled = set(labelled_corpora(manifest))
    return sorted(set(manifest["corpus"].unique()) - labelled)


def _corpus_rows(manifest: pd.DataFrame, corpus: str) -> pd.DataFrame:
    rows = manifest[(manifest["corpus"] == corpus) & manifest["label"].notna()].reset_index(drop=True)
    if rows.empty:
        known = ", ".join(labelled_corpora(manifest)) or "none"
        raise ValueError(f"no labelled utterances of corpus {corpus!r} (labelled corpora: {known})")
    return rows


def _ids(rows: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    return rows.loc[mask, "utterance_id"].to_numpy(dtype=object)


def _unlabeled(manifest: pd.DataFrame, corpus: str | None) -> np.ndarray:
    if corpus is None:
        return np.array([], dtype=object)
    rows = manifest[manifest["corpus"] == corpus]
    if rows.empty:
        raise ValueError(f"unlabeled corpus {corpus!r} is not in the manifest "
                         f"(unlabeled corpora: {', '.join(unlabeled_corpora(manifest)) or 'none'})")
    return rows["utterance_id"].to_numpy(dtype=object)


def loco(
    manifest: pd.DataFrame,
    holdout: str,
    *,
    train_corpora: list[str] | None = None,
    unlabeled: str | None = None,
) -> SplitPlan:
    """Leave-one-corpus-out: train/validate on every other labelled corpus, test on ``holdout``.

    The held-out corpus is tested whole, except MSP-Podcast, whose official test set is used.

    Example:
        >>> from distser.features import synthetic_manifest_and_features
        >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
        >>> plan = loco(manifest, "iemocap", unlabeled="librispeech")
        >>> plan.corpora
        ['crema-d', 'msp-improv', 'msp-podcast']
    """
    corpora = train_corpora or [c for c in labelled_corpora(manifest) if c != holdout]
    if holdout in corpora:
        raise ValueError(f"held-out corpus {holdout!r} is also a training corpus")
    test_rows = _corpus_rows(manifest, holdout)
    rule = rule_for(holdout)
    test_mask = rule.test(test_rows) if isinstance(rule, OfficialSplitRule) else np.ones(len(test_rows), bool)
    train, valid = {}, {}
    for corpus in sorted(corpora):
        rows = _corpus_rows(manifest, corpus)
        train_mask, valid_mask = rule_for(corpus).loco(rows)
        train[corpus], valid[corpus] = _ids(rows, train_mask), _ids(rows, valid_mask)
        for part, ids in (("training", train[corpus]), ("validation", valid[corpus])):
            if len(ids) == 0:
                raise ValueError(f"corpus {corpus!r} has an empty {part} split")
    return SplitPlan(
        name=f"loco-{holdout}",
        train=train,
        valid=valid,
        test_corpus=holdout,
        test=_ids(test_rows, test_mask),
        unlabeled_corpus=unlabeled,
        unlabeled=_unlabeled(manifest, unlabeled),
    )


def within_corpus(manifest: pd.DataFrame, corpus: str, *, unlabeled: str | None = None) -> list[SplitPlan]:
    """Within-corpus cross-validation folds of ``corpus`` (paper §3.2; speaker folds otherwise).

    Example:
        >>> from distser.features import synthetic_manifest_and_features
        >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
        >>> len(within_corpus(manifest, "iemocap"))  # leave-one-speaker-out over 10 speakers
        10
    """
    rows = _corpus_rows(manifest, corpus)
    plans = []
    for k, (train_mask, valid_mask, test_mask) in enumerate(rule_for(corpus).within(rows)):
        plans.append(SplitPlan(
            name=f"within-{corpus}-fold{k}",
            train={corpus: _ids(rows, train_mask)},
            valid={corpus: _ids(rows, valid_mask)},
            test_corpus=corpus,
            test=_ids(rows, test_mask),
            unlabeled_corpus=unlabeled,
            unlabeled=_unlabeled(manifest, unlabeled),
        ))
    return plans


def check_disjoint(plan: SplitPlan, manifest: pd.DataFrame) -> None:
    """Raise if a speaker (TESS: a word) of one corpus appears in two of train/validation/test."""
    by_id = manifest.set_index("utterance_id")
    for corpus in {*plan.corpora, plan.test_corpus}:
        column = group_column(corpus)
        parts = {
            "train": plan.train.get(corpus, []),
            "validation": plan.valid.get(corpus, []),
            "test": plan.test if corpus == plan.test_corpus else [],
        }
        groups = {name: set(by_id.loc[list(ids), column]) for name, ids in parts.items()}
        names = list(groups)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                shared = groups[first] & groups[second]
                if shared:
                    raise AssertionError(f"{plan.name}: {column} {sorted(shared)[:3]} of {corpus!r} "
                                         f"in both {first} and {second}")
