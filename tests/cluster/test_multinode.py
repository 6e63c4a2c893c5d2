"""A real 2-node Ray cluster on this machine (head + a second raylet, token auth).

The search's trials land on both nodes; the worker node is killed mid-search; every trial still
ends FINISHED exactly once in MLflow (Tune retries the lost trials from their checkpoints).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_session(sid: int) -> None:
    subprocess.run(["pkill", "-KILL", "-s", str(sid)], check=False)


@pytest.fixture
def two_node_cluster(subprocess_env):
    env = dict(subprocess_env, RAY_AUTH_MODE="token")
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
    port = _free_port()
    sessions = []

    def start(args):
        process = subprocess.Popen([RAY, "start", "--block", *args], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        sessions.append(process)
        return process

    head = start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                  "--node-ip-address=127.0.0.1"])
    _wait_for_nodes(port, env, 1)
    worker = start([f"--address=127.0.0.1:{port}", "--num-cpus=1", "--node-ip-address=127.0.0.1"])
    _wait_for_nodes(port, env, 2)
    yield {"address": f"127.0.0.1:{port}", "env": env, "head": head, "worker": worker}
    for process in sessions:
        _kill_session(process.pid)
        process.wait(timeout=30)
    # `ray start --head` recorded this cluster as the machine's current one; it is gone now.
    current = Path("/tmp/ray/ray_current_cluster")
    if current.exists() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()


def _wait_for_nodes(port: int, env: dict, count: int, timeout: float = 90) -> None:
    script = (f"import ray; ray.init(address='127.0.0.1:{port}', log_to_driver=False); "
              "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise AssertionError(f"cluster did not reach {count} nodes: {out.stderr[-2000:]}")


def test_trials_use_both_nodes_and_survive_losing_the_worker(tmp_path, two_node_cluster, mlflow_runs):
    storage = tmp_path / "runs"
    uri = f"sqlite:///{storage / 'mlflow.db'}"
    args = [sys.executable, str(PROJECT / "tune" / "search.py"), "--address", two_node_cluster["address"],
            "--method", "cww", "--holdout", "iemocap", "--seeds", "2", "--samples", "2", "--max-epochs", "12",
            "--no-asha", "--synthetic-scale", "0.02", "--storage", str(storage), "--name", "search-2node",
            "--checkpoint-seconds", "0", "--quiet"]
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen(args, cwd=tmp_path, env=two_node_cluster["env"], stdout=log, stderr=log,
                                  start_new_session=True)
    try:
        nodes: set[str] = set()
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None and len(nodes) < 2:
            runs = mlflow_runs(uri, "search-2node", "trial")
            nodes = {n for run in runs for n in run.data.tags.get("distser.nodes", "").split(",") if n}
            time.sleep(1)
        assert len(nodes) == 2, f"trials ran on {nodes}; log: {(tmp_path / 'driver.log').read_text()[-2000:]}"

        _kill_session(two_node_cluster["worker"].pid)  # the worker node dies mid-search
        driver.wait(timeout=480)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    output = (tmp_path / "driver.log").read_text()
    assert driver.returncode == 0, output[-3000:]

    trials = mlflow_runs(uri, "search-2node", "trial")
    trial_ids = [run.data.tags["distser.trial_id"] for run in trials]
    assert len(trials) == 4 and len(set(trial_ids)) == 4
    assert {run.info.status for run in trials} == {"FINISHED"}
    assert all(run.data.tags.get("distser.stopped_by") == "training" for run in trials)
    all_nodes = {n for run in trials for n in run.data.tags["distser.nodes"].split(",")}
    assert len(all_nodes) == 2
