"""Tiny trained models, a temporary MLflow registry holding one, and audio clips for the inference tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from distser.features import FEATURE_SETS
from distser.inference import ModelBundle, example_clip, log_model

MODEL_NAME = "distser-test"
#: Real clips of the shared corpora (16 kHz FLAC) used where a real recording matters.
REAL_CLIPS = ("emodb/wav/03a01Fa.flac", "emodb/wav/03a01Wa.flac", "savee/ALL/DC_a01.flac")


def tiny_model(feature_set: str = "IS10", hidden: tuple[int, ...] = (32, 16), seed: int = 0, method: str = "ce"):
    """An EmotionClassifier trained for two epochs on a synthetic task of the feature set's dimension."""
    from distser.learning import EmotionClassifier, TrainConfig, synthetic_task, train

    dim = FEATURE_SETS[feature_set]
    result = train(synthetic_task(dim=dim, seed=seed),
                   TrainConfig(method=method, max_epochs=2, hidden=hidden, seed=seed))
    model = EmotionClassifier(dim, hidden=hidden, reconstruction=any(k.startswith("decoder.")
                                                                     for k in result.state_dict))
    model.load_state_dict(result.state_dict)
    return model.eval()


def tiny_bundle(feature_set: str = "IS10", hidden: tuple[int, ...] = (32, 16), seed: int = 0,
                **metadata: str) -> ModelBundle:
    """A bundle of :func:`tiny_model` with a non-trivial normaliser (mean != 0, std != 1)."""
    dim = FEATURE_SETS[feature_set]
    rng = np.random.default_rng(seed)
    return ModelBundle.from_classifier(tiny_model(feature_set, hidden, seed), rng.normal(0, 1, dim),
                                       rng.uniform(50, 200, dim), feature_set,
                                       {"method": "ce", "holdout": "emodb", "seed": str(seed), **metadata})


@dataclass
class Registry:
    """A temporary SQLite MLflow store with one logged and registered model (version 1)."""

    uri: str
    root: Path
    run_id: str
    bundle: ModelBundle
    info: object
    name: str = MODEL_NAME


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("distser", artifact_location=str(root / "artifacts"))
    run = client.create_run(experiment, run_name="trial", tags={"distser.role": "trial"})
    bundle = tiny_bundle("IS10", search="search-test")
    info = log_model(bundle, run_id=run.info.run_id, registered_model_name=MODEL_NAME,
                     tags={"test_ua": "0.5", "search": "search-test"}, tracking_uri=uri)
    client.set_terminated(run.info.run_id)
    return Registry(uri=uri, root=root, run_id=run.info.run_id, bundle=bundle, info=info)


@pytest.fixture
def clips(tmp_path) -> list[Path]:
    """Three short synthetic FLAC clips (no recordings needed)."""
    paths = []
    for i, seconds in enumerate((0.8, 1.0, 1.3)):
        path = tmp_path / f"clip{i}.flac"
        path.write_bytes(example_clip(seconds))
        paths.append(path)
    return paths


@pytest.fixture
def real_clips(shared_corpora, tmp_path) -> list[Path]:
    """Copies of a few real clips of the shared corpora (copied so tests may damage or move them)."""
    out = []
    for relative in REAL_CLIPS:
        target = tmp_path / "real" / relative.replace("/", "_")
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(shared_corpora / relative, target)
        out.append(target)
    return out


def truncated_copy(source: Path, target: Path, keep: int = 3000) -> Path:
    """A corrupt audio file: the first ``keep`` bytes of ``source`` (header intact, data cut off)."""
    target.write_bytes(source.read_bytes()[:keep])
    return target


@pytest.fixture(scope="session")
def make_model():
    """:func:`tiny_model` (test files cannot import conftest under --import-mode=importlib)."""
    return tiny_model


@pytest.fixture(scope="session")
def make_bundle():
    """:func:`tiny_bundle`."""
    return tiny_bundle


@pytest.fixture(scope="session")
def corrupt():
    """:func:`truncated_copy`."""
    return truncated_copy


@pytest.fixture(autouse=True)
def _no_default_tracking_store(tmp_path_factory, monkeypatch):
    """Anything that falls back to MLflow's default store writes to a temp folder, never the cwd."""
    fallback = tmp_path_factory.getbasetemp() / "default-tracking"
    fallback.mkdir(exist_ok=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{fallback}/mlflow.db")
