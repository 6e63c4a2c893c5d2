"""End-to-end: the session's small search on the synthetic default, then MLflow is queried for what it must hold.

The search (``shared_search`` in tests/conftest.py): ce (no searched hyperparameters: one configuration per
study) and cww+pel-al (2 Optuna proposals, the paper's values first; ASHA), held-out iemocap and crema-d,
test-only msp-podcast, 2 seeds each.
"""

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from distser.define import File, Tag, model_name

HOLDOUTS = {"iemocap", "crema-d"}
METHODS = ("ce", "cww+pel-al")
LABELLED = ["crema-d", "iemocap", "msp-improv"]  # the synthetic default's labelled corpora besides msp-podcast
CONFIGURATIONS = {"ce": 1, "cww+pel-al": 2}  # per study: ce searches nothing, cww+pel-al 2 Optuna proposals


def _runs(config, locations, role):
    client = MlflowClient(locations.tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment)
    return client, client.search_runs([experiment.experiment_id],
                                      f"tags.`{Tag.SEARCH}` = '{config.name}' and tags.`{Tag.ROLE}` = '{role}'")


def test_parent_run_holds_the_search_its_record_and_selection(finished_search, tmp_path):
    config, locations, summary = finished_search
    client, parents = _runs(config, locations, "search")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[Tag.STORE].startswith("IS10-")
    assert parent.data.tags[Tag.COMMAND].startswith("distser search")
    assert len(parent.data.tags[Tag.GIT_COMMIT]) >= 7  # MLflow's own source tag
    assert parent.data.params["study.methods"] == "['ce', 'cww+pel-al']"
    assert parent.data.params["data.holdouts"] == "['iemocap', 'crema-d']"
    assert parent.data.params["data.test_corpora"] == "['msp-podcast']"
    assert len(summary) == 4  # a row per study: (method, held-out corpus)
    for row in summary.itertuples():
        safe = {"ce": "ce", "cww+pel-al": "cww_pel-al"}[row.method]  # MLflow metric names take no "+"
        mean = parent.data.metrics[f"selected/{safe}/{row.holdout}/test_ua_mean"]
        assert mean == pytest.approx(row.test_ua_mean)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {File.SELECTION, File.SUMMARY, File.RECORD} <= names
    record = Path(client.download_artifacts(parent.info.run_id, File.RECORD, str(tmp_path))).read_text()
    assert record == locations.storage.read_text(config.name, File.RECORD)  # the same record in both places
    recorded = tomllib.loads(record)
    assert recorded["study"]["seeds"] == 2 and recorded["data"]["test_corpora"] == ["msp-podcast"]
    assert recorded["study"]["methods"] == list(METHODS)


def test_child_runs_hold_params_epoch_metrics_and_final_results(finished_search, tmp_path):
    config, locations, _ = finished_search
    client, children = _runs(config, locations, "trial")
    search = pd.Series([(c.data.params["method"], c.data.params["holdout"]) for c in children
                        if c.data.tags[Tag.PHASE] == "search"]).value_counts().to_dict()
    # per study: configurations x 2 seeds; ASHA-cut seeds of the chosen one re-run as "final"
    assert search == {(m, h): 2 * CONFIGURATIONS[m] for m in METHODS for h in HOLDOUTS}
    assert {c.info.status for c in children} == {"FINISHED"}
    parent_id = _runs(config, locations, "search")[1][0].info.run_id
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    for child in children:
        params = child.data.params
        method, holdout = params["method"], params["holdout"]
        corpora = [c for c in LABELLED if c != holdout]  # the training corpora
        assert {"seed", "holdout", "method", "config"} <= set(params)
        assert child.info.run_name.startswith(f"{method} · {holdout} · seed {params['seed']}")
        if method == "cww+pel-al":
            assert {"lambda_w", "lambda_l", "cww_signal", "weight_floor"} <= set(params)
            assert child.info.run_name.startswith(f"cww+pel-al · {holdout} · seed {params['seed']} · lambda_w=")
            assert len(params["lambda_w"]) <= 6  # rounded for display; exact in the config key
            assert json.loads(params["config"])["lambda_w"] == pytest.approx(float(params["lambda_w"]), rel=1e-3)
            assert client.get_metric_history(child.info.run_id, "loss/pel")
        else:  # ce: nothing searched, no λ, no PEL loss
            assert params["config"] == "{}" and "lambda_w" not in params and "lambda_w" not in child.info.run_name
            assert "loss/pel" not in child.data.metrics
        assert f"valid_ua/{holdout}" not in child.data.metrics  # the held-out corpus is never validated on
        for corpus in corpora:
            history = client.get_metric_history(child.info.run_id, f"valid_ua/{corpus}")
            assert len(history) >= 1 and all(0 <= m.value <= 1 for m in history)
            assert client.get_metric_history(child.info.run_id, f"train_ua/{corpus}")
            assert client.get_metric_history(child.info.run_id, f"weight/{corpus}")
            assert client.get_metric_history(child.info.run_id, f"train_loss/{corpus}")
        epochs = [m.step for m in client.get_metric_history(child.info.run_id, "mean_valid_ua")]
        assert epochs == list(range(1, len(epochs) + 1))  # every epoch once, in order
        # per-epoch metrics never include a test corpus: nothing during training looks at one
        assert not [k for k in child.data.metrics if k.startswith("test_") and
                    len(client.get_metric_history(child.info.run_id, k)) > 1]
    finished = [c for c in children if c.data.tags.get(Tag.STOPPED_BY) == "training"]
    assert {(c.data.params["method"], c.data.params["holdout"]) for c in finished} == {
        (m, h) for m in METHODS for h in HOLDOUTS}, "in every study at least one trial must train to its end"
    for child in finished:
        metrics, holdout = child.data.metrics, child.data.params["holdout"]
        corpora = [c for c in LABELLED if c != holdout]
        assert 0 <= metrics["test_ua"] <= 1 and metrics["test_ua"] == metrics[f"test_ua/{holdout}"]
        assert 0 <= metrics["test_ua/msp-podcast"] <= 1  # the test-only corpus, evaluated at the end
        weights = {c: metrics[f"final_weight/{c}"] for c in [*LABELLED, "msp-podcast"]
                   if f"final_weight/{c}" in metrics}
        assert sorted(weights) == corpora and sum(weights.values()) == pytest.approx(2.0, rel=1e-4)  # eq. 3: mean 1
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert File.FINAL_METRICS in artifacts and "best_model.pt" not in artifacts  # no model per trial
        local = client.download_artifacts(child.info.run_id, File.FINAL_METRICS, str(tmp_path))
        confusion = json.loads(Path(local).read_text())["confusion"]
        assert set(confusion) == {holdout, "msp-podcast"} and np.array(confusion[holdout]).shape == (4, 4)


def test_the_selected_model_is_registered_with_its_test_ua(finished_search):
    config, locations, summary = finished_search
    client, children = _runs(config, locations, "trial")
    selected = [c for c in children if c.data.tags.get(Tag.SELECTED) == "true"]
    assert len(selected) == 4  # one per study
    for method in METHODS:
        versions = client.search_model_versions(f"name = '{model_name(method, synthetic=True)}'")
        assert len(versions) == 2  # a version per held-out corpus
        assert {v.tags["holdout"] for v in versions} == HOLDOUTS
        for version in versions:
            assert version.tags["search"] == config.name and version.tags["method"] == method
            mine = [c for c in selected
                    if (c.data.params["method"], c.data.params["holdout"]) == (method, version.tags["holdout"])]
            assert len(mine) == 1 and mine[0].info.run_id == version.run_id
            assert float(version.tags["test_ua"]) == pytest.approx(mine[0].data.metrics["test_ua"], abs=1e-4)
            artifacts = {a.path for a in client.list_artifacts(version.run_id, "diagnostics")}
            assert "diagnostics/confusion_matrix.png" in artifacts


def test_selection_uses_validation_only_and_every_seed_trained_to_its_end(finished_search):
    config, locations, summary = finished_search
    client, children = _runs(config, locations, "trial")
    all_rows = pd.DataFrame([{"method": c.data.params["method"], "holdout": c.data.params["holdout"],
                              "config": c.data.params["config"], "valid": c.data.metrics.get("best_mean_valid_ua"),
                              "test": c.data.metrics.get("test_ua"), "e": c.data.metrics.get("test_ua/msp-podcast"),
                              "phase": c.data.tags[Tag.PHASE], "done": c.data.tags.get(Tag.STOPPED_BY) == "training"}
                             for c in children])
    assert "test_ua/msp-podcast_mean" in summary.columns
    assert sorted(zip(summary["method"], summary["holdout"], strict=True)) == sorted(
        (m, h) for m in METHODS for h in HOLDOUTS)
    for row in summary.to_dict("records"):
        rows = all_rows[(all_rows["method"] == row["method"]) & (all_rows["holdout"] == row["holdout"])]
        search = rows[rows["done"] & (rows["phase"] == "search")]
        per_config = search.groupby("config").agg(n=("valid", "size"), valid=("valid", "mean"))
        best = per_config.sort_values(["n", "valid"], ascending=False).index[0]
        assert row["config"] == best
        assert row["configs_tried"] == CONFIGURATIONS[row["method"]] == rows.loc[rows["phase"] == "search",
                                                                                 "config"].nunique()
        evaluated = rows[rows["done"] & (rows["config"] == best)]
        assert row["seeds"] == 2 == len(evaluated)
        assert row["test_ua_mean"] == pytest.approx(evaluated["test"].mean())
        assert row["test_ua/msp-podcast_mean"] == pytest.approx(evaluated["e"].mean())  # the test-only corpus


def test_artifacts_stay_under_the_storage(finished_search, shared_search):
    config, locations, _ = finished_search
    client, children = _runs(config, locations, "trial")
    root = locations.storage.local_path.as_uri()
    assert all(c.info.artifact_uri.startswith(root) for c in children)
    assert not (shared_search.cwd / "mlruns").exists()  # the working directory the search ran in
    # Trials' checkpoints (the best epoch's weights) are gone once the selected model is logged.
    search_dir = locations.storage.local_path / config.name
    assert list(search_dir.glob("trial-*")) and not list(search_dir.glob("trial-*/checkpoint_*"))


@pytest.mark.slow
def test_a_within_corpus_search_summarises_its_folds(tmp_path, ray_local, search_cli):
    config, locations, summary = search_cli([
        "--protocol", "within", "--method", "ce", "--mode", "paper", "--holdout", "iemocap", "--seeds", "1",
        "--max-epochs", "2", "--synthetic-scale", "0.02", "--storage", str(tmp_path), "--name", "within",
        "--no-register"])
    assert len(summary) == 1 and summary.iloc[0]["holdout"] == "iemocap"  # 10 folds (speakers), one row
    client, children = _runs(config, locations, "trial")
    assert len(children) == 10 and {c.data.params["plan"] for c in children} == {
        f"within-iemocap-fold{k}" for k in range(10)}


def test_optuna_studies_are_stored_beside_mlflow_for_the_dashboard_and_importances(finished_search):
    import optuna

    config, locations, _ = finished_search
    assert locations.optuna_storage == f"sqlite:///{locations.storage.local_path / 'optuna.db'}"
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(locations.optuna_storage))
    # one per cww+pel-al study; ce searches nothing, so it has none
    assert names == [f"{config.name}/cww+pel-al--loco-{holdout}" for holdout in sorted(HOLDOUTS)]
    for name in names:
        study = optuna.load_study(study_name=name, storage=locations.optuna_storage)
        assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
        assert study.trials[0].params["lambda_w"] == 4.0  # the paper's configuration first
        assert study.trials[0].params["lambda_l"] == 0.001
        importances = optuna.importance.get_param_importances(study)
        assert set(importances) <= {"lambda_w", "lambda_l", "cww_signal", "cww_smoothing", "weight_floor"}


@pytest.mark.slow
def test_a_test_only_corpus_changes_nothing_but_its_own_test_ua(tmp_path, ray_local, search_cli, synthetic_store):
    """Relabel the test-only corpus: training, validation, ASHA, Optuna and selection stay bit for bit the same."""
    import shutil

    import pyarrow.parquet as pq

    from distser.features import FeatureStore, shard_table
    from distser.features._store import write_table_atomic

    relabelled = tmp_path / "relabelled"
    shutil.copytree(synthetic_store.root, relabelled)
    store = FeatureStore(relabelled)
    rotate = {"neutral": "happy", "happy": "sad", "sad": "angry", "angry": "neutral"}
    for shard in store.shard_paths(["msp-podcast"]):
        table = pq.read_table(shard)
        frame = table.drop_columns(["features"]).to_pandas()
        frame["label"] = frame["label"].map(rotate)
        features = np.stack(table.column("features").to_numpy(zero_copy_only=False)).astype(np.float32)
        write_table_atomic(shard_table(frame, features, frame["content_hash"]), shard)

    def run(store_root, name):
        # One trial at a time: Optuna's proposals then depend on nothing but the results it is told.
        config, locations, summary = search_cli([
            "--method", "cww", "--store", str(store_root), "--holdout", "iemocap", "--test-corpus", "msp-podcast",
            "--seeds", "2", "--samples", "3", "--max-epochs", "6", "--storage", str(tmp_path / name), "--name", name,
            "--max-concurrent", "1", "--no-register"])
        client, children = _runs(config, locations, "trial")
        rows = sorted((c.data.params["config"], c.data.params["seed"], c.data.tags[Tag.PHASE],
                       c.data.tags[Tag.STOPPED_BY], c.data.metrics.get("best_mean_valid_ua"),
                       c.data.metrics.get("test_ua"), c.data.metrics.get("test_ua/msp-podcast")) for c in children)
        histories = {(c.data.params["config"], c.data.params["seed"], c.data.tags[Tag.PHASE]):
                     [m.value for m in client.get_metric_history(c.info.run_id, "mean_valid_ua")] for c in children}
        return summary, rows, histories

    original, original_rows, original_histories = run(synthetic_store.root, "original")
    changed, changed_rows, changed_histories = run(relabelled, "relabelled")
    assert original_histories == changed_histories  # every epoch of every trial: the same training
    assert [r[:6] for r in original_rows] == [r[:6] for r in changed_rows]  # configs, ASHA cuts, valid and test UA
    assert original["config"].tolist() == changed["config"].tolist()  # the same selection
    assert [r[6] for r in original_rows] != [r[6] for r in changed_rows]  # only the test-only corpus's own UA moves
