"""bench/scale.py: its process-tree sampling, and a tiny end-to-end run (slow)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "bench" / "scale.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_descendants_and_process_types():
    scale = _load()
    ppids = {1: 0, 10: 1, 11: 10, 12: 11, 13: 10, 20: 1}
    assert scale.descendants([10], ppids) == {10: 10, 11: 10, 12: 10, 13: 10}
    assert scale.descendants([10, 20, 99], ppids) == {10: 10, 11: 10, 12: 10, 13: 10, 20: 20}
    raylet = "/venv/ray/core/src/ray/raylet/raylet --dashboard_agent_command=python -u /x/dashboard/agent.py"
    assert scale.kind(5, raylet, {}) == "raylet+plasma"
    assert scale.kind(5, "ray::ImplicitFunc.train", {}) == "trial actors"
    assert scale.kind(5, "/venv/bin/python -u /x/ray/_private/log_monitor.py --a", {}) == "ray services (py)"
    assert scale.kind(5, "anything", {5: "driver"}) == "driver"


def test_sampler_counts_this_process(tmp_path):
    scale = _load()
    sampler = scale.Sampler({os.getpid(): ("driver", "head")}, tmp_path / "s.jsonl", 0.1)
    before = sampler.sample()["Pss_Anon"]
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    after = sampler.sample()["Pss_Anon"]
    assert after - before > 48 * 2**20
    assert sampler.peak["kinds"]["driver"]["n"] == 1
    del block


@pytest.mark.slow
def test_tiny_run_prints_every_part(tmp_path):
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true")
    out = subprocess.run([sys.executable, str(SCRIPT), "--scales", "0.01", "0.02", "--concurrency", "1",
                          "--concurrency-scale", "0.01", "--work", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "marginal bytes of memory per feature byte" in out.stdout
    assert "memory against concurrent trials" in out.stdout
    assert (tmp_path / "results" / "summary.json").exists()
