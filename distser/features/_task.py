"""Split plan + features -> the tasks a trainer consumes, normalised as the plan's normalisation says.

One :class:`~distser.arrays.FeatureTable` holds every utterance's raw features; a plan becomes an
:class:`~distser.arrays.IndexedTask` (row indices + the normaliser of its training rows) without
copying them, or, for small uses, an ordinary :class:`~distser.arrays.Task` of normalised copies.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from distser.arrays import EMOTIONS, UNLABELED, FeatureTable, GroupNormalizer, IndexedTask, Normalizer, Task
from distser.protocols import SplitPlan

from ._normalization import GLOBAL, Normalization, PlanParts, StatisticsCache, fit_normalizer
from ._store import FeatureStore, latest

VOTE_COLUMNS = [f"vote_{emotion}" for emotion in EMOTIONS]

__all__ = ["VOTE_COLUMNS", "Normalizer", "TaskLoader", "load_task", "table_of"]


def table_of(manifest: pd.DataFrame, blocks: np.ndarray | tuple[np.ndarray, ...]) -> FeatureTable:
    """The feature table of ``manifest``'s rows: label indices, vote distributions and ids beside the blocks.

    Raises ``ValueError`` naming the first utterance whose label is not one of :data:`EMOTIONS`.
    """
    labels = manifest["label"].map({e: i for i, e in enumerate(EMOTIONS)})
    unknown = manifest["label"].notna() & labels.isna()
    if unknown.any():
        first = manifest.loc[unknown].iloc[0]
        raise ValueError(f"utterance {first['utterance_id']!r}: label {first['label']!r} is not one of {EMOTIONS}")
    votes = manifest[VOTE_COLUMNS].to_numpy(dtype=np.float32)
    return FeatureTable(
        blocks if isinstance(blocks, tuple) else (blocks,),
        labels=labels.fillna(UNLABELED).to_numpy(dtype=np.int64),
        soft_labels=None if np.isnan(votes).all() else votes,
        ids=manifest["utterance_id"].to_numpy(dtype=object),
    )


class TaskLoader:
    """Holds one store's manifest and features in memory and cuts tasks from them.

    Load once, then cut many tasks (every held-out corpus, every fold) without touching disk again;
    :meth:`indexed` tasks share the loader's feature table instead of copying it.

    Example:
        >>> loader = TaskLoader(FeatureStore("features"))  # doctest: +SKIP
        >>> task = loader.task(loco(loader.manifest, "iemocap", unlabeled="librispeech"))  # doctest: +SKIP
    """

    def __init__(self, store: FeatureStore, corpora: list[str] | None = None) -> None:
        manifest, features = store.load(corpora)
        self._set(manifest, table_of(manifest, features))

    @classmethod
    def from_arrays(cls, manifest: pd.DataFrame, features: np.ndarray | tuple[np.ndarray, ...]) -> TaskLoader:
        """A loader over rows already in memory (``features``: one array or row blocks, row-aligned)."""
        manifest = manifest.reset_index(drop=True)
        return cls.from_table(manifest, table_of(manifest, features))

    @classmethod
    def from_table(cls, manifest: pd.DataFrame, table: FeatureTable) -> TaskLoader:
        loader = cls.__new__(cls)
        loader._set(manifest.reset_index(drop=True), table)
        return loader

    def _set(self, manifest: pd.DataFrame, table: FeatureTable) -> None:
        if len(manifest) != len(table):
            raise ValueError(f"{len(manifest)} manifest rows for {len(table)} feature rows")
        # An utterance stored twice (re-extracted) is the store's latest row of it. The table keeps every
        # row; the manifest, and so the plans, hold each utterance once, pointing at the latest.
        keep = latest(manifest["utterance_id"])
        self.manifest, self.table = manifest[keep].reset_index(drop=True), table
        self._positions = np.flatnonzero(keep).astype(np.int64)
        self._rows = pd.Index(self.manifest["utterance_id"])
        self._speakers: np.ndarray | None = None
        self._statistics = StatisticsCache()  # group statistics shared by every plan's normaliser of this table

    @property
    def features(self) -> np.ndarray:
        """The raw features of :attr:`manifest`'s rows (a copy unless the table is one block without duplicates)."""
        blocks = self.table.blocks
        if len(blocks) == 1 and len(self._positions) == len(self.table):
            return blocks[0]
        return self.table.gather(self._positions)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        positions = self._rows.get_indexer(ids)
        if (positions < 0).any():
            missing = np.asarray(ids)[positions < 0][:3]
            raise KeyError(f"utterances {list(missing)} are in the split plan but have no features in the store")
        return self._positions[positions]

    @property
    def speakers(self) -> np.ndarray:
        """The speaker of every table row (None where unknown or superseded): what ``speaker`` groups by."""
        if self._speakers is None:
            speakers = np.full(len(self.table), None, dtype=object)
            speakers[self._positions] = self.manifest["speaker"].to_numpy(dtype=object)
            self._speakers = speakers
        return self._speakers

    def indexed(self, plan: SplitPlan, *, normalize: bool = True,
                normalization: Normalization = GLOBAL) -> IndexedTask:
        """``plan`` as rows of the shared table, with ``normalization`` fitted on them (``global``: the
        z-normalisation of the pooled training rows; see :func:`fit_normalizer`)."""
        train = {c: self.rows(ids) for c, ids in plan.train.items()}
        task = IndexedTask(
            table=self.table,
            train=train,
            valid={c: self.rows(ids) for c, ids in plan.valid.items()},
            tests={c: self.rows(ids) for c, ids in plan.tests.items()},
            holdout=plan.test_corpus,
            unlabeled=self.rows(plan.unlabeled) if plan.unlabeled_corpus else None,
            unlabeled_name=plan.unlabeled_corpus,
            description={"plan": plan.name, **{k: str(v) for k, v in plan.sizes().items()}},
        )
        return replace(task, normalizer=self.normalizer(task, normalization)) if normalize else task

    def normalizer(self, task: IndexedTask, normalization: Normalization = GLOBAL
                   ) -> Normalizer | GroupNormalizer:
        """``normalization`` fitted on ``task``'s rows of this loader's table (labels are never read)."""
        unlabeled = (task.unlabeled_name or "unlabeled", task.unlabeled) if task.unlabeled is not None else None
        parts = PlanParts(task.train, task.valid, task.tests, unlabeled, self.speakers)
        return fit_normalizer(self.table, parts, normalization, self._statistics)

    def task(self, plan: SplitPlan, *, normalize: bool = True,
             normalization: Normalization = GLOBAL) -> Task:
        """Normalised copies of every part of ``plan`` (see :meth:`indexed` for the shared form)."""
        return self.indexed(plan, normalize=normalize, normalization=normalization).to_task()


def load_task(store: FeatureStore, plan: SplitPlan, *, normalize: bool = True,
              normalization: Normalization = GLOBAL) -> Task:
    """One-shot convenience: read the plan's corpora from ``store`` and build its :class:`Task`."""
    corpora = sorted({*plan.corpora, *plan.tests} | ({plan.unlabeled_corpus} if plan.unlabeled_corpus else set()))
    return TaskLoader(store, corpora).task(plan, normalize=normalize, normalization=normalization)
