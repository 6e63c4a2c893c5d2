"""``distser report`` on the session's real search (``shared_search`` in tests/conftest.py): files and numbers.

The search: ce (one configuration per study) and cww+pel-al (2 Optuna proposals per study, the paper's values
first; ASHA may cut seeds, and the selected configuration's cut seeds are completed in a final phase), held-out
iemocap and crema-d, test-only msp-podcast, 2 seeds, 5 epochs.
"""

import json

import numpy as np
import pandas as pd
import pytest

from distser.report import collect_trials, main

SEARCH = "search-test"  # tests/conftest.py: SEARCH_NAME
METHODS = {"ce", "cww+pel-al"}
HOLDOUTS = {"iemocap", "crema-d"}


def _uri(storage) -> str:
    return f"sqlite:///{storage / 'mlflow.db'}"


def _runs(storage):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_uri(storage))
    experiment = client.get_experiment_by_name("distser").experiment_id
    trials = client.search_runs([experiment], f"tags.`distser.search` = '{SEARCH}' and tags.`distser.role` = 'trial'")
    parent = client.search_runs([experiment], f"tags.`distser.search` = '{SEARCH}' and tags.`distser.role` = 'search'")
    return client, trials, parent[0]


def _selection(client, parent, folder) -> pd.DataFrame:
    """The search's own selection (selection.csv on its parent run), indexed by (method, holdout)."""
    path = client.download_artifacts(parent.info.run_id, "selection.csv", str(folder))
    return pd.read_csv(path, dtype={"config": str}).set_index(["method", "holdout"])


def _stopped_by(run) -> str:
    return run.data.tags["distser.stopped_by"]


@pytest.fixture(scope="module")
def report(tiny_search, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "r"
    code = main(["--search", SEARCH, "--storage", str(tiny_search), "--out", str(out), "--log"])
    assert code == 0
    return out


def test_collect_trials_follows_the_trial_contract(tiny_search):
    trials = collect_trials(_uri(tiny_search), [SEARCH])
    _, runs, _ = _runs(tiny_search)
    assert len(trials) == len(runs) and set(trials["run_id"]) == {r.info.run_id for r in runs}  # a row per trial
    assert trials["fold"].isna().all()
    assert set(trials["method"]) == METHODS and set(trials["holdout"]) == HOLDOUTS
    search = trials[trials["phase"] == "search"]
    assert search.groupby(["method", "holdout"]).size().to_dict() == {  # configurations x 2 seeds
        (m, h): 2 * (2 if m == "cww+pel-al" else 1) for m in METHODS for h in HOLDOUTS}
    # finished: trained to its end, as the trial's MLflow tag says (ASHA cuts search trials of cww+pel-al only)
    stopped = {r.info.run_id: _stopped_by(r) for r in runs}
    assert trials["finished"].tolist() == [stopped[r] == "training" for r in trials["run_id"]]
    assert trials.loc[trials["method"] == "ce", "finished"].all()
    final = trials[trials["phase"] == "final"]  # completions of the selected configuration's cut seeds, if any
    assert set(trials["phase"]) <= {"search", "final"} and final["finished"].all()
    assert set(final["method"]) <= {"cww+pel-al"}
    # hyperparameters from the exact configuration: numbers as floats, categoricals as text
    cww = trials[trials["method"] == "cww+pel-al"]
    paper = cww[cww["lambda_w"] == 4.0]  # Optuna's first proposal: the paper's values, in both studies
    assert set(paper["holdout"]) == HOLDOUTS and (paper["phase"] == "search").sum() == 4
    first = paper.iloc[0]
    assert isinstance(first["lambda_w"], float) and first["lambda_l"] == 0.001 and first["cww_signal"] == "train-ua"
    assert json.loads(first["config"])["lambda_w"] == 4.0
    assert cww["lambda_w"].map(type).eq(float).all() and cww["cww_signal"].map(type).eq(str).all()
    assert trials.loc[trials["method"] == "ce", "lambda_w"].isna().all()  # ce's configuration sets nothing
    # the test-only corpus: tested at the end of every trial that trained to it, never by one ASHA cut
    assert trials.loc[trials["finished"], "test_ua/msp-podcast"].notna().all()
    assert trials.loc[~trials["finished"], "test_ua/msp-podcast"].isna().all()
    assert "test_ua/iemocap" not in trials and "test_ua/crema-d" not in trials  # held-out ones are test_ua
    assert set(trials["selection"]) == {"train-domain"}
    assert {"final_weight/msp-improv", "train_ua/msp-improv", "run_id", "plan", "valid_ua"} <= set(trials.columns)


def test_report_files_and_numbers_match_mlflow(report, tiny_search, capsys):
    assert {p.name for p in report.iterdir()} == {"README.md", "table2.csv", "selected.csv",
                                                  "paired_differences.csv", "oracle.csv", "table3.csv",
                                                  "figure1.png", "weights.png"}
    client, runs, parent = _runs(tiny_search)
    theirs = _selection(client, parent, report.parent)
    done = pd.DataFrame([{"method": r.data.params["method"], "holdout": r.data.params["holdout"],
                          "seed": int(r.data.params["seed"]), "config": r.data.params["config"],
                          "phase": r.data.tags["distser.phase"], "test_ua": r.data.metrics["test_ua"],
                          "e": r.data.metrics["test_ua/msp-podcast"],
                          **{k: v for k, v in r.data.metrics.items() if k.startswith("final_weight/")}}
                         for r in runs if _stopped_by(r) == "training"])
    # the evaluated trials: those of the configuration the search selected, every seed trained to its end
    selected = done.apply(lambda r: theirs.loc[(r["method"], r["holdout"]), "config"] == r["config"], axis=1)
    rows = done[selected]
    assert rows.groupby(["method", "holdout"])["seed"].nunique().to_dict() == {
        (m, h): 2 for m in METHODS for h in HOLDOUTS}
    table = pd.read_csv(report / "table2.csv").set_index(["method", "holdout"])
    for (method, holdout), part in rows.groupby(["method", "holdout"]):
        assert table.loc[(method, holdout), "mean"] == pytest.approx(100 * part["test_ua"].mean())
        assert table.loc[(method, holdout), "std"] == pytest.approx(100 * part["test_ua"].std(ddof=1))
    for method, part in rows.groupby("method"):
        folds = part.groupby("holdout")["e"].mean()
        assert table.loc[(method, "msp-podcast (test only)"), "mean"] == pytest.approx(100 * folds.mean())
    # paired differences: cww+pel-al - ce per (held-out corpus, seed)
    wide = rows.pivot_table(index=["holdout", "seed"], columns="method", values="test_ua")
    diff = 100 * (wide["cww+pel-al"] - wide["ce"])
    paired = pd.read_csv(report / "paired_differences.csv")
    assert set(paired["method"]) == {"cww+pel-al"} and set(paired["baseline"]) == {"ce"}
    avg = paired[(paired["target"] == "held-out") & (paired["holdout"] == "Avg")].iloc[0]
    assert avg["mean_diff"] == pytest.approx(diff.groupby(level="holdout").mean().mean(), abs=1e-6)
    assert avg["n"] == 4 and avg["corpora"] == 2
    # Table 3: cww+pel-al's final weights, mean over seeds (ce's weights never move: no table of its own)
    weights = pd.read_csv(report / "table3.csv").set_index(["method", "training corpus"])
    assert set(weights.index.get_level_values("method")) == {"cww+pel-al"}
    for holdout in HOLDOUTS:
        cww = rows[(rows["method"] == "cww+pel-al") & (rows["holdout"] == holdout)]
        for corpus in {"iemocap", "crema-d", "msp-improv"} - {holdout}:
            assert weights.loc[("cww+pel-al", corpus), holdout] == pytest.approx(cww[f"final_weight/{corpus}"].mean())
    # the oracle view (an upper bound): per cww+pel-al study, the configuration with the most seeds trained to
    # their end in the search phase, then the best mean test UA; ce tried one configuration and has none
    oracle = pd.read_csv(report / "oracle.csv", dtype={"oracle_config": str, "selected_config": str})
    assert set(oracle["method"]) == {"cww+pel-al"} and set(oracle["holdout"]) == HOLDOUTS | {"Avg"}
    oracle = oracle.set_index("holdout")
    for holdout in HOLDOUTS:
        study = done[(done["method"] == "cww+pel-al") & (done["holdout"] == holdout)]
        ranked = (study[study["phase"] == "search"].groupby("config")["test_ua"].agg(n="size", mean="mean")
                  .sort_values(["n", "mean"], ascending=False, kind="stable"))
        best = ranked.index[0]
        row = oracle.loc[holdout]
        assert row["configs_tried"] == 2 and row["oracle_config"] == best
        assert row["selected_config"] == theirs.loc[("cww+pel-al", holdout), "config"]
        assert row["oracle_mean"] == pytest.approx(100 * study.loc[study["config"] == best, "test_ua"].mean())
        assert row["selected_mean"] == pytest.approx(table.loc[("cww+pel-al", holdout), "mean"])
        assert row["gap"] == pytest.approx(row["oracle_mean"] - row["selected_mean"])
    assert oracle.loc["Avg", "gap"] == pytest.approx(oracle.loc[list(HOLDOUTS), "gap"].mean())
    # the report's selection is the search's own (selection.csv on the parent run)
    ours = pd.read_csv(report / "selected.csv").set_index(["method", "holdout"])
    assert sorted(ours.index) == sorted(theirs.index)
    for key, row in theirs.iterrows():
        assert ours.loc[key, "config"] == row["config"]
        assert ours.loc[key, "test_ua_mean"] == pytest.approx(row["test_ua_mean"])
    # logged to the parent run, and where the files went was said
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/table2.csv", "report/README.md", "report/weights.png"} <= logged
    text = (report / "README.md").read_text()
    assert "| method | crema-d | iemocap | Avg | msp-podcast (test only) |" in text
    assert "## Paired differences against ce: test UA on the held-out corpus" in text
    # the oracle view: cww+pel-al tried 2 configurations per study; ce, one (no oracle row)
    section = text.split("## Oracle (upper bound, not a selection)", 1)[1].split("\n## ", 1)[0]
    assert "| method | crema-d | iemocap | Avg (oracle) | Avg (selected) | gap | configs tried |" in section
    assert "\n| cww+pel-al | " in section and "\n| ce | " not in section
    assert "## Table 3: corpus weights at the end of training (cww+pel-al), mean over seeds" in text


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
    # the evaluated trials of cww+pel-al, each trained for all 5 epochs (--max-epochs 5; patience 5 never ends one
    # sooner), 2 per held-out corpus
    assert set(histories["method"]) == {"cww+pel-al"} and set(histories["epoch"]) == {1, 2, 3, 4, 5}
    assert histories.groupby("holdout")["run_id"].nunique().to_dict() == {h: 2 for h in HOLDOUTS}
    assert histories.groupby(["run_id", "corpus"])["epoch"].apply(lambda e: sorted(e) == [1, 2, 3, 4, 5]).all()
    last = histories[histories["epoch"] == 5].merge(trials[["run_id", "final_weight/msp-improv"]], on="run_id")
    last = last[last["corpus"] == "msp-improv"]
    assert len(last) == 4 and np.allclose(last["weight"], last["final_weight/msp-improv"])
