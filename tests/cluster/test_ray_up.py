"""`ray up cluster.yaml` onto this machine over SSH (127.0.0.1), a small search on it, `ray down`.

MLflow on the head asks for a login: the test reads the one `ray up` made there, as docs/cluster.md
says, and checks that MLflow refuses requests without it and that the search logs with it.

Runs alone (marker ``sshcluster``): `ray up` restarts Ray on the head, which is this machine.
Needs key-based SSH to 127.0.0.1 (``bash .ci/ssh-setup``); CI sets DISTSER_REQUIRE_SSH=1 so a
missing SSH server fails the test instead of skipping it. ``.ci/run`` builds the head's venv beforehand, with
the config's own setup commands (``ci_cluster.py prepare-head``, beside CI's install); `ray up` then runs them
again on the venv in place, as on a head brought up a second time.
"""

import getpass
import importlib.util
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.sshcluster]

# This folder's helper, which .ci/run also runs as a script (tests/ is no package: loaded from its file).
_spec = importlib.util.spec_from_file_location("ci_cluster", Path(__file__).with_name("ci_cluster.py"))
ci_cluster = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci_cluster)

PROJECT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
KEY = ci_cluster.KEY
MLFLOW_PORT = 5000
SECRETS = ci_cluster.SECRETS


def _ssh_ok() -> bool:
    if not KEY.exists():
        return False
    probe = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=5",
                            "-i", str(KEY), f"{getpass.getuser()}@127.0.0.1", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def local_cluster_yaml(tmp_path):
    if not _ssh_ok():
        message = f"no key-based SSH to 127.0.0.1 with {KEY} (run `bash .ci/ssh-setup`)"
        if os.environ.get("DISTSER_REQUIRE_SSH") == "1":
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "cluster-ci.yaml"
    path.write_text(yaml.safe_dump(ci_cluster.config(PROJECT)))
    return path


def test_ray_up_search_ray_down(local_cluster_yaml, subprocess_env, mlflow_runs, monkeypatch, tmp_path):
    env = dict(subprocess_env, RAY_AUTH_MODE="token")
    # The head keeps its MLflow database and run folders between `ray up`s (as a real head does), so each
    # run of this test searches under a name of its own, into a folder of its own (the head is this machine).
    name = f"search-ray-up-{uuid.uuid4().hex[:8]}"
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
    started = time.monotonic()
    up = subprocess.run([RAY, "up", "-y", "--no-config-cache", str(local_cluster_yaml)], env=env,
                        capture_output=True, text=True, timeout=900)
    print(f"ray up: {time.monotonic() - started:.0f} s")  # seen with -s: the parts of CI's longest check
    try:
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        tracking = f"http://127.0.0.1:{MLFLOW_PORT}"
        _wait_for_http(tracking)
        user, password = _read_credentials(local_cluster_yaml, env)
        assert _status(tracking) == 401, "MLflow answers without a login"
        assert _status(tracking, (user, password + "x")) == 401, "MLflow takes a wrong password"
        assert _status(tracking, (user, password)) == 200
        search = (f". {SECRETS}/mlflow.env && "
                  f"cd {ci_cluster.HEAD_PROJECT} && RAY_AUTH_MODE=token .venv/bin/python tune/search.py --address auto "
                  "--method cww --holdout iemocap --seeds 1 --samples 2 --max-epochs 3 --synthetic-scale 0.02 "
                  f"--tracking-uri {tracking} --storage {tmp_path / 'runs'} --name {name} --quiet")
        started = time.monotonic()
        run = subprocess.run([RAY, "exec", str(local_cluster_yaml), search], env=env, capture_output=True,
                             text=True, timeout=600)
        print(f"the search through ray exec: {time.monotonic() - started:.0f} s")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert "Test UA (%)" in run.stdout + run.stderr
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        parents = mlflow_runs(tracking, name, "search")
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        trials = mlflow_runs(tracking, name, "trial")
        assert len(trials) == 2 and {t.info.status for t in trials} == {"FINISHED"}
    finally:
        started = time.monotonic()
        down = subprocess.run([RAY, "down", "-y", str(local_cluster_yaml)], env=env, capture_output=True,
                              text=True, timeout=300)
        print(f"ray down: {time.monotonic() - started:.0f} s")
        subprocess.run(["pkill", "-f", f"mlflow server --app-name basic-auth --host 127.0.0.1 --port {MLFLOW_PORT}"],
                       check=False)
    assert down.returncode == 0, down.stderr[-2000:]
    time.sleep(3)
    venv = ci_cluster.HEAD_PROJECT.removeprefix("~/") + "/.venv"
    left = subprocess.run(["pgrep", "-f", venv], capture_output=True, text=True).stdout.split()
    subprocess.run(["pkill", "-KILL", "-f", venv], check=False)
    assert not left, f"`ray down` left {len(left)} processes of the cluster running"


def _read_credentials(cluster_yaml: Path, env: dict) -> tuple[str, str]:
    """The MLflow login `ray up` made on the head, read the way docs/cluster.md says."""
    shown = subprocess.run([RAY, "exec", str(cluster_yaml), f"cat {SECRETS}/mlflow-credentials"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    user = re.search(r"^username: (\S+)\r?$", shown.stdout, re.M)
    password = re.search(r"^password: (\S+)\r?$", shown.stdout, re.M)
    assert user and password, shown.stdout[-2000:]
    return user.group(1), password.group(1)


def _status(tracking: str, login: tuple[str, str] | None = None) -> int:
    """HTTP status of an experiment search, with or without a basic-auth login."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{tracking}/api/2.0/mlflow/experiments/search?max_results=1")
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_for_http(url: str, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"MLflow server at {url} did not come up")
