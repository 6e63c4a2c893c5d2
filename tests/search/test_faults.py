"""The fault matrix of issue #13, end to end: each fault a new user hit, done the way they did it.

Rows already covered elsewhere are not repeated here: bad settings, unreachable tracking stores,
``--name "bob's"``, ``--resume`` of an unknown name and the refusal of a taken name at the settings
level (``test_fail_fast.py``); damaged shards at the reading level (``test_data.py``,
``tests/features/test_integrity.py``); ``distser report`` on a missing database
(``tests/report/test_report_cli.py``); a driver SIGKILLed at a random moment and resumed
(``test_resume.py``); a worker node killed mid-search (``tests/cluster/test_multinode.py``).

Here, through the command itself (a subprocess, from a temporary working directory, as a user runs it):

- row 1: one NaN in the store: one ``error:`` line naming corpus, utterance and shard, no trial run;
- row 2: Ctrl+C, then only the printed hint: the same search finishes;
- row 3: a finished search is not overwritten by ``--name X`` again; ``--replace`` starts it over;
- row 4: a search from a read-only working directory finishes and writes nothing there;
- row 6: a study whose every trial fails: exit 2 naming the cause, runs FAILED, nothing RUNNING;
- row 7: a truncated or overwritten shard fails the search naming the file;
- a worker node killed while a trial hands in its final result and model, and the driver killed
  while it writes to MLflow (faults injected by ``fault_driver.py``): every trial once, nothing RUNNING.

And the rows of the reliability fault matrix (end of this file), fast, most without Ray (starting it is an
error there, so a check that came after Ray fails at once): the same search started twice (the second
fails in seconds naming the holder; a dead local holder's lock is taken over), ``--storage`` a regular file,
a damaged store and a method without its unlabeled corpus (refused before Ray, no MLflow database left),
a search resumed from another folder with its printed hint and another spelling of its store.

The small search: the synthetic default at 2 % scale, one study (cww, crema-d held out), 2 proposals x
2 seeds, 4 epochs (ASHA's grace period is 5: no trial is cut, so every search runs exactly 4 trials).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from distser.define import File, Tag

PROJECT = Path(__file__).resolve().parents[2]
DISTSER = str(Path(sys.executable).parent / "distser")
RAY = str(Path(sys.executable).parent / "ray")
DRIVER = str(Path(__file__).with_name("fault_driver.py"))


def _small(samples: int = 2) -> list[str]:
    # grace_period set: the embedded run's own (3) would let ASHA cut seeds and add completion trials
    return ["--method", "cww", "--holdout", "crema-d", "--synthetic-scale", "0.02", "--max-epochs", "4", "--seeds",
            "2", "--samples", str(samples), "--checkpoint-seconds", "0", "--set", "scheduler.grace_period=5"]


SMALL = _small()
TRIALS = 4  # 2 proposals x 2 seeds, none cut by ASHA (max_epochs 4 < grace_period 5)
EXPERIMENT = "distser"


# ---------------------------------------------------------------------------------------------------
# helpers


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    env.update(RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1",
               TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S="0", **extra)
    return env


def _uri(storage: Path) -> str:
    return f"sqlite:///{storage / 'mlflow.db'}"


def _kill_session(sid: int) -> None:
    """SIGKILL what is left of a session this test started (its driver's local Ray, a node)."""
    subprocess.run(["pkill", "-KILL", "-s", str(sid)], check=False)


def _run(argv: list[str], cwd: Path, timeout: float = 400, env: dict | None = None):
    """Run a command in its own session (leftovers are killed); returns (completed, seconds)."""
    start = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        _kill_session(process.pid)
        if process.poll() is None:
            process.wait()
    seconds = time.monotonic() - start
    return subprocess.CompletedProcess(argv, process.returncode, out, err), seconds


def _runs(uri: str, name: str, role: str | None = None) -> list:
    """Active MLflow runs of search ``name`` (every role, or one)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    where = f"tags.`{Tag.SEARCH}` = '{name}'" + (f" and tags.`{Tag.ROLE}` = '{role}'" if role else "")
    return client.search_runs([experiment.experiment_id], where, max_results=10000)


def _snapshot(uri: str, name: str) -> dict:
    """Everything MLflow holds about a search's runs, comparable with ``==``."""
    return {run.info.run_id: {"status": run.info.status, "role": run.data.tags.get(Tag.ROLE),
                              "params": dict(run.data.params), "metrics": dict(run.data.metrics),
                              "tags": {k: v for k, v in run.data.tags.items() if k != "mlflow.log-model.history"}}
            for run in _runs(uri, name)}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _assert_every_trial_once_nothing_running(uri: str, name: str, trials: int = TRIALS) -> list:
    """The search ended cleanly: one FINISHED parent, each trial one FINISHED run with its final results."""
    runs = _runs(uri, name)
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "search"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get(Tag.ROLE) == "trial"]
    ids = [r.data.tags[Tag.TRIAL_ID] for r in children]
    assert len(children) == trials and len(set(ids)) == trials, sorted(ids)
    assert {r.info.status for r in children} == {"FINISHED"}, \
        [(r.info.run_name, r.info.status, r.data.tags.get(Tag.ERROR)) for r in children]
    assert {r.data.tags.get(Tag.STOPPED_BY) for r in children} == {"training"}
    for run in children:  # the whole final batch, not a part of it
        assert 0 <= run.data.metrics["test_ua"] <= 1 and "test_ua/crema-d" in run.data.metrics, run.data.metrics
        assert Tag.STOP_REASON in run.data.tags
    return children


def _trial_dirs(storage: Path, name: str) -> list[str]:
    return sorted(p.name for p in (storage / name).glob("trial-*"))


def _training_corpora(run) -> set[str]:
    return {key.split("/", 1)[1] for key in run.data.metrics if key.startswith("valid_ua/")}


def _damaged_store(source, folder: Path, damage: str):
    """A copy of ``source`` with one fault; returns (store, shard, what the error must name)."""
    from distser.features import FeatureStore, shard_table
    from distser.features._store import write_table_atomic

    shutil.copytree(source.root, folder)
    store = FeatureStore(folder, source.feature_set)
    shard = store.shard_paths(["msp-improv"])[0]
    if damage == "nan":
        table = pq.read_table(shard)
        frame = table.drop_columns(["features"]).to_pandas()
        features = np.stack(table.column("features").to_numpy(zero_copy_only=False)).astype(np.float32)
        features[7, 100] = np.nan  # written with the right tool: the checksum is valid, the value is not
        write_table_atomic(shard_table(frame, features, frame["content_hash"]), shard)
        return store, shard, ["corpus 'msp-improv'", str(frame["utterance_id"][7]), str(shard)]
    raw = bytearray(shard.read_bytes())
    if damage == "truncated":
        shard.write_bytes(bytes(raw[: len(raw) // 2]))  # a copy that stopped half-way
    else:
        raw[len(raw) // 3: len(raw) // 3 + 4096] = bytes(4096)  # 4 KB overwritten inside the data
        shard.write_bytes(bytes(raw))
    return store, shard, [str(shard)]


# ---------------------------------------------------------------------------------------------------
# rows 1 and 7: a damaged store (fast: the session's Ray is already up, so the time is the read's)


@pytest.mark.parametrize("damage", ["nan", "truncated", "overwritten"])
def test_rows_1_7_a_damaged_store_fails_the_search_in_seconds_naming_the_shard(damage, ray_local, synthetic_store,
                                                                               tmp_path, capsys):
    from distser.search import main

    store, shard, named = _damaged_store(synthetic_store, tmp_path / "store", damage)
    storage = tmp_path / "runs"
    start = time.monotonic()
    code = main(["--method", "cww", "--holdout", "crema-d", "--seeds", "2", "--samples", "2", "--max-epochs", "4",
                 "--store", str(store.root), "--storage", str(storage), "--name", f"damaged-{damage}"])
    seconds = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2, err
    errors = _error_lines(err)
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], err
    assert all(name in errors[0] for name in named), (named, errors[0])
    print(f"{damage}: exit 2 after {seconds:.1f} s: {errors[0]}")
    assert seconds < 60, seconds  # a search of these settings would train for ~30 s before saying anything
    assert _trial_dirs(storage, f"damaged-{damage}") == []  # no trial ran
    assert not (storage / f"damaged-{damage}" / File.RECORD).exists()  # nothing to --resume: the name stays free
    assert [r.info.status for r in _runs(_uri(storage), f"damaged-{damage}") if r.info.status == "RUNNING"] == []


@pytest.mark.slow
def test_row_1_one_nan_through_the_command_fails_before_any_trial(synthetic_store, tmp_path):
    store, shard, named = _damaged_store(synthetic_store, tmp_path / "store", "nan")
    done, seconds = _run([DISTSER, "search", *SMALL, "--store", str(store.root), "--storage", "runs", "--name",
                          "nan"], cwd=tmp_path, timeout=240)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and done.stderr.rstrip().splitlines()[-1] == errors[0], done.stderr
    assert all(name in errors[0] for name in named), (named, errors[0])
    print(f"row 1 through the command: exit {done.returncode} after {seconds:.1f} s (Ray start included)")
    assert seconds < 120
    storage = tmp_path / "runs"
    assert _trial_dirs(storage, "nan") == []
    assert not (storage / "nan" / File.RECORD).exists()
    runs = _runs(_uri(storage), "nan")
    assert [r for r in runs if r.data.tags.get(Tag.ROLE) == "trial"] == []
    assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []


# ---------------------------------------------------------------------------------------------------
# row 2: Ctrl+C, then only the printed hint


def test_row_2_the_printed_hint_is_a_command_that_resumes_the_search(tmp_path, monkeypatch, capsys):
    """The hint survives being pasted into a shell, even for a storage path with a space."""
    import distser.search._run as run
    from distser.search import build_parser, main

    def interrupted(config, locations, options):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "run_search", interrupted)
    storage = tmp_path / "my runs"
    assert main(["--name", "cut", "--storage", str(storage)]) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    command = line.split("continue with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:3] == ["distser", "search", "--resume"]
    args = build_parser().parse_args(argv[2:])
    assert (args.name, Path(args.storage), args.resume) == ("cut", storage, True)
    assert set(vars(args)) == {"name", "storage", "resume"}  # nothing else is needed


@contextlib.contextmanager
def _read_only_folder(folder: Path):
    """``folder`` (made, holding the user's ``notes.txt``) bind-mounted read-only while in the block:
    (folder, None), or (folder, why not) where this machine cannot mount it (then it stays writable)."""
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own file\n")
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        yield folder, f"a read-only working directory needs a read-only bind mount: {mounted.stderr.strip()}"
        return
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        yield folder, None if remount.returncode == 0 else f"cannot remount read-only: {remount.stderr.strip()}"
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small search, uninterrupted (rows 2, 3 and 4): a snapshot of its MLflow runs right after it ended.

    One search serves three rows: it runs from a read-only working directory (row 4; where this machine
    can make one) with its storage elsewhere, which changes nothing rows 2 and 3 look at.
    """
    root = tmp_path_factory.mktemp("reference")
    storage = root / "runs"
    with _read_only_folder(root / "read-only") as (cwd, not_read_only):
        done, seconds = _run([DISTSER, "search", *SMALL, "--storage", str(storage), "--name", "ref"], cwd=cwd)
        left_in_cwd = sorted(os.listdir(cwd))
    assert done.returncode == 0, done.stderr[-3000:]
    # Row 3 replaces this search later: row 4's view of it is taken now.
    selected = [run.info.artifact_uri for run in _runs(_uri(storage), "ref", "trial")
                if run.data.tags.get(Tag.SELECTED) == "true"]
    return {"cwd": root, "storage": storage, "uri": _uri(storage), "seconds": seconds, "stderr": done.stderr,
            "not_read_only": not_read_only, "left_in_cwd": left_in_cwd, "selected_artifacts": selected,
            "models": sorted(storage.glob("mlartifacts/**/MLmodel")),
            "snapshot": _snapshot(_uri(storage), "ref"), "trials": _trial_dirs(storage, "ref"),
            "record": (storage / "ref" / File.RECORD).read_text()}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The small search, Ctrl+C'd (SIGINT to its process group, as a terminal does) once a trial checkpointed."""
    from ray._private.utils import get_num_cpus

    cwd = tmp_path_factory.mktemp("ctrl-c")
    storage = cwd / "runs"
    # Two trials at a time on any machine (the CPUs the local Ray will see, halved): when the first
    # checkpoint appears, two trials are training and two are waiting, as in any real search.
    cpus = str(max(1.0, get_num_cpus() / 2))
    with open(cwd / "driver.out", "w") as out, open(cwd / "driver.err", "w") as err:
        driver = subprocess.Popen([DISTSER, "search", *SMALL, "--cpus-per-trial", cpus, "--storage", "runs",
                                   "--name", "cut"], cwd=cwd, env=_env(), stdout=out, stderr=err,
                                  start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and driver.poll() is None and not list(storage.glob("cut/trial-*/checkpoint_*")):
            time.sleep(0.2)
        assert driver.poll() is None, (cwd / "driver.err").read_text()[-3000:]
        time.sleep(1)
        os.killpg(driver.pid, signal.SIGINT)
        start = time.monotonic()
        driver.wait(timeout=180)
        seconds = time.monotonic() - start
    finally:
        _kill_session(driver.pid)
        if driver.poll() is None:
            driver.wait()
    return {"cwd": cwd, "storage": storage, "uri": _uri(storage), "returncode": driver.returncode,
            "seconds": seconds, "stderr": (cwd / "driver.err").read_text(),
            "snapshot": _snapshot(_uri(storage), "cut")}


@pytest.mark.slow
def test_row_2_ctrl_c_exits_130_with_the_hint(interrupted):
    err = interrupted["stderr"]
    print(f"Ctrl+C: exit {interrupted['returncode']} {interrupted['seconds']:.1f} s after SIGINT")
    assert "Traceback" not in err, err[-3000:]
    assert interrupted["returncode"] == 130
    assert err.rstrip().splitlines()[-1] == \
        f"interrupted; continue with: distser search --resume --name cut --storage {interrupted['storage']}"


@pytest.mark.slow
def test_row_2_after_ctrl_c_the_hint_alone_finishes_the_same_search(interrupted, reference):
    snapshot = interrupted["snapshot"]
    assert interrupted["seconds"] < 60  # Ctrl+C stops the search promptly
    assert [run for run in snapshot.values() if run["status"] == "RUNNING"] == []
    parents = [run for run in snapshot.values() if run["role"] == "search"]
    assert [run["status"] for run in parents] == ["KILLED"]
    finished = [run for run in snapshot.values() if run["role"] == "trial" and run["status"] == "FINISHED"]
    assert len(finished) < TRIALS, "the search must have been interrupted before its end"

    # The hint: printed on Ctrl+C, and in the search's record (the same text, for when the terminal is gone).
    record = (interrupted["storage"] / "cut" / File.RECORD).read_text()
    hint = f"distser search --resume --name cut --storage {interrupted['storage']}"  # absolute: works anywhere
    assert f"continue: {hint}\n" in record
    printed = re.findall(r"continue with: (.*)", interrupted["stderr"])
    assert printed in ([], [hint])  # see test_row_2_ctrl_c_exits_130_with_the_hint
    argv = shlex.split(hint)
    done, seconds = _run([DISTSER, *argv[1:]], cwd=interrupted["cwd"])
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"resume with the hint: {seconds:.1f} s")
    assert "resuming cut from" in done.stderr

    children = _assert_every_trial_once_nothing_running(interrupted["uri"], "cut")
    ours = _runs(interrupted["uri"], "cut", "search")[0]
    # the same search as the uninterrupted one: corpora, held-out corpus, seeds, trials, settings, store
    theirs = next(run for run in reference["snapshot"].values() if run["role"] == "search")
    defining = ("study.", "data.", "training.", "scheduler.")
    assert {k: v for k, v in ours.data.params.items() if k.startswith(defining)} == \
        {k: v for k, v in theirs["params"].items() if k.startswith(defining)}
    assert ours.data.tags[Tag.STORE] == theirs["tags"][Tag.STORE]
    reference_trials = [run for run in reference["snapshot"].values() if run["role"] == "trial"]
    assert len(children) == len(reference_trials) == TRIALS

    def shape(params, tags):
        return params["holdout"], params["plan"], params["seed"], tags[Tag.PHASE]

    assert sorted(shape(r.data.params, r.data.tags) for r in children) == \
        sorted(shape(r["params"], r["tags"]) for r in reference_trials)
    assert sorted(shape(r.data.params, r.data.tags) for r in children) == \
        [("crema-d", "loco-crema-d", "0", "search")] * 2 + [("crema-d", "loco-crema-d", "1", "search")] * 2
    corpora = {frozenset(_training_corpora(r)) for r in children}
    assert corpora == {frozenset(k.split("/", 1)[1] for k in r["metrics"] if k.startswith("valid_ua/"))
                       for r in reference_trials} and len(corpora) == 1
    assert "crema-d" not in next(iter(corpora)) and len(next(iter(corpora))) >= 2


# ---------------------------------------------------------------------------------------------------
# row 3: the name of a finished search


@pytest.mark.slow
def test_row_3_a_finished_search_is_not_overwritten_and_replace_starts_it_over(reference):
    cwd, storage, uri = reference["cwd"], reference["storage"], reference["uri"]
    before = _snapshot(uri, "ref")
    assert before == reference["snapshot"], "another test changed the reference search"
    old_parent = next(run_id for run_id, run in before.items() if run["role"] == "search")

    done, seconds = _run([DISTSER, "search", *SMALL, "--storage", str(storage), "--name", "ref"], cwd=cwd)
    assert done.returncode == 2 and _error_lines(done.stderr) == done.stderr.strip().splitlines(), done.stderr
    assert "a search named 'ref' exists" in done.stderr and "--resume" in done.stderr
    print(f"row 3, the name again: exit 2 after {seconds:.1f} s")
    assert seconds < 60
    assert _snapshot(uri, "ref") == before  # every run, status, param, metric and tag as it was
    assert _trial_dirs(storage, "ref") == reference["trials"]
    assert (storage / "ref" / File.RECORD).read_text() == reference["record"]

    done, seconds = _run([DISTSER, "search", *_small(samples=1), "--storage", str(storage), "--name", "ref",
                          "--replace"], cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"--replace: deleted the {len(before)} MLflow runs" in done.stderr
    children = _assert_every_trial_once_nothing_running(uri, "ref", trials=2)  # 1 proposal x 2 seeds
    parents = _runs(uri, "ref", "search")
    assert parents[0].info.run_id != old_parent
    assert parents[0].data.params["study.samples"] == "1"  # the new settings, not the old search's
    assert not {r.info.run_id for r in children} & set(before)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert {client.get_run(run_id).info.lifecycle_stage for run_id in before} == {"deleted"}
    assert not set(_trial_dirs(storage, "ref")) & set(reference["trials"])
    assert len(_trial_dirs(storage, "ref")) == 2
    assert "samples = 1" in (storage / "ref" / File.RECORD).read_text()


# ---------------------------------------------------------------------------------------------------
# row 4: a read-only working directory


@pytest.fixture
def read_only_dir(tmp_path):
    with _read_only_folder(tmp_path / "read-only") as (folder, not_read_only):
        if not_read_only:
            pytest.skip(not_read_only)
        yield folder


@pytest.mark.slow
def test_row_4_a_search_from_a_read_only_working_directory_writes_nothing_there(read_only_dir, reference):
    with pytest.raises(OSError):
        (read_only_dir / "probe").write_text("x")  # even as root

    # The default storage (runs/) would be in the working directory: refused before anything starts.
    done, seconds = _run([DISTSER, "search", "--name", "ro"], cwd=read_only_dir, timeout=120)
    assert done.returncode == 2 and len(_error_lines(done.stderr)) == 1, done.stderr
    assert str(read_only_dir / "runs") in done.stderr and "not writable" in done.stderr
    assert seconds < 60

    # With --storage elsewhere it runs: the reference search ran so (from a folder like this one).
    assert reference["not_read_only"] is None, reference["not_read_only"]
    print(f"row 4: a search from a read-only folder: exit 0 after {reference['seconds']:.1f} s")
    assert reference["left_in_cwd"] == ["notes.txt"]
    runs = reference["snapshot"].values()
    assert sorted((run["role"], run["status"]) for run in runs) == [("search", "FINISHED")] + \
        [("trial", "FINISHED")] * TRIALS
    assert "registered models:/distser-synthetic-cww/" in reference["stderr"]
    storage = reference["storage"]
    assert len(reference["selected_artifacts"]) == 1
    assert reference["selected_artifacts"][0].startswith((storage / "mlartifacts").as_uri())
    assert reference["models"]  # the model went under the storage


# ---------------------------------------------------------------------------------------------------
# row 6: a study whose every trial fails


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--paper-params"]], ids=["search", "paper-params"])
def test_row_6_a_study_whose_every_trial_fails(mode, tmp_path):
    # Every training corpus has fewer rows than one minibatch: each trial reports a ValueError.
    done, seconds = _run([DISTSER, "search", *SMALL, *mode, "--set", "training.batch_size=100000", "--storage",
                          "runs", "--name", "all-fail"], cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and done.stderr.rstrip().splitlines()[-1] == errors[0]
    assert errors[0].startswith("error: every study failed: ValueError: training corpus ")
    assert "fewer than one minibatch (100000)" in errors[0]
    print(f"row 6 ({mode or 'search'}): exit 2 after {seconds:.1f} s")

    uri, storage = _uri(tmp_path / "runs"), tmp_path / "runs"
    runs = _runs(uri, "all-fail")
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "search"]
    assert [p.info.status for p in parents] == ["FAILED"]
    children = [r for r in runs if r.data.tags.get(Tag.ROLE) == "trial"]
    expected = 2 if mode else TRIALS  # the paper's one configuration x 2 seeds
    assert len(children) == expected and len({r.data.tags[Tag.TRIAL_ID] for r in children}) == expected
    assert {r.info.status for r in children} == {"FAILED"}
    assert {r.data.tags.get(Tag.STOPPED_BY) for r in children} == {"error"}
    assert all("fewer than one minibatch" in r.data.tags[Tag.ERROR] for r in children)
    assert all(Tag.RETRIED not in r.data.tags for r in children)  # deterministic: not retried
    for trial in (storage / "all-fail").glob("trial-*"):  # one report each: the error, no second attempt
        assert len((trial / "result.json").read_text().strip().splitlines()) == 1
        assert not (trial / "error.txt").exists()


# ---------------------------------------------------------------------------------------------------
# a worker node killed while a trial hands in its final result and model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_nodes(port: int, env: dict, count: int, timeout: float = 120) -> None:
    script = (f"import ray; ray.init(address='127.0.0.1:{port}', log_to_driver=False); "
              "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.time() + timeout
    out = None
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=90)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise AssertionError(f"cluster did not reach {count} nodes: {out.stderr[-2000:] if out else ''}")


@pytest.fixture
def two_node_cluster(tmp_path):
    """Head (1 CPU) and worker node (2 CPUs) on this machine (token auth); the worker's session id in FAULT_DIR."""
    env = _env(RAY_AUTH_MODE="token")
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
    fault_dir = tmp_path / "fault"
    fault_dir.mkdir()
    port = _free_port()
    sessions = []

    def start(args, extra_env):
        process = subprocess.Popen([RAY, "start", "--block", *args], env={**env, **extra_env},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        sessions.append(process)
        return process

    try:
        start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
               "--node-ip-address=127.0.0.1"], {})
        _wait_for_nodes(port, env, 1)
        # Two CPUs on the worker: two of the three trial slots, so trials land there however busy the machine.
        worker = start([f"--address=127.0.0.1:{port}", "--num-cpus=2", "--node-ip-address=127.0.0.1"],
                       {"DISTSER_FAULT_NODE": "worker"})
        (fault_dir / "worker-sid").write_text(str(worker.pid))  # start_new_session: its pid is its session id
        _wait_for_nodes(port, env, 2)
        yield {"address": f"127.0.0.1:{port}", "env": env, "fault_dir": fault_dir, "worker": worker}
    finally:
        for process in sessions:
            _kill_session(process.pid)
            process.wait(timeout=30)
        current = Path("/tmp/ray/ray_current_cluster")
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


@pytest.mark.slow
def test_a_worker_node_killed_while_a_trial_hands_in_its_final_result(tmp_path, two_node_cluster):
    storage = tmp_path / "runs"
    fault_dir = two_node_cluster["fault_dir"]
    # 8 trials, not 4: on a busy machine the head node alone once finished 4 before the worker's trial actor
    # had started, and the fault never struck.
    done, seconds = _run([sys.executable, DRIVER, "kill-worker-node-at-final-report", str(fault_dir), "--",
                          "--address", two_node_cluster["address"], *_small(samples=4), "--storage", str(storage),
                          "--name", "worker-lost"], cwd=tmp_path, env=two_node_cluster["env"], timeout=480)
    struck = fault_dir / "struck"
    assert struck.exists(), f"no trial reached its final report on the worker node: {done.stderr[-3000:]}"
    hit = json.loads(struck.read_text())
    assert two_node_cluster["worker"].poll() is not None  # the worker node is gone
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"worker node killed at a final report: the search ended (exit 0) after {seconds:.1f} s")

    children = _assert_every_trial_once_nothing_running(_uri(storage), "worker-lost", trials=8)
    victim = [r for r in children if r.data.params["seed"] == str(hit["seed"]) and
              r.data.params["config"] == hit["config"] and r.data.tags[Tag.PHASE] == hit["phase"]]
    assert len(victim) == 1
    assert victim[0].data.tags.get(Tag.RETRIED) == "true"  # Tune retried it from its last checkpoint...
    assert len(victim[0].data.tags[Tag.NODES].split(",")) == 2  # ...on the head node
    assert "registered models:/distser-synthetic-cww/" in done.stderr


# ---------------------------------------------------------------------------------------------------
# Ctrl+C between a trial's final result and its recorded end, then resumed with the hint


@pytest.mark.slow
def test_ctrl_c_after_a_final_result_resumes_that_trial_from_its_final_result(tmp_path):
    """Tune restores such a trial from its last checkpoint: the final one (model and final report, no
    trainer state). It must hand that result in again, not fail loading a trainer state (CI found it)."""
    fault_dir = tmp_path / "fault"
    fault_dir.mkdir()
    uri = _uri(tmp_path / "runs")
    cut, _ = _run([sys.executable, DRIVER, "interrupt-driver-at-final-result", str(fault_dir), "--", *SMALL,
                   "--storage", "runs", "--name", "cut"], cwd=tmp_path)
    assert cut.returncode == 130 and (fault_dir / "struck").exists(), cut.stderr[-3000:]
    hit = json.loads((fault_dir / "struck").read_text())
    before = _snapshot(uri, "cut")[hit["run_id"]]
    assert before["status"] == "KILLED" and "test_ua" in before["metrics"]  # its final result was logged

    resumed, seconds = _run([DISTSER, "search", "--resume", "--name", "cut", "--storage", "runs"], cwd=tmp_path)
    print(f"resumed after a final result: {seconds:.1f} s")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    children = _assert_every_trial_once_nothing_running(uri, "cut")
    again = next(run for run in children if run.info.run_id == hit["run_id"])
    assert again.data.metrics["test_ua"] == before["metrics"]["test_ua"]  # the same result, not a new training
    assert not (tmp_path / "runs" / "cut" / f"trial-{hit['trial_id']}" / "error.txt").exists()


# ---------------------------------------------------------------------------------------------------
# the driver killed while it writes to MLflow, then resumed with the hint


@pytest.fixture(scope="module", params=["kill-driver-in-log-final", "kill-driver-in-log-model"])
def driver_killed(request, tmp_path_factory):
    """The small search through ``fault_driver.py``, SIGKILLed in the middle of an MLflow write, then resumed.

    ``kill-driver-in-log-final``: after the first half of a trial's final metrics batch;
    ``kill-driver-in-log-model``: after the first selected model was logged and registered.
    """
    fault = request.param
    cwd = tmp_path_factory.mktemp(fault)
    fault_dir = cwd / "fault"
    fault_dir.mkdir()
    uri = _uri(cwd / "runs")
    killed, _ = _run([sys.executable, DRIVER, fault, str(fault_dir), "--", *SMALL, "--storage", "runs", "--name",
                      "killed"], cwd=cwd)
    struck = fault_dir / "struck"
    hit = json.loads(struck.read_text()) if struck.exists() else None
    after_kill = _snapshot(uri, "killed")
    resumed, seconds = _run([DISTSER, "search", "--resume", "--name", "killed", "--storage", "runs"], cwd=cwd)
    print(f"{fault}: resumed (exit {resumed.returncode}) in {seconds:.1f} s")
    return {"fault": fault, "uri": uri, "killed": killed, "hit": hit, "after_kill": after_kill, "resumed": resumed}


@pytest.mark.slow
def test_the_driver_killed_while_writing_to_mlflow_resumes_to_every_trial_once(driver_killed):
    killed, hit, after_kill = driver_killed["killed"], driver_killed["hit"], driver_killed["after_kill"]
    assert killed.returncode == -signal.SIGKILL and hit is not None, killed.stderr[-3000:]
    parent = next(run for run in after_kill.values() if run["role"] == "search")
    assert parent["status"] == "RUNNING"  # the driver died mid-search: nothing closed its runs
    if driver_killed["fault"] == "kill-driver-in-log-final":
        assert after_kill[hit["run_id"]]["status"] == "RUNNING"  # the trial's run, its final batch cut short
        assert set(hit["written"]) <= set(after_kill[hit["run_id"]]["metrics"])  # the first half is there
        assert not {"test_ua/crema-d", "final_weight/iemocap"} <= set(after_kill[hit["run_id"]]["metrics"])

    resumed, uri = driver_killed["resumed"], driver_killed["uri"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    children = _assert_every_trial_once_nothing_running(uri, "killed")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    for run in children:  # every run's final results are whole: the cut batch was written again
        assert File.FINAL_METRICS in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"test_ua/crema-d", "final_weight/iemocap", "final_weight/msp-improv"} <= set(run.data.metrics)
    selected = [run for run in children if run.data.tags.get(Tag.SELECTED) == "true"]
    assert len(selected) == 1
    # the model the killed driver had registered is kept, not registered again; any not yet registered is
    registered_before = driver_killed["fault"] == "kill-driver-in-log-model"
    assert ("registered models:/distser-synthetic-cww/" in resumed.stderr) != registered_before


@pytest.mark.slow
@pytest.mark.parametrize("driver_killed", ["kill-driver-in-log-model"], indirect=True)
def test_the_driver_killed_after_registering_a_model_leaves_one_version_of_it(driver_killed):
    assert driver_killed["resumed"].returncode == 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(driver_killed["uri"])
    versions = [v for v in client.search_model_versions("name = 'distser-synthetic-cww'")
                if v.tags.get("search") == "killed"]
    selected = [run for run in _runs(driver_killed["uri"], "killed", "trial")
                if run.data.tags.get(Tag.SELECTED) == "true"]
    assert len(selected) == 1 and {v.run_id for v in versions} == {selected[0].info.run_id}
    assert len(versions) == 1, [(v.version, v.run_id) for v in versions]  # one selection, one version


# ---------------------------------------------------------------------------------------------------
# The fault matrix of the reliability issue (one search per name, a full disk, resuming from anywhere,
# an unfinished search's report, checks before Ray). Settings that are wrong fail before Ray starts:
# ``no_ray`` makes starting it an error, so these tests fail in seconds on code that would start it.


class RayStarted(Exception):
    pass


@pytest.fixture
def no_ray(monkeypatch):
    import ray

    def refuse(*args, **kwargs):
        raise RayStarted("the check must come before Ray starts")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)


def _main(argv: list[str]) -> tuple[int, str, float]:
    import io

    from distser.search import main

    err = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue(), time.monotonic() - start


def _hold_lock(storage: Path, name: str) -> subprocess.Popen:
    """Another process holding search ``name``'s lock (as a running search's driver does), until killed."""
    from distser.search._lock import SearchLock, _start_time
    from distser.search._storage import Storage

    holder = subprocess.Popen(["sleep", "600"])
    lock = SearchLock(Storage.of(str(storage)), name)
    assert lock._create(json.dumps({**lock.holder("distser search"), "pid": holder.pid,
                                    "started": _start_time(holder.pid)}))
    return holder


def test_same_name_started_twice_the_second_fails_in_seconds_naming_the_holder(tmp_path, no_ray):
    storage = tmp_path / "runs"
    holder = _hold_lock(storage, "twice")
    try:
        code, err, seconds = _main([*SMALL, "--storage", str(storage), "--name", "twice"])
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and _error_lines(err) == err.strip().splitlines(), err
    assert f"process {holder.pid} on {socket.gethostname()}" in err and "already running" in err
    assert str(storage / "twice.lock") in err
    print(f"the same search started twice: exit 2 after {seconds:.1f} s: {err.strip()}")
    assert seconds < 10
    assert not (storage / "mlflow.db").exists() and not (storage / "twice").exists()  # nothing of the holder's touched


def test_the_search_lock_is_created_by_one_of_many_simultaneous_starts(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from distser.config import ConfigError
    from distser.search._lock import SearchLock
    from distser.search._storage import Storage

    locks = [SearchLock(Storage.of(str(tmp_path / "runs")), "s") for _ in range(8)]

    def take(lock):
        with contextlib.suppress(ConfigError):
            lock.acquire()

    with ThreadPoolExecutor(len(locks)) as pool:
        list(pool.map(take, locks))
    assert sum(lock.acquired for lock in locks) == 1


def test_a_stale_lock_of_a_dead_local_process_is_taken_over_with_a_line(tmp_path, no_ray, synthetic_store):
    storage = tmp_path / "runs"
    holder = _hold_lock(storage, "stale")
    holder.kill()  # a SIGKILLed driver leaves its lock behind
    holder.wait()
    with pytest.raises(RayStarted):  # the lock is taken and the search goes on (to Ray, refused here)
        _main([*SMALL, "--store", str(synthetic_store.root), "--storage", str(storage), "--name", "stale"])
    assert not (storage / "stale.lock").exists()  # released on the way out


def test_a_stale_lock_takeover_says_so(tmp_path, capsys):
    from distser.search._lock import SearchLock
    from distser.search._storage import Storage

    storage = tmp_path / "runs"
    holder = _hold_lock(storage, "stale")
    holder.kill()
    holder.wait()
    lines: list[str] = []
    lock = SearchLock(Storage.of(str(storage)), "stale")
    lock.acquire("distser search", say=lines.append)
    assert lock.acquired and len(lines) == 1 and f"process {holder.pid}" in lines[0] and "is gone" in lines[0]
    assert json.loads((storage / "stale.lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (storage / "stale.lock").exists()


def test_storage_that_is_a_regular_file_is_one_error_line(tmp_path, no_ray):
    storage = tmp_path / "runs"
    storage.write_text("a user's file\n")
    code, err, seconds = _main([*SMALL, "--storage", str(storage), "--name", "f"])
    assert code == 2 and _error_lines(err) == err.strip().splitlines(), err
    assert f"--storage {storage} is a file, not a folder" in err and seconds < 10
    assert storage.read_text() == "a user's file\n"


@pytest.mark.parametrize("damage", ["nan", "truncated", "overwritten"])
def test_a_damaged_store_fails_before_ray_starts_and_leaves_no_database(damage, synthetic_store, tmp_path, no_ray):
    store, shard, named = _damaged_store(synthetic_store, tmp_path / "store", damage)
    storage = tmp_path / "runs"
    code, err, seconds = _main([*SMALL, "--store", str(store.root), "--storage", str(storage), "--name", "d"])
    assert code == 2 and _error_lines(err) == err.strip().splitlines(), err
    assert all(name in err for name in named), (named, err)
    print(f"{damage} store: exit 2 after {seconds:.1f} s, before Ray")
    assert seconds < 10
    assert not (storage / "mlflow.db").exists() and not (storage / "d").exists()


def test_a_method_needing_an_unlabeled_corpus_without_one_fails_before_ray(synthetic_store, tmp_path, no_ray):
    store = tmp_path / "store"
    shutil.copytree(synthetic_store.root, store)
    shutil.rmtree(store / synthetic_store.feature_set / "librispeech")  # the store's only unlabeled corpus
    storage = tmp_path / "runs"
    code, err, seconds = _main(["--method", "cww+pel-al", "--holdout", "crema-d", "--store", str(store), "--storage",
                                str(storage), "--name", "u"])
    assert code == 2 and _error_lines(err) == err.strip().splitlines(), err
    assert "needs an unlabeled corpus" in err and seconds < 10
    assert not (storage / "mlflow.db").exists()


def test_the_record_and_the_hint_work_from_any_folder_and_any_spelling_of_the_store(synthetic_store, tmp_path,
                                                                                    monkeypatch):
    """Started with a relative store and storage, interrupted, resumed from another folder with the hint."""
    import distser.search._run as run
    from distser.search._prepare import record_text

    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    shutil.copytree(synthetic_store.root, first / "syn")
    seen = []

    def interrupted(config, locations, options):  # writes the record as a search does, then Ctrl+C
        locations.storage.write_text(record_text(config, options), config.name, File.RECORD)
        raise KeyboardInterrupt

    def resumed(config, locations, options):
        seen.append(config)

    monkeypatch.chdir(first)
    monkeypatch.setattr(run, "run_search", interrupted)
    code, err, _ = _main([*SMALL, "--store", "syn", "--storage", "runs", "--name", "cut"])
    assert code == 130
    hint = err.strip().splitlines()[-1].split("continue with: ", 1)[1]
    record = (first / "runs" / "cut" / File.RECORD).read_text()
    assert f"continue: {hint}\n" in record
    assert f'store = "{first / "syn"}"' in record

    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(run, "run_search", resumed)
    code, err, _ = _main(shlex.split(hint)[2:])
    assert code == 0, err
    code, err, _ = _main([*shlex.split(hint)[2:], "--store", f"{first}/./syn/"])  # the same store, spelled otherwise
    assert code == 0, err
    code, err, _ = _main([*shlex.split(hint)[2:], "--store", str(first)])  # another store
    assert code == 2 and "data.store" in err
    assert [config.data.store for config in seen] == [str(first / "syn")] * 2
    assert [config.tracking.storage for config in seen] == [str(first / "runs")] * 2


def _search_in_mlflow(storage: Path, status: str) -> str:
    """A search's runs as MLflow holds them mid-search: ce done; cww 1 of 3 configurations done, 1 trial running."""
    from mlflow.tracking import MlflowClient

    from distser.define import Param, Role

    storage.mkdir(parents=True)
    client = MlflowClient(_uri(storage))
    experiment = client.create_experiment(EXPERIMENT)
    parent = client.create_run(experiment, run_name="s", tags={Tag.SEARCH: "s", Tag.ROLE: Role.SEARCH})
    for key, value in {"study.samples": "3", "study.seeds": "2", "study.mode": "search"}.items():
        client.log_param(parent.info.run_id, key, value)
    if status != "RUNNING":
        client.set_terminated(parent.info.run_id, status)
    trials = [("ce", "{}", 0, "FINISHED"), ("ce", "{}", 1, "FINISHED"), ("cww", '{"lambda_w": 4.0}', 0, "FINISHED"),
              ("cww", '{"lambda_w": 4.0}', 1, "FINISHED"), ("cww", '{"lambda_w": 1.0}', 0, status)]
    for method, config, seed, state in trials:
        tags = {Tag.SEARCH: "s", Tag.ROLE: Role.TRIAL, Tag.STUDY: f"{method}--loco-crema-d", Tag.PHASE: "search",
                Tag.PARENT: parent.info.run_id}
        if state == "FINISHED":
            tags[Tag.STOPPED_BY] = "training"
        run = client.create_run(experiment, tags=tags)
        for key, value in {Param.METHOD: method, Param.HOLDOUT: "crema-d", Param.PLAN: "loco-crema-d",
                           Param.SEED: str(seed), Param.CONFIG: config, Param.SELECTION: "train-domain"}.items():
            client.log_param(run.info.run_id, key, value)
        client.log_metric(run.info.run_id, "best_mean_valid_ua", 0.5 + seed / 10)
        if state == "FINISHED":
            for key, value in {"score": 0.5 + seed / 10, "test_ua": 0.4 + seed / 10, "test_wa": 0.4}.items():
                client.log_metric(run.info.run_id, key, value)
        if state != "RUNNING":
            client.set_terminated(run.info.run_id, state)
    return _uri(storage)


@pytest.mark.parametrize("status", ["RUNNING", "KILLED"])
def test_report_of_a_running_or_interrupted_search_is_refused_or_marked(status, tmp_path, capsys):
    from distser.report import main as report

    storage = tmp_path / "runs"
    _search_in_mlflow(storage, status)
    capsys.readouterr()  # MLflow's lines of creating the database
    out = tmp_path / "report"
    assert report(["--search", "s", "--storage", str(storage), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert _error_lines(captured.err) == captured.err.strip().splitlines(), captured.err
    assert f"search 's' is {status}" in captured.err and "--allow-incomplete" in captured.err
    assert "incomplete studies: cww--loco-crema-d" in captured.err
    assert not out.exists()

    assert report(["--search", "s", "--storage", str(storage), "--out", str(out), "--allow-incomplete"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"warning: search 's' is {status}"), first
    readme = (out / "README.md").read_text()
    assert f"**Warning: search 's' is {status}" in readme
    assert "incomplete studies: cww--loco-crema-d (1 of its trials not ended)" in readme
    selected = readme.split("## Selected configurations", 1)[1].split("##", 1)[0]
    rows = [line for line in selected.splitlines() if "loco-crema-d" in line]
    assert len(rows) == 2 and [("incomplete" in row) for row in rows] == [("cww" in row) for row in rows], rows


def test_report_of_a_study_with_configurations_still_to_come_marks_it(tmp_path, capsys):
    from distser.report import main as report

    storage = tmp_path / "runs"
    _search_in_mlflow(storage, "FAILED")  # the running trial ended FAILED: 1 of 3 configurations in
    assert report(["--search", "s", "--storage", str(storage), "--out", str(tmp_path / "r"),
                   "--allow-incomplete"]) == 0
    assert "cww--loco-crema-d (1 of 3 configurations trained)" in capsys.readouterr().out


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 40 MB tmpfs of its own (a full disk, made by hand); ``remount(mb)`` resizes it."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(folder)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small disk needs a tmpfs mount: {mounted.stderr.strip()}")

    def remount(mb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mb}m", str(folder)], check=True)

    try:
        yield folder, remount
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_disk_too_small_for_the_first_checkpoints_is_refused_before_ray(small_disk, synthetic_store, no_ray):
    folder, _ = small_disk
    storage = folder / "runs"
    code, err, seconds = _main([*SMALL, "--store", str(synthetic_store.root), "--storage", str(storage), "--name", "s"])
    assert code == 2 and _error_lines(err) == err.strip().splitlines(), err
    assert f"--storage {storage}: " in err and "MB free, but the first trials' checkpoints need about" in err
    assert seconds < 10 and not (storage / "mlflow.db").exists()


@pytest.mark.slow
def test_a_full_disk_ends_the_search_with_one_line_runs_failed_no_partial_file_and_resumes(small_disk,
                                                                                        synthetic_store, tmp_path):
    """Room for one trainer checkpoint (~55 MB), not two: the second checkpoint fills the disk mid-copy."""
    import torch

    folder, remount = small_disk
    remount(80)
    storage = folder / "runs"
    argv = [*SMALL, "--max-concurrent", "1", "--store", str(synthetic_store.root), "--storage", str(storage),
            "--name", "full"]
    done, seconds = _run([DISTSER, "search", *argv], cwd=tmp_path)
    print(f"a full disk: exit {done.returncode} after {seconds:.1f} s")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and done.stderr.rstrip().splitlines()[-1] == errors[0], done.stderr[-3000:]
    assert f"no space left on the device of {storage}" in errors[0] and " MB free)" in errors[0]
    hint = errors[0].split("then continue it: ", 1)[1]
    assert hint == f"distser search --resume --name full --storage {storage}"

    runs = _runs(_uri(storage), "full")
    assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
    assert [r.info.status for r in runs if r.data.tags.get(Tag.ROLE) == "search"] == ["FAILED"]
    trials = [r for r in runs if r.data.tags.get(Tag.ROLE) == "trial"]
    assert trials and "FAILED" in {r.info.status for r in trials}
    for state in storage.glob("full/trial-*/checkpoint_*/" + File.CHECKPOINT):  # every checkpoint whole
        torch.load(state, weights_only=False)
    assert not [p for p in storage.rglob("*") if p.is_dir() and p.name.startswith("checkpoint_") and
                not any(p.iterdir())]

    remount(400)  # room again: the hint finishes the search
    resumed, seconds = _run([DISTSER, *shlex.split(hint)[1:]], cwd=tmp_path)
    print(f"resumed after the disk was enlarged: exit {resumed.returncode} after {seconds:.1f} s")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_every_trial_once_nothing_running(_uri(storage), "full")


def test_a_clip_too_short_for_its_feature_set_is_named_with_its_duration(tmp_path):
    """What ``distser predict`` and extraction report for such a clip (extract_local: predict's own extraction)."""
    import soundfile

    from distser.features import Extractor
    from distser.inference._extraction import extract_local

    clip = tmp_path / "short.wav"
    soundfile.write(clip, np.random.default_rng(0).normal(0, 0.1, 800).astype(np.float32), 16000)  # 0.05 s
    features, errors = extract_local([str(clip), str(clip)], Extractor("IS10"))
    assert errors[0] == errors[1] and "clip too short for the IS10 feature set: 0.050 s of audio" in errors[0], errors
    assert "non-finite" not in errors[0] and np.isnan(features).all()


def test_an_unknown_label_names_the_cli_flag_that_skips_it(tmp_path, no_ray):
    import contextlib
    import io

    import soundfile

    from distser.features.__main__ import main as features

    folder = tmp_path / "emodb" / "wav"
    folder.mkdir(parents=True)
    for name in ("03a01Fa", "03a01Qa"):  # Q: no emotion of EmoDB
        soundfile.write(folder / f"{name}.wav", np.zeros(1600, np.float32), 16000)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = features(["extract", "--corpus", f"emodb={tmp_path / 'emodb'}", "--store", str(tmp_path / "store")])
    assert code == 2 and _error_lines(err.getvalue()) == err.getvalue().strip().splitlines(), err.getvalue()
    assert "03a01Qa.wav" in err.getvalue() and "distser extract --skip-unknown-labels" in err.getvalue()


def test_a_checkpoint_cut_short_by_a_full_disk_is_removed_and_the_trial_reports_it(tmp_path, monkeypatch):
    """The trial's side of a full disk, without Ray: Tune's copy of a checkpoint fails with ENOSPC."""
    import errno
    from types import SimpleNamespace

    import pyarrow.fs
    from ray import tune
    from ray.train._internal import session

    from distser.search import _trainable

    trial = tmp_path / "trial-x"
    partial = trial / "checkpoint_000001"  # Tune numbers the checkpoint, then copies into it
    partial.mkdir(parents=True)
    (partial / File.CHECKPOINT).write_bytes(b"the first half of a trainer state")
    (trial / "checkpoint_000000").mkdir()  # the last whole one stays
    storage = SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem(), checkpoint_fs_path=str(partial),
                              trial_fs_path=str(trial))
    monkeypatch.setattr(session, "get_storage", lambda: storage)
    sent = []

    def report(metrics, checkpoint=None):
        if checkpoint is not None:
            raise OSError(errno.ENOSPC, "No space left on device")
        sent.append(metrics)

    monkeypatch.setattr(tune, "report", report)
    monkeypatch.setattr(_trainable, "_run_trial", lambda config, data: _trainable._report_checkpoint({}, tmp_path))
    monkeypatch.setattr(_trainable, "DISK_FULL_WAIT", 0.0)  # the driver would stop it meanwhile
    with pytest.raises(OSError):
        _trainable.run_trial({}, None)
    assert not partial.exists() and (trial / "checkpoint_000000").is_dir()
    assert sent == [{"disk_full": str(trial), "finished": 0, "epoch": 0}]  # no "error": it is resumed, not failed


def test_a_full_disk_is_told_apart_from_other_os_errors():
    import errno
    import sqlite3

    from distser.search._disk import is_disk_full

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError("Failed to copy. Detail: [errno 28] No space left on device"))  # pyarrow's
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as error:
            raise RuntimeError("(sqlite3.OperationalError) while logging a metric") from error
    except RuntimeError as wrapped:  # MLflow's SQLAlchemy error around SQLite's
        assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("training corpus 'a' has fewer than one minibatch"))
