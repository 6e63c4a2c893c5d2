"""Overhead of the distributed search: the same N fixed-length trainings through search.py and a bare loop.

    .venv/bin/python bench/search_overhead.py [--trainings 8] [--epochs 10] [--store DIR]

Both sides train method ``cww`` at the paper's λ_W = 4, on the same held-out corpus, seeds 0..N-1,
exactly ``--epochs`` epochs each (no early stopping, no ASHA), with the same resources: the bare side
is a sequential Python loop over ``distser.learning.train`` with torch on every core, run before and
after the search (the search is compared with the mean of the two: the machine is shared and drifts);
the search side gives each trial every core too (``--cpus-per-trial``), so trials run one after
another. It is ``distser search`` in-process (local Ray, shards into the object store, one Tune
experiment with checkpoints, MLflow logging, the selected model registered), from start to end
screen. Printed: wall times and their ratio (target <= 1.10). Default data: the synthetic store.

With ``--warm`` (as on a cluster brought up with ``ray up``, where Ray and the MLflow store already
run) Ray is started and the tracking database created before the clock starts; without it the
search's time includes starting a local Ray and creating the database.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from distser.features import FeatureStore, TaskLoader, write_synthetic
from distser.learning import MethodParams, TrainConfig, train
from distser.protocols import labelled_corpora, loco, unlabeled_corpora
from distser.search import configure, run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainings", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None, help="feature store (default: synthetic, scale 0.05)")
    parser.add_argument("--holdout", default=None)
    parser.add_argument("--warm", action="store_true", help="Ray and the MLflow store already running")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    work = Path(tempfile.mkdtemp(prefix="distser-bench-"))
    store = FeatureStore(args.store) if args.store else write_synthetic(str(work / "features"), scale=0.05)
    holdout = args.holdout or ("iemocap" if args.store is None else None)

    if holdout is None:
        holdout = labelled_corpora(TaskLoader(store).manifest)[0]

    def bare_loop() -> float:
        started = time.perf_counter()
        loader = TaskLoader(store)
        unlabeled = unlabeled_corpora(loader.manifest)
        task = loader.task(loco(loader.manifest, holdout, unlabeled=unlabeled[0] if unlabeled else None))
        for seed in range(args.trainings):
            train(task, TrainConfig(method="cww", params=MethodParams(lambda_w=4.0), seed=seed,
                                    max_epochs=args.epochs, early_stopping=False))
        return time.perf_counter() - started

    bare_before = bare_loop()
    print(f"bare loop: {args.trainings} trainings x {args.epochs} epochs in {bare_before:.1f} s "
          f"(torch threads {torch.get_num_threads()})")

    config, locations, options = configure([
        "--method", "cww", "--mode", "paper", "--holdout", holdout, "--seeds", str(args.trainings), "--max-epochs",
        str(args.epochs), "--no-early-stopping", "--storage", str(work / "runs"), "--name", "overhead",
        "--cpus-per-trial", str(torch.get_num_threads()), "--threads", str(torch.get_num_threads()),
        "--store", str(store.root)])
    if args.warm:
        import ray
        from mlflow.tracking import MlflowClient

        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
        MlflowClient(locations.tracking_uri).search_experiments()  # creates the database
    started = time.perf_counter()
    run_search(config, locations, options)
    searched = time.perf_counter() - started
    print(f"distser search: {args.trainings} trainings x {args.epochs} epochs in {searched:.1f} s")
    inside = _time_in_trials(Path(locations.search_dir(config.name)))
    print(f"  of which inside trials (summed): {inside:.1f} s; "
          f"outside (reading shards, trial start-up, Tune and MLflow bookkeeping): {searched - inside:.1f} s")
    bare_after = bare_loop()
    # The machine is shared: the bare loop runs before and after the search, and the search is compared
    # with their mean, so that a slow drift of the machine's speed does not count for or against it.
    bare = (bare_before + bare_after) / 2
    print(f"bare loop again: {bare_after:.1f} s; mean of both {bare:.1f} s")
    print(f"wall-time ratio search / bare loop: {searched / bare:.2f} (target <= 1.10; "
          f"{'Ray and MLflow already up' if args.warm else 'cold: includes starting Ray and the MLflow store'})")


def _time_in_trials(search_dir: Path) -> float:
    """Seconds the trials ran (Tune's ``time_total_s`` of each trial's last result, summed)."""
    total = 0.0
    for results in search_dir.glob("trial-*/result.json"):
        lines = [line for line in results.read_text().splitlines() if line.strip()]
        if lines:
            total += json.loads(lines[-1])["time_total_s"]
    return total


if __name__ == "__main__":
    main()
