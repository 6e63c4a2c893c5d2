"""The paper's tables from a trial table: Table 2 (test UA), Table 3 (corpus weights), paired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from distser.learning import TABLE2_METHODS
from distser.search import select

#: Row order of Table 2: the within-corpus bound, the paper's rows, then the merged baseline (Fig. 2).
ROW_ORDER = ("within:ce", *TABLE2_METHODS, "merged")


def _ordered(methods) -> list[str]:
    known = [m for m in ROW_ORDER if m in set(methods)]
    return known + sorted(set(methods) - set(known))


def selected_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished trials of each (method, holdout)'s validation-selected configuration."""
    chosen = select(trials)[["method", "holdout", "config"]]
    done = trials[trials["finished"].astype(bool)]
    return done.merge(chosen, on=["method", "holdout", "config"])


def table2(trials: pd.DataFrame) -> pd.DataFrame:
    """Methods x held-out corpora: mean and std of test UA (%) over seeds, and the Avg column.

    Returns a long frame (method, holdout, mean, std, n) including ``holdout == "Avg"`` rows
    (mean over held-out corpora of the per-corpus means).
    """
    chosen = selected_trials(trials)
    per = (chosen.groupby(["method", "holdout"])["test_ua"]
           .agg(mean="mean", std=lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else 0.0, n="size")
           .reset_index())
    per[["mean", "std"]] *= 100
    avg = per.groupby("method").agg(mean=("mean", "mean"), n=("n", "sum")).reset_index().assign(holdout="Avg",
                                                                                              std=np.nan)
    return pd.concat([per, avg], ignore_index=True)


def table2_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it: a row per method, ``mean ± std`` cells, Avg last."""
    cells = long.assign(cell=[f"{m:.1f}" if h == "Avg" else f"{m:.1f} ± {s:.1f}"
                              for m, s, h in zip(long["mean"], long["std"], long["holdout"], strict=True)])
    wide = cells.pivot(index="method", columns="holdout", values="cell")
    corpora = sorted(c for c in wide.columns if c != "Avg")
    return wide.reindex(index=_ordered(wide.index), columns=[*corpora, "Avg"]).fillna("–")


def table3(trials: pd.DataFrame, method: str = "cww") -> pd.DataFrame:
    """Final corpus weights (last epoch) per training corpus (rows) for each held-out corpus (columns).

    Mean over the seeds of the selected configuration; the Avg column averages over held-out corpora.
    """
    chosen = selected_trials(trials)
    chosen = chosen[chosen["method"] == method]
    # Only the corpora cww trained on: other methods' trials (e.g. merged's one "merged" corpus) add columns.
    weights = [c for c in chosen.columns if c.startswith("final_weight/") and chosen[c].notna().any()]
    if chosen.empty or not weights:
        return pd.DataFrame()
    means = chosen.groupby("holdout")[weights].mean().T
    means.index = pd.Index([w.split("/", 1)[1] for w in means.index], name="training corpus")
    means["Avg"] = means.mean(axis=1, skipna=True)
    return means


def paired_differences(trials: pd.DataFrame, baseline: str = "ce", confidence: float = 0.95) -> pd.DataFrame:
    """Test UA of each method minus the baseline's, paired by (held-out corpus, seed), with a t interval.

    Both sides use their own validation-selected configuration. Differences in UA points (%).
    """
    chosen = selected_trials(trials)
    chosen = chosen[~chosen["method"].str.startswith("within:")]
    base = chosen[chosen["method"] == baseline].set_index(["holdout", "seed"])["test_ua"]
    rows = []
    for method in _ordered(chosen["method"].unique()):
        if method == baseline:
            continue
        other = chosen[chosen["method"] == method].set_index(["holdout", "seed"])["test_ua"]
        diff = (100 * (other - base)).dropna()
        n = len(diff)
        if n == 0:
            continue
        mean = float(diff.mean())
        half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        rows.append({"method": method, "baseline": baseline, "pairs": n, "mean_diff": mean,
                     "ci_low": mean - half, "ci_high": mean + half,
                     "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())})
    return pd.DataFrame(rows, columns=["method", "baseline", "pairs", "mean_diff", "ci_low", "ci_high", "wins",
                                       "losses"])


def lambda_sweep(trials: pd.DataFrame, method: str = "cww") -> pd.DataFrame:
    """Per λ_W and held-out corpus: mean validation and test UA (%) over the finished seeds (Fig. 2's data).

    Every finished trial of ``method`` counts, not only the selected configuration. The ``selected``
    column marks, per held-out corpus, the λ_W that the mean validation UA picks.
    """
    runs = trials[(trials["method"] == method) & trials["finished"].astype(bool)]
    if "lambda_w" not in runs or runs["lambda_w"].nunique() < 2:
        return pd.DataFrame(columns=["lambda_w", "holdout", "valid_ua", "test_ua", "seeds", "selected"])
    sweep = (runs.groupby(["lambda_w", "holdout"])
             .agg(valid_ua=("valid_ua", "mean"), test_ua=("test_ua", "mean"), seeds=("seed", "nunique"))
             .reset_index())
    sweep[["valid_ua", "test_ua"]] *= 100
    best = sweep.loc[sweep.groupby("holdout")["valid_ua"].idxmax()]
    sweep["selected"] = sweep.index.isin(best.index)
    return sweep
