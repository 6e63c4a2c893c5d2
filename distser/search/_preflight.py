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
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from distser.config import ConfigError
from distser.features import FeatureStore

from ._config import SearchConfig
from ._plans import Plans, corpora_needed, make_plans, plan_studies, resolve_store

#: A trial's resumable checkpoint holds the weights, Adam's two moments and the best epoch's weights.
TRAINER_STATE_COPIES = 4


@dataclass
class CheckedData:
    """A search's store and plans, verified before Ray starts."""

    store: FeatureStore
    corpora: list[str] | None  # the corpora the search reads (None: every one in the store)
    plans: Plans


def verified_manifest(store: FeatureStore, corpora: list[str] | None) -> pd.DataFrame:
    """The manifest rows of ``corpora``'s shards, each shard read whole and verified (a few at a time)."""
    from ._data import _read_block  # the trials' own reading: the same checks, on the driver

    paths = [str(path) for path in store.shard_paths(corpora)]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        frames = list(pool.map(lambda path: _read_block(path, store.dim)[0], paths))
    return pd.concat(frames, ignore_index=True)


def check_data(config: SearchConfig, locations) -> CheckedData:
    """The search's store verified and its plans made, before Ray starts (ConfigError/ShardError otherwise)."""
    store = resolve_store(config, locations)
    corpora = corpora_needed(config, store)
    plans = make_plans(config, verified_manifest(store, corpora))
    return CheckedData(store, corpora, plans)


def model_bytes(dim: int, hidden: list[int], classes: int = 4) -> int:
    """float32 weights and biases of the classifier: ``dim`` -> ``hidden`` -> ``classes``."""
    sizes = [dim, *hidden, classes]
    return 4 * sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))


def disk_estimate(config: SearchConfig, data: CheckedData) -> tuple[int, int]:
    """(bytes the first wave of trials needs, bytes the whole search may need) under the storage.

    Tune keeps each trial's last checkpoint: a trainer state while it trains, its best weights once it
    ended (deleted at the end unless ``tracking.keep_checkpoints``); each study registers one model.
    """
    specs = plan_studies(config, data.plans)
    trials = sum(spec.configurations * len(spec.members) + len(spec.eval_seeds) for spec in specs)
    model = model_bytes(data.store.dim, config.training.hidden)
    cpus = os.cpu_count() or 1
    concurrent = config.resources.max_concurrent or max(1, int(cpus // config.resources.cpus_per_trial))
    concurrent = min(concurrent, trials)
    first = concurrent * TRAINER_STATE_COPIES * model
    return first, first + (trials + len(specs)) * model


def check_free_space(config: SearchConfig, data: CheckedData, storage, say: Callable[[str], None]) -> None:
    """Refuse a search whose first trials' checkpoints do not fit under a local storage; warn if the whole may not."""
    if not storage.is_local:
        return
    free = shutil.disk_usage(storage.local_path).free
    first, total = disk_estimate(config, data)
    if free < first:
        raise ConfigError(f"--storage {storage.uri}: {_mb(free)} free, but the first trials' checkpoints need about "
                          f"{_mb(first)}; free some space or choose another --storage")
    if free < total:
        say(f"warning: --storage {storage.uri} has {_mb(free)} free; this search may write up to about {_mb(total)} "
            "of checkpoints and models (if it fills up, it stops and can be resumed)")


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"
