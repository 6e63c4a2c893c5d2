"""Shared fixtures: every cache and output goes to a temp dir; synthetic data by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

PROJECT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = (PROJECT / ".." / "shared" / "corpora").resolve()


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """The real public corpora beside the project; tests needing them skip (with the reason) without."""
    if not SHARED_CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_CORPORA}")
    return SHARED_CORPORA


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """A small synthetic feature store shared by the session's tests (read-only by convention)."""
    from distser.features import write_synthetic

    return write_synthetic(str(tmp_path_factory.mktemp("synthetic")), scale=0.02, seed=0)


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance for the session (2 CPUs), shut down at the end."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
