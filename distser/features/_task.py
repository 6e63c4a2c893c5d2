"""Split plan + feature store -> the float32 arrays a trainer consumes, z-normalised on training data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from distser.arrays import EMOTIONS, UNLABELED, CorpusArrays, Task
from distser.protocols import SplitPlan

from ._store import FeatureStore

VOTE_COLUMNS = [f"vote_{emotion}" for emotion in EMOTIONS]


@dataclass(frozen=True)
class Normalizer:
    """z-normalisation (§3.3) fitted on training features only, applied to everything else."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Normalizer:
        mean = features.mean(axis=0, dtype=np.float64)
        std = features.std(axis=0, dtype=np.float64)
        # Constant features (std 0) would divide by zero; leave them centred at 0 instead.
        std[std < 1e-8] = 1.0
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32, copy=False)


class TaskLoader:
    """Holds one store's manifest and features in memory and cuts tasks from them.

    Load once, then cut many tasks (every held-out corpus, every fold) without touching disk again.

    Example:
        >>> loader = TaskLoader(FeatureStore("features"))  # doctest: +SKIP
        >>> task = loader.task(loco(loader.manifest, "iemocap", unlabeled="librispeech"))  # doctest: +SKIP
    """

    def __init__(self, store: FeatureStore, corpora: list[str] | None = None) -> None:
        self.manifest, self.features = store.load(corpora)
        self._rows = pd.Index(self.manifest["utterance_id"])

    @classmethod
    def from_arrays(cls, manifest: pd.DataFrame, features: np.ndarray) -> TaskLoader:
        loader = cls.__new__(cls)
        loader.manifest, loader.features = manifest.reset_index(drop=True), features
        loader._rows = pd.Index(loader.manifest["utterance_id"])
        return loader

    def rows(self, ids: np.ndarray) -> np.ndarray:
        positions = self._rows.get_indexer(ids)
        if (positions < 0).any():
            missing = np.asarray(ids)[positions < 0][:3]
            raise KeyError(f"utterances {list(missing)} are in the split plan but have no features in the store")
        return positions

    def arrays(self, name: str, ids: np.ndarray, normalize: Normalizer | None) -> CorpusArrays:
        rows = self.rows(ids)
        part = self.manifest.iloc[rows]
        labels = part["label"].map({e: i for i, e in enumerate(EMOTIONS)})
        unknown = part["label"].notna() & labels.isna()
        if unknown.any():
            raise ValueError(f"{name}: label {part.loc[unknown, 'label'].iloc[0]!r} is not one of {EMOTIONS}")
        votes = part[VOTE_COLUMNS].to_numpy(dtype=np.float32)
        features = self.features[rows]
        return CorpusArrays(
            name=name,
            features=normalize(features) if normalize else features,
            labels=labels.fillna(UNLABELED).to_numpy(dtype=np.int64),
            soft_labels=None if np.isnan(votes).all() else votes,
            ids=part["utterance_id"].to_numpy(dtype=object),
        )

    def task(self, plan: SplitPlan, *, normalize: bool = True) -> Task:
        """Arrays for every part of ``plan``; z-normalisation fitted on the pooled training parts."""
        normalizer = None
        if normalize:
            train_rows = np.concatenate([self.rows(ids) for ids in plan.train.values()])
            normalizer = Normalizer.fit(self.features[train_rows])
        return Task(
            train={c: self.arrays(c, ids, normalizer) for c, ids in plan.train.items()},
            valid={c: self.arrays(c, ids, normalizer) for c, ids in plan.valid.items()},
            test=self.arrays(plan.test_corpus, plan.test, normalizer),
            unlabeled=(self.arrays(plan.unlabeled_corpus, plan.unlabeled, normalizer)
                       if plan.unlabeled_corpus else None),
            description={"plan": plan.name, **{k: str(v) for k, v in plan.sizes().items()}},
        )


def load_task(store: FeatureStore, plan: SplitPlan, *, normalize: bool = True) -> Task:
    """One-shot convenience: read the plan's corpora from ``store`` and build its :class:`Task`."""
    corpora = sorted({*plan.corpora, plan.test_corpus} | ({plan.unlabeled_corpus} if plan.unlabeled_corpus else set()))
    return TaskLoader(store, corpora).task(plan, normalize=normalize)
