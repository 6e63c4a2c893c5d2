"""Optuna + ASHA against the paper's grid: epochs spent to come within 0.5 points of the grid's best.

    .venv/bin/python bench/asha_vs_grid.py --store features [--holdout emodb] [--samples 10]

Runs, in one process and on the same data, ``distser search --mode grid`` (λ_W × λ_L, 25 points, every
trial to its own early stop) and ``distser search`` (Optuna proposals, ASHA; the paper's point is not
enqueued first, so the search starts from nothing) for method cww+pel, one seed. Each
epoch every trial reports is counted in the order the epochs finished; printed is how many epochs
each side spent until some trial's running best mean validation UA came within 0.5 UA points of the
best the grid ever reached, and the search's share of the grid's epochs (target <= 25 %).
Only validation UA is used; test UA plays no part.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from distser.define import Metric, Role, Tag
from distser.search import configure, run_search


def epoch_curve(config, locations) -> list[tuple[int, float]]:
    """Every (timestamp, running best mean validation UA) epoch record of the search's trials."""
    client = MlflowClient(locations.tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id],
                              f"tags.`{Tag.SEARCH}` = '{config.name}' and tags.`{Tag.ROLE}` = '{Role.TRIAL}'")
    points = []
    for run in runs:
        points += [(m.timestamp, m.step, m.value) for m in client.get_metric_history(run.info.run_id, Metric.VALID)
                   if m.step > 0]
    return [(timestamp, value) for timestamp, _, value in sorted(points)]


def epochs_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    for spent, (_, value) in enumerate(curve, start=1):
        if value >= target:
            return spent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--holdout", default="emodb")
    parser.add_argument("--unlabeled", default="librispeech")
    parser.add_argument("--samples", type=int, default=10, help="Optuna proposals (each one seed)")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--storage", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    storage = args.storage or Path(tempfile.mkdtemp(prefix="distser-asha-"))
    # The paper's λ only: the components' other hyperparameters (cww_signal, ...) stay at their defaults.
    common = ["--method", "cww+pel", "--store", str(args.store), "--holdout", args.holdout, "--unlabeled",
              args.unlabeled, "--seeds", "1", "--max-epochs", str(args.max_epochs), "--storage", str(storage),
              "--no-register", "--set", "study.start_at_defaults=false", "--set",
              'study.params={cww_signal = "train-ua", cww_smoothing = 0.0, weight_floor = 0.0}']

    grid = configure([*common, "--mode", "grid", "--name", "bench-grid"])
    run_search(*grid)
    search = configure([*common, "--samples", str(args.samples), "--name", "bench-optuna-asha"])
    run_search(*search)

    grid_curve, search_curve = epoch_curve(*grid[:2]), epoch_curve(*search[:2])
    grid_best = max(value for _, value in grid_curve)
    target = grid_best - 0.005
    grid_epochs = epochs_to_reach(grid_curve, target)
    search_epochs = epochs_to_reach(search_curve, target)
    print(f"held out {args.holdout}; grid: 25 configurations, {len(grid_curve)} epochs in all, "
          f"best mean validation UA {100 * grid_best:.2f}")
    print(f"Optuna+ASHA: {args.samples} proposals, {len(search_curve)} epochs in all, "
          f"best {100 * max(v for _, v in search_curve):.2f}")
    print(f"epochs until within 0.5 UA points of the grid's best ({100 * target:.2f}): "
          f"grid {grid_epochs}, Optuna+ASHA {search_epochs}")
    if search_epochs is None:
        print("Optuna+ASHA never came within 0.5 points of the grid's best")
    else:
        print(f"Optuna+ASHA epochs / all grid epochs: {100 * search_epochs / len(grid_curve):.1f} % (target <= 25 %)")


if __name__ == "__main__":
    main()
