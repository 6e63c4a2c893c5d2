"""Fixtures of the report tests: the session's real search (its storage folder) and hand-made trial tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def tiny_search(shared_search) -> Path:
    """The session's shared search (``shared_search`` in tests/conftest.py: ce and cww+pel-al, held-out iemocap
    and crema-d, test-only msp-podcast, 2 seeds): its storage folder (its ``mlflow.db`` holds the runs)."""
    return shared_search.storage


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
