"""What a search found, used on new audio: the registered models predict what the search logged."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from distser.corpora import load_corpus
from distser.define import model_name
from distser.learning import unweighted_accuracy

pytestmark = [pytest.mark.slow, pytest.mark.corpora]

DISTSER = [sys.executable, "-m", "distser"]


def _rows(path: Path) -> list[dict]:
    with open(path) as stream:
        return list(csv.DictReader(stream))


def test_the_registered_model_predicts_the_held_out_corpus_audio_with_the_logged_ua(
        real_store, shared_corpora, tmp_path, subprocess_env, search_cli):
    store, _, _ = real_store
    storage = tmp_path / "runs"
    config, locations, summary = search_cli([
        "--method", "ce", "--mode", "paper", "--store", str(store.root), "--train-corpora",
        "emodb,savee,ravdess", "--holdout", "emodb", "--seeds", "1", "--max-epochs", "8", "--storage",
        str(storage), "--name", "real", "--checkpoint-seconds", "0"])
    client = MlflowClient(locations.tracking_uri)
    version = client.search_model_versions(f"name = '{model_name('ce')}'")[0]
    logged = client.get_run(version.run_id).data.metrics["test_ua"]
    assert float(version.tags["test_ua"]) == pytest.approx(logged, abs=1e-4)

    out = tmp_path / "emodb.csv"
    env = dict(subprocess_env, MLFLOW_TRACKING_URI=locations.tracking_uri)
    done = subprocess.run([*DISTSER, "predict", "--model", f"models:/{model_name('ce')}/{version.version}",
                           str(shared_corpora / "emodb"), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(out)
    emodb = load_corpus("emodb", shared_corpora / "emodb").set_index("path")
    assert len(rows) == len(emodb) == 339  # one row per file
    classes = ["neutral", "happy", "sad", "angry"]
    truth = np.array([classes.index(emodb.loc[str(Path(r["path"]).resolve()), "label"]) for r in rows])
    predicted = np.array([classes.index(r["emotion"]) for r in rows])
    # From raw audio through openSMILE, the training normaliser and the network: the UA the search logged.
    assert unweighted_accuracy(truth, predicted) == pytest.approx(logged, abs=1e-9)


def test_after_the_readme_search_predict_prints_emotions_of_real_clips(finished_search, shared_corpora, tmp_path,
                                                                       subprocess_env):
    config, locations, _ = finished_search
    clips = sorted((shared_corpora / "savee" / "ALL").glob("*.flac"))[:5]
    env = dict(subprocess_env, MLFLOW_TRACKING_URI=locations.tracking_uri)
    done = subprocess.run([*DISTSER, "predict", "--model", f"models:/{model_name('cww+pel-al', synthetic=True)}/1",
                           *map(str, clips), "--out", str(tmp_path / "p.csv")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(tmp_path / "p.csv")
    assert [Path(r["path"]).name for r in rows] == [c.name for c in clips]
    assert all(r["emotion"] in ("neutral", "happy", "sad", "angry") and not r["error"] for r in rows)
    assert all(clip.name in done.stdout for clip in clips)  # printed too


def test_a_model_trained_per_corpus_adapts_to_the_held_out_corpus_audio_as_the_search_did(
        real_store, shared_corpora, tmp_path, subprocess_env, search_cli):
    """distser predict --adapt corpus (the model's default) on the held-out corpus's audio: the logged UA."""
    store, _, _ = real_store
    config, locations, summary = search_cli([
        "--method", "ce", "--mode", "paper", "--normalization", "corpus", "--store", str(store.root),
        "--train-corpora", "emodb,savee,ravdess", "--holdout", "emodb", "--seeds", "1", "--max-epochs", "8",
        "--storage", str(tmp_path / "runs"), "--name", "real-corpus", "--checkpoint-seconds", "0"])
    client = MlflowClient(locations.tracking_uri)
    version = client.search_model_versions(f"name = '{model_name('ce')}'")[0]
    assert version.tags["normalization"] == "corpus"
    logged = client.get_run(version.run_id).data.metrics["test_ua"]

    env = dict(subprocess_env, MLFLOW_TRACKING_URI=locations.tracking_uri)
    uri = f"models:/{model_name('ce')}/{version.version}"
    emodb = load_corpus("emodb", shared_corpora / "emodb").set_index("path")
    classes = ["neutral", "happy", "sad", "angry"]
    uas = {}
    # From the audio with its own statistics; the training statistics from the store (the same features,
    # not extracted again).
    for adapt, inputs in (("corpus", [str(shared_corpora / "emodb")]),
                          ("none", ["--store", str(store.root), "--corpus", "emodb"])):
        out = tmp_path / f"emodb-{adapt}.csv"
        done = subprocess.run([*DISTSER, "predict", "--model", uri, "--adapt", adapt, *inputs, "--out", str(out)],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        rows = _rows(out)
        assert len(rows) == len(emodb)
        assert {r["statistics"] for r in rows} == {"training" if adapt == "none" else "corpus"}
        truth = np.array([classes.index(emodb.loc[str(Path(r["path"]).resolve()), "label"]) for r in rows])
        uas[adapt] = unweighted_accuracy(truth, np.array([classes.index(r["emotion"]) for r in rows]))
    # The clips' own statistics, as the search normalised its held-out corpus: the UA it logged.
    assert uas["corpus"] == pytest.approx(logged, abs=1e-9)
    assert uas["none"] != pytest.approx(logged, abs=1e-9)  # the training statistics are another normalisation
