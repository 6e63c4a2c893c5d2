"""`distser COMMAND --help` and the first settings errors load none of the heavy libraries (start-up time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "ray", "mlflow", "optuna", "opensmile", "matplotlib", "scipy")

PROBE = """
import contextlib, io, sys
from distser.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        status = main(sys.argv[1:])
    except SystemExit as exit:
        status = exit.code
print(status, *sorted(m for m in {HEAVY} if m in sys.modules))
"""


def _loaded(tmp_path, *argv: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(HEAVY=HEAVY), *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("command", ["search", "report", "predict", "extract", "info", "synthetic", "compact"])
def test_help_loads_no_heavy_library(tmp_path, command):
    assert _loaded(tmp_path, command, "--help") == ["0"]


@pytest.mark.parametrize("argv", [["search", "--seeds", "0"], ["search", "--store", "no-such-store"],
                                  ["report", "--search", "x"], ["predict", "--model", "models:/distser-ce/1", "a.wav"]])
def test_settings_errors_load_no_heavy_library(tmp_path, monkeypatch, argv):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _loaded(tmp_path, *argv) == ["2"]


EXIT_PROBE = """
import atexit, concurrent.futures, sys, threading, time
def late():
    time.sleep(0.5)
    print("thread done", flush=True)
threading.Thread(target=late).start()
pool = concurrent.futures.ThreadPoolExecutor(1)  # kept and idle, as MLflow keeps its artifact uploader
pool.submit(time.sleep, 0)
atexit.register(lambda: print("atexit ran"))
sys.argv = ["distser", *sys.argv[1:]]
from distser.cli import console
console()
"""


# `distser --help` returns 0 from main (a subcommand's --help leaves through argparse's SystemExit instead);
# a settings error returns 2.
@pytest.mark.parametrize(("argv", "status"), [(["--help"], 0), (["search", "--seeds", "0"], 2)])
def test_the_console_script_waits_for_threads_runs_atexit_and_keeps_the_status(tmp_path, argv, status):
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, *argv], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == status, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["thread done", "atexit ran"]  # after the command's own output, nothing lost
    assert ("usage: distser" in done.stdout) == (status == 0)
