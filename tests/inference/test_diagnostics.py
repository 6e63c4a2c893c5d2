"""Per-model diagnostics: class report numbers, confusion and weight figures, logged on a run."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from distser.arrays import EMOTIONS
from distser.inference import class_report, confusion_figure, log_diagnostics, weights_figure, weights_table

PNG = b"\x89PNG\r\n\x1a\n"
CONFUSION = [[8, 1, 1, 0], [2, 5, 0, 3], [0, 0, 10, 0], [0, 2, 0, 8]]


def test_class_report_numbers():
    report = class_report(CONFUSION, EMOTIONS)
    assert list(report.index) == [*EMOTIONS, "macro avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    happy = report.loc["happy"]
    assert happy["precision"] == pytest.approx(5 / 8) and happy["recall"] == pytest.approx(5 / 10)
    assert happy["f1"] == pytest.approx(2 * (5 / 8) * (5 / 10) / (5 / 8 + 5 / 10))
    assert report.loc["macro avg", "recall"] == pytest.approx((0.8 + 0.5 + 1.0 + 0.8) / 4)  # the UA
    assert report.loc["macro avg", "support"] == 40


def test_class_report_of_absent_and_never_predicted_classes():
    report = class_report([[3, 0, 1, 0], [0, 0, 0, 0], [1, 0, 3, 0], [2, 0, 0, 0]], EMOTIONS)
    assert np.isnan(report.loc["happy", "recall"]) and np.isnan(report.loc["happy", "f1"])
    assert report.loc["angry", "precision"] == 0 and report.loc["angry", "f1"] == 0
    # UA over the classes present, as distser.learning.unweighted_accuracy counts it
    assert report.loc["macro avg", "recall"] == pytest.approx((0.75 + 0.75 + 0) / 3)
    with pytest.raises(ValueError, match="shape"):
        class_report([[1, 2], [3, 4]], EMOTIONS)


def test_figures_are_pngs(tmp_path):
    path = confusion_figure(CONFUSION, EMOTIONS, tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG
    epochs = [{"ravdess": 1.0, "tess": 1.0}, {"ravdess": 1.4, "tess": 0.6}, {"ravdess": 1.7, "tess": 0.3}]
    assert weights_figure(epochs, tmp_path / "w.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="no corpus weights"):
        weights_figure([], tmp_path / "none.png")


def test_weights_table_accepts_records_and_metric_frames():
    from_records = weights_table([{"a": 1.0, "b": 1.0}, {"a": 1.5, "b": 0.5}])
    assert list(from_records.index) == [1, 2] and list(from_records.columns) == ["a", "b"]
    frame = pd.DataFrame({"epoch": [1, 2], "weight/a": [1.0, 1.5], "weight/b": [1.0, 0.5]})
    pd.testing.assert_frame_equal(weights_table(frame), from_records, check_index_type=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite tracking store for this module's runs (creating one costs seconds)."""
    root = tmp_path_factory.mktemp("diagnostics")
    uri = f"sqlite:///{root}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    return uri, client, client.create_experiment("distser", artifact_location=str(root / "artifacts"))


def test_log_diagnostics_reads_the_run_and_logs_artifacts(store):
    uri, client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    for epoch, (a, b) in enumerate([(1.0, 1.0), (1.3, 0.7), (1.6, 0.4)], start=1):
        client.log_metric(run_id, "weight/ravdess", a, step=epoch)
        client.log_metric(run_id, "weight/tess", b, step=epoch)
    client.log_dict(run_id, {"confusion": CONFUSION, "corpus_weights": {}}, "final_metrics.json")

    written = log_diagnostics(run_id, tracking_uri=uri)

    assert written == ["diagnostics/confusion_matrix.png", "diagnostics/class_report.csv",
                       "diagnostics/class_report.md", "diagnostics/corpus_weights.png",
                       "diagnostics/corpus_weights.csv"]
    logged = {f.path for f in client.list_artifacts(run_id, "diagnostics")}
    assert logged == set(written)
    report = pd.read_csv(client.download_artifacts(run_id, "diagnostics/class_report.csv"), index_col=0)
    assert report.loc["macro avg", "recall"] == pytest.approx(0.775)
    weights = pd.read_csv(client.download_artifacts(run_id, "diagnostics/corpus_weights.csv"), index_col=0)
    assert weights["tess"].tolist() == [1.0, 0.7, 0.4]
    markdown = Path(client.download_artifacts(run_id, "diagnostics/class_report.md")).read_text()
    assert "UA (macro-average recall): 77.5 %" in markdown
    final = Path(client.download_artifacts(run_id, "final_metrics.json")).read_text()
    assert json.loads(final)["confusion"] == CONFUSION  # read, not changed


def test_log_diagnostics_with_given_confusion_and_no_weights(store):
    uri, client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    written = log_diagnostics(run_id, confusion=CONFUSION, tracking_uri=uri, artifact_path="diag")
    assert written == ["diag/confusion_matrix.png", "diag/class_report.csv", "diag/class_report.md"]
    empty = client.create_run(experiment).info.run_id
    with pytest.raises(FileNotFoundError, match="has no final_metrics.json"):
        log_diagnostics(empty, tracking_uri=uri)
