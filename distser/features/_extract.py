"""Manifest -> feature shards, distributed with Ray Data (``map_batches`` over files)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ._audio import FEATURE_SETS, ExtractionError, Extractor, WorkerDied, check_feature_set, content_hash
from ._store import FAILURE_COLUMNS, FeatureStore, shard_table


@dataclass
class ExtractReport:
    """What one extraction run did."""

    extracted: int
    skipped: int
    failures: pd.DataFrame
    shards: list[Path]
    seconds: float
    audio_seconds: float

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        rate = self.extracted / self.seconds if self.seconds > 0 else float("nan")
        text = (f"extracted {self.extracted} files, skipped {self.skipped} already extracted, "
                f"{self.failed} failed, in {self.seconds:.1f} s ({rate:.1f} files/s)")
        if self.failed:
            text += "\n" + "\n".join(f"  failed: {row.path}: {row.reason}" for row in self.failures.itertuples())
        return text


class _ExtractBatch:
    """Ray Data callable class: one openSMILE instance per worker, reused for every batch."""

    def __init__(self, feature_set: str) -> None:
        self.extractor = Extractor(feature_set)
        self.dim = FEATURE_SETS[feature_set]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = batch["path"]
        features = np.full((len(paths), self.dim), np.nan, dtype=np.float32)
        errors = np.full(len(paths), "", dtype=object)
        durations = np.zeros(len(paths), dtype=np.float64)
        for row, path in enumerate(paths):
            try:
                features[row] = self.extractor(path)
                durations[row] = _duration(path)
            except ExtractionError as error:
                errors[row] = str(error)
            except Exception as error:  # a bad file must never take the batch down with it
                errors[row] = f"{type(error).__name__}: {error}"
        return {"utterance_id": batch["utterance_id"], "features": features, "error": errors,
                "duration": durations}


def _duration(path: str) -> float:
    import soundfile

    info = soundfile.info(path)
    return info.frames / info.samplerate


def extract_batches(files: pd.DataFrame, feature_set: str, *, num_workers: int | None = None,
                    batch_size: int = 16) -> Iterator[dict[str, np.ndarray]]:
    """openSMILE functionals of ``files`` (columns ``utterance_id``, ``path``) on a Ray Data actor pool.

    Yields batches as they finish (not in ``files``' order): ``utterance_id``, ``features`` (float32, a NaN
    row where the file failed), ``error`` (``""`` where it worked, else why) and ``duration`` (seconds).
    ``num_workers`` actors (default: one per CPU of the running Ray, or of this machine for the one Ray
    Data then starts), each with one openSMILE instance. Nothing is stored: :func:`extract` writes
    shards, prediction keeps arrays.
    """
    import ray

    if num_workers is None:
        num_workers = max(1, int(ray.available_resources().get("CPU", os.cpu_count() or 1))
                          if ray.is_initialized() else os.cpu_count() or 1)
    yield from map_files(files, _ExtractBatch, {"feature_set": feature_set}, batch_size=batch_size,
                         num_workers=num_workers)


def map_files(files: pd.DataFrame, worker: type, arguments: dict, *, batch_size: int, num_workers: int,
              num_cpus: float = 1, num_gpus: float = 0) -> Iterator[dict[str, np.ndarray]]:
    """``worker`` (a Ray Data callable class built with ``arguments``) over ``files``' ``utterance_id`` and
    ``path`` in batches of ``batch_size``, on a pool of ``num_workers`` actors; its batches as they finish.

    Every extractor's Ray Data step (openSMILE's, self-supervised embeddings').
    """
    import ray

    # One in-memory block per batch: no read or repartition tasks that would compete with the
    # extraction actors for CPUs (they hold all of them, and Ray Data would stall).
    # Callers show one progress bar, not Ray Data's blocks of operator progress every few seconds.
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    files = files[["utterance_id", "path"]]
    dataset = ray.data.from_pandas([files.iloc[i:i + batch_size] for i in range(0, len(files), batch_size)])
    # Ray Data restarts a dead actor and retries its batch forever by default: a file that crashes the
    # extractor's native code (or a model the memory monitor kills) would then never end. A worker calls
    # the extractor inside try/except per file, so only a process death reaches here; end with it. (This
    # also spares the user Ray's warning about restarting actors, ray-project/ray#57733.) Ray 2.60 has no
    # named parameter for max_restarts: the deprecated ray_remote_args is the only way (gone in Ray 2.64).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        results = dataset.map_batches(
            worker,
            fn_constructor_kwargs=arguments,
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_cpus=num_cpus,
            max_restarts=0,
            **({"num_gpus": num_gpus} if num_gpus else {}),
        )
    try:
        yield from results.iter_batches(batch_size=None, batch_format="numpy")
    except ray.exceptions.RayActorError as error:
        raise WorkerDied(f"an extraction worker died ({type(error).__name__}: the process crashed or ran out of "
                         "memory); the batches written before it are kept: run the same command again to "
                         "continue, with fewer --workers if memory ran out") from None


def plan_extraction(manifest: pd.DataFrame, store: FeatureStore) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Split the manifest into files to extract and files already stored with the same content.

    Returns ``(todo, unreadable, skipped)``; ``unreadable`` lists files whose bytes could not be read.
    """
    hashes, reasons = [], []
    for path in manifest["path"]:
        try:
            hashes.append(content_hash(path))
            reasons.append("")
        except OSError as error:
            hashes.append(None)
            reasons.append(f"cannot read file: {error.strerror or error}")
    frame = manifest.assign(content_hash=hashes, reason=reasons)
    known = store.known_hashes()
    stored = frame["utterance_id"].map(known)
    same = (stored == frame["content_hash"]) & frame["content_hash"].notna()
    unreadable = frame[frame["content_hash"].isna()]
    todo = frame[~same & frame["content_hash"].notna()].drop(columns="reason")
    return todo.reset_index(drop=True), unreadable[FAILURE_COLUMNS], int(same.sum())


def extract(
    manifest: pd.DataFrame,
    out: str | Path,
    feature_set: str = "IS10",
    *,
    num_workers: int | None = None,
    batch_size: int = 16,
    shard_rows: int = 1024,
    progress: Callable[[str], None] | None = None,
) -> ExtractReport:
    """Extract openSMILE functionals for every manifest row not yet in the store at ``out``.

    Files are spread over Ray Data workers (:func:`extract_batches`; ``num_workers`` actors, default: one
    per CPU).
    A file that cannot be read or processed is recorded in the failures table with its reason;
    the rest still land. Re-running skips files whose content is already stored.

    Example:
        >>> from distser.corpora import load_corpus  # doctest: +SKIP
        >>> report = extract(load_corpus("emodb", "../shared/corpora/emodb"), "features")  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
    """
    check_feature_set(feature_set)
    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    store = FeatureStore(out, feature_set)
    started = time.perf_counter()
    todo, failures, skipped = plan_extraction(manifest, store)
    say(f"{len(manifest)} files in manifest: {skipped} already extracted, {len(todo)} to extract")

    batches = extract_batches(todo, feature_set, num_workers=num_workers, batch_size=batch_size) if len(todo) else ()
    report = write_batches(store, todo, batches, failures=failures, skipped=skipped, started=started,
                           shard_rows=shard_rows, desc="extracting")
    say(report.summary())
    return report


def write_batches(store: FeatureStore, todo: pd.DataFrame, batches: Iterable[dict[str, np.ndarray]], *,
                  failures: pd.DataFrame, skipped: int, started: float, shard_rows: int = 1024,
                  desc: str = "extracting") -> ExtractReport:
    """Write extracted batches (``utterance_id``, ``features``, ``duration``, ``error`` per file) into ``store``.

    Shards of at most ``shard_rows`` files per corpus, each written atomically as it fills (a killed run
    loses at most that many files per corpus); files that failed go to the failures table with their
    reason (with ``failures``, those that could not be read at all). One progress bar. Shared by every
    extractor (openSMILE's :func:`extract`, self-supervised embeddings).
    """
    shards: list[Path] = []
    failed_rows = [failures]
    audio_seconds = 0.0
    by_id = todo.set_index("utterance_id")
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
    pending: dict[str, list[tuple[pd.DataFrame, np.ndarray]]] = {}

    def flush(corpus: str) -> None:
        parts = pending.pop(corpus, [])
        if parts:
            frame = pd.concat([f for f, _ in parts], ignore_index=True)
            table = shard_table(frame, np.concatenate([x for _, x in parts]), frame["content_hash"])
            shards.append(store.write_shard(corpus, table, stamp, len(shards)))

    failed = 0
    bar = tqdm(total=len(todo), unit="file", desc=desc, disable=None if len(todo) else True, file=sys.stderr)
    for batch in batches:
        ids = pd.Index(batch["utterance_id"])
        rows = by_id.loc[ids].reset_index()
        ok = batch["error"] == ""
        audio_seconds += float(batch["duration"][ok].sum())
        if (~ok).any():
            bad = rows.loc[~ok, ["utterance_id", "corpus", "path"]].assign(reason=batch["error"][~ok])
            failed_rows.append(bad)
            failed += len(bad)
        good = rows[ok].reset_index(drop=True)
        good_features = batch["features"][ok]
        for corpus, part in good.groupby("corpus", sort=True):
            pending.setdefault(corpus, []).append((part, good_features[part.index.to_numpy()]))
            # Few large shards read fast; a killed run loses at most shard_rows files per corpus.
            if sum(len(f) for f, _ in pending[corpus]) >= shard_rows:
                flush(corpus)
        bar.update(len(ids))
        bar.set_postfix(failed=failed, refresh=False)
    bar.close()
    for corpus in sorted(pending):
        flush(corpus)
    failures = pd.concat(failed_rows, ignore_index=True)[FAILURE_COLUMNS]
    store.write_failures(failures)
    return ExtractReport(
        extracted=len(todo) - int(failures["path"].isin(todo["path"]).sum()),
        skipped=skipped,
        failures=failures,
        shards=shards,
        seconds=time.perf_counter() - started,
        audio_seconds=audio_seconds,
    )
