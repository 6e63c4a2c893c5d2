"""Report tables and figures from a hand-made trial table (no MLflow needed)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from distser.report import (
    figure1,
    figure2,
    lambda_sweep,
    markdown_table,
    paired_differences,
    table2,
    table2_wide,
    table3,
    write_report,
)


def _trials():
    rows = []
    for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)):
        for seed in range(3):
            for method, config, valid, test in (
                ("ce", "{}", 0.60, 0.40 + shift + 0.01 * seed),
                ("cww", '{"lambda_w": 1.0}', 0.62, 0.30),   # lower validation: never selected
                ("cww", '{"lambda_w": 4.0}', 0.65, 0.45 + shift + 0.02 * seed),
                ("merged", "{}", 0.6, 0.42 + shift),
            ):
                lw = 4.0 if "4.0" in config else 1.0 if "1.0" in config else np.nan
                rows.append({"search": "s", "method": method, "holdout": holdout, "seed": seed, "config": config,
                             "lambda_w": lw, "valid_ua": valid, "test_ua": test, "finished": True,
                             "final_weight/a": 0.5 + seed * 0.1, "final_weight/b": 1.5 - seed * 0.1,
                             "train_ua/a": 0.9, "train_ua/b": 0.7})
    return pd.DataFrame(rows)


def test_table2_uses_the_validation_selected_configuration():
    long = table2(_trials()).set_index(["method", "holdout"])
    assert long.loc[("cww", "emodb"), "mean"] == pytest.approx(100 * np.mean([0.45, 0.47, 0.49]))
    assert long.loc[("cww", "emodb"), "std"] == pytest.approx(100 * np.std([0.45, 0.47, 0.49], ddof=1))
    assert long.loc[("cww", "Avg"), "mean"] == pytest.approx(100 * np.mean([0.47, 0.57]))
    wide = table2_wide(table2(_trials()))
    assert list(wide.index) == ["ce", "cww", "merged"] and list(wide.columns) == ["emodb", "ravdess", "Avg"]
    assert wide.loc["cww", "emodb"] == "47.0 ± 2.0"


def test_table3_averages_final_weights_of_selected_cww():
    trials = _trials()
    trials.loc[trials["method"] == "merged", "final_weight/merged"] = 3.0  # merged trains on one corpus
    weights = table3(trials)
    assert weights.loc["a", "emodb"] == pytest.approx(0.6) and weights.loc["b", "Avg"] == pytest.approx(1.4)
    assert list(weights.index) == ["a", "b"]


def test_paired_differences_match_a_t_interval():
    paired = paired_differences(_trials()).set_index("method")
    diffs = 100 * np.array([0.05, 0.06, 0.07, 0.05, 0.06, 0.07])
    half = stats.t.ppf(0.975, 5) * diffs.std(ddof=1) / np.sqrt(6)
    assert paired.loc["cww", "pairs"] == 6
    assert paired.loc["cww", "mean_diff"] == pytest.approx(diffs.mean())
    assert paired.loc["cww", "ci_low"] == pytest.approx(diffs.mean() - half)
    assert paired.loc["cww", "wins"] == 6


def test_figures_and_report_files(tmp_path):
    trials = _trials()
    assert figure1(trials, tmp_path / "f1.png").stat().st_size > 1000
    assert figure2(trials, tmp_path / "f2.png").stat().st_size > 1000
    files = write_report(trials, tmp_path / "out")
    names = {f.name for f in files}
    assert {"README.md", "table2.csv", "table3.csv", "paired_differences.csv", "figure1.png", "figure2.png"} <= names
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| cww | 47.0 ± 2.0 |" in text


def test_markdown_table():
    assert markdown_table(pd.DataFrame({"a": [1.234]}), index=False) == "| a |\n| --- |\n| 1.23 |"


def test_lambda_sweep_marks_the_validation_choice_per_holdout():
    sweep = lambda_sweep(_trials()).set_index(["lambda_w", "holdout"])
    assert sweep.loc[(1.0, "emodb"), "test_ua"] == pytest.approx(30.0)
    assert sweep.loc[(4.0, "ravdess"), "test_ua"] == pytest.approx(100 * np.mean([0.55, 0.57, 0.59]))
    assert sweep.loc[(4.0, "emodb"), "selected"] and not sweep.loc[(1.0, "emodb"), "selected"]
    assert lambda_sweep(_trials()[_trials()["config"] != '{"lambda_w": 1.0}']).empty  # one λ_W: no sweep


def test_a_separate_sweep_draws_figure2_but_leaves_table2_alone(tmp_path):
    trials = _trials()
    main = trials[trials["config"] != '{"lambda_w": 1.0}']
    # The sweep search would pick λ_W = 1 here (its higher validation UA); Table 2 keeps main's λ_W = 4.
    sweep = trials[trials["method"] == "cww"].assign(search="sweep")
    sweep.loc[sweep["lambda_w"] == 1.0, "valid_ua"] = 0.9
    write_report(main, tmp_path, sweep=sweep)
    text = (tmp_path / "README.md").read_text()
    assert "| cww | 47.0 ± 2.0 |" in text
    assert "| selected on validation | 30.0 | 30.0 | 30.0 |" in text
    assert (tmp_path / "figure2.png").exists() and (tmp_path / "lambda_sweep.csv").exists()
    assert "Table 2 methods without runs here: unsup, soft," in text
