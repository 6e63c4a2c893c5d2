"""``distser report`` on a real tiny search (made once per session by ``distser search``): files and numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from distser.report import collect_trials, main

SEARCH = "t"  # conftest.TINY_SEARCH


def _uri(storage) -> str:
    return f"sqlite:///{storage / 'mlflow.db'}"


def _runs(storage):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_uri(storage))
    experiment = client.get_experiment_by_name("distser").experiment_id
    trials = client.search_runs([experiment], f"tags.`distser.search` = '{SEARCH}' and tags.`distser.role` = 'trial'")
    parent = client.search_runs([experiment], f"tags.`distser.search` = '{SEARCH}' and tags.`distser.role` = 'search'")
    return client, trials, parent[0]


@pytest.fixture(scope="module")
def report(tiny_search, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "r"
    code = main(["--search", SEARCH, "--storage", str(tiny_search), "--out", str(out), "--log"])
    assert code == 0
    return out


def test_collect_trials_follows_the_trial_contract(tiny_search):
    trials = collect_trials(_uri(tiny_search), [SEARCH])
    assert len(trials) == 8 and trials["finished"].all() and trials["fold"].isna().all()
    assert set(trials["method"]) == {"ce", "cww"} and set(trials["holdout"]) == {"iemocap", "crema-d"}
    cww = trials[trials["method"] == "cww"].iloc[0]
    # hyperparameters from the exact configuration: numbers as floats, categoricals as text
    assert cww["lambda_w"] == 4.0 and isinstance(cww["lambda_w"], float) and cww["cww_signal"] == "train-ua"
    assert json.loads(cww["config"])["lambda_w"] == 4.0
    assert trials["test_ua/msp-podcast"].notna().all()  # the test-only corpus
    assert "test_ua/iemocap" not in trials and "test_ua/crema-d" not in trials  # held-out ones are test_ua
    assert set(trials["selection"]) == {"train-domain"} and set(trials["phase"]) == {"search"}
    assert {"final_weight/msp-improv", "train_ua/msp-improv", "run_id", "plan", "valid_ua"} <= set(trials.columns)


def test_report_files_and_numbers_match_mlflow(report, tiny_search, capsys):
    assert {p.name for p in report.iterdir()} == {"README.md", "table2.csv", "selected.csv",
                                                  "paired_differences.csv", "table3.csv", "figure1.png",
                                                  "weights.png"}
    client, runs, parent = _runs(tiny_search)
    rows = pd.DataFrame([{"method": r.data.params["method"], "holdout": r.data.params["holdout"],
                          "seed": int(r.data.params["seed"]), "test_ua": r.data.metrics["test_ua"],
                          "e": r.data.metrics["test_ua/msp-podcast"],
                          **{k: v for k, v in r.data.metrics.items() if k.startswith("final_weight/")}} for r in runs])
    table = pd.read_csv(report / "table2.csv").set_index(["method", "holdout"])
    for (method, holdout), part in rows.groupby(["method", "holdout"]):
        assert table.loc[(method, holdout), "mean"] == pytest.approx(100 * part["test_ua"].mean())
        assert table.loc[(method, holdout), "std"] == pytest.approx(100 * part["test_ua"].std(ddof=1))
    for method, part in rows.groupby("method"):
        folds = part.groupby("holdout")["e"].mean()
        assert table.loc[(method, "msp-podcast (test only)"), "mean"] == pytest.approx(100 * folds.mean())
    # paired differences: cww - ce per (held-out corpus, seed)
    wide = rows.pivot_table(index=["holdout", "seed"], columns="method", values="test_ua")
    diff = 100 * (wide["cww"] - wide["ce"])
    paired = pd.read_csv(report / "paired_differences.csv")
    avg = paired[(paired["target"] == "held-out") & (paired["holdout"] == "Avg")].iloc[0]
    assert avg["mean_diff"] == pytest.approx(diff.groupby(level="holdout").mean().mean(), abs=1e-6)
    assert avg["n"] == 4 and avg["corpora"] == 2
    # Table 3: cww's final weights, mean over seeds
    weights = pd.read_csv(report / "table3.csv").set_index(["method", "training corpus"])
    cww = rows[(rows["method"] == "cww") & (rows["holdout"] == "iemocap")]
    assert weights.loc[("cww", "msp-improv"), "iemocap"] == pytest.approx(cww["final_weight/msp-improv"].mean())
    # the report's selection is the search's own (selection.csv on the parent run)
    ours = pd.read_csv(report / "selected.csv").set_index(["method", "holdout"])
    theirs = pd.read_csv(client.download_artifacts(parent.info.run_id, "selection.csv", str(report.parent)))
    theirs = theirs.set_index(["method", "holdout"])
    for key, row in theirs.iterrows():
        assert ours.loc[key, "config"] == row["config"]
        assert ours.loc[key, "test_ua_mean"] == pytest.approx(row["test_ua_mean"])
    # logged to the parent run, and where the files went was said
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/table2.csv", "report/README.md", "report/weights.png"} <= logged
    text = (report / "README.md").read_text()
    assert "| method | crema-d | iemocap | Avg | msp-podcast (test only) |" in text
    assert "## Paired differences against ce: test UA on the held-out corpus" in text
    assert "Oracle" not in text  # one configuration per study: no oracle view


def test_stdout_says_where_the_files_went(tiny_search, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["--search", SEARCH, "--storage", str(tiny_search)]) == 0  # default --out: reports/<search>
    out = capsys.readouterr().out
    assert (tmp_path / "reports" / SEARCH / "README.md").is_file()
    assert f"report: reports/{SEARCH}/README.md" in out and "msp-podcast (test only)" in out


def test_a_missing_database_is_an_error_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    storage, out = tmp_path / "nowhere", tmp_path / "out"
    assert main(["--search", SEARCH, "--storage", str(storage), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no MLflow database at ") and str(storage / "mlflow.db") in err
    assert len(err.strip().splitlines()) == 1
    assert not storage.exists() and not out.exists()


def test_an_unknown_search_lists_the_searches(tiny_search, tmp_path, capsys):
    assert main(["--search", "nope", "--tracking-uri", _uri(tiny_search), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: no search 'nope'" in err and f"(searches there: {SEARCH})" in err
    assert not (tmp_path / "o").exists()


def test_weight_histories_are_the_logged_epochs(report, tiny_search):
    from distser.report import weight_histories, weighting_trials

    trials = collect_trials(_uri(tiny_search), [SEARCH])
    histories = weight_histories(_uri(tiny_search), weighting_trials(trials))
    assert set(histories["method"]) == {"cww"} and set(histories["epoch"]) == {1, 2, 3}
    last = histories[histories["epoch"] == 3].merge(trials[["run_id", "final_weight/msp-improv"]], on="run_id")
    last = last[last["corpus"] == "msp-improv"]
    assert np.allclose(last["weight"], last["final_weight/msp-improv"])
