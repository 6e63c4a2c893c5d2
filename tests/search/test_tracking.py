"""The MLflow trial callback: per-epoch metrics buffered per trial, written on time, checkpoint and end."""

from types import SimpleNamespace

import pytest
from ray import tune

from distser.define import EARLIER_EPOCHS
from distser.search import _tracking
from distser.search._tracking import MLflowTrialCallback, Tracker
from distser.search._trainable import trial_config


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_tracking.time, "monotonic", clock)
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "distser", "s", (tmp_path / "artifacts").as_uri())
    tracker.start_parent({"study.seeds": 2}, {}, record="name = 's'\n")
    callback = MLflowTrialCallback(tracker, flush_seconds=5.0)
    config = trial_config(study="cww--loco-a", phase="search", method="cww", plan="loco-a", holdout="a", fold=None,
                          seed=0, params={"lambda_w": 4.0, "cww_signal": "train-ua"}, training={"lr": 2e-4},
                          config='{"lambda_w": 4.0}', selection="train-domain", searched={"lambda_w": 4.0})
    trial = SimpleNamespace(trial_id="t1", config=config, last_result={})
    return clock, tracker, callback, trial


def _epoch(epoch: int) -> dict:
    return {"epoch": epoch, "best_mean_valid_ua": 0.5, "timestamp": 0,
            "metrics": {"epoch": epoch, "mean_valid_ua": epoch / 10, "valid_ua/a": 0.5, "weight/a": 1.0,
                        "some_new_metric/x": 3.0}}


def _logged_epochs(tracker, callback, trial) -> list[int]:
    return [m.step for m in tracker.client.get_metric_history(callback._run_id(trial), "mean_valid_ua")]


def test_epochs_are_written_every_few_seconds_and_at_checkpoints(setup, tmp_path):
    clock, tracker, callback, trial = setup
    callback.on_trial_start(0, [], trial)
    callback.on_trial_result(0, [], trial, _epoch(1))  # the first epoch at once: the UI shows the trial
    assert _logged_epochs(tracker, callback, trial) == [1]
    for epoch in (2, 3):
        clock.now += 2.0
        callback.on_trial_result(0, [], trial, _epoch(epoch))
    assert _logged_epochs(tracker, callback, trial) == [1]  # 4 s since the last write: buffered
    clock.now += 2.0
    callback.on_trial_result(0, [], trial, _epoch(4))
    assert _logged_epochs(tracker, callback, trial) == [1, 2, 3, 4]
    clock.now += 1.0
    callback.on_trial_result(0, [], trial, _epoch(5))
    resumable = tmp_path / "checkpoint"  # mid-training: no best model in it
    resumable.mkdir()
    callback.on_checkpoint(0, [], trial, checkpoint=tune.Checkpoint.from_directory(resumable))
    # a resumed trial continues after epoch 5: epochs 1-5 are written now
    assert _logged_epochs(tracker, callback, trial) == [1, 2, 3, 4, 5]
    callback.on_trial_result(0, [], trial, _epoch(6))
    trial.last_result = {"finished": 0}
    callback.on_trial_complete(0, [], trial)  # stopped (e.g. by ASHA): what is buffered is written
    assert _logged_epochs(tracker, callback, trial) == [1, 2, 3, 4, 5, 6]
    run = tracker.client.get_run(callback._run_id(trial))
    assert run.info.status == "FINISHED" and run.data.tags["distser.stopped_by"] == "asha"
    assert run.data.params["lambda_w"] == "4" and run.data.params["seed"] == "0"
    assert run.info.run_name == "cww · a · seed 0 · lambda_w=4"
    assert run.data.tags["mlflow.parentRunId"] == tracker.parent_id
    # no list of names to keep in step: a metric the trainer adds is logged too
    assert len(tracker.client.get_metric_history(run.info.run_id, "some_new_metric/x")) == 6


def test_a_report_that_carries_earlier_epochs_logs_each_at_its_own_step(setup):
    clock, tracker, callback, trial = setup
    callback.on_trial_start(0, [], trial)
    report = {**_epoch(4), EARLIER_EPOCHS: [[epoch, _epoch(epoch)["metrics"]] for epoch in (1, 2, 3)]}
    callback.on_trial_result(0, [], trial, report)
    history = tracker.client.get_metric_history(callback._run_id(trial), "mean_valid_ua")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]


def test_finished_and_failed_trials_are_told_apart(setup):
    clock, tracker, callback, trial = setup
    callback.on_trial_result(0, [], trial, _epoch(1))
    final = {"score": 0.5, "finished": 1, "stop_reason": "max_epochs", "confusion": {"a": [[1, 0], [0, 1]]},
             "final": {"test_ua": 0.6, "test_ua/a": 0.6, "final_weight/b": 1.5, "best_epoch": 1}}
    callback.on_trial_result(0, [], trial, final)
    trial.last_result = final
    callback.on_trial_complete(0, [], trial)
    run = tracker.client.get_run(callback._run_id(trial))
    assert run.data.metrics["test_ua"] == 0.6 and run.data.metrics["final_weight/b"] == 1.5
    assert run.data.tags["distser.stopped_by"] == "training" and run.info.status == "FINISHED"
    other = SimpleNamespace(trial_id="t2", config=trial.config, last_result={})
    error = {"error": "NonFiniteLoss: the training loss became nan in epoch 3", "finished": 0, "epoch": 0}
    callback.on_trial_result(0, [], other, error)
    other.last_result = error
    callback.on_trial_complete(0, [], other)
    run = tracker.client.get_run(callback._run_id(other))
    assert run.info.status == "FAILED" and run.data.tags["distser.stopped_by"] == "error"
    assert run.data.tags["distser.error"].startswith("NonFiniteLoss")


def test_a_failed_trial_keeps_its_buffered_epochs(setup):
    clock, tracker, callback, trial = setup
    for epoch in (1, 2, 3):
        callback.on_trial_result(0, [], trial, _epoch(epoch))
    trial.error_file = None
    callback.on_trial_error(0, [], trial)
    assert _logged_epochs(tracker, callback, trial) == [1, 2, 3]
    assert tracker.client.get_run(callback._run_id(trial)).info.status == "FAILED"


def _schema(path):
    import sqlite3

    with sqlite3.connect(path) as database:
        version = database.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = database.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    # MLflow's own migrations write a table's constraints in varying order (two databases it makes differ so)
    return version, [(name, sorted((sql or "").replace(",", "").split("\n"))) for name, sql in tables]


def test_a_new_database_is_a_copy_of_the_cached_empty_one_with_its_own_default_experiment(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("DISTSER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    fresh = tmp_path / "fresh" / "mlflow.db"
    fresh.parent.mkdir()
    MlflowClient(f"sqlite:///{fresh}").search_experiments()  # made by MLflow's migrations
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)  # MLflow's Default experiment keeps its artifacts in ./mlruns
        client = _tracking.mlflow_client(f"sqlite:///{tmp_path / name / 'mlflow.db'}")
        assert client.get_experiment("0").artifact_location == str(tmp_path / name / "mlruns" / "0")
        client.create_experiment("distser", artifact_location=(tmp_path / name / "artifacts").as_uri())
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"mlflow-{mlflow.__version__}-empty.db"]
    assert _schema(tmp_path / "one" / "mlflow.db") == _schema(fresh)
    second = MlflowClient(f"sqlite:///{tmp_path / 'two' / 'mlflow.db'}")
    assert [e.name for e in second.search_experiments()] == ["distser", "Default"]  # not one's experiment
    assert not list(tmp_path.glob("*/.*.tmp"))


def test_an_existing_database_is_never_replaced_and_an_unwritable_cache_leaves_it_to_mlflow(tmp_path, monkeypatch):
    existing = tmp_path / "mlflow.db"
    existing.write_bytes(b"not touched")
    _tracking.new_sqlite_database(existing)
    assert existing.read_bytes() == b"not touched"

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("DISTSER_CACHE", str(blocked))
    (tmp_path / "new").mkdir()
    _tracking.new_sqlite_database(tmp_path / "new" / "mlflow.db")  # no cache: nothing copied, no error
    assert list((tmp_path / "new").iterdir()) == []
