"""Paired differences against a baseline: per-corpus t intervals over seeds, a hierarchical bootstrap for Avg."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from distser.report import hierarchical_bootstrap, paired_differences, paired_wide, t_interval

OFFSETS = {"a": 0.06, "b": -0.04, "c": 0.05, "d": -0.03}  # cww - ce per held-out corpus, shared by its seeds


def _offset_trials(trial_row, trial_table, seeds=5, noise=0.002):
    """ce and cww on 4 held-out corpora; cww's difference is the corpus's offset plus a little seed noise."""
    rng = np.random.default_rng(3)
    rows = []
    for holdout, offset in OFFSETS.items():
        for seed in range(seeds):
            base = 0.4 + 0.05 * rng.standard_normal()
            rows.append(trial_row("ce", holdout, seed, base))
            rows.append(trial_row("cww", holdout, seed, base + offset + noise * rng.standard_normal(),
                                  config={"lambda_w": 4.0}))
    return trial_table(rows)


def _pairs(trials, method="cww"):
    ce = trials[trials["method"] == "ce"].set_index(["holdout", "seed"])["test_ua"]
    other = trials[trials["method"] == method].set_index(["holdout", "seed"])["test_ua"]
    return 100 * (other - ce)


def test_hierarchical_interval_is_much_wider_than_a_pooled_t_when_seeds_share_a_corpus_offset(trial_row,
                                                                                              trial_table):
    trials = _offset_trials(trial_row, trial_table)
    paired = paired_differences(trials).set_index(["target", "holdout"])
    avg = paired.loc[("held-out", "Avg")]
    diffs = _pairs(trials).to_numpy()
    # The old view: 20 pairs as if independent.
    naive = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert avg["interval"] == "hierarchical bootstrap" and avg["n"] == 20 and avg["corpora"] == 4
    assert avg["mean_diff"] == pytest.approx(_pairs(trials).groupby(level="holdout").mean().mean())
    assert (avg["ci_high"] - avg["ci_low"]) > 1.6 * (2 * naive)
    assert avg["ci_low"] < avg["mean_diff"] < avg["ci_high"]
    # The per-corpus intervals are narrow: the seeds of one corpus agree.
    for holdout, offset in OFFSETS.items():
        row = paired.loc[("held-out", holdout)]
        assert row["interval"] == "t" and row["n"] == 5
        assert row["mean_diff"] == pytest.approx(100 * offset, abs=0.5) and row["ci_high"] - row["ci_low"] < 2.0


def test_per_corpus_t_interval_has_seeds_as_n(trial_row, trial_table):
    trials = _offset_trials(trial_row, trial_table, seeds=3, noise=0.01)
    paired = paired_differences(trials).set_index(["target", "holdout"])
    for holdout, values in _pairs(trials).groupby(level="holdout"):
        values = values.to_numpy()
        half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
        row = paired.loc[("held-out", holdout)]
        assert row["mean_diff"] == pytest.approx(values.mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half, values.mean() + half))
    assert t_interval([1.0, 2.0, 3.0], 0.9) == pytest.approx(
        (2.0, 2.0 - stats.t.ppf(0.95, 2) / np.sqrt(3), 2.0 + stats.t.ppf(0.95, 2) / np.sqrt(3)))
    assert np.isnan(t_interval([1.0])[1])


def test_wins_losses_and_only_common_pairs(trial_row, trial_table):
    rows = []
    for seed, (ce, cww) in enumerate([(0.40, 0.45), (0.40, 0.38), (0.40, 0.41), (0.40, 0.40)]):
        rows += [trial_row("ce", "a", seed, ce), trial_row("cww", "a", seed, cww)]
    rows.append(trial_row("cww", "a", 9, 0.9))  # a seed ce lacks: no pair
    rows += [trial_row("ce", "b", 0, 0.5), trial_row("cww", "b", 0, 0.6)]
    paired = paired_differences(trial_table(rows)).set_index("holdout")
    assert paired.loc["a", ["n", "wins", "losses"]].tolist() == [4, 2, 1]
    assert paired.loc["Avg", ["n", "wins", "losses", "corpora"]].tolist() == [5, 3, 1, 2]
    assert paired.loc["Avg", "mean_diff"] == pytest.approx(np.mean([np.mean([5, -2, 1, 0]), 10]))
    assert np.isnan(paired.loc["b", "ci_low"])  # one seed: no t interval


def test_each_method_at_its_own_selected_configuration(trial_row, trial_table):
    rows = []
    for seed in range(3):
        rows.append(trial_row("ce", "a", seed, 0.40))
        rows.append(trial_row("cww", "a", seed, 0.90, config={"lambda_w": 1.0}, score=0.4))  # not selected
        rows.append(trial_row("cww", "a", seed, 0.43, config={"lambda_w": 4.0}, score=0.6))
    paired = paired_differences(trial_table(rows))
    assert paired["mean_diff"].tolist() == pytest.approx([3.0, 3.0])


def test_test_only_corpus_pairs_by_fold_and_seed(trial_row, trial_table):
    rows = []
    for holdout, offset in (("a", 0.02), ("b", -0.01)):
        for seed in range(3):
            rows.append(trial_row("ce", holdout, seed, 0.4, **{"test_ua/e": 0.30 + 0.01 * seed}))
            rows.append(trial_row("cww", holdout, seed, 0.4, **{"test_ua/e": 0.30 + 0.01 * seed + offset}))
    paired = paired_differences(trial_table(rows)).set_index(["target", "holdout"])
    assert paired.loc[("e", "a"), "mean_diff"] == pytest.approx(2.0)
    assert paired.loc[("e", "Avg"), "mean_diff"] == pytest.approx(0.5)
    assert paired.loc[("e", "Avg"), ["n", "wins", "losses"]].tolist() == [6, 3, 3]
    assert paired.loc[("held-out", "Avg"), "mean_diff"] == pytest.approx(0.0)
    wide = paired_wide(paired.reset_index(), "e")
    assert wide.loc["cww", "wins/losses"] == "3/3" and wide.loc["cww", "a"].startswith("+2.0 [")


def test_bootstrap_draws_only_real_seeds_and_is_reproducible():
    # Unequal groups: a draw from the padding would pull the statistic below 10.
    assert hierarchical_bootstrap([[10.0], [10.0, 10.0, 10.0]]) == pytest.approx((10.0, 10.0, 10.0))
    groups = [[1.0, 1.5, 0.5], [4.0], [2.0, 2.5]]
    assert hierarchical_bootstrap(groups) == hierarchical_bootstrap(groups)
    mean, low, high = hierarchical_bootstrap(groups)
    assert mean == pytest.approx(np.mean([1.0, 4.0, 2.25]))
    assert 0.5 <= low < mean < high <= 4.0
    with pytest.raises(ValueError):
        hierarchical_bootstrap([[1.0], []])


def test_bootstrap_with_constant_seeds_is_a_bootstrap_of_corpus_means():
    means = np.array([3.0, -1.0, 2.0, 0.5, -2.0, 1.0])
    _, low, high = hierarchical_bootstrap([[m] * 4 for m in means], resamples=20_000)
    rng = np.random.default_rng(11)
    plain = means[rng.integers(0, len(means), size=(20_000, len(means)))].mean(axis=1)
    ref_low, ref_high = np.quantile(plain, [0.025, 0.975])
    assert (high - low) == pytest.approx(ref_high - ref_low, rel=0.08)


def test_within_rows_are_not_compared_with_a_loco_baseline(trial_row, trial_table):
    rows = [trial_row("ce", "a", 0, 0.4), trial_row("cww", "a", 0, 0.5),
            trial_row("within:ce", "a", 0, 0.9, plan="within-a-fold0")]
    paired = paired_differences(trial_table(rows))
    assert set(paired["method"]) == {"cww"}
    assert isinstance(paired, pd.DataFrame)
