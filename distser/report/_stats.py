"""Paired differences against a baseline, with intervals whose unit is right.

Each method's evaluated trials are paired with the baseline's by (held-out corpus, seed): the same
corpus held out and the same seed, each method at its own selected configuration. Seeds of one
held-out corpus share that corpus (its difficulty, its domain gap), so the pairs of a comparison are
not independent: they are seeds nested in held-out corpora.

- Per held-out corpus: the mean difference over its seeds with a t interval, n = seeds (n - 1 degrees
  of freedom): ``mean ± t_{n-1, (1+c)/2} · sd / √n``.
- Overall (``Avg``): the mean over held-out corpora of the per-corpus mean differences, with a
  hierarchical (two-stage) percentile bootstrap interval: each resample draws as many held-out corpora
  as there are, with replacement, then within each drawn corpus as many seeds as it has, with
  replacement, and takes the mean over the drawn corpora of their seed means.

The same holds for a test-only corpus: its pairs are (held-out fold, seed) and the folds play the
role of the held-out corpora.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from distser.define import Metric

from ._collect import WITHIN
from ._tables import evaluated, ordered, per_seed, test_only_corpora

#: Bootstrap resamples and the fixed seed of their generator (reports are reproducible).
RESAMPLES = 10_000
RNG_SEED = 0
HELD_OUT = "held-out"
COLUMNS = ["method", "baseline", "target", "holdout", "corpora", "n", "mean_diff", "ci_low", "ci_high", "interval",
           "wins", "losses"]


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and t interval of ``values`` (n - 1 degrees of freedom); NaN bounds for fewer than 2 values.

    Example:
        >>> [round(v, 3) for v in t_interval([1.0, 2.0, 3.0])]
        [2.0, -0.484, 4.484]
    """
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def hierarchical_bootstrap(groups: list, confidence: float = 0.95, resamples: int = RESAMPLES,
                           seed: int = RNG_SEED) -> tuple[float, float, float]:
    """Mean over groups of group means, and its two-stage percentile bootstrap interval.

    ``groups``: one array of values (seeds) per group (held-out corpus). Each resample draws
    ``len(groups)`` groups with replacement, then ``n_g`` values with replacement within each drawn
    group ``g``; its statistic is the mean over the drawn groups of their means. Vectorised: all
    resamples at once (``resamples x groups x max n`` draws).

    Example:
        >>> mean, low, high = hierarchical_bootstrap([[1.0, 1.2], [3.0, 3.1], [2.0, 2.2]])
        >>> round(mean, 2), low < mean < high
        (2.08, True)
    """
    arrays = [np.asarray(g, dtype=float) for g in groups]
    sizes = np.array([len(a) for a in arrays])
    if len(arrays) == 0 or (sizes == 0).any():
        raise ValueError("every group needs at least one value")
    mean = float(np.mean([a.mean() for a in arrays]))
    padded = np.zeros((len(arrays), sizes.max()))
    for i, values in enumerate(arrays):
        padded[i, :len(values)] = values
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(arrays), size=(resamples, len(arrays)))  # groups, with replacement
    n = sizes[drawn]  # (resamples, groups): the size of each drawn group
    positions = (rng.random((resamples, len(arrays), sizes.max())) * n[..., None]).astype(int)  # within-group draws
    values = padded[drawn[..., None], positions]
    used = np.arange(sizes.max()) < n[..., None]  # a group of n values draws n of them
    statistic = ((values * used).sum(axis=-1) / n).mean(axis=-1)
    low, high = np.quantile(statistic, [(1 - confidence) / 2, (1 + confidence) / 2])
    return mean, float(low), float(high)


def paired_differences(trials: pd.DataFrame, baseline: str = "ce", confidence: float = 0.95,
                       resamples: int = RESAMPLES, seed: int = RNG_SEED) -> pd.DataFrame:
    """Test UA (points, %) of each method minus the baseline's, paired by (held-out corpus, seed).

    One row per (method, target, held-out corpus) with the t interval over its seeds, and one ``Avg``
    row per (method, target) with the hierarchical bootstrap interval (see the module docstring).
    ``target`` is ``held-out`` (each study's held-out corpus) or a test-only corpus (its ``test_ua/<corpus>``,
    paired by held-out fold and seed). ``n``: pairs; ``corpora``: held-out corpora (folds) with pairs;
    ``wins``/``losses``: pairs where the method is above/below the baseline. Within-corpus rows are
    compared only with a within-corpus baseline (and vice versa).
    """
    chosen = evaluated(trials)
    chosen = chosen[chosen["method"].str.startswith(WITHIN) == baseline.startswith(WITHIN)]
    targets = [(HELD_OUT, Metric.TEST_UA)] + [(c, Metric.test_ua(c)) for c in test_only_corpora(trials)]
    rows = []
    for target, column in targets:
        part = chosen[chosen["holdout"] != "-"] if target == HELD_OUT else chosen
        if part.empty or column not in part:
            continue
        seeds = per_seed(part, column)
        base = seeds[seeds["method"] == baseline].set_index(["holdout", "seed"])[column]
        if base.empty:
            continue
        for method in ordered(seeds["method"].unique()):
            if method == baseline:
                continue
            other = seeds[seeds["method"] == method].set_index(["holdout", "seed"])[column]
            diff = (100 * (other - base)).dropna().round(9)  # only the pairs both have; equal UAs tie exactly
            if diff.empty:
                continue
            common = {"method": method, "baseline": baseline, "target": target}
            groups = []
            for holdout, values in diff.groupby(level="holdout", sort=True):
                values = values.to_numpy()
                groups.append(values)
                mean, low, high = t_interval(values, confidence)
                rows.append({**common, "holdout": holdout, "corpora": 1, "n": len(values), "mean_diff": mean,
                             "ci_low": low, "ci_high": high, "interval": "t",
                             "wins": int((values > 0).sum()), "losses": int((values < 0).sum())})
            mean, low, high = hierarchical_bootstrap(groups, confidence, resamples, seed)
            rows.append({**common, "holdout": "Avg", "corpora": len(groups), "n": len(diff), "mean_diff": mean,
                         "ci_low": low, "ci_high": high, "interval": "hierarchical bootstrap",
                         "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())})
    return pd.DataFrame(rows, columns=COLUMNS)


def paired_wide(long: pd.DataFrame, target: str = HELD_OUT) -> pd.DataFrame:
    """One target's paired differences as a table: a row per method, ``mean [low, high]`` per held-out
    corpus and Avg, then wins/losses and the number of pairs."""
    part = long[long["target"] == target]
    if part.empty:
        return pd.DataFrame()

    def cell(row) -> str:
        interval = "" if math.isnan(row.ci_low) else f" [{row.ci_low:+.1f}, {row.ci_high:+.1f}]"
        return f"{row.mean_diff:+.1f}{interval}"

    cells = part.assign(cell=[cell(r) for r in part.itertuples()])
    wide = cells.pivot(index="method", columns="holdout", values="cell")
    corpora = sorted(c for c in wide.columns if c != "Avg")
    avg = part[part["holdout"] == "Avg"].set_index("method")
    wide = wide[[*corpora, "Avg"]]
    wide["wins/losses"] = [f"{avg.loc[m, 'wins']}/{avg.loc[m, 'losses']}" for m in wide.index]
    wide["pairs"] = [str(avg.loc[m, "n"]) for m in wide.index]
    wide = wide.reindex(ordered(wide.index)).fillna("–")
    wide.columns.name = None
    return wide
