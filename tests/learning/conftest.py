"""Shared fixtures: tiny synthetic tasks (3 corpora x 120 samples x 20 dims + 100 unlabeled)."""

from __future__ import annotations

import pytest

from distser.arrays import Task
from distser.learning import synthetic_task


@pytest.fixture(scope="session")
def task() -> Task:
    """Three training corpora of different difficulty, with soft labels and an unlabeled corpus."""
    return synthetic_task(corpora=("a", "b", "c"), n_train=120, n_valid=60, n_test=120, n_unlabeled=100, dim=20)


@pytest.fixture(scope="session")
def task_without_soft() -> Task:
    return synthetic_task(soft_labels=False, seed=1)
