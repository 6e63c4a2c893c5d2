"""Bad settings fail in seconds, before Ray starts or data is read: one `error:` line naming the culprit, exit 2.

Rows of the fault matrix (issue #13): each row is a bad setting a new user tried.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from distser.search import main


def _run(argv: list[str]) -> tuple[int, str, float]:
    err = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue(), time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def storage(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.mark.parametrize(("args", "message"), [
    (["--max-epochs", "0"], "training.max_epochs must be >= 1, got 0"),
    (["--seeds", "0"], "study.seeds must be >= 1"),
    (["--samples", "0"], "study.samples must be >= 1"),
    (["--name", "bob's"], "name \"bob's\" is not a valid search name"),
    (["--method", "cww+magic"], "unknown method component(s) ['magic']"),
    (["--set", "study.ranges.lambda_w=[3.0, 1.0]"], "study.ranges.lambda_w must be [low, high] with low < high"),
    (["--set", "study.ranges.lamda_w=[0.0, 1.0]"], "study.ranges: unknown hyperparameter 'lamda_w'"),
    (["--set", "study.params.lambda_w=-1"], "lambda_w must be >= 0"),
    (["--set", "training.lr=0"], "training.lr must be > 0"),
    (["--set", "traning.lr=0.1"], "unknown key 'traning'"),
    (["--selection", "test-domain"], "study.selection must be one of train-domain, leave-one-train-corpus-out"),
    (["--tune", "momentum"], "'momentum' is not a training setting a study can search"),
    (["--test-corpus", "iemocap", "--holdout", "iemocap"], "'iemocap' is a test corpus and also"),
    (["--max-concurrent", "0"], "resources.max_concurrent must be >= 1"),
    (["--holdout", "crema-d", "--unlabeled", "crema-d"], "--unlabeled 'crema-d' is also a held-out corpus"),
    (["--test-corpus", "iemocap", "--unlabeled", "iemocap"], "--unlabeled 'iemocap' is also a test corpus"),
    (["--train-corpora", "crema-d,iemocap,msp-improv", "--selection", "leave-one-train-corpus-out",
      "--holdout", "crema-d", "--unlabeled", "iemocap"], "--unlabeled 'iemocap' is also a training corpus"),
])
def test_bad_numbers_and_names_fail_at_once(storage, args, message):
    code, err, seconds = _run([*args, "--storage", str(storage)])
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1 and seconds < 10
    assert not (storage / "mlflow.db").exists()  # nothing was started: no run left RUNNING or KILLED


def test_a_tracking_server_that_does_not_answer_fails_in_seconds_naming_it(storage):
    port = _free_port()  # nothing listens there
    code, err, seconds = _run(["--tracking-uri", f"http://127.0.0.1:{port}", "--storage", str(storage)])
    assert code == 2 and f"http://127.0.0.1:{port}" in err and "no MLflow server answers" in err
    assert seconds < 10
    assert not storage.exists()  # the storage folder its checks made is gone again


def test_a_tracking_database_that_cannot_be_created_names_its_folder(tmp_path, storage):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    code, err, seconds = _run(["--tracking-uri", f"sqlite:///{blocker}/sub/mlflow.db", "--storage", str(storage)])
    assert code == 2 and f"{blocker}/sub" in err and seconds < 10
    assert not storage.exists()


def test_storage_that_cannot_be_written_fails_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err, seconds = _run(["--storage", str(blocker / "runs")])
    assert code == 2 and "--storage" in err and str(blocker / "runs") in err and "not writable" in err
    assert seconds < 10


def test_a_store_that_is_not_there_or_holds_another_feature_set(tmp_path, storage):
    code, err, _ = _run(["--store", str(tmp_path / "nope"), "--storage", str(storage)])
    assert code == 2 and "no such folder" in err and "nope" in err
    from distser.features import write_synthetic

    write_synthetic(str(tmp_path / "store"), scale=0.01, feature_set="eGeMAPSv02")
    code, err, _ = _run(["--store", str(tmp_path / "store"), "--storage", str(storage)])
    assert code == 2 and "no IS10 feature shards" in err and "--feature-set" in err and "eGeMAPSv02" in err
    code, err, _ = _run(["--store", str(tmp_path / "store"), "--feature-set", "eGeMAPSv02", "--holdout", "emodb",
                         "--storage", str(storage)])
    assert code == 2 and "'emodb' is not in the store" in err and "crema-d" in err
    assert not storage.exists()
    storage.mkdir()
    (storage / "kept").write_text("a user's file")
    code, err, _ = _run(["--store", str(tmp_path / "nope"), "--storage", str(storage)])
    assert code == 2 and (storage / "kept").exists()  # a folder that was there stays, with what it holds


def test_an_unlabeled_corpus_of_the_default_pool_is_refused_before_ray_starts(synthetic_store, storage, monkeypatch):
    import ray

    started = []  # the session's Ray may already run: watch for a start instead of asking whether it runs
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: started.append(args))
    # No --train-corpora: the pool (every labelled corpus, each held out in turn) is known from the store.
    code, err, _ = _run(["--store", str(synthetic_store.root), "--unlabeled", "msp-improv", "--storage", str(storage)])
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "--unlabeled 'msp-improv' is also a training corpus of the pool" in err
    assert not started


def test_resume_of_an_unknown_search_lists_the_ones_that_exist(storage):
    (storage / "old-search").mkdir(parents=True)
    (storage / "old-search" / "search.toml").write_text('name = "old-search"\n')
    code, err, _ = _run(["--resume", "--name", "typo", "--storage", str(storage)])
    assert code == 2 and "no search named 'typo'" in err and "old-search" in err


def test_a_new_search_under_an_existing_name_is_refused(storage):
    (storage / "taken").mkdir(parents=True)
    (storage / "taken" / "search.toml").write_text('name = "taken"\n')
    code, err, _ = _run(["--name", "taken", "--storage", str(storage)])
    assert code == 2 and "a search named 'taken' exists" in err and "--resume" in err and "--replace" in err


def test_resume_refuses_settings_that_contradict_the_record(storage):
    (storage / "s").mkdir(parents=True)
    (storage / "s" / "search.toml").write_text('name = "s"\n[study]\nseeds = 5\nmethods = ["cww"]\n')
    code, err, _ = _run(["--resume", "--name", "s", "--seeds", "3", "--storage", str(storage)])
    assert code == 2 and "study.seeds = 3 (recorded: 5)" in err
    code, err, _ = _run(["--resume", "--name", "s", "--tracking-uri", "http://127.0.0.1:9", "--storage", str(storage)])
    assert code == 2 and "tracking.uri = 'http://127.0.0.1:9' (recorded: None)" in err  # its runs are elsewhere
    from distser.search import SearchConfig, StudyConfig
    from distser.search._prepare import contradictions

    recorded = SearchConfig(name="s", study=StudyConfig(methods=["cww"], seeds=5))
    # repeating recorded values, or changing resources (a bigger cluster), is fine
    assert contradictions(recorded, {"study": {"seeds": 5, "methods": ["cww"]},
                                     "resources": {"cpus_per_trial": 2.0}}) == []
    assert contradictions(recorded, {"study": {"methods": ["ce"]}}) == [
        "study.methods = ['ce'] (recorded: ['cww'])"]


def test_print_config_resolves_file_sets_and_flags(tmp_path, capsys):
    config = tmp_path / "e.toml"
    config.write_text('[study]\nmethods = ["ce", "cww"]\nseeds = 3\n[training]\npatience = 7\n')
    assert main(["--config", str(config), "--set", "training.patience=9", "--seeds", "4", "--print-config"]) == 0
    text = capsys.readouterr().out
    import tomllib

    resolved = tomllib.loads(text)
    assert resolved["study"]["methods"] == ["ce", "cww"] and resolved["study"]["seeds"] == 4
    # no store: the embedded run's budget lies under what the file, --set and the flags say
    assert resolved["training"]["patience"] == 9 and resolved["training"]["max_epochs"] == 20


def test_cli_help_lists_components_corpora_and_feature_sets():
    out = subprocess.run([str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "distser"), "search", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for word in ("dro", "cww_signal", "weight_floor", "ravdess", "msp-podcast", "eGeMAPSv02", "study.selection"):
        assert word in out.stdout


def test_studies_start_at_the_papers_values_when_they_lie_in_the_ranges():
    from distser.protocols import SplitPlan
    from distser.search import SearchConfig, StudyConfig
    from distser.search._plans import Plans, plan_studies

    plan = SplitPlan("loco-a", {"b": np.array([])}, {"b": np.array([])}, "a", np.array([]))
    config = SearchConfig(study=StudyConfig(methods=["cww", "ce"], tune=["lr"]))
    cww, ce = plan_studies(config, Plans([plan]))
    assert cww.first == {"lambda_w": 4.0, "cww_signal": "train-ua", "cww_smoothing": 0.0, "weight_floor": 0.0,
                         "lr": 2e-4}
    assert ce.first == {"lr": 2e-4}
    narrow = SearchConfig(study=StudyConfig(methods=["cww"], ranges={"lambda_w": [0.0, 2.0]}))
    assert plan_studies(narrow, Plans([plan]))[0].first is None  # λ_W = 4 is outside the range
    assert plan_studies(SearchConfig(study=StudyConfig(methods=["cww"], start_at_defaults=False)),
                        Plans([plan]))[0].first is None
