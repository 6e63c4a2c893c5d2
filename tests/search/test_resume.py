"""Kill the search driver mid-search; `--resume` finishes it with no duplicate or RUNNING runs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SEARCH = [sys.executable, str(Path(__file__).resolve().parents[2] / "tune" / "search.py")]


def test_killed_driver_resumes_without_duplicates(tmp_path, mlflow_runs, subprocess_env):
    storage = tmp_path / "runs"
    args = ["--method", "cww", "--holdout", "iemocap", "--seeds", "2", "--samples", "3", "--max-epochs", "10",
            "--synthetic-scale", "0.02", "--storage", str(storage), "--name", "search-resume",
            "--checkpoint-seconds", "0", "--quiet"]
    uri = f"sqlite:///{storage / 'mlflow.db'}"
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen([*SEARCH, *args], cwd=tmp_path, env=subprocess_env, stdout=log, stderr=log,
                                  start_new_session=True)
    try:
        deadline = time.time() + 240
        # Kill once some trial has checkpointed and others are still to come.
        while time.time() < deadline and driver.poll() is None:
            if list(storage.glob("search-resume/trial-*/checkpoint_*")):
                break
            time.sleep(0.5)
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        driver.wait()
    before = mlflow_runs(uri, "search-resume", "trial")
    assert len(before) < 6, "the search must have been interrupted before all trials ran"

    # The hint the interrupted search prints is enough: its record restores everything else.
    done = subprocess.run([*SEARCH, "--resume", "--name", "search-resume", "--storage", str(storage)], cwd=tmp_path,
                          env=subprocess_env,
                          capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Test UA (%)" in done.stdout

    runs = mlflow_runs(uri, "search-resume", "trial")
    trial_ids = [run.data.tags["distser.trial_id"] for run in runs]
    assert len(set(trial_ids)) == len(runs)  # one run per trial, no duplicates
    assert {run.info.status for run in runs} == {"FINISHED"}
    # 3 proposals x 2 seeds; ASHA-cut seeds of the chosen proposal are re-trained in the final phase.
    trials = [run for run in runs if run.data.tags["distser.phase"] == "search"]
    assert len(trials) == 6
    parents = mlflow_runs(uri, "search-resume", "search")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    seeds = sorted(run.data.params["seed"] for run in trials)
    assert seeds == ["0", "0", "0", "1", "1", "1"]
