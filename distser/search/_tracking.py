"""MLflow tracking from the Tune driver: one parent run per search, one child run per trial.

Logging happens on the driver (a Tune callback), not in the trials: worker nodes need no access to
the tracking store, a trial retried on another node keeps its one run, and a resumed search finds its
runs again by tag instead of creating duplicates. Names of tags, params and metrics: :mod:`distser.define`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric as MlflowMetric
from mlflow.entities import Param as MlflowParam
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from distser.define import EARLIER_EPOCHS, PAPER_FEATURE_SET, File, Metric, Param, Phase, Role, Tag, metric_safe
from distser.files import cache_folder, sqlite_path


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
    database = sqlite_path(tracking_uri)
    if database is not None:
        new_sqlite_database(database)
    return MlflowClient(tracking_uri)


def new_sqlite_database(path: Path) -> None:
    """Put an empty MLflow database at ``path`` (unless one is there) by copying a cached one.

    MLflow creates a new database by running every schema migration since its first release, about 2 s of
    every new search's start (and of every test that tracks); a copy of a migrated empty database of the
    same MLflow version takes milliseconds (``bench/startup.py`` times the tiny search with both). The
    copy is linked into place, never over a database another process created meanwhile. Where the cache
    cannot be written, MLflow creates the database as it would have.
    """
    if path.exists():
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(_empty_database(), temporary)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except (OSError, sqlite3.Error):
        pass  # MLflow creates it, as it would have
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _empty_database() -> Path:
    """The cached migrated empty database of this MLflow version (made on first use)."""
    import mlflow

    template = cache_folder() / f"mlflow-{mlflow.__version__}-empty.db"
    if template.exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    temporary = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        MlflowClient(f"sqlite:///{temporary}").search_experiments()  # MLflow creates and migrates the tables
        with contextlib.closing(sqlite3.connect(temporary)) as database:
            # MLflow makes its Default experiment on opening a database without one, with the artifact
            # location of that database: the copies must each get their own.
            database.execute("DELETE FROM experiments")
            database.commit()
        os.replace(temporary, template)
    finally:
        temporary.unlink(missing_ok=True)
    return template


def display(value: Any) -> str:
    """A parameter value as shown in the UI: numbers to 4 significant digits (exact ones: the config key).

    Example:
        >>> display(0.03766576841599294), display(4.0), display("train-ua"), display(None)
        ('0.03767', '4', 'train-ua', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_name(config: dict[str, Any]) -> str:
    """A trial's run name: method, held-out corpus, feature set (unless the paper's IS10), seed, the held-back
    corpus and the searched values.

    Example:
        >>> run_name({"method": "cww", "holdout": "emodb", "seed": 2, "fold": None,
        ...           "searched": {"lambda_w": 0.4321, "cww_signal": "valid-ua"}, "phase": "search"})
        'cww · emodb · seed 2 · lambda_w=0.432 cww_signal=valid-ua'
        >>> run_name({"method": "ce", "holdout": "emodb", "seed": 0, "searched": {}, "feature_set": "eGeMAPSv02"})
        'ce · emodb · eGeMAPSv02 · seed 0'
    """
    parts = [config["method"], config["holdout"]]
    if config.get(Param.FEATURE_SET, PAPER_FEATURE_SET) != PAPER_FEATURE_SET:
        parts.append(config[Param.FEATURE_SET])
    parts.append(f"seed {config['seed']}")
    if config.get("fold"):
        parts.append(f"without {config['fold']}")
    searched = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config["searched"].items())
    if searched:
        parts.append(searched)
    if config.get("phase") == Phase.FINAL:
        parts.append("final")
    return " · ".join(parts)


def trial_params(config: dict[str, Any]) -> dict[str, str]:
    """A trial's MLflow params: who it is, every hyperparameter of its method, the searched training values."""
    params = {Param.METHOD: config["method"], Param.HOLDOUT: config["holdout"], Param.PLAN: config["plan"],
              Param.SEED: str(config["seed"]), Param.FOLD: display(config["fold"]), Param.CONFIG: config["config"],
              Param.SELECTION: config["selection"], "phase": config["phase"],
              Param.NORMALIZATION: config["training"].get(Param.NORMALIZATION, "global")}
    if Param.FEATURE_SET in config:
        params[Param.FEATURE_SET] = config[Param.FEATURE_SET]
    params.update({name: display(value) for name, value in config["params"].items()})
    params.update({name: display(value) for name, value in config["searched"].items() if name not in params})
    return params


class Tracker:
    """Owns the MLflow client, the experiment and the search's parent run.

    Picklable (Tune pickles its callbacks, which hold the tracker, into the experiment state): the
    client is left out and taken again from :func:`mlflow_client` on unpickling.
    """

    def __init__(self, tracking_uri: str, experiment: str, search_name: str,
                 artifact_location: str | None = None) -> None:
        self.client = mlflow_client(tracking_uri)
        self.tracking_uri = tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (found.experiment_id if found
                              else self.client.create_experiment(experiment, artifact_location=artifact_location))
        self.search_name = search_name
        self.parent_id: str | None = None
        self.commit = git_commit()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "client"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.client = mlflow_client(self.tracking_uri)

    def _runs(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string, max_results=50000)

    def search_runs(self, role: str | None = None) -> list:
        where = f"tags.`{Tag.SEARCH}` = '{self.search_name}'"
        return self._runs(where + (f" and tags.`{Tag.ROLE}` = '{role}'" if role else ""))

    def parent(self) -> str | None:
        """The search's parent run, if it exists."""
        found = self.search_runs(Role.SEARCH)
        return found[0].info.run_id if found else None

    def start_parent(self, params: dict[str, Any], tags: dict[str, str], record: str) -> str:
        """Create the parent run, or reopen it (resume): params, tags and the config record as an artifact."""
        run_id = self.parent()
        if run_id is None:
            run = self.client.create_run(self.experiment_id, run_name=self.search_name, tags={
                Tag.SEARCH: self.search_name, Tag.ROLE: Role.SEARCH, Tag.GIT_COMMIT: self.commit, **tags})
            run_id = run.info.run_id
            self.client.log_batch(run_id, params=[MlflowParam(k, display(v)[:6000]) for k, v in params.items()])
            self.client.log_text(run_id, record, File.RECORD)
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.parent_id = run_id
        return run_id

    def trial_run(self, trial_id: str) -> str | None:
        """The run id of a trial of this search, if it has one."""
        found = self._runs(f"tags.`{Tag.TRIAL_ID}` = '{trial_id}' and tags.`{Tag.SEARCH}` = '{self.search_name}'")
        return found[0].info.run_id if found else None

    def child_run(self, trial_id: str, config: dict[str, Any]) -> tuple[str, bool]:
        """The run of ``trial_id``, created if new. Returns ``(run_id, created)``."""
        run_id = self.trial_run(trial_id)
        if run_id is not None:
            self.client.update_run(run_id, status="RUNNING")
            return run_id, False
        run = self.client.create_run(self.experiment_id, run_name=run_name(config), tags={
            Tag.SEARCH: self.search_name, Tag.TRIAL_ID: trial_id, Tag.STUDY: config["study"], Tag.ROLE: Role.TRIAL,
            Tag.PHASE: config["phase"], Tag.PARENT: self.parent_id, Tag.GIT_COMMIT: self.commit,
        })
        self.client.log_batch(run.info.run_id,
                              params=[MlflowParam(k, v) for k, v in trial_params(config).items()])
        return run.info.run_id, True

    def close_open_runs(self, status: str = "KILLED") -> int:
        """Terminate every run of this search still marked RUNNING (interrupted search). Returns the count."""
        runs = self._runs(f"tags.`{Tag.SEARCH}` = '{self.search_name}' and attributes.status = 'RUNNING'")
        for run in runs:
            self.client.set_terminated(run.info.run_id, status=status)
        return len(runs)

    def prune_orphans(self, trial_ids: set[str]) -> int:
        """Delete child runs of trials Tune no longer knows.

        A driver killed between creating a trial's run and saving Tune's experiment state leaves a run
        whose trial is re-created under a new id on resume; the stale run would be a duplicate.
        """
        orphans = [run for run in self.search_runs(Role.TRIAL) if run.data.tags.get(Tag.TRIAL_ID) not in trial_ids]
        for run in orphans:
            self.client.delete_run(run.info.run_id)
        return len(orphans)

    def delete_search(self) -> int:
        """Delete every run of this search (``--replace``). Returns the count."""
        runs = self.search_runs()
        for run in runs:
            self.client.delete_run(run.info.run_id)
        return len(runs)

    def finish(self, status: str = "FINISHED") -> None:
        if self.parent_id is not None:
            self.client.set_terminated(self.parent_id, status=status)


class MLflowTrialCallback(Callback):
    """Tune callback: each trial's run, its per-epoch metrics, its final test metrics and weights.

    The Tune loop hands a trial its next epoch only after every callback returned, so per-epoch
    metrics are buffered per trial and written in one transaction every ``flush_seconds``, whenever
    the trial saves a checkpoint (a resumed trial continues from there, so nothing before it can be
    lost), and when the trial ends. MLflow's own asynchronous logging is not used: closing a run
    waits up to a second for its queue thread, once per trial. Everything a trial reports under
    ``metrics`` is logged: there is no list of names to keep in step with the learning core.
    """

    def __init__(self, tracker: Tracker, flush_seconds: float = 5.0) -> None:
        self.tracker = tracker
        self.flush_seconds = flush_seconds
        self._runs: dict[str, str] = {}
        self._nodes: dict[str, list[str]] = {}
        self._buffer: dict[str, list[MlflowMetric]] = {}
        self._flushed_at: dict[str, float] = {}

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks into the experiment state (for resume); per-trial state stays out.
        return {**self.__dict__, "_runs": {}, "_nodes": {}, "_buffer": {}, "_flushed_at": {}}

    def _flush(self, trial) -> None:
        metrics = self._buffer.pop(trial.trial_id, [])
        if metrics:  # log_batch splits into MLflow's 1000-metric batches itself
            self.tracker.client.log_batch(self._run_id(trial), metrics=metrics)
        self._flushed_at[trial.trial_id] = time.monotonic()

    def _run_id(self, trial) -> str:
        if trial.trial_id not in self._runs:
            self._runs[trial.trial_id] = self.tracker.child_run(trial.trial_id, trial.config)[0]
        return self._runs[trial.trial_id]

    def run_id(self, trial_id: str) -> str | None:
        return self._runs.get(trial_id)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._run_id(trial)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.tracker.client.set_tag(self._run_id(trial), Tag.RETRIED, "true")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        run_id = self._run_id(trial)
        nodes = self._nodes.setdefault(trial.trial_id, [])
        if result.get("node_id") and result["node_id"] not in nodes:  # where the trial ran (retries move it)
            nodes.append(result["node_id"])
            self.tracker.client.set_tag(run_id, Tag.NODES, ",".join(nodes))
        if "error" in result:
            self._flush(trial)
            self.tracker.client.set_tag(run_id, Tag.ERROR, str(result["error"])[:5000])
            return
        if result.get("finished"):
            self._flush(trial)
            self._log_final(run_id, result)
            return
        timestamp = int(result.get("timestamp", 0)) * 1000
        epochs = [*result.get(EARLIER_EPOCHS, []), [result[Metric.EPOCH], result.get("metrics", {})]]
        self._buffer.setdefault(trial.trial_id, []).extend(
            MlflowMetric(key, float(value), timestamp, int(step))
            for step, metrics in epochs for key, value in metrics.items() if isinstance(value, int | float))
        if time.monotonic() - self._flushed_at.get(trial.trial_id, -math.inf) >= self.flush_seconds:
            self._flush(trial)

    def _log_final(self, run_id: str, result: dict) -> None:
        final = result["final"]
        now, step = int(time.time() * 1000), int(result.get(Metric.EPOCH, 0))
        metrics = {Metric.SCORE: result[Metric.SCORE], **final}
        # One transaction for all of them: separate log_metric calls cost ~10 ms each on SQLite. At the last
        # epoch's step, so MLflow's "latest" value of a metric logged every epoch too is the final one.
        self.tracker.client.log_batch(
            run_id, metrics=[MlflowMetric(k, float(v), now, step) for k, v in metrics.items() if math.isfinite(v)],
            tags=[RunTag(Tag.STOP_REASON, str(result.get("stop_reason")))])
        weights = {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith(f"{Metric.FINAL_WEIGHT}/")}
        self.tracker.client.log_dict(run_id, {"confusion": result.get("confusion", {}), "corpus_weights": weights},
                                     File.FINAL_METRICS)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        # Tune calls this after on_trial_result for the same report: the checkpoint's epoch is buffered.
        self._flush(trial)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._flush(trial)
        self._flushed_at.pop(trial.trial_id, None)
        run_id = self._run_id(trial)
        last = trial.last_result or {}
        failed = "error" in last
        stopped_by = "error" if failed else "training" if last.get("finished") == 1 else "asha"
        self.tracker.client.set_tag(run_id, Tag.STOPPED_BY, stopped_by)
        # A trial ASHA stopped is complete too: FINISHED, tagged so selection can tell it apart.
        self.tracker.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._flush(trial)
        self._flushed_at.pop(trial.trial_id, None)
        run_id = self._run_id(trial)
        self.tracker.client.set_tag(run_id, Tag.STOPPED_BY, "error")
        self.tracker.client.set_tag(run_id, Tag.ERROR, _last_line(trial)[:5000])
        self.tracker.client.set_terminated(run_id, status="FAILED")


def _last_line(trial) -> str:
    """The last line of a failed trial's error (the exception), read from Tune's error file."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the trial failed"


def log_summary(tracker: Tracker, summary, text: str) -> None:
    """Selected configuration per (method, held-out corpus, feature set) and its test UA over seeds, on the parent
    run (a search over several sets names the set in each metric: ``selected/<method>/<corpus>/<set>/...``)."""
    client = tracker.client
    metrics = []
    several = Param.FEATURE_SET in summary and summary[Param.FEATURE_SET].nunique() > 1
    for row in summary.itertuples():
        prefix = f"selected/{metric_safe(row.method)}/{row.holdout}"
        if several:  # each set's studies: their own metrics
            prefix += f"/{getattr(row, Param.FEATURE_SET)}"
        for name in ("test_ua_mean", "test_ua_std", "score_mean"):
            value = float(getattr(row, name))
            if math.isfinite(value):
                metrics.append(MlflowMetric(f"{prefix}/{name}", value, int(time.time() * 1000), 0))
    client.log_batch(tracker.parent_id, metrics=metrics)
    client.log_text(tracker.parent_id, summary.to_csv(index=False), File.SELECTION)
    client.log_text(tracker.parent_id, text, File.SUMMARY)
    client.log_text(tracker.parent_id, json.dumps(summary.to_dict("records"), indent=1, default=str),
                    File.SELECTION_JSON)
