"""Split plans: which utterance ids train, validate and test, for LOCO and within-corpus protocols."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._rules import OfficialSplitRule, group_column, rule_for


@dataclass(frozen=True)
class SplitPlan:
    """Utterance ids per part of one protocol fold. Ids only: the feature store turns them into arrays.

    ``train`` and ``valid`` map each training corpus (sorted) to its ids. ``test_corpus`` is the
    held-out corpus and ``test`` its ids (None and empty for a plan that trains on a whole pool);
    ``test_only`` maps corpora that are only evaluated to their ids.
    """

    name: str
    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    test_corpus: str | None
    test: np.ndarray
    unlabeled_corpus: str | None = None
    unlabeled: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    test_only: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def corpora(self) -> list[str]:
        return list(self.train)

    @property
    def tests(self) -> dict[str, np.ndarray]:
        """Every evaluated corpus's ids: the held-out corpus first, then the test-only ones."""
        held_out = {self.test_corpus: self.test} if self.test_corpus is not None else {}
        return held_out | dict(self.test_only)

    def sizes(self) -> dict[str, int]:
        sizes = {f"train/{c}": len(ids) for c, ids in self.train.items()}
        sizes |= {f"valid/{c}": len(ids) for c, ids in self.valid.items()}
        sizes |= {f"test/{c}": len(ids) for c, ids in self.tests.items()}
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
    # In id order, not the store's row order: extraction writes rows in the order its parallel tasks
    # finish, and minibatches follow the plan, so a seed gives the same training from any extraction.
    # Each id once: a manifest read from every shard of a store may hold an utterance stored twice (the
    # feature store's rows decide which features it has), and a plan must not train or test it twice.
    return np.unique(rows.loc[mask, "utterance_id"].to_numpy(dtype=object))


def _unlabeled(manifest: pd.DataFrame, corpus: str | None, *, training: list[str], holdout: str | None,
               test_only: list[str] | tuple[str, ...]) -> np.ndarray:
    """Every row of the unlabeled corpus, which must be none of the corpora the plan trains or tests on.

    Its labels are never read, but its audio enters every training step (pseudo-emotion labels, the
    reconstruction term): a tested corpus there would be seen in training.
    """
    if corpus is None:
        return np.array([], dtype=object)
    role = _unlabeled_clash(corpus, training=training, holdout=holdout, test_only=test_only)
    if role:
        raise ValueError(f"unlabeled corpus {corpus!r} is also {role}: its audio would enter training")
    rows = manifest[manifest["corpus"] == corpus]
    if rows.empty:
        raise ValueError(f"unlabeled corpus {corpus!r} is not in the manifest "
                         f"(unlabeled corpora: {', '.join(unlabeled_corpora(manifest)) or 'none'})")
    return np.unique(rows["utterance_id"].to_numpy(dtype=object))  # in id order, each once, as _ids


def _unlabeled_clash(unlabeled: str, *, training: list[str] | tuple[str, ...], holdout: str | None = None,
                    test_only: list[str] | tuple[str, ...] = ()) -> str | None:
    """What else ``unlabeled`` is in a plan (e.g. ``"the held-out corpus"``), or None if nothing."""
    if unlabeled == holdout:
        return "the held-out corpus"
    if unlabeled in test_only:
        return "a test-only corpus"
    if unlabeled in training:
        return "a training corpus"
    return None


def _test_ids(manifest: pd.DataFrame, corpus: str) -> np.ndarray:
    """A corpus tested whole, except MSP-Podcast, whose official test set is used (§3.2)."""
    rows = _corpus_rows(manifest, corpus)
    rule = rule_for(corpus)
    mask = rule.test(rows) if isinstance(rule, OfficialSplitRule) else np.ones(len(rows), bool)
    return _ids(rows, mask)


def _training_parts(manifest: pd.DataFrame, corpora: list[str]) -> tuple[dict, dict]:
    train, valid = {}, {}
    for corpus in sorted(corpora):
        rows = _corpus_rows(manifest, corpus)
        train_mask, valid_mask = rule_for(corpus).loco(rows)
        train[corpus], valid[corpus] = _ids(rows, train_mask), _ids(rows, valid_mask)
        for part, ids in (("training", train[corpus]), ("validation", valid[corpus])):
            if len(ids) == 0:
                raise ValueError(f"corpus {corpus!r} has an empty {part} split")
    return train, valid


def _check_test_only(test_only: list[str], training: list[str], holdout: str | None) -> None:
    clash = sorted(set(test_only) & ({*training} | ({holdout} if holdout else set())))
    if clash:
        raise ValueError(f"test-only corpus {clash[0]!r} is also a training or held-out corpus")


def loco(
    manifest: pd.DataFrame,
    holdout: str,
    *,
    train_corpora: list[str] | None = None,
    unlabeled: str | None = None,
    test_only: list[str] | tuple[str, ...] = (),
) -> SplitPlan:
    """Leave-one-corpus-out: train/validate on the other corpora of the pool, test on ``holdout``.

    The pool is ``train_corpora`` plus ``holdout`` (default: every labelled corpus that is not
    test-only). The held-out corpus is tested whole, except MSP-Podcast, whose official test set is
    used; ``test_only`` corpora are evaluated the same way and never trained or validated on.

    Example:
        >>> from distser.features import synthetic_manifest_and_features
        >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
        >>> plan = loco(manifest, "iemocap", unlabeled="librispeech", test_only=["crema-d"])
        >>> plan.corpora, list(plan.tests)
        (['msp-improv', 'msp-podcast'], ['iemocap', 'crema-d'])
    """
    corpora = train_corpora or [c for c in labelled_corpora(manifest) if c != holdout and c not in test_only]
    if holdout in corpora:
        raise ValueError(f"held-out corpus {holdout!r} is also a training corpus")
    _check_test_only(list(test_only), corpora, holdout)
    train, valid = _training_parts(manifest, corpora)
    return SplitPlan(
        name=f"loco-{holdout}",
        train=train,
        valid=valid,
        test_corpus=holdout,
        test=_test_ids(manifest, holdout),
        unlabeled_corpus=unlabeled,
        unlabeled=_unlabeled(manifest, unlabeled, training=corpora, holdout=holdout, test_only=test_only),
        test_only={c: _test_ids(manifest, c) for c in test_only},
    )


def pool(
    manifest: pd.DataFrame,
    train_corpora: list[str],
    *,
    unlabeled: str | None = None,
    test_only: list[str] | tuple[str, ...] = (),
) -> SplitPlan:
    """Train and validate on every corpus of a pool (their LOCO splits), nothing held out.

    What a final model is trained on, and what a test-only corpus measures: a corpus no part of
    the pool ever saw.

    Example:
        >>> from distser.features import synthetic_manifest_and_features
        >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
        >>> plan = pool(manifest, ["crema-d", "iemocap", "msp-improv"], test_only=["msp-podcast"])
        >>> plan.name, plan.test_corpus, list(plan.tests)
        ('pool', None, ['msp-podcast'])
    """
    if not train_corpora:
        raise ValueError("a pool needs at least one training corpus")
    _check_test_only(list(test_only), train_corpora, None)
    train, valid = _training_parts(manifest, train_corpora)
    return SplitPlan(
        name="pool",
        train=train,
        valid=valid,
        test_corpus=None,
        test=np.array([], dtype=object),
        unlabeled_corpus=unlabeled,
        unlabeled=_unlabeled(manifest, unlabeled, training=train_corpora, holdout=None, test_only=test_only),
        test_only={c: _test_ids(manifest, c) for c in test_only},
    )


def within_corpus(manifest: pd.DataFrame, corpus: str, *, unlabeled: str | None = None,
                  test_only: list[str] | tuple[str, ...] = ()) -> list[SplitPlan]:
    """Within-corpus cross-validation folds of ``corpus`` (paper §3.2; speaker folds otherwise).

    Example:
        >>> from distser.features import synthetic_manifest_and_features
        >>> manifest, _ = synthetic_manifest_and_features(scale=0.01)
        >>> len(within_corpus(manifest, "iemocap"))  # leave-one-speaker-out over 10 speakers
        10
    """
    rows = _corpus_rows(manifest, corpus)
    unlabeled_ids = _unlabeled(manifest, unlabeled, training=[corpus], holdout=corpus, test_only=test_only)
    plans = []
    for k, (train_mask, valid_mask, test_mask) in enumerate(rule_for(corpus).within(rows)):
        plans.append(SplitPlan(
            name=f"within-{corpus}-fold{k}",
            train={corpus: _ids(rows, train_mask)},
            valid={corpus: _ids(rows, valid_mask)},
            test_corpus=corpus,
            test=_ids(rows, test_mask),
            unlabeled_corpus=unlabeled,
            unlabeled=unlabeled_ids,
            test_only={c: _test_ids(manifest, c) for c in test_only},
        ))
    return plans


def check_disjoint(plan: SplitPlan, manifest: pd.DataFrame) -> None:
    """Raise if a speaker (TESS: a word) of one corpus appears in two of train/validation/test, or if the
    unlabeled corpus (or any of its utterances) is also trained, validated or tested on."""
    if plan.unlabeled_corpus is not None or len(plan.unlabeled):
        role = _unlabeled_clash(plan.unlabeled_corpus or "", training=plan.corpora, holdout=plan.test_corpus,
                               test_only=list(plan.test_only))
        labelled = np.concatenate([np.asarray(ids, dtype=object) for part in (plan.train, plan.valid, plan.tests)
                                   for ids in part.values()] or [np.array([], dtype=object)])
        shared = np.intersect1d(np.asarray(plan.unlabeled, dtype=object), labelled)
        if role or len(shared):
            raise AssertionError(f"{plan.name}: unlabeled corpus {plan.unlabeled_corpus!r} is also "
                                 f"{role or 'trained or tested on'} (utterances {list(shared[:3])})")
    by_id = manifest.set_index("utterance_id")
    for corpus in {*plan.corpora, *plan.tests}:
        column = group_column(corpus)
        parts = {
            "train": plan.train.get(corpus, []),
            "validation": plan.valid.get(corpus, []),
            "test": plan.tests.get(corpus, []),
        }
        groups = {name: set(by_id.loc[list(ids), column]) for name, ids in parts.items()}
        names = list(groups)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                shared = groups[first] & groups[second]
                if shared:
                    raise AssertionError(f"{plan.name}: {column} {sorted(shared)[:3]} of {corpus!r} "
                                         f"in both {first} and {second}")
