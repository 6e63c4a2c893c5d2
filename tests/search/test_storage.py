"""``--storage`` as a URI: a ``file://`` folder, and S3 (a moto server on 127.0.0.1) a search runs and resumes in.

The S3 searches run as driver subprocesses that start their own local Ray, so that the trials' workers
inherit the fake S3's credentials (and, for the resumed search, its endpoint) from the driver's
environment, as they would on a machine set up for S3.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distser.config import ConfigError
from distser.define import File
from distser.search._storage import Storage

BUCKET = "distser-runs"
TINY = ["--method", "cww", "--holdout", "iemocap", "--seeds", "2", "--samples", "2", "--max-epochs", "4",
        "--synthetic-scale", "0.02"]
DISTSER = [sys.executable, "-m", "distser", "search"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeS3:
    """A moto S3 server on 127.0.0.1 with one bucket; ``client`` lists it (boto3)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        import boto3

        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                                   aws_secret_access_key="testing", region_name="us-east-1")
        self.client.create_bucket(Bucket=BUCKET)

    def uri(self, prefix: str) -> str:
        """``s3://`` URI whose pyarrow options name the endpoint (nothing in the environment needed)."""
        return f"s3://{BUCKET}/{prefix}?endpoint_override=127.0.0.1:{self.port}&scheme=http"

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def fake_s3():
    pytest.importorskip("moto.server", reason="moto[server] (the test extra) runs the fake S3")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    s3 = FakeS3()
    yield s3
    s3.server.stop()


@pytest.fixture
def s3_env(fake_s3, monkeypatch):
    """Credentials of the fake S3 in this process's environment (pyarrow and boto3 read them)."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return fake_s3


def _driver_env(tmp_path: Path, subprocess_env: dict, **extra: str) -> dict:
    """A driver's environment: the fake S3's credentials, a home of its own (the synthetic default's cache)."""
    env = {k: v for k, v in subprocess_env.items()
           if not k.startswith(("AWS_", "MLFLOW_", "RAY_ADDRESS"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**env, **CREDENTIALS, "HOME": str(home), **extra}


def _drive(command: list[str], cwd: Path, env: dict, log: Path, timeout: float = 900):
    """Run a search driver, its stderr into ``log``; on a timeout it is killed with the local Ray it started."""
    with open(log, "w") as stderr:
        driver = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                  start_new_session=True)
        try:
            stdout, _ = driver.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.communicate()
            pytest.fail(f"{' '.join(command[2:])} did not end within {timeout:g} s: {log.read_text()[-3000:]}")
    return subprocess.CompletedProcess(command, driver.returncode, stdout, log.read_text())


# ---------------------------------------------------------------------------------------------------
# Fast: the Storage on S3 and file://, the locations a search derives from them


def test_s3_storage_reads_writes_and_lists_under_its_root(s3_env):
    storage = Storage.of(s3_env.uri("unit/"))
    assert storage.uri == f"s3://{BUCKET}/unit" and storage.path == f"{BUCKET}/unit"
    assert storage.uri_of("a", "b.toml") == f"s3://{BUCKET}/unit/a/b.toml"  # the options stay out of the URIs
    assert storage.fs_path("a") == f"{BUCKET}/unit/a" and storage.endpoint == s3_env.endpoint
    assert not storage.is_local and storage.folders() == []
    storage.check_writable()
    storage.write_text("x = 1\n", "search-a", "search.toml")
    storage.write_text("y = 2\n", "search-b", "search.toml")
    assert storage.read_text("search-a", "search.toml") == "x = 1\n"
    assert storage.exists("search-a", "search.toml") and not storage.exists("search-c")
    assert storage.modified("search-a", "search.toml") > 0
    assert storage.folders() == ["search-a", "search-b"]
    storage.delete("search-a")
    assert storage.folders() == ["search-b"]
    assert [k for k in s3_env.keys("unit/search-") if not k.endswith("/")] == ["unit/search-b/search.toml"]
    with pytest.raises(ConfigError, match="not writable"):
        Storage.of(s3_env.uri("unit").replace(BUCKET, "no-such-bucket", 1)).check_writable()


def test_the_search_lock_on_s3_is_created_by_one_start_only(s3_env):
    from concurrent.futures import ThreadPoolExecutor

    from distser.search._lock import SearchLock

    storage = Storage.of(s3_env.uri("locks"))
    locks = [SearchLock(storage, "s") for _ in range(6)]

    def take(lock):
        try:
            lock.acquire("distser search")
        except ConfigError as error:
            return str(error)
        return None

    with ThreadPoolExecutor(len(locks)) as pool:  # six starts at once: one conditional PutObject wins
        refusals = list(pool.map(take, locks))
    assert sum(lock.acquired for lock in locks) == 1 and refusals.count(None) == 1
    assert all(f"already running: process {os.getpid()}" in r and f"s3://{BUCKET}/locks/s.lock" in r
               for r in refusals if r is not None)
    assert s3_env.keys("locks/s.lock") == ["locks/s.lock"]
    next(lock for lock in locks if lock.acquired).release()
    assert s3_env.keys("locks/s.lock") == []


def test_a_search_on_s3_finds_mlflow_and_optuna_beside_the_tracking_database(s3_env, tmp_path):
    from distser.search._config import SearchConfig, TrackingConfig
    from distser.search._prepare import locate

    with pytest.raises(ConfigError, match="not a local folder.*--tracking-uri"):
        locate(SearchConfig(tracking=TrackingConfig(storage=s3_env.uri("runs"))))
    database = tmp_path / "mlflow.db"
    locations = locate(SearchConfig(tracking=TrackingConfig(storage=s3_env.uri("runs"), uri=f"sqlite:///{database}")))
    assert locations.artifact_location == f"s3://{BUCKET}/runs/mlartifacts"
    assert locations.optuna_storage == f"sqlite:///{tmp_path / 'optuna.db'}"
    assert locations.search_dir("s") == f"s3://{BUCKET}/runs/s"


def test_preparing_a_search_on_s3_tells_mlflow_the_endpoint_or_names_its_missing_client(s3_env, tmp_path,
                                                                                        monkeypatch):
    import importlib.util

    from distser.search._prepare import RunOptions, prepare

    given = {"name": "prepared", "tracking": {"storage": s3_env.uri("prepared"), "uri": f"sqlite:///{tmp_path}/m.db"}}
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "unset")  # recorded, so that the test's setting is undone after it
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    config, locations = prepare(given, RunOptions())
    assert os.environ["MLFLOW_S3_ENDPOINT_URL"] == s3_env.endpoint  # MLflow's boto3 reads no pyarrow options
    assert config.tracking.storage == s3_env.uri("prepared")  # recorded as given: a resume finds the endpoint

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else find_spec(name, *a))
    with pytest.raises(ConfigError, match="through boto3, which is not installed"):
        prepare(given, RunOptions())


def test_file_uri_storage_is_the_local_folder(tmp_path):
    folder = tmp_path / "runs"
    storage = Storage.of(f"{folder.as_uri()}/")
    assert storage.is_local and storage.local_path == folder and storage.uri == folder.as_uri()
    assert storage.uri_of("s", File.RECORD) == str(folder / "s" / File.RECORD)
    assert Storage.of("file://localhost" + str(folder)).local_path == folder


def test_a_search_with_a_file_uri_storage_writes_only_there(shared_search):
    """The session's shared search (tests/conftest.py) ran with ``--storage file://<folder>`` from an empty cwd."""
    from mlflow.tracking import MlflowClient

    config, locations, summary = shared_search.config, shared_search.locations, shared_search.summary
    folder, cwd, name = shared_search.storage, shared_search.cwd, shared_search.config.name
    assert config.tracking.storage == folder.as_uri()  # given as a file:// URI
    assert len(summary) == 4  # ce and cww+pel-al, two held-out corpora each
    assert locations.tracking_uri == f"sqlite:///{folder / 'mlflow.db'}"
    assert (folder / name / File.RECORD).is_file()
    # Every trial's last checkpoint was there (the search deletes them once its selected models are logged).
    trials = {p.name for p in folder.glob(f"{name}/trial-*")}
    assert trials and {p.parent.name for p in shared_search.checkpoints} == trials
    assert all(p.parent.parent == folder / name and p.name.startswith("checkpoint_") for p in shared_search.checkpoints)
    assert list(folder.glob(f"{name}/experiment_state-*.json"))
    assert list(folder.glob("synthetic-features-0.02/*"))
    client = MlflowClient(locations.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(config.tracking.experiment).experiment_id])
    assert runs and all(run.info.artifact_uri.startswith((folder / "mlartifacts").as_uri()) for run in runs)
    assert list((folder / "mlartifacts").rglob(File.FINAL_METRICS))
    assert [p for p in (folder / "mlartifacts").rglob("MLmodel") if "models" in p.parts]  # the registered models
    assert list(cwd.iterdir()) == []  # no ./file:, ./mlruns, ./runs


# ---------------------------------------------------------------------------------------------------
# Slow: whole searches on the fake S3


@pytest.mark.slow
def test_a_search_on_s3_keeps_everything_in_the_bucket(fake_s3, tmp_path, subprocess_env):
    from mlflow.tracking import MlflowClient

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # Checkpoints at the default interval: each trial's final one only (each checkpoint is an upload, and a
    # forced upload of Tune's experiment state); the resume test below checkpoints every epoch. No ASHA:
    # every trial runs to its end, so every trial has that final checkpoint.
    done = _drive([*DISTSER, *TINY, "--no-asha", "--storage", fake_s3.uri("runs"), "--tracking-uri", tracking,
                   "--name", "on-s3", "--set", "tracking.keep_checkpoints=true"],
                  cwd, _driver_env(tmp_path, subprocess_env), tmp_path / "on-s3.log")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Test UA (%)" in done.stdout
    assert f"Tune results and the search's record: s3://{BUCKET}/runs/on-s3" in done.stdout

    keys = fake_s3.keys("runs/")
    assert "runs/on-s3/search.toml" in keys
    assert [k for k in keys if k.startswith("runs/on-s3/experiment_state-")]  # Tune's experiment folder
    checkpoints = {k.split("/")[2] for k in keys if "/checkpoint_" in k}
    trials = {k.split("/")[2] for k in keys if k.startswith("runs/on-s3/trial-")}
    assert len(trials) >= 4 and checkpoints == trials  # every trial's last checkpoint
    assert [k for k in keys if k.startswith("runs/mlartifacts/") and k.endswith(File.FINAL_METRICS)]
    assert [k for k in keys if k.startswith("runs/mlartifacts/") and "/models/" in k]  # the registered model

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("distser")
    assert experiment.artifact_location == f"s3://{BUCKET}/runs/mlartifacts"
    runs = client.search_runs([experiment.experiment_id])
    assert runs and all(run.info.artifact_uri.startswith(f"s3://{BUCKET}/runs/mlartifacts/") for run in runs)
    version = client.search_model_versions("name = 'distser-synthetic-cww'")[0]
    assert version.source.startswith(("s3://", "models:/")) and version.tags["search"] == "on-s3"
    assert list(cwd.iterdir()) == []  # nothing in the working directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "home", "mlflow.db", "on-s3.log", "optuna.db"]


@pytest.mark.slow
def test_a_search_on_s3_resumes_after_its_driver_was_killed(fake_s3, tmp_path, subprocess_env, mlflow_runs):
    """The endpoint from the environment this time (AWS_ENDPOINT_URL: pyarrow, Ray's workers, MLflow)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    storage = f"s3://{BUCKET}/resumed"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = _driver_env(tmp_path, subprocess_env, AWS_ENDPOINT_URL=fake_s3.endpoint)
    args = [*TINY, "--max-epochs", "6", "--checkpoint-seconds", "0", "--storage", storage, "--tracking-uri", tracking,
            "--name", "search-resume"]
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen([*DISTSER, *args], cwd=cwd, env=env, stdout=log, stderr=log,
                                  start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None:  # kill once some trial has a checkpoint
            if [k for k in fake_s3.keys("resumed/search-resume/trial-") if "/checkpoint_" in k]:
                break
            time.sleep(0.5)
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        driver.wait()
    assert len(mlflow_runs(tracking, "search-resume", "trial")) < 4, "the search must be interrupted"

    # The record in the bucket holds the tracking URI: another one contradicts it, before anything runs.
    clash = subprocess.run([*DISTSER, "--resume", "--name", "search-resume", "--storage", storage,
                            "--tracking-uri", f"sqlite:///{tmp_path / 'other.db'}"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert clash.returncode == 2 and "contradict" in clash.stderr and "tracking.uri" in clash.stderr
    # The hint an interrupted search prints is enough.
    done = _drive([*DISTSER, "--resume", "--name", "search-resume", "--storage", storage], cwd, env,
                  tmp_path / "resume.log")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming search-resume from" in done.stderr and "Test UA (%)" in done.stdout

    runs = mlflow_runs(tracking, "search-resume", "trial")
    trial_ids = [run.data.tags["distser.trial_id"] for run in runs]
    assert len(set(trial_ids)) == len(runs)  # every trial once
    # Every trial FINISHED, nothing RUNNING or FAILED: one whose checkpoint Tune's state names but the kill
    # kept from reaching S3 trains again from the start (_trainable.TrialActor).
    assert {run.info.status for run in runs} == {"FINISHED"}, \
        [(run.info.status, run.data.tags.get("distser.error")) for run in runs]
    search = [run for run in runs if run.data.tags["distser.phase"] == "search"]
    assert sorted(run.data.params["seed"] for run in search) == ["0", "0", "1", "1"]
    parents = mlflow_runs(tracking, "search-resume", "search")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert all(run.info.artifact_uri.startswith(f"{storage}/mlartifacts/") for run in runs)
    keys = fake_s3.keys("resumed/")
    assert "resumed/search-resume/search.toml" in keys
    assert not [k for k in keys if "/checkpoint_" in k]  # a finished search deletes its checkpoints
    assert list(cwd.iterdir()) == []
