"""End-to-end: a small search on the synthetic default, then MLflow is queried for what it must hold."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from distser.search._tracking import ROLE_TAG, SEARCH_TAG


def _runs(config, role):
    client = MlflowClient(config.resolved_tracking_uri)
    experiment = client.get_experiment_by_name(config.experiment)
    return client, client.search_runs([experiment.experiment_id],
                                      f"tags.`{SEARCH_TAG}` = '{config.name}' and tags.`{ROLE_TAG}` = '{role}'")


def test_parent_run_holds_search_and_selection(finished_search):
    config, summary = finished_search
    client, parents = _runs(config, "search")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["feature_store"].startswith("IS10-")
    assert "tune/search.py" in parent.data.tags["command"] or parent.data.tags["command"]
    assert len(parent.data.tags["git_commit"]) >= 7
    assert parent.data.params["methods"] == "cww+pel-al"
    mean = parent.data.metrics["selected/cww_pel-al/iemocap/test_ua_mean"]
    assert mean == pytest.approx(summary.iloc[0]["test_ua_mean"])
    assert "selected/cww_pel-al/iemocap/test_ua_std" in parent.data.metrics
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"selection.csv", "summary.txt"} <= names


def test_child_runs_hold_params_epoch_metrics_and_final_results(finished_search, tmp_path):
    config, _ = finished_search
    client, children = _runs(config, "trial")
    main = [c for c in children if not c.data.tags["distser.study"].endswith("--completion")]
    assert len(main) == 4  # 2 proposals x 2 seeds; ASHA-cut seeds of the chosen one re-run in "--completion"
    assert {c.info.status for c in children} == {"FINISHED"}
    parent_id = _runs(config, "search")[1][0].info.run_id
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    for child in children:
        assert {"lambda_w", "lambda_l", "seed", "holdout", "method"} <= set(child.data.params)
        corpora = ["crema-d", "msp-improv", "msp-podcast"]
        for corpus in corpora:
            history = client.get_metric_history(child.info.run_id, f"valid_ua/{corpus}")
            assert len(history) >= 1 and all(0 <= m.value <= 1 for m in history)
            assert [m.step for m in history] == sorted(m.step for m in history)
            assert client.get_metric_history(child.info.run_id, f"train_ua/{corpus}")
            assert client.get_metric_history(child.info.run_id, f"weight/{corpus}")
        # Every epoch once, in order (per-epoch metrics are buffered per trial: none may be lost).
        epochs = [m.step for m in client.get_metric_history(child.info.run_id, "mean_valid_ua")]
        assert epochs == list(range(1, len(epochs) + 1))
        assert len(epochs) >= child.data.metrics.get("best_epoch", 1)
        assert client.get_metric_history(child.info.run_id, "loss/total")
    finished = [c for c in children if c.data.tags.get("distser.stopped_by") == "training"]
    assert finished, "at least one trial must train to its end"
    for child in finished:
        metrics = child.data.metrics
        assert 0 <= metrics["test_ua"] <= 1 and 0 <= metrics["test_wa"] <= 1
        weights = [metrics[f"final_weight/{c}"] for c in ("crema-d", "msp-improv", "msp-podcast")]
        assert sum(weights) == pytest.approx(3.0, rel=1e-4)  # eq. 3: the weights' mean is 1
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"final_metrics.json", "best_model.pt"} <= artifacts
        local = client.download_artifacts(child.info.run_id, "final_metrics.json", str(tmp_path))
        confusion = np.array(json.loads(Path(local).read_text())["confusion"])
        assert confusion.shape == (4, 4)


def test_selected_configuration_has_every_seed_trained_to_its_end(finished_search):
    config, summary = finished_search
    assert summary.iloc[0]["seeds"] == 2


def test_selection_uses_validation_only(finished_search):
    config, summary = finished_search
    client, children = _runs(config, "trial")
    rows = pd.DataFrame([{"config": (c.data.params["lambda_w"], c.data.params["lambda_l"]),
                          "valid": c.data.metrics.get("best_mean_valid_ua"), "test": c.data.metrics.get("test_ua"),
                          "done": c.data.tags.get("distser.stopped_by") == "training"} for c in children])
    done = rows[rows["done"]]
    per_config = done.groupby("config").agg(n=("valid", "size"), valid=("valid", "mean"), test=("test", "mean"))
    best = per_config.sort_values(["n", "valid"], ascending=False).iloc[0]
    assert summary.iloc[0]["test_ua_mean"] == pytest.approx(best["test"])


def test_tracker_pickles_without_its_client_and_shares_one_per_uri(tmp_path):
    import pickle

    from distser.search._tracking import MLflowTrialCallback, Tracker, mlflow_client

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri, "distser", "s")
    callback = pickle.loads(pickle.dumps(MLflowTrialCallback(tracker, "study")))
    assert callback.tracker.parent_id == tracker.parent_id
    assert callback.tracker.client is mlflow_client(uri) is tracker.client
    assert Tracker(uri, "distser", "s").parent_id == tracker.parent_id  # found again, not duplicated
