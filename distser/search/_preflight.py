"""What a search checks after its settings (:mod:`._prepare`) and before Ray starts: its data and its disk.

- the feature store: every shard of the corpora the search reads is opened and verified as the trials
  will read it (Parquet page checksums, the seal's per-column digests, finite features), one
  :class:`~distser.config.ConfigError`/``ShardError`` line naming the file otherwise;
- the plans: made once from the verified manifest, so a method that needs an unlabeled corpus, a
  corpus without labels and every other plan-level error is reported before Ray starts;
- the free space under a local storage: an estimate from the plan (trial checkpoints × their size)
  that warns when the disk may fill up and refuses when not even the first trials' checkpoints fit.

The search then reads the same shards again into Ray's object store (verified there too: a shard
replaced in between is still caught).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from distser.features import FeatureStore, latest

from ._config import SearchConfig
from ._disk import check_free_space, concurrency, disk_estimate, model_bytes
from ._plans import Plans, corpora_needed, make_plans, plan_studies, resolve_store


@dataclass
class CheckedData:
    """One feature set's store and plans, verified before Ray starts."""

    store: FeatureStore
    corpora: list[str] | None  # the corpora the search reads (None: every one in the store)
    plans: Plans


def verified_manifest(store: FeatureStore, corpora: list[str] | None) -> pd.DataFrame:
    """The manifest rows of ``corpora``'s shards, each shard read whole and verified (a few at a time)."""
    from ._data import _read_block  # the trials' own reading: the same checks, on the driver

    paths = [str(path) for path in store.shard_paths(corpora)]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        frames = list(pool.map(lambda path: _read_block(path, store.dim)[0], paths))
    manifest = pd.concat(frames, ignore_index=True)
    return manifest[latest(manifest["utterance_id"])].reset_index(drop=True)  # an utterance stored twice: its last


def check_data(config: SearchConfig, locations) -> dict[str, CheckedData]:
    """Each feature set's store verified and its plans made, before Ray starts (ConfigError/ShardError otherwise)."""
    checked = {}
    for feature_set in config.data.feature_sets:
        store = resolve_store(config, locations, feature_set)
        corpora = corpora_needed(config, store)
        checked[feature_set] = CheckedData(store, corpora, make_plans(config, verified_manifest(store, corpora)))
    return checked


def check_disk(config: SearchConfig, data: dict[str, CheckedData], storage, say: Callable[[str], None]) -> None:
    """The free space under a local storage against an estimate from the plan (:func:`._disk.check_free_space`)."""
    trials, models = 0, []
    for feature_set, checked in data.items():
        specs = plan_studies(config, checked.plans, feature_set)
        counted = sum(spec.configurations * len(spec.members) + len(spec.eval_seeds) for spec in specs)
        trials += counted
        models.append((counted + len(specs), model_bytes(checked.store.dim, config.training.hidden)))
    # The first wave with the widest set's checkpoints; the whole search with each set's own.
    first, _ = disk_estimate(trials, 0, max(size for _, size in models),
                             concurrency(config.resources.max_concurrent, config.resources.cpus_per_trial))
    check_free_space(storage, first, first + sum(count * size for count, size in models), say)
