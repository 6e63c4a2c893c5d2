"""MLflow tracking from the Tune driver: one parent run per search, one child run per trial.

Logging happens on the driver (a Tune callback), not in the trials: worker nodes need no access to
the tracking store, a trial retried on another node keeps its one run, and a resumed search finds its
runs again by tag instead of creating duplicates.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from ._trainable import METRIC, MODEL_FILE, flat_trial_config

SEARCH_TAG = "distser.search"
TRIAL_TAG = "distser.trial_id"
STUDY_TAG = "distser.study"
ROLE_TAG = "distser.role"
_SKIP_CONFIG = {"max_epochs", "patience", "threads", "checkpoint_seconds", "early_stopping"}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def mlflow_client(tracking_uri: str) -> MlflowClient:
    """One client per tracking URI and process: opening a SQLite store costs about a second."""
    return MlflowClient(tracking_uri)


class Tracker:
    """Owns the MLflow client, the experiment and the search's parent run.

    Picklable (Tune pickles its callbacks, which hold the tracker, into the experiment state): the
    client is left out and taken again from :func:`mlflow_client` on unpickling.
    """

    def __init__(self, tracking_uri: str, experiment: str, search_name: str) -> None:
        self.client = mlflow_client(tracking_uri)
        self.tracking_uri = tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.search_name = search_name
        self.parent_id = self._find_or_create_parent()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "client"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.client = mlflow_client(self.tracking_uri)

    def _runs(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string, max_results=10000)

    def _find_or_create_parent(self) -> str:
        found = self._runs(f"tags.`{SEARCH_TAG}` = '{self.search_name}' and tags.`{ROLE_TAG}` = 'search'")
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=self.search_name,
                                     tags={SEARCH_TAG: self.search_name, ROLE_TAG: "search"})
        return run.info.run_id

    def log_search(self, params: dict[str, Any], tags: dict[str, str]) -> None:
        existing = self.client.get_run(self.parent_id).data.params
        fresh = {k: str(v)[:6000] for k, v in params.items() if k not in existing}
        for key, value in fresh.items():
            self.client.log_param(self.parent_id, key, value)
        for key, value in tags.items():
            self.client.set_tag(self.parent_id, key, value)

    def child_run(self, trial_id: str, study: str, name: str) -> tuple[str, bool]:
        """The run of ``trial_id``, created if new. Returns ``(run_id, created)``."""
        found = self._runs(f"tags.`{TRIAL_TAG}` = '{trial_id}' and tags.`{SEARCH_TAG}` = '{self.search_name}'")
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id, False
        run = self.client.create_run(self.experiment_id, run_name=name, tags={
            SEARCH_TAG: self.search_name, TRIAL_TAG: trial_id, STUDY_TAG: study, ROLE_TAG: "trial",
            "mlflow.parentRunId": self.parent_id,
        })
        return run.info.run_id, True

    def close_open_runs(self, status: str = "KILLED") -> int:
        """Terminate every run of this search still marked RUNNING (interrupted search). Returns the count."""
        runs = self._runs(f"tags.`{SEARCH_TAG}` = '{self.search_name}' and attributes.status = 'RUNNING'")
        for run in runs:
            self.client.set_terminated(run.info.run_id, status=status)
        return len(runs)

    def prune_orphans(self, trial_ids: set[str]) -> int:
        """Delete child runs of trials Tune no longer knows.

        A driver killed between creating a trial's run and saving Tune's experiment state leaves a run
        whose trial is re-created under a new id on ``--resume``; the stale run would be a duplicate.
        """
        runs = self._runs(f"tags.`{SEARCH_TAG}` = '{self.search_name}' and tags.`{ROLE_TAG}` = 'trial'")
        orphans = [run for run in runs if run.data.tags.get(TRIAL_TAG) not in trial_ids]
        for run in orphans:
            self.client.delete_run(run.info.run_id)
        return len(orphans)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_id, status=status)


class MLflowTrialCallback(Callback):
    """Tune callback: per-epoch metrics per training corpus, final test metrics, weights and model.

    The Tune loop hands a trial its next epoch only after every callback returned, so per-epoch
    metrics are buffered per trial and written in one transaction every ``flush_seconds``, whenever
    the trial saves a checkpoint (a resumed trial continues from there, so nothing before it can be
    lost), and when the trial ends. MLflow's own asynchronous logging is not used: closing a run
    waits up to a second for its queue thread, once per trial.
    """

    def __init__(self, tracker: Tracker, study: str, flush_seconds: float = 5.0) -> None:
        self.tracker = tracker
        self.study = study
        self.flush_seconds = flush_seconds
        self._runs: dict[str, str] = {}
        self._nodes: dict[str, list[str]] = {}
        self._buffer: dict[str, list[mlflow.entities.Metric]] = {}
        self._flushed_at: dict[str, float] = {}

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks into the experiment state (for --resume); per-trial state stays out.
        return {**self.__dict__, "_runs": {}, "_nodes": {}, "_buffer": {}, "_flushed_at": {}}

    def _flush(self, trial) -> None:
        metrics = self._buffer.pop(trial.trial_id, [])
        if metrics:  # log_batch splits into MLflow's 1000-metric batches itself
            self.tracker.client.log_batch(self._run_id(trial), metrics=metrics)
        self._flushed_at[trial.trial_id] = time.monotonic()

    def _run_id(self, trial) -> str:
        if trial.trial_id not in self._runs:
            run_id, created = self.tracker.child_run(trial.trial_id, self.study, f"{self.study}/{trial.trial_id}")
            if created:
                client = self.tracker.client
                params = {k: v for k, v in flat_trial_config(trial.config).items() if k not in _SKIP_CONFIG}
                client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()])
            self._runs[trial.trial_id] = run_id
        return self._runs[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._run_id(trial)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.tracker.client.set_tag(self._run_id(trial), "distser.retried", "true")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        run_id = self._run_id(trial)
        nodes = self._nodes.setdefault(trial.trial_id, [])
        if result.get("node_id") and result["node_id"] not in nodes:  # where the trial ran (retries move it)
            nodes.append(result["node_id"])
            self.tracker.client.set_tag(run_id, "distser.nodes", ",".join(nodes))
        if result.get("finished"):
            self._flush(trial)
            self._log_final(run_id, trial, result)
            return
        step, timestamp = int(result["epoch"]), int(result.get("timestamp", 0)) * 1000
        self._buffer.setdefault(trial.trial_id, []).extend(
            mlflow.entities.Metric(key, float(value), timestamp, step)
            for key, value in result.items() if _is_epoch_metric(key, value))
        if time.monotonic() - self._flushed_at.get(trial.trial_id, -math.inf) >= self.flush_seconds:
            self._flush(trial)

    def _log_final(self, run_id: str, trial, result: dict) -> None:
        weights = {k.split("/", 1)[1]: float(v) for k, v in result.items() if k.startswith("final_weight/")}
        metrics = {key: float(result[key]) for key in ("test_ua", "test_wa", METRIC, "best_epoch")}
        metrics.update({f"final_weight/{corpus}": weight for corpus, weight in weights.items()})
        now = int(time.time() * 1000)
        # One transaction for all of them: separate log_metric calls cost ~10 ms each on SQLite.
        self.tracker.client.log_batch(
            run_id, metrics=[mlflow.entities.Metric(key, value, now, 0) for key, value in metrics.items()],
            tags=[mlflow.entities.RunTag("stop_reason", str(result.get("stop_reason")))])
        self.tracker.client.log_dict(run_id, {"confusion": result["test_confusion"], "corpus_weights": weights},
                                     "final_metrics.json")

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        # Tune calls this after on_trial_result for the same report: the checkpoint's epoch is buffered.
        self._flush(trial)
        # Only the final checkpoint holds the best epoch's weights (the others resume training).
        with checkpoint.as_directory() as folder:
            model = Path(folder) / MODEL_FILE
            if model.exists():
                self.tracker.client.log_artifact(self._run_id(trial), str(model))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._flush(trial)
        self._flushed_at.pop(trial.trial_id)
        run_id = self._run_id(trial)
        finished = trial.last_result.get("finished") == 1
        # A trial ASHA stopped is complete too: FINISHED, tagged so selection can tell it apart.
        self.tracker.client.set_tag(run_id, "distser.stopped_by", "training" if finished else "asha")
        self.tracker.client.set_terminated(run_id, status="FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._flush(trial)
        self._flushed_at.pop(trial.trial_id)
        self.tracker.client.set_terminated(self._run_id(trial), status="FAILED")


def metric_safe(name: str) -> str:
    """MLflow metric names may not contain '+': ``cww+pel-al`` -> ``cww_pel-al``."""
    return name.replace("+", "_")


def _is_epoch_metric(key: str, value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return key in ("mean_valid_ua", METRIC, "lr") or key.split("/", 1)[0] in ("train_ua", "valid_ua", "weight", "loss")


def log_summary(tracker: Tracker, summary, text: str) -> None:
    """Selected configuration per (method, held-out corpus) and its test UA over seeds, on the parent run."""
    client = tracker.client
    for row in summary.itertuples():
        prefix = f"selected/{metric_safe(row.method)}/{row.holdout}"
        client.log_metric(tracker.parent_id, f"{prefix}/test_ua_mean", float(row.test_ua_mean))
        client.log_metric(tracker.parent_id, f"{prefix}/test_ua_std", float(row.test_ua_std))
        client.log_metric(tracker.parent_id, f"{prefix}/valid_ua_mean", float(row.valid_ua_mean))
    client.log_text(tracker.parent_id, summary.to_csv(index=False), "selection.csv")
    client.log_text(tracker.parent_id, text, "summary.txt")
    client.log_text(tracker.parent_id, json.dumps(summary.to_dict("records"), indent=1, default=str),
                    "selection.json")
