"""Report tables and figures from hand-made trial tables (no MLflow needed)."""

import numpy as np
import pandas as pd
import pytest

from distser.report import (
    evaluated,
    figure1,
    figure2,
    figure_weights,
    lambda_sweep,
    markdown_table,
    oracle,
    oracle_wide,
    selections,
    table2,
    table2_wide,
    table3,
    weighting_methods,
    write_report,
)

WEIGHTS = {"final_weight/a": 0.5, "final_weight/b": 1.5}


@pytest.fixture
def trials(trial_row, trial_table):
    """ce, cww (two λ_W: the lower validation score is never selected but has the better test UA), merged;
    two held-out corpora, three seeds; a test-only corpus e."""
    rows = []
    for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)):
        for seed in range(3):
            for method, config, score, test in (
                ("ce", {}, 0.60, 0.40 + shift + 0.01 * seed),
                ("cww", {"lambda_w": 1.0, "cww_signal": "valid-ua"}, 0.62, 0.50 + shift),  # the oracle's pick
                ("cww", {"lambda_w": 4.0, "cww_signal": "valid-ua"}, 0.65, 0.45 + shift + 0.02 * seed),
                ("merged", {}, 0.6, 0.42 + shift),
            ):
                weights = ({"final_weight/a": 0.5 + seed * 0.1, "final_weight/b": 1.5 - seed * 0.1}
                           if method == "cww" else {"final_weight/a": 1.0, "final_weight/b": 1.0})
                rows.append(trial_row(method, holdout, seed, test, config=config, score=score,
                                      **{"test_ua/e": test - 0.1, "train_ua/a": 0.9, "train_ua/b": 0.7, **weights}))
    return trial_table(rows)


def test_table2_reports_the_selected_configuration_and_test_only_columns(trials):
    long = table2(trials).set_index(["method", "holdout"])
    assert long.loc[("cww", "emodb"), "mean"] == pytest.approx(100 * np.mean([0.45, 0.47, 0.49]))
    assert long.loc[("cww", "emodb"), "std"] == pytest.approx(100 * np.std([0.45, 0.47, 0.49], ddof=1))
    assert long.loc[("cww", "Avg"), "mean"] == pytest.approx(100 * np.mean([0.47, 0.57]))
    # test only: the mean over the held-out folds of the selected configuration's test_ua/e
    assert long.loc[("cww", "e (test only)"), "mean"] == pytest.approx(100 * np.mean([0.37, 0.47]))
    assert long.loc[("cww", "e (test only)"), "kind"] == "test-only"
    wide = table2_wide(table2(trials))
    assert list(wide.index) == ["ce", "cww", "merged"]
    assert list(wide.columns) == ["emodb", "ravdess", "Avg", "e (test only)"]
    assert wide.loc["cww", "emodb"] == "47.0 ± 2.0" and wide.loc["cww", "e (test only)"] == "42.0"


def test_a_cell_with_fewer_seeds_says_so(trials):
    fewer = trials[~((trials["method"] == "ce") & (trials["holdout"] == "emodb") & (trials["seed"] == 2))]
    assert table2_wide(table2(fewer)).loc["ce", "emodb"] == "40.5 ± 0.7 (n=2)"


def test_oracle_is_the_best_test_configuration_and_kept_apart(trials):
    best = oracle(trials).set_index(["method", "holdout"])
    assert set(best.index.get_level_values("method")) == {"cww"}  # ce and merged tried one configuration
    assert best.loc[("cww", "emodb"), "oracle_mean"] == pytest.approx(50.0)
    assert best.loc[("cww", "emodb"), "selected_mean"] == pytest.approx(47.0)
    assert best.loc[("cww", "Avg"), "gap"] == pytest.approx(100 * np.mean([0.50, 0.60]) - 100 * np.mean([0.47, 0.57]))
    assert '"lambda_w": 1.0' in best.loc[("cww", "emodb"), "oracle_config"]
    assert '"lambda_w": 4.0' in best.loc[("cww", "emodb"), "selected_config"]
    assert set(evaluated(trials, "oracle")["selection"]) == {"oracle"}
    assert table2(trials, "oracle").set_index(["method", "holdout"]).loc[("cww", "emodb"), "mean"] == pytest.approx(50)
    wide = oracle_wide(oracle(trials))
    assert wide.loc["cww", "Avg (oracle)"] == "55.0" and wide.loc["cww", "gap"] == "+3.0"
    # Table 2 itself never shows the oracle's pick.
    assert table2(trials).set_index(["method", "holdout"]).loc[("cww", "emodb"), "mean"] == pytest.approx(47.0)


def _loto(trial_row, method="cww", holdout="a"):
    """A leave-one-train-corpus-out study: folds score configurations, the chosen one is retrained (final)."""
    rows, sel = [], "leave-one-train-corpus-out"
    for seed in range(2):
        for fold in ("b", "c"):
            rows.append(trial_row(method, holdout, seed, 0.0, config={"lambda_w": 1.0}, score=0.7, fold=fold,
                                  selection=sel))
            rows.append(trial_row(method, holdout, seed, 0.0, config={"lambda_w": 4.0}, score=0.3, fold=fold,
                                  selection=sel))
        rows.append(trial_row(method, holdout, seed, 0.30 + 0.02 * seed, config={"lambda_w": 1.0}, phase="final",
                              selection=sel, **{"test_ua/e": 0.2}))
    return rows


def test_table2_of_a_leave_one_train_corpus_out_study_reads_the_final_phase(trial_row, trial_table):
    rows = _loto(trial_row)
    # a stray outer search-phase trial of the chosen configuration must not count
    rows.append(trial_row("cww", "a", 5, 0.99, config={"lambda_w": 1.0}, selection="leave-one-train-corpus-out"))
    trials = trial_table(rows)
    chosen = evaluated(trials)
    assert set(chosen["phase"]) == {"final"} and len(chosen) == 2
    long = table2(trials).set_index(["method", "holdout"])
    assert long.loc[("cww", "a"), "mean"] == pytest.approx(31.0) and long.loc[("cww", "a"), "n"] == 2
    assert long.loc[("cww", "a"), "selection"] == "leave-one-train-corpus-out"
    assert long.loc[("cww", "e (test only)"), "mean"] == pytest.approx(20.0)
    picked = selections(trials).iloc[0]
    assert picked["configs_tried"] == 2 and '"lambda_w": 1.0' in picked["config"]
    assert oracle(trials).empty  # no oracle for a study that selects on held-back corpora


def test_mixed_selection_strategies_label_the_rows(trial_row, trial_table, trials):
    mixed = pd.concat([trials, trial_table(_loto(trial_row, "dro", "emodb"))], ignore_index=True)
    wide = table2_wide(table2(mixed))
    assert "dro · leave-one-train-corpus-out" in wide.index and "cww · train-domain" in wide.index


def test_within_rows_average_folds_per_seed_and_come_first(trial_row, trial_table, trials):
    rows = []
    for fold, base in ((0, 0.60), (1, 0.80)):
        for seed in range(2):
            rows.append(trial_row("within:ce", "emodb", seed, base + 0.1 * seed, plan=f"within-emodb-fold{fold}"))
    # each fold is its own study: a worse configuration in fold 1 only must not pull fold 0's choice
    rows.append(trial_row("within:ce", "emodb", 0, 0.1, config={"lr": 1e-3}, score=0.1, plan="within-emodb-fold1"))
    rows.append(trial_row("within:ce", "emodb", 1, 0.1, config={"lr": 1e-3}, score=0.1, plan="within-emodb-fold1"))
    both = pd.concat([trials, trial_table(rows)], ignore_index=True)
    long = table2(both).set_index(["method", "holdout"])
    per_seed = [np.mean([0.60, 0.80]), np.mean([0.70, 0.90])]
    assert long.loc[("within:ce", "emodb"), "mean"] == pytest.approx(100 * np.mean(per_seed))
    assert long.loc[("within:ce", "emodb"), "std"] == pytest.approx(100 * np.std(per_seed, ddof=1))
    assert list(table2_wide(table2(both)).index)[0] == "within:ce"
    assert len(selections(both).query("method == 'within:ce'")) == 2


def test_table3_for_every_weighting_method(trials, trial_row, trial_table):
    rows = [trial_row("dro", h, s, 0.4, **{"final_weight/a": 0.2, "final_weight/b": 1.8})
            for h in ("emodb", "ravdess") for s in range(2)]
    rows += [trial_row("mystery", "emodb", 0, 0.4, **{"final_weight/a": 1.3, "final_weight/b": 0.7})]
    both = pd.concat([trials, trial_table(rows)], ignore_index=True)
    assert weighting_methods(both) == ["cww", "dro", "mystery"]  # ce and merged: all weights 1
    weights = table3(both, "cww")
    assert weights.loc["a", "emodb"] == pytest.approx(0.6) and weights.loc["b", "Avg"] == pytest.approx(1.4)
    assert list(weights.index) == ["a", "b"]
    assert table3(both, "dro").loc["a", "Avg"] == pytest.approx(0.2)


def test_a_new_weighting_rule_appears_in_table3_and_the_weight_figures_without_edits_there(trials, trial_row,
                                                                                              trial_table):
    from distser.learning.methods import REGISTRY, CorpusWeighting, register
    from distser.report import weighting_trials
    from distser.report._tables import ordered

    class Halving(CorpusWeighting):  # a rule added to the registry, nowhere else
        name = "halving"
        summary = "halves the weight of the easiest corpus"
        order = 22

        def after_epoch(self, weights, signals):
            return weights

    register(Halving)
    try:
        # Its weights ended where they started: still a weighting rule (its curves are drawn), by the registry.
        rows = [trial_row("halving", "emodb", s, 0.4, **{"final_weight/a": 1.0, "final_weight/b": 1.0})
                for s in range(2)]
        both = pd.concat([trials, trial_table(rows)], ignore_index=True)
        assert "halving" in weighting_methods(both)
        assert set(weighting_trials(both)["method"]) >= {"cww", "halving"}
        assert table3(both, "halving").loc["a", "emodb"] == pytest.approx(1.0)
        # Table 2's rows: the paper's first, then the others in the registry's order of their components.
        assert ordered(["halving", "dro", "tcww", "merged", "cww", "ce", "within:dro", "within:ce"]) == [
            "within:ce", "within:dro", "ce", "cww", "merged", "tcww", "halving", "dro"]
    finally:
        REGISTRY.pop("halving")


def test_lambda_sweep_reads_lambda_from_the_configuration_and_marks_the_selection(trials):
    sweep = lambda_sweep(trials).set_index(["lambda_w", "holdout"])
    assert sweep.loc[(1.0, "emodb"), "test_ua"] == pytest.approx(50.0)
    assert sweep.loc[(4.0, "ravdess"), "test_ua"] == pytest.approx(100 * np.mean([0.55, 0.57, 0.59]))
    assert sweep.loc[(4.0, "emodb"), "selected"] and not sweep.loc[(1.0, "emodb"), "selected"]
    assert lambda_sweep(trials[~trials["config"].str.contains('"lambda_w": 1.0')]).empty  # one λ_W: no sweep


def test_figures(trials, tmp_path):
    assert figure1(trials, tmp_path / "f1.png").stat().st_size > 1000
    assert figure2(trials, tmp_path / "f2.png").stat().st_size > 1000
    histories = pd.DataFrame([{"run_id": f"{h}{s}", "method": m, "holdout": h, "study": "x", "seed": s,
                               "corpus": c, "epoch": e, "weight": 1 + (e * 0.1 if c == "a" else -e * 0.1)}
                              for m in ("cww", "dro") for h in ("emodb", "ravdess") for s in range(2)
                              for c in ("a", "b") for e in range(1, 5)])
    assert figure_weights(histories, tmp_path / "w.png").stat().st_size > 1000
    assert figure_weights(histories.iloc[:0], tmp_path / "none.png") is None


def test_report_files_and_markdown(trials, tmp_path):
    files = write_report(trials, tmp_path / "out")
    names = {f.name for f in files}
    assert {"README.md", "table2.csv", "selected.csv", "table3.csv", "paired_differences.csv", "oracle.csv",
            "lambda_sweep.csv", "figure1.png", "figure2.png"} <= names
    assert "weights.png" not in names  # no histories given
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| cww | 47.0 ± 2.0 | 57.0 ± 2.0 | 52.0 | 42.0 |" in text
    assert "## Oracle (upper bound, not a selection): the configuration with the best mean test UA" in text
    assert "Unit: a seed within a held-out corpus" in text and "hierarchical bootstrap" in text
    assert "With 2 held-out corpora the bootstrap interval of Avg is too narrow" in text
    assert "## Table 3: corpus weights at the end of training (cww)" in text
    assert "without runs" not in text  # only what the searches ran
    oracle_csv = pd.read_csv(tmp_path / "out" / "oracle.csv")
    assert {"oracle_mean", "selected_mean", "gap"} <= set(oracle_csv.columns)
    paired = pd.read_csv(tmp_path / "out" / "paired_differences.csv")
    assert set(paired["interval"]) == {"t", "hierarchical bootstrap"}
    merged = paired[(paired["method"] == "merged") & (paired["holdout"] == "Avg") & (paired["target"] == "held-out")]
    assert merged[["wins", "losses"]].values.tolist() == [[4, 0]]  # 0.42 vs 0.40 + 0.02: a tie, not a loss


def test_a_separate_sweep_draws_figure2_but_leaves_table2_alone(trials, tmp_path):
    main = trials[~trials["config"].str.contains('"lambda_w": 1.0')]
    # The sweep's own selection picks λ_W = 1 (its higher score); Table 2 keeps main's λ_W = 4.
    sweep = trials[trials["method"] == "cww"].assign(search="sweep")
    sweep.loc[sweep["lambda_w"] == 1.0, "score"] = 0.9
    write_report(main, tmp_path, sweep=sweep)
    text = (tmp_path / "README.md").read_text()
    assert "| cww | 47.0 ± 2.0 | 57.0 ± 2.0 |" in text
    assert "| selected | 50.0 | 60.0 | 55.0 |" in text
    assert (tmp_path / "figure2.png").exists() and (tmp_path / "lambda_sweep.csv").exists()


def test_markdown_table():
    assert markdown_table(pd.DataFrame({"a": [1.234]}), index=False) == "| a |\n| --- |\n| 1.23 |"


def test_the_report_and_the_search_summary_agree_on_the_std_of_one_seed(trial_row, trial_table):
    from distser.search import select

    trials = trial_table([trial_row("ce", "emodb", 0, 0.41), trial_row("ce", "ravdess", 0, 0.5),
                          trial_row("ce", "ravdess", 1, 0.52)])
    report = table2(trials).set_index("holdout")
    search = select(trials).set_index("holdout")
    for holdout in ("emodb", "ravdess"):
        np.testing.assert_allclose(report.loc[holdout, "std"], 100 * search.loc[holdout, "test_ua_std"])
    assert np.isnan(report.loc["emodb", "std"])


def test_normalisation_variants_are_rows_of_their_own_and_paired_with_their_own_ce(trial_row, trial_table, tmp_path):
    """Searches that normalised otherwise label their methods (``ce [corpus]``): rows after the method, paired
    against ce (the paper's) and against the same normalisation's ce; the selected table names each one's."""
    rows = []
    for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)):
        for seed in range(3):
            for method, norm, test in (("ce", "global", 0.40), ("ce [corpus]", "corpus", 0.50),
                                       ("cww [corpus]", "corpus", 0.55)):
                rows.append(trial_row(method, holdout, seed, test + shift + 0.01 * seed, normalization=norm,
                                      search=norm, **{"final_weight/a": 1.0, "final_weight/b": 1.0}))
    trials = trial_table(rows)
    assert list(table2_wide(table2(trials)).index) == ["ce", "ce [corpus]", "cww [corpus]"]
    assert set(selections(trials)["normalization"]) == {"global", "corpus"}
    write_report(trials, tmp_path, resamples=200)
    same = pd.read_csv(tmp_path / "paired_differences_same_normalisation.csv")
    assert set(same["baseline"]) == {"ce [corpus]"} and set(same["method"]) == {"cww [corpus]"}
    avg = same[(same["holdout"] == "Avg") & (same["target"] == same["target"].iloc[0])]
    assert avg["mean_diff"].iloc[0] == pytest.approx(5.0)  # cww [corpus] - ce [corpus], in UA points
    text = (tmp_path / "README.md").read_text()
    assert "Paired differences against ce [corpus]" in text and "| normalisation |" in text.replace("  ", " ")


def test_each_feature_set_is_paired_with_the_same_method_and_normalisation_on_is10(trial_row, trial_table, tmp_path):
    """A searched normalisation has no plain ``ce`` row: each set's row pairs with its own label on IS10."""
    rows = []
    for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)):
        for seed in range(3):
            for feature_set, test in (("IS10", 0.50), ("eGeMAPSv02", 0.47), ("ComParE_2016", 0.56)):
                label = "ce [global/speaker]" + ("" if feature_set == "IS10" else f" {{{feature_set}}}")
                rows.append(trial_row(label, holdout, seed, test + shift + 0.01 * seed, normalization="speaker",
                                      feature_set=feature_set, search="sets"))
    write_report(trial_table(rows), tmp_path, resamples=200)
    assert pd.read_csv(tmp_path / "paired_differences.csv").empty  # nothing is `ce` (global, IS10) here
    across = pd.read_csv(tmp_path / "paired_differences_same_method.csv")
    assert set(across["baseline"]) == {"ce [global/speaker]"}
    avg = across[(across["holdout"] == "Avg")].set_index("method")["mean_diff"]
    assert avg["ce [global/speaker] {eGeMAPSv02}"] == pytest.approx(-3.0)  # in UA points, against IS10
    assert avg["ce [global/speaker] {ComParE_2016}"] == pytest.approx(6.0)
    text = (tmp_path / "README.md").read_text()
    assert "## Paired differences against ce [global/speaker]: test UA on the held-out corpus" in text


@pytest.mark.parametrize(("adapt", "labels"), [("True", ["global", "corpus"]),
                                                ("False", ["global", "corpus not adapted"])])
def test_a_search_that_did_not_adapt_its_targets_labels_its_rows_apart(monkeypatch, adapt, labels):
    """`--no-adapt-target` changes what a grouped normalisation does to the targets: its rows must not merge
    with the adapted search's (`global` is the same either way)."""
    from types import SimpleNamespace

    from distser.report import _collect

    parent = SimpleNamespace(data=SimpleNamespace(params={"data.normalization": "['global', 'corpus']",
                                                         "data.adapt_target": adapt}))
    monkeypatch.setattr(_collect, "_search_runs", lambda *args: [parent])
    assert _collect._normalizations(_collect._parent_params(None, "0", "s")) == labels
    assert _collect.variant("ce", labels) == f"ce [{'/'.join(labels)}]"


def test_a_row_not_adapted_to_its_targets_is_paired_with_the_adapted_one(trial_row, trial_table, tmp_path):
    rows = [trial_row(label, holdout, seed, test + shift + 0.01 * seed, normalization="corpus", search=label)
            for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)) for seed in range(3)
            for label, test in (("ce [corpus]", 0.55), ("ce [corpus not adapted]", 0.50))]
    write_report(trial_table(rows), tmp_path, resamples=200)
    pairs = pd.read_csv(tmp_path / "paired_differences_same_method.csv")
    avg = pairs[pairs["holdout"] == "Avg"]
    assert avg[["baseline", "method"]].values.tolist() == [["ce [corpus]", "ce [corpus not adapted]"]]
    assert avg["mean_diff"].iloc[0] == pytest.approx(-5.0)


def test_a_searched_normalisation_is_paired_with_ce_of_the_normalisation_each_study_selected(trial_row, trial_table,
                                                                                           tmp_path):
    """merged [global/speaker] selected speaker for emodb and global for ravdess: its baseline there is
    ce [speaker] on emodb and ce on ravdess (the fixed searches' trials, by seed), not one row for both."""
    rows = []
    for seed in range(3):
        for holdout, fixed in (("emodb", {"global": 0.40, "speaker": 0.60}),
                               ("ravdess", {"global": 0.45, "speaker": 0.30})):
            for norm, test in fixed.items():
                rows.append(trial_row("ce" if norm == "global" else "ce [speaker]", holdout, seed, test + 0.01 * seed,
                                      normalization=norm, search=f"fixed-{norm}"))
        rows.append(trial_row("merged [global/speaker]", "emodb", seed, 0.62 + 0.01 * seed, normalization="speaker",
                              search="searched"))
        rows.append(trial_row("merged [global/speaker]", "ravdess", seed, 0.44 + 0.01 * seed, normalization="global",
                              search="searched"))
    write_report(trial_table(rows), tmp_path, resamples=200)
    pairs = pd.read_csv(tmp_path / "paired_differences_same_selected_normalisation.csv")
    pairs = pairs[pairs["target"] == "held-out"].set_index("holdout")
    assert set(pairs["baseline"]) == {"ce [the same normalisation]"} and set(pairs["method"]) == {
        "merged [global/speaker]"}
    assert pairs.loc["emodb", "mean_diff"] == pytest.approx(2.0)  # against ce [speaker]
    assert pairs.loc["ravdess", "mean_diff"] == pytest.approx(-1.0)  # against ce (global)
    assert pairs.loc["Avg", "mean_diff"] == pytest.approx(0.5) and pairs.loc["Avg", "n"] == 6
    against_paper = pd.read_csv(tmp_path / "paired_differences.csv").set_index(["method", "target", "holdout"])
    assert against_paper.loc[("merged [global/speaker]", "held-out", "emodb"), "mean_diff"] == pytest.approx(22.0)
    text = (tmp_path / "README.md").read_text()
    assert "## Paired differences against ce [the same normalisation]: test UA on the held-out corpus" in text
