"""The features of a search in Ray's object store, once per node, and the plans that index into them.

A search over several feature sets reads each set's store once (:class:`SharedSets`): one set's blocks
and plans per set, side by side in the object store.

Every shard is read by a Ray task (verified against its checksums, checked finite) whose float32
feature block goes straight into the object store: the driver never holds a copy. A plan is row
indices into those blocks plus the normaliser of its training rows; a trial maps the blocks of its
node zero-copy (read-only shared memory) and gathers its minibatches from them. So memory grows with
the features once per node, not with trials, held-out corpora or methods (a per-corpus or per-speaker
normaliser adds one int32 group index per table row and plan, and its groups' statistics).

Plain Ray tasks instead of Ray Data's ``read_parquet``: Ray Data's blocks are Arrow tables whose
fixed-size-list column every trial would have to turn into a matrix again, and its reader cannot
verify the shards' checksums (``distser.features.read_shard``). Extraction still uses Ray Data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from distser.arrays import FeatureTable, GroupNormalizer, IndexedTask, Normalizer
from distser.corpora import MANIFEST_COLUMNS
from distser.features import (
    FeatureStore,
    Normalization,
    TaskLoader,
    read_shard,
    share_statistics,
    split_features,
    table_of,
)
from distser.learning import release_freed_memory
from distser.protocols import SplitPlan

_FEATURE_COLUMNS = [*MANIFEST_COLUMNS, "content_hash", "features"]


def _read_block(path: str, dim: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One shard -> (its manifest rows, its float32 feature block); raises naming the shard."""
    frame, features = split_features(read_shard(path, _FEATURE_COLUMNS, dim=dim), where=path)
    features = np.ascontiguousarray(features, dtype=np.float32)
    # The reading worker lingers until Ray ends it: give pyarrow's and glibc's free memory back now.
    pa.default_memory_pool().release_unused()
    release_freed_memory()
    return frame, features


@dataclass
class PlanRows:
    """A plan as rows of the shared table (see :class:`~distser.arrays.IndexedTask`), without the table.

    ``normalizers`` holds the plan's normaliser for each normalisation the search tries, by name.
    """

    name: str
    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    tests: dict[str, np.ndarray]
    holdout: str | None
    unlabeled: np.ndarray | None
    unlabeled_name: str | None
    normalizers: dict[str, Normalizer | GroupNormalizer]

    @classmethod
    def of(cls, loader: TaskLoader, plan: SplitPlan, normalizations: list[Normalization]) -> PlanRows:
        task = loader.indexed(plan, normalize=False)
        return cls(plan.name, task.train, task.valid, task.tests, task.holdout, task.unlabeled, task.unlabeled_name,
                   {n.name: loader.normalizer(task, n) for n in normalizations})

    def task(self, table: FeatureTable, normalization: str = "global") -> IndexedTask:
        if normalization not in self.normalizers:
            raise KeyError(f"plan {self.name!r} has no {normalization!r} normaliser "
                           f"(this search normalises by {', '.join(self.normalizers)})")
        return IndexedTask(table=table, train=self.train, valid=self.valid, tests=self.tests, holdout=self.holdout,
                           unlabeled=self.unlabeled, unlabeled_name=self.unlabeled_name,
                           normalizer=self.normalizers[normalization], description={"plan": self.name})


@dataclass
class SharedData:
    """What every trial gets (through ``tune.with_parameters``): block references, labels, plans.

    ``blocks`` are object references: pickling this object copies no features, and a trial's
    :meth:`task` maps the blocks of its node without copying them.
    """

    blocks: list  # ray.ObjectRef of float32 (rows, dim) arrays, one per shard
    labels: np.ndarray
    soft_labels: np.ndarray | None
    ids: np.ndarray
    plans: dict[str, PlanRows] = field(default_factory=dict)

    def table(self) -> FeatureTable:
        import ray

        return FeatureTable(tuple(ray.get(self.blocks)), self.labels, self.soft_labels, self.ids)

    def task(self, plan: str, table: FeatureTable | None = None, normalization: str = "global") -> IndexedTask:
        if plan not in self.plans:
            raise KeyError(f"plan {plan!r} is not part of this search (plans: {', '.join(self.plans)})")
        return self.plans[plan].task(table if table is not None else self.table(), normalization)


@dataclass
class SharedSets:
    """Each feature set's :class:`SharedData`, by name: what every trial of a search gets.

    A trial's config names its set (``feature_set``); a search of one set has one, which a config without
    a name (a trial of a search started before sets were a study dimension) also means.
    """

    sets: dict[str, SharedData]

    def of(self, feature_set: str | None = None) -> SharedData:
        if feature_set is None and len(self.sets) == 1:
            return next(iter(self.sets.values()))
        if feature_set not in self.sets:
            raise KeyError(f"feature set {feature_set!r} is not part of this search "
                           f"(feature sets: {', '.join(self.sets)})")
        return self.sets[feature_set]

    def task(self, plan: str, table: FeatureTable | None = None, normalization: str = "global",
             feature_set: str | None = None) -> IndexedTask:
        return self.of(feature_set).task(plan, table, normalization)


@dataclass
class StoreInObjectStore:
    """A feature store read into the object store: its manifest (on the driver) and its shared blocks."""

    store: FeatureStore
    manifest: pd.DataFrame
    blocks: list
    table: FeatureTable  # zero-copy views of ``blocks`` on the driver's node
    loader: TaskLoader

    def shared(self, plans: list[SplitPlan], normalizations: list[Normalization] | None = None) -> SharedData:
        """The plans' rows and normalisers (fitted here, on the driver, without copying the table)."""
        normalizations = normalizations or [Normalization()]
        rows = {plan.name: PlanRows.of(self.loader, plan, normalizations) for plan in plans}
        for normalization in normalizations:  # one statistics table per normalisation, shared by the plans
            grouped = [p for p in rows.values() if isinstance(p.normalizers[normalization.name], GroupNormalizer)]
            shared = share_statistics([p.normalizers[normalization.name] for p in grouped])
            for plan_rows, normalizer in zip(grouped, shared, strict=True):
                plan_rows.normalizers[normalization.name] = normalizer
        # Fitting per-speaker statistics frees thousands of differently sized temporaries (each group's
        # gathered rows, in float32 and float64); glibc kept them in the driver's heap for the whole search
        # (~175 MB at synthetic scale 1.0; ~50 MB with global normalisation): give them back now.
        release_freed_memory()
        table = self.table
        return SharedData(self.blocks, table.labels, table.soft_labels, table.ids, rows)


def read_store(store: FeatureStore, corpora: list[str] | None = None) -> StoreInObjectStore:
    """Read ``store``'s shards (of ``corpora``) with one Ray task each, features straight into the object store.

    A damaged shard, one of another feature set, or non-finite features fail here with the shard's name.
    """
    import ray

    read = ray.remote(num_returns=2, max_retries=0)(_read_block)
    paths = store.shard_paths(corpora)
    pending = [read.remote(str(path), store.dim) for path in paths]
    try:
        frames = ray.get([frame for frame, _ in pending])
    except ray.exceptions.RayTaskError as error:  # the shard's own error (ShardError, ValueError), unwrapped
        cause = getattr(error, "cause", None)
        raise (cause if isinstance(cause, Exception) else error) from None
    blocks = [block for _, block in pending]
    manifest = pd.concat(frames, ignore_index=True)
    table = table_of(manifest, tuple(ray.get(blocks)))
    loader = TaskLoader.from_table(manifest, table)
    # The blocks are whole shards, so the table keeps an utterance stored twice; the manifest (what plans
    # are made of) holds it once, as FeatureStore.load does: its latest row.
    return StoreInObjectStore(store, loader.manifest, blocks, table, loader)
