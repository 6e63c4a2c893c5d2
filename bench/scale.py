"""Memory of the search against the size of the features, the number of concurrent trials and nodes.

    .venv/bin/python bench/scale.py [--scales 0.25 1.0 4.0] [--concurrency 1 2 3] [--concurrency-scale 1.0]
                                    [--two-raylets] [--two-raylets-scale 1.0] [--work DIR]
                                    [--search-env KEY=VALUE] [--feature-set IS10]

What runs. For each scale used, the embedded synthetic store is written once with ``distser synthetic
--store WORK/stores/scale-S --scale S`` (in its own process, before anything is measured; scale 4.0
needs ~8 GB while generating) and kept for later runs. Each measurement is one ``distser search
--method cww+pel --mode paper --seeds 1 --max-epochs 1 --store ... --no-register --set
resources.max_concurrent=K``, run as a subprocess in its own session: every held-out corpus (4
studies, 4 trials), one local Ray that the search's driver starts itself. Its output goes to
WORK/results/LABEL.log; on failure the log's tail is printed. Parts:

1. scales: the search at each ``--scales`` value with K = ``--trials`` (2) concurrent trials (1 CPU
   each). Printed per scale: feature bytes, peak PSS of the search's process tree, peak object
   store, the peak while trials run, wall time; then the marginal bytes of memory per feature byte
   (difference of the peaks / difference of the feature bytes) between consecutive scales and between
   the smallest and the largest (target <= 1.5).
2. concurrency: at ``--concurrency-scale`` the search with K = each ``--concurrency`` value and
   ``--cpus-per-trial 0.5`` (this machine's 2 CPUs then fit 3 trials). At full concurrency (the
   largest sample with K trial actors alive): PSS, the same less Ray's idle and read-task workers
   (those that read the shards linger ~0.5 GB each until Ray ends them, at a varying time), the
   increment per added trial, the trial actors' heap (anon) and their mapped object-store pages
   (shmem), against the feature bytes and one trial's model + Adam state (target: no copy of the
   data per trial).
3. ``--two-raylets``: a head and a worker raylet on this machine (``RAY_AUTH_MODE=token``, ``ray start
   --head`` / ``ray start --address``, one CPU each, as in tests/cluster/test_multinode.py), the search
   run against it with ``--address``; per node: object store and PSS peaks, trial actors (target: one
   copy of the features per node, never one per trial). The cluster is always torn down (the ``ray
   start`` sessions killed by id) and the machine's ``ray_current_cluster`` file it wrote removed.

How memory is measured, every ``--interval`` s (0.2) from this process, which is not part of it:

- the process tree: the search's driver and every descendant (Ray's gcs_server, the raylet, which
  runs the plasma object store inside it, the dashboard/agents/monitors, the workers); with
  ``--two-raylets`` also both ``ray start`` processes and theirs. Taken anew at each sample from
  ``/proc/*/stat``, so workers that come and go are counted while they live.
- PSS: ``Pss`` of ``/proc/PID/smaps_rollup`` summed over the tree. PSS divides every shared page
  among the processes mapping it, so the object store's shared memory, mapped by the raylet, the
  driver, the workers that wrote it and every trial, counts once, not once per process (likewise
  shared libraries; the few pages shared with processes outside the tree count in part).
  ``Pss_Anon`` (heap), ``Pss_File`` (code, libraries) and ``Pss_Shmem`` (object-store pages some
  process maps) are kept apart.
- object store: the pages Ray's plasma store has allocated in shared memory, i.e. the allocated size
  (``st_blocks``) of its tmpfs file ``/dev/shm/plasma*`` (deleted after creation; stat'ed through the
  raylet's open file descriptor ``/proc/RAYLET/fd/N``). Exact for shared memory in use (4 ``ray.put``s
  of 51.8 MB read 207.4 MB) and a high-water mark: pages plasma frees stay allocated. Spilled objects
  do not count (none here: the store is 30 % of the RAM).
- "memory" = PSS - Pss_Shmem + object store: private and file pages plus the whole object store,
  including pages no process maps at the moment.
- phases: "before the trials" (Ray start, the shards read into the object store, plans and
  normalisers), "while trials run" (a trial actor, ``ray::ImplicitFunc``, alive), "after them".
The peak is the largest sample; peaks shorter than the interval can be missed (sampling a tree that
maps GBs of shared memory takes longer than 0.2 s on a busy machine: the mean interval is printed).
MB and GB are 10^6 and 10^9 bytes (the features of scale 1.0 are 92.9k x 1582 float32 = 588 MB).

Each run also prints where the memory was at its peak by process type (driver, raylet+plasma, gcs,
Ray's Python services, trial actors, read-task workers, idle workers: a worker counts as what its
title says at that sample), each type's own peak, and the largest processes with the titles they
had; every sample, per process too, is in WORK/results/LABEL.jsonl. ``--search-env`` sets
environment variables of the searches (and so of their Ray's workers), e.g. ``MALLOC_ARENA_MAX=2``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

BIN = Path(sys.executable).parent
KB = 1024
SEARCH_ENV: dict[str, str] = {}  # --search-env

# --------------------------------------------------------------------------------------- sampling


def _ppids() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                text = handle.read()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may hold spaces: fields after the last ')'
        out[int(entry.name)] = int(text[text.rindex(b")") + 2:].split()[1])
    return out


def descendants(roots: list[int], ppids: dict[int, int]) -> dict[int, int]:
    """Every live process under ``roots`` (the roots too): pid -> the root it belongs to."""
    children = defaultdict(list)
    for pid, parent in ppids.items():
        children[parent].append(pid)
    owner = {}
    for root in roots:
        stack = [root] if root in ppids else []
        while stack:
            pid = stack.pop()
            if pid not in owner:
                owner[pid] = root
                stack += children.get(pid, [])
    return owner


def rollup(pid: int) -> dict[str, int] | None:
    """Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem of a process in bytes (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    wanted = {"Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"}
    out = {}
    for line in lines[1:]:
        key, _, rest = line.partition(":")
        if key in wanted:
            out[key] = int(rest.split()[0]) * KB
    return out if "Pss" in out else None


def title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
        with open(f"/proc/{pid}/comm") as handle:
            comm = handle.read().strip()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text or comm


def kind(pid: int, text: str, roots: dict[int, str]) -> str:
    """The process type a pid counts under."""
    if pid in roots:
        return roots[pid]
    words = text.split(" ", 3)
    program = os.path.basename(words[0])
    if program == "raylet":  # its arguments name the dashboard agent's script: look at the program only
        return "raylet+plasma"
    if program == "gcs_server":
        return "gcs_server"
    if text.startswith("ray::ImplicitFunc"):
        return "trial actors"
    if text.startswith("ray::_read_block"):
        return "read tasks"
    if text.startswith("ray::IDLE"):
        return "idle workers"
    script = " ".join(words[1:3])  # python [-u] SCRIPT
    if text.startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent")) or any(
            part in script for part in ("dashboard/", "monitor.py", "runtime_env/agent")):
        return "ray services (py)"
    if text.startswith("ray::") or "default_worker.py" in script or "setup_worker.py" in script:
        return "other workers"
    return f"other ({program[:20]})"


class Sampler(threading.Thread):
    """Samples the trees under ``roots`` every ``interval`` s until :meth:`stop`; writes every sample to ``out``.

    ``roots``: pid -> (label of the root process, node label). A sample records the tree's summed
    PSS parts, per process type and per node, and each raylet's object store allocation.
    """

    def __init__(self, roots: dict[int, tuple[str, str]], out: Path, interval: float) -> None:
        super().__init__(daemon=True)
        self.roots, self.out, self.interval = roots, out, interval
        self.halt = threading.Event()
        self.started_at = time.monotonic()
        self.peak: dict | None = None
        self.phase_peak: dict[str, dict] = {}  # "start" (Ray, read, plans), "trials" (a trial actor alive), "end"
        self.actor_peak: dict[int, dict] = {}  # number of trial actors alive -> the largest such sample
        self.kind_peak: dict[str, dict[str, int]] = {}
        self.node_peak: dict[str, dict[str, int]] = {}
        self.process_peak: dict[int, dict] = {}
        self.titles: dict[int, list[str]] = defaultdict(list)
        self.max_trials: dict[str, int] = defaultdict(int)
        self.max_of: dict[str, int] = {}  # largest object store and "memory" of any sample
        self._plasma_fds: dict[int, list[str]] = {}
        self.samples = 0

    def add_root(self, pid: int, label: str, node: str) -> None:
        self.roots[pid] = (label, node)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)

    def run(self) -> None:
        with self.out.open("w") as log:
            while not self.halt.is_set():
                sample = self.sample()
                log.write(json.dumps(sample) + "\n")
                self.halt.wait(self.interval)

    def _store_bytes(self, pid: int) -> int:
        """Bytes allocated in the raylet's plasma shared-memory file(s) (tmpfs st_blocks)."""
        fds = self._plasma_fds.get(pid)
        if fds is None:
            fds = []
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if os.path.basename(target).startswith("plasma") and not target.startswith("socket:"):
                        fds.append(fd)
            except OSError:
                return 0
            if fds:  # found: the store exists (before it does, look again next time)
                self._plasma_fds[pid] = fds
        total = 0
        for fd in fds:
            with contextlib.suppress(OSError):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_blocks * 512
        return total

    def sample(self) -> dict:
        now = time.monotonic() - self.started_at
        owner = descendants(list(self.roots), _ppids())
        labels = {pid: label for pid, (label, _) in self.roots.items()}
        parts = ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")
        total = dict.fromkeys(parts, 0)
        by_kind: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*parts, "n"), 0))
        by_node: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*parts, "store", "trials"), 0))
        store = 0
        procs = {}
        for pid, root in owner.items():
            stats = rollup(pid)
            if stats is None:
                continue
            text = title(pid)
            what = kind(pid, text, labels)
            node = self.roots[root][1]
            short = text[:60]
            if not self.titles[pid] or self.titles[pid][-1] != short:
                self.titles[pid].append(short)
            for part in parts:
                value = stats.get(part, 0)
                total[part] += value
                by_kind[what][part] += value
                by_node[node][part] += value
            by_kind[what]["n"] += 1
            procs[pid] = [what, stats["Pss"] // 2**20, stats.get("Pss_Anon", 0) // 2**20,
                          stats.get("Pss_Shmem", 0) // 2**20]  # MiB, to keep the sample files small
            if what == "trial actors":
                by_node[node]["trials"] += 1
            if what == "raylet+plasma":
                allocated = self._store_bytes(pid)
                store += allocated
                by_node[node]["store"] += allocated
            best = self.process_peak.get(pid)
            if best is None or stats["Pss"] > best["Pss"]:
                self.process_peak[pid] = {**stats, "kind": what, "node": node, "t": round(now, 1)}
        total["store"] = store
        total["memory"] = total["Pss"] - total["Pss_Shmem"] + store
        if by_kind.get("trial actors", {}).get("n"):
            phase = "trials"
        else:
            phase = "end" if "trials" in self.phase_peak else "start"
        sample = {"t": round(now, 2), "phase": phase, **total, "kinds": dict(by_kind), "nodes": dict(by_node),
                  "procs": procs}
        self.samples += 1
        if self.peak is None or total["Pss"] > self.peak["Pss"]:
            self.peak = sample
        if phase not in self.phase_peak or total["Pss"] > self.phase_peak[phase]["Pss"]:
            self.phase_peak[phase] = sample
        actors = by_kind.get("trial actors", {}).get("n", 0)
        if actors and (actors not in self.actor_peak or total["Pss"] > self.actor_peak[actors]["Pss"]):
            self.actor_peak[actors] = {k: v for k, v in sample.items() if k != "procs"}
        for what, values in by_kind.items():
            mine = self.kind_peak.setdefault(what, dict.fromkeys((*parts, "n"), 0))
            for key, value in values.items():
                mine[key] = max(mine[key], value)
        for node, values in by_node.items():
            mine = self.node_peak.setdefault(node, dict.fromkeys((*parts, "store", "trials", "memory"), 0))
            for key, value in values.items():
                mine[key] = max(mine[key], value)
            mine["memory"] = max(mine["memory"], values["Pss"] - values["Pss_Shmem"] + values["store"])
        for key in ("store", "memory"):
            self.max_of[key] = max(self.max_of.get(key, 0), total[key])
        for node, values in by_node.items():
            self.max_trials[node] = max(self.max_trials[node], values["trials"])
        return sample


# --------------------------------------------------------------------------------------- running


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def env() -> dict[str, str]:
    out = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
    out.pop("RAY_ADDRESS", None)  # the search starts its own Ray unless --address is given
    out.update(SEARCH_ENV)
    return out


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (a session this script started: its Popen's pid)."""
    subprocess.run(["pkill", "-KILL", "-s", str(sid)], check=False)


class Store(NamedTuple):
    """A synthetic store of one scale and feature set, and its size."""

    folder: Path
    feature_set: str
    rows: int
    feature_bytes: int


def ensure_store(work: Path, scale: float, feature_set: str = "IS10") -> Store:
    """The synthetic store of ``scale`` in ``feature_set``'s width (written once, in its own process)."""
    folder = work / "stores" / f"scale-{scale:g}"
    done = folder / f".written-{feature_set}"
    if not done.exists():
        shutil.rmtree(folder / feature_set, ignore_errors=True)
        started = time.perf_counter()
        print(f"writing the synthetic {feature_set} store of scale {scale:g} to {folder} ...", flush=True)
        subprocess.run([str(BIN / "distser"), "synthetic", "--store", str(folder), "--scale", f"{scale:g}",
                        "--feature-set", feature_set], env=env(), check=True, stdout=subprocess.DEVNULL)
        done.write_text(f"{scale:g}\n")
        print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)
    return Store(folder, feature_set, *feature_size(folder, feature_set))


def feature_size(folder: Path, feature_set: str = "IS10") -> tuple[int, int]:
    """(rows, float32 feature bytes) of a store's feature set, from its shards' Parquet metadata."""
    import pyarrow.parquet as pq

    from distser.features import FeatureStore

    store = FeatureStore(folder, feature_set)
    rows = sum(pq.read_metadata(path).num_rows for path in store.shard_paths(None))
    return rows, rows * store.dim * 4


@dataclass
class Run:
    label: str
    scale: float
    rows: int
    feature_bytes: int
    concurrent: int
    seconds: float = 0.0
    peak: dict = field(default_factory=dict)
    kind_peak: dict = field(default_factory=dict)
    node_peak: dict = field(default_factory=dict)
    max_of: dict = field(default_factory=dict)
    max_trials: dict = field(default_factory=dict)
    top: list = field(default_factory=list)
    samples: int = 0
    phase_peak: dict = field(default_factory=dict)
    actor_peak: dict = field(default_factory=dict)

    def trial_peak(self) -> dict:
        """The largest sample while a trial actor was alive (the whole run's peak if none was seen)."""
        return self.phase_peak.get("trials", self.peak)

    def actors(self) -> dict:
        """Trial actors at the trial-phase peak: n, Pss, Pss_Anon, Pss_Shmem (summed)."""
        return self.trial_peak()["kinds"].get("trial actors", {"n": 0, "Pss": 0, "Pss_Anon": 0, "Pss_Shmem": 0})


def run_search(label: str, store: Store, scale: float, concurrent: int, work: Path,
               interval: float, extra: list[str] = (), cluster: dict[int, tuple[str, str]] | None = None,
               extra_env: dict[str, str] | None = None) -> Run:
    """One measured ``distser search``; raises SystemExit (after printing the log's tail) when it fails."""
    folder, feature_set, rows, feature_bytes = store
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    storage = work / "runs" / label
    if storage.exists():
        shutil.rmtree(storage)
    log_path = results / f"{label}.log"
    command = [str(BIN / "distser"), "search", "--method", "cww+pel", "--mode", "paper", "--seeds", "1",
               "--max-epochs", "1", "--store", str(folder), "--storage", str(storage), "--name", label,
               "--no-register", "--feature-set", feature_set, "--set", f"resources.max_concurrent={concurrent}", *extra]
    sampler = Sampler(dict(cluster or {}), results / f"{label}.jsonl", interval)
    started = time.perf_counter()
    with log_path.open("w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        driver = subprocess.Popen(command, cwd=work, env={**env(), **(extra_env or {})}, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    sampler.add_root(driver.pid, "driver", "head")
    sampler.start()
    try:
        code = driver.wait()
    finally:
        seconds = time.perf_counter() - started
        sampler.stop()
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        kill_session(driver.pid)  # a crashed driver's local Ray would outlive it
        shutil.rmtree(storage, ignore_errors=True)
    if code != 0:
        tail = log_path.read_text().splitlines()[-40:]
        print(f"search {label} failed (exit {code}); the last lines of {log_path}:", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(1)
    top = sorted(sampler.process_peak.items(), key=lambda item: -item[1]["Pss"])[:8]
    return Run(label, scale, rows, feature_bytes, concurrent, seconds, sampler.peak or {}, sampler.kind_peak,
               sampler.node_peak, dict(sampler.max_of), dict(sampler.max_trials),
               [(pid, stats, sampler.titles[pid]) for pid, stats in top], sampler.samples,
               {phase: {k: v for k, v in sample.items() if k != "procs"}
                for phase, sample in sampler.phase_peak.items()}, dict(sampler.actor_peak))


def describe(run: Run) -> None:
    """A run's peak and where its memory was, by process type."""
    peak = run.peak
    print(f"\n[{run.label}] scale {run.scale:g}: {run.rows:,} utterances, features {mb(run.feature_bytes)}; "
          f"{run.concurrent} concurrent trial(s); {run.seconds:.0f} s, {run.samples} samples "
          f"(one per {run.seconds / max(run.samples, 1):.2f} s)")
    print(f"  peak PSS {gb(peak['Pss'])} at {peak['t']:.0f} s (anon {gb(peak['Pss_Anon'])}, file "
          f"{gb(peak['Pss_File'])}, shmem {gb(peak['Pss_Shmem'])}); object store then {gb(peak['store'])}, "
          f"at most {gb(run.max_of['store'])}; memory (PSS - shmem + store) at most {gb(run.max_of['memory'])}")
    names = {"start": "before the trials (Ray, read, plans)", "trials": "while trials run", "end": "after them"}
    print("  peak PSS by phase: " + "; ".join(
        f"{names[phase]} {gb(sample['Pss'])} at {sample['t']:.0f} s" for phase, sample in run.phase_peak.items()))
    print(f"  {'process type':<20} {'at the peak: n':>14} {'PSS':>9} {'anon':>9} {'shmem':>9}   "
          f"{'own peak: n':>11} {'PSS':>9} {'anon':>9}")
    for what in sorted(run.kind_peak, key=lambda k: -run.kind_peak[k]["Pss"]):
        at = peak["kinds"].get(what, {"n": 0, "Pss": 0, "Pss_Anon": 0, "Pss_Shmem": 0})
        own = run.kind_peak[what]
        print(f"  {what:<20} {at['n']:>14} {mb(at['Pss']):>9} {mb(at['Pss_Anon']):>9} {mb(at['Pss_Shmem']):>9}   "
              f"{own['n']:>11} {mb(own['Pss']):>9} {mb(own['Pss_Anon']):>9}")
    print("  largest processes (own peak PSS; titles seen in order):")
    for pid, stats, titles in run.top[:6]:
        print(f"    {pid:>7} {mb(stats['Pss']):>9} (anon {mb(stats['Pss_Anon'])}, shmem {mb(stats['Pss_Shmem'])}) "
              f"at {stats['t']:.0f} s  {' -> '.join(t.split(' --', 1)[0][:40] for t in titles[:4])}")


def ratio(a: Run, b: Run, key: str) -> float:
    """Marginal bytes per feature byte between two runs: of the peak (key Pss, Pss_Anon), of the trial
    phase's peak (trials), or of the largest object store / memory (store, memory)."""
    values = {"Pss": lambda run: run.peak["Pss"], "Pss_Anon": lambda run: run.peak["Pss_Anon"],
              "trials": lambda run: run.trial_peak()["Pss"]}
    value = values.get(key, lambda run: run.max_of[key])
    return (value(b) - value(a)) / (b.feature_bytes - a.feature_bytes)


# --------------------------------------------------------------------------------------- two raylets


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_nodes(address: str, environment: dict, count: int, timeout: float = 120) -> None:
    script = (f"import ray; ray.init(address='{address}', log_to_driver=False); "
              "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.time() + timeout
    out = None
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                             timeout=90)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise RuntimeError(f"the cluster did not reach {count} nodes: {out.stderr[-2000:] if out else ''}")


def two_raylets(store: Store, scale: float, work: Path, interval: float) -> Run:
    """The search on a head + worker raylet of this machine; both trees and the driver's are sampled."""
    environment = dict(env(), RAY_AUTH_MODE="token")
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=environment, capture_output=True,
                   check=True)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    started: list[subprocess.Popen] = []
    logs = work / "results"
    logs.mkdir(parents=True, exist_ok=True)

    def start(args: list[str], name: str) -> subprocess.Popen:
        with (logs / f"ray-start-{name}.log").open("w") as log:
            process = subprocess.Popen([str(BIN / "ray"), "start", "--block", *args], env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        return process

    try:
        head = start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                      "--node-ip-address=127.0.0.1"], "head")
        _wait_for_nodes(address, environment, 1)
        worker = start([f"--address={address}", "--num-cpus=1", "--node-ip-address=127.0.0.1"], "worker")
        _wait_for_nodes(address, environment, 2)
        print(f"two raylets up at {address} (head: ray start pid {head.pid}, worker: pid {worker.pid})", flush=True)
        cluster = {head.pid: ("ray start (head)", "head"), worker.pid: ("ray start (worker)", "worker")}
        return run_search(f"two-raylets-{scale:g}", store, scale, 2, work, interval, ["--address", address],
                          cluster, {"RAY_AUTH_MODE": "token"})
    finally:
        for process in started:
            kill_session(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        current = Path("/tmp/ray/ray_current_cluster")  # `ray start --head` recorded it; it is gone now
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


# --------------------------------------------------------------------------------------- main


def part_scales(runs: list[Run], trials: int, summary: dict) -> None:
    print(f"\n== memory against the features ({trials} concurrent trials, all held-out corpora)")
    print(f"{'scale':>6} {'utterances':>11} {'features':>10} {'peak PSS':>10} {'PSS/feat':>9} {'obj. store':>10} "
          f"{'memory':>8} {'peak in trials':>14} {'trial actors anon':>17} {'wall':>6}")
    for run in runs:
        actors = run.actors()
        per_actor = f"{actors['n']} x {mb(actors['Pss_Anon'] / max(actors['n'], 1))}"
        print(f"{run.scale:>6g} {run.rows:>11,} {mb(run.feature_bytes):>10} {gb(run.peak['Pss']):>10} "
              f"{run.peak['Pss'] / run.feature_bytes:>9.2f} {gb(run.max_of['store']):>10} "
              f"{gb(run.max_of['memory']):>8} {gb(run.trial_peak()['Pss']):>14} "
              f"{per_actor:>17} "
              f"{run.seconds:>5.0f}s")
        summary["scales"].append({"scale": run.scale, "rows": run.rows, "feature_bytes": run.feature_bytes,
                                  "peak_pss": run.peak["Pss"], "store": run.max_of["store"],
                                  "memory": run.max_of["memory"], "trial_peak_pss": run.trial_peak()["Pss"],
                                  "trial_actors": actors, "seconds": run.seconds})
    pairs = list(zip(runs[:-1], runs[1:], strict=True))
    if len(runs) > 2:
        pairs.append((runs[0], runs[-1]))
    if pairs:
        print("marginal bytes of memory per feature byte (target <= 1.5):")
    for a, b in pairs:
        print(f"  {a.scale:g} -> {b.scale:g}: PSS {ratio(a, b, 'Pss'):.2f}  "
              f"(object store {ratio(a, b, 'store'):.2f}, memory {ratio(a, b, 'memory'):.2f}, "
              f"heap (Pss_Anon) {ratio(a, b, 'Pss_Anon'):.2f}; peak while trials run {ratio(a, b, 'trials'):.2f})")


def model_parameters(dim: int) -> int:
    """Parameters of model F (the paper's layers) on ``dim`` features."""
    from distser.learning import EmotionClassifier

    return sum(p.numel() for p in EmotionClassifier(dim).parameters())


def _without_idle(sample: dict) -> int:
    """PSS of a sample less Ray's idle and read-task workers (the read workers linger a varying while)."""
    kinds = sample["kinds"]
    return sample["Pss"] - sum(kinds.get(k, {}).get("Pss", 0) for k in ("idle workers", "read tasks"))


def part_concurrency(sweep: list[Run], summary: dict) -> None:
    features = sweep[0].feature_bytes // sweep[0].rows // 4
    model_state = model_parameters(features) * 4 * 4  # float32 weights, gradients, Adam's two moments
    print(f"\n== memory against concurrent trials (scale {sweep[0].scale:g}, features "
          f"{mb(sweep[0].feature_bytes)}; one trial's model + gradients + Adam state {mb(model_state)})")
    print("   at K trials: the largest sample with K trial actors alive; 'w/o idle': the same less Ray's idle and "
          "read-task workers\n   (the workers that read the shards linger, ~0.5 GB each, until Ray ends them at a "
          "varying time); 'rest': every process but the trial actors, idle workers included")
    print(f"{'K':>3} {'peak PSS':>9} {'at K trials':>12} {'w/o idle':>9} {'+ per trial':>12} {'actors anon':>12} "
          f"{'per actor':>10} {'actors shmem':>13} {'rest':>8} {'obj. store':>11} {'wall':>6}")
    full = {}
    previous = None
    for run in sweep:
        k = run.concurrent if run.concurrent in run.actor_peak else max(run.actor_peak, default=0)
        sample = run.actor_peak.get(k)
        if sample is None:
            print(f"{run.concurrent:>3} no sample with a trial actor alive")
            continue
        actors = sample["kinds"]["trial actors"]
        full[run.concurrent] = _without_idle(sample)
        step = "" if previous is None else mb((full[run.concurrent] - full[previous]) / (run.concurrent - previous))
        label = f"{gb(sample['Pss'])}{'' if k == run.concurrent else f' ({k})'}"
        print(f"{run.concurrent:>3} {gb(run.peak['Pss']):>9} {label:>12} {gb(full[run.concurrent]):>9} {step:>12} "
              f"{mb(actors['Pss_Anon']):>12} {mb(actors['Pss_Anon'] / k):>10} {mb(actors['Pss_Shmem']):>13} "
              f"{gb(sample['Pss'] - actors['Pss']):>8} {gb(run.max_of['store']):>11} {run.seconds:>5.0f}s")
        summary["concurrency"].append({"k": run.concurrent, "peak_pss": run.peak["Pss"], "full_pss": sample["Pss"],
                                       "full_pss_without_idle": full[run.concurrent], "store": run.max_of["store"],
                                       "actors": actors})
        previous = run.concurrent
    if len(full) > 1:
        first, last = min(full), max(full)
        per = (full[last] - full[first]) / (last - first)
        print(f"per added trial (w/o idle, K={first} -> {last}): {mb(per)} = {per / sweep[0].feature_bytes:.2f} x the "
              f"features (target: no copy of the data; a trial is its own process: Python, torch and Ray's worker, "
              f"the model + Adam state ({mb(model_state)}), its buffers)")


def part_two_raylets(cluster: Run, summary: dict) -> None:
    print(f"\n== two raylets on this machine (scale {cluster.scale:g}, features {mb(cluster.feature_bytes)}, "
          "2 concurrent trials, 1 CPU per node)")
    print(f"{'node':<8} {'trial actors':>12} {'peak obj. store':>15} {'copies':>7} {'peak PSS':>10} "
          f"{'peak memory':>11}")
    for node in ("head", "worker"):
        values = cluster.node_peak.get(node, {})
        print(f"{node:<8} {cluster.max_trials.get(node, 0):>12} {gb(values.get('store', 0)):>15} "
              f"{values.get('store', 0) / cluster.feature_bytes:>7.2f} {gb(values.get('Pss', 0)):>10} "
              f"{gb(values.get('memory', 0)):>11}")
        summary["two_raylets"].append({"node": node, **values, "trials": cluster.max_trials.get(node, 0)})
    print("(the head's figures include the driver; 'copies' = object store / feature bytes: one per node "
          "expected, whatever the number of trials on it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="*", default=[0.25, 1.0, 4.0],
                        help="synthetic scales of part 1 (none: skip it)")
    parser.add_argument("--trials", type=int, default=2, help="concurrent trials in part 1 (default 2)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 2, 3],
                        help="concurrent trials of part 2 (none: skip it)")
    parser.add_argument("--concurrency-scale", type=float, default=1.0)
    parser.add_argument("--two-raylets", action="store_true", help="part 3: head + worker raylet on this machine")
    parser.add_argument("--two-raylets-scale", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/distser-bench-scale"),
                        help="stores (kept between runs), logs and samples (default /tmp/distser-bench-scale)")
    parser.add_argument("--feature-set", default="IS10",
                        help="the openSMILE set whose width the synthetic features have (default IS10)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--search-arg", action="append", default=[], metavar="ARG",
                        help="an argument added to every measured search, e.g. --search-arg=--normalization "
                        "--search-arg=speaker (repeatable)")
    parser.add_argument("--search-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of every measured search (and so of its local Ray), e.g. "
                        "MALLOC_ARENA_MAX=2 (repeatable)")
    args = parser.parse_args()
    for item in args.search_env:
        key, _, value = item.partition("=")
        SEARCH_ENV[key] = value
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    scales = sorted(set(args.scales))
    needed = sorted({*scales, *([args.concurrency_scale] if args.concurrency else []),
                     *([args.two_raylets_scale] if args.two_raylets else [])})
    # All written before anything is measured.
    stores = {scale: ensure_store(work, scale, args.feature_set) for scale in needed}
    summary: dict[str, list] = {"scales": [], "concurrency": [], "two_raylets": []}
    results = work / "results"

    # Each part prints its table when it is done, so a later part's failure loses nothing.
    runs = []
    for scale in scales:
        runs.append(run_search(f"scale-{scale:g}", stores[scale], scale, args.trials, work, args.interval,
                               args.search_arg))
        describe(runs[-1])
    if runs:
        part_scales(runs, args.trials, summary)
    sweep = []
    for k in args.concurrency:
        sweep.append(run_search(f"concurrent-{k}", stores[args.concurrency_scale], args.concurrency_scale, k,
                                work, args.interval, ["--cpus-per-trial", "0.5", *args.search_arg]))
        describe(sweep[-1])
    if sweep:
        part_concurrency(sweep, summary)
    if args.two_raylets:
        cluster = two_raylets(stores[args.two_raylets_scale], args.two_raylets_scale, work, args.interval)
        describe(cluster)
        part_two_raylets(cluster, summary)
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"\nsamples and logs: {results}")


if __name__ == "__main__":
    main()
