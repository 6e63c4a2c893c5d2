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

Also printed, measured alone in a fresh process: what Ray itself takes before any search can train, next to
what the target leaves outside the trials (a tenth of the bare loop): starting a local Ray as ``distser
search`` does, and a trial's actor: Ray Tune gives every trial actor a ``runtime_env``, so Ray starts a new
worker process for it (not one of those it started beforehand), which then imports Ray, torch and the
trainable before its first epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from distser.features import FeatureStore, TaskLoader, write_synthetic
from distser.learning import MethodParams, TrainConfig, train
from distser.protocols import labelled_corpora, loco, unlabeled_corpora
from distser.search import configure, run_search

#: Ray's part of a search's start, in a fresh process: ``start_ray`` as ``distser search`` calls it, then an actor
#: as Tune makes a trial's (its runtime_env, one CPU, the trainable's imports), ready. Prints both in seconds.
RAY_FLOOR = """
import os, time
started = time.perf_counter()
from distser.runtime import start_ray
start_ray()
import ray
from ray.tune.execution.class_cache import DEFAULT_ENV_VARS  # the runtime_env of every Tune trial actor
up = time.perf_counter()

@ray.remote(num_cpus=1, runtime_env={"env_vars": dict(DEFAULT_ENV_VARS)})
class TrialLike:
    def __init__(self):
        import ray.tune  # noqa: F401
        import distser.search._trainable  # noqa: F401

    def pid(self):
        return os.getpid()

ray.get(TrialLike.remote().pid.remote())
ready = time.perf_counter()
ray.shutdown()
print(f"{up - started:.2f} {ready - up:.2f}")
"""


def ray_floor() -> tuple[float, float]:
    """(starting a local Ray, a trial-like actor ready) in seconds, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", RAY_FLOOR], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"timing Ray's start failed:\n{done.stderr}")
    start, actor = (float(v) for v in done.stdout.split()[-2:])
    return start, actor


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
    start, actor = ray_floor()
    floor = actor if args.warm else start + actor
    print(f"Ray's own part, measured alone: {'' if args.warm else f'starting a local Ray {start:.1f} s, '}"
          f"a trial's actor ready {actor:.1f} s: {floor:.1f} s of the {0.10 * bare:.1f} s the target leaves "
          "outside the trials (a tenth of the bare loop)")


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
