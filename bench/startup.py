"""Start-up times of the ``distser`` command: every ``--help``, settings errors, Ray's start, a tiny search.

    .venv/bin/python bench/startup.py [--repeats 3] [--search] [--ray]

Each command runs as a fresh process (``python -m distser ...``, as a user types it) ``--repeats``
times; the best time is printed (the machine is shared and noisy), next to the target: every
``--help`` under 1 s, a settings error under 3 s, on an idle machine. ``--ray`` also times starting a
local Ray as ``distser search`` starts it (``ray.init``, the first tasks, shutdown); ``--search`` a tiny
search (synthetic store at scale 0.01, one held-out corpus, ``ce``, one seed, one configuration, two
epochs, no model registered; target <= 20 s), from the command to its end screen: twice, the first filling
distser's cache (a new machine), the second as every later search.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = ["--help", "search --help", "report --help", "predict --help", "extract --help", "info --help",
        "synthetic --help", "compact --help"]
#: Settings errors a newcomer meets first: a value out of range, a store that is not there, a tracking
#: store that is not there (``report``, ``predict``). Each must end with exit status 2 and one error line.
ERRORS = ["search --seeds 0", "search --store no-such-store", "report --search no-such-search",
          "predict --model models:/distser-ce/1 clip.wav"]
TINY_SEARCH = ("search --method ce --holdout iemocap --seeds 1 --samples 1 --max-epochs 2 --no-asha "
               "--synthetic-scale 0.01 --no-register --name tiny")

RAY_START = """
import logging, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(address="local", log_to_driver=False, configure_logging=False, logging_level=logging.WARNING,
         include_dashboard=False)
t2 = time.perf_counter()
ray.get([ray.remote(lambda: 1).remote() for _ in range(2)])
t3 = time.perf_counter()
ray.shutdown()
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2:.2f} {time.perf_counter() - t3:.2f}")
"""


def _run(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, done


def _best(arguments: str, cwd: Path, repeats: int, expect: int) -> float:
    times = []
    for _ in range(repeats):
        seconds, done = _run([sys.executable, "-m", "distser", *arguments.split()], cwd)
        if done.returncode != expect:
            raise SystemExit(f"distser {arguments}: exit status {done.returncode}, expected {expect}\n{done.stderr}")
        times.append(seconds)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="also time starting a local Ray")
    parser.add_argument("--search", action="store_true", help="also time a tiny search (one trial, two epochs)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    work = Path(tempfile.mkdtemp(prefix="distser-startup-"))  # no runs/ here: the errors are the newcomer's
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; best of {args.repeats} (s)")
    for arguments in HELP:
        seconds = _best(arguments, work, args.repeats, 0)
        print(f"  {seconds:6.2f}  {'ok ' if seconds < 1 else 'SLOW'}  distser {arguments}  (target < 1 s)")
    for arguments in ERRORS:
        seconds = _best(arguments, work, args.repeats, 2)
        print(f"  {seconds:6.2f}  {'ok ' if seconds < 3 else 'SLOW'}  distser {arguments}  (target < 3 s)")
    if args.ray:
        _, done = _run([sys.executable, "-c", RAY_START], work)
        if done.returncode:
            raise SystemExit(done.stderr)
        parts = [float(v) for v in done.stdout.split()]
        print(f"  {sum(parts):6.2f}       local Ray: import {parts[0]:.2f}, ray.init {parts[1]:.2f}, first tasks "
              f"{parts[2]:.2f}, shutdown {parts[3]:.2f}")
    if args.search:
        # distser's cache (MLflow's empty database) starts empty here: the first search fills it, as a user's
        # first search on a machine does; the second is every later one.
        os.environ["DISTSER_CACHE"] = str(work / "cache")
        for which in ("first on this machine", "later"):
            seconds, done = _run([sys.executable, "-m", "distser", *TINY_SEARCH.split(), "--storage",
                                  str(work / f"runs-{which.split()[0]}")], work)
            if done.returncode:
                raise SystemExit(f"the tiny search failed:\n{done.stderr}")
            print(f"  {seconds:6.2f}  {'ok ' if seconds <= 20 else 'SLOW'}  distser {TINY_SEARCH}  ({which}; "
                  "target <= 20 s)")


if __name__ == "__main__":
    main()
