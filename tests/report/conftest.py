"""Fixtures of the report tests: a real tiny search (made once per session) and hand-made trial tables."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY_SEARCH = "t"
TINY_ARGS = ["--method", "ce", "--method", "cww", "--mode", "paper", "--seeds", "2", "--max-epochs", "3",
             "--synthetic-scale", "0.02", "--holdout", "iemocap", "--holdout", "crema-d", "--test-corpus",
             "msp-podcast", "--name", TINY_SEARCH, "--no-register"]


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory) -> Path:
    """``distser search`` of ce and cww at the paper's values, 2 held-out corpora, a test-only corpus, 2 seeds,
    3 epochs (about 30 s): the storage folder (its ``mlflow.db`` holds the runs)."""
    storage = tmp_path_factory.mktemp("tiny-search")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-m", "distser", "search", *TINY_ARGS, "--storage", str(storage)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return storage


def trial(method: str, holdout: str, seed: int, test_ua: float, *, config: dict | None = None, score: float = 0.5,
          phase: str = "search", fold: str | None = None, finished: bool = True, selection: str = "train-domain",
          plan: str | None = None, search: str = "s", **extra) -> dict:
    """One row of a trial table as :func:`distser.report.collect_trials` makes it."""
    config = config or {}
    plan = plan or (f"loco-{holdout}" if fold is None else f"loco-{holdout}/without-{fold}")
    outer = plan.split("/without-")[0]
    row = {"search": search, "study": f"{method.removeprefix('within:')}--{outer}", "run_id": f"r{id(extra)}",
           "method": method, "holdout": holdout, "plan": plan, "phase": phase, "fold": fold, "seed": seed,
           "config": json.dumps(dict(sorted(config.items()))), "selection": selection, "score": score,
           "valid_ua": score, "test_ua": test_ua if fold is None else math.nan, "finished": finished,
           "stopped_by": "training" if finished else "asha"}
    row.update({k: float(v) if isinstance(v, int | float) else v for k, v in config.items()})
    row.update(extra)
    return row


def table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    return frame


@pytest.fixture
def trial_row():
    """:func:`trial` (test files cannot import conftest under --import-mode=importlib)."""
    return trial


@pytest.fixture
def trial_table():
    """:func:`table`: rows -> a trial table with distinct run ids."""
    return table
