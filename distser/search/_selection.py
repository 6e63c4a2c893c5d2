"""Choosing a configuration per (method, held-out corpus) from validation data only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

#: Columns a trial table needs (one row per trial, i.e. per configuration and seed).
TRIAL_COLUMNS = ["method", "holdout", "seed", "config", "valid_ua", "test_ua", "finished"]


def config_key(hyperparameters: dict) -> str:
    """A stable text key of a configuration (seed excluded), used to group its seeds."""
    return json.dumps({k: round(float(v), 10) for k, v in sorted(hyperparameters.items())})


def select(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (method, holdout): the configuration with the best mean validation UA over its seeds.

    Only trials that trained to their end (early stopping or max epochs) count; among
    configurations, those with the most such seeds are preferred, so a configuration that ASHA
    cut short in some seeds never wins on the few seeds it finished. The held-out corpus's test
    UA is only read off the chosen configuration: it plays no part in choosing.

    Example:
        >>> trials = pd.DataFrame({"method": ["cww"] * 4, "holdout": ["a"] * 4, "seed": [0, 1, 0, 1],
        ...     "config": ["x", "x", "y", "y"], "valid_ua": [.5, .6, .7, .8], "test_ua": [.9, .9, .1, .2],
        ...     "finished": [True] * 4})
        >>> row = select(trials).iloc[0]
        >>> row.config, round(float(row.test_ua_mean), 2), int(row.seeds)
        ('y', 0.15, 2)
    """
    missing = set(TRIAL_COLUMNS) - set(trials.columns)
    if missing:
        raise ValueError(f"trial table lacks columns {sorted(missing)}")
    done = trials[trials["finished"].astype(bool)]
    rows = []
    for (method, holdout), group in done.groupby(["method", "holdout"], sort=True):
        per_config = group.groupby("config").agg(
            seeds=("seed", "nunique"), valid_ua_mean=("valid_ua", "mean"),
            test_ua_mean=("test_ua", "mean"), test_ua_std=("test_ua", lambda x: float(np.std(x, ddof=1))
                                                            if len(x) > 1 else 0.0),
        )
        best = per_config.sort_values(["seeds", "valid_ua_mean"], ascending=False, kind="stable").iloc[0]
        rows.append({"method": method, "holdout": holdout, "config": best.name, "seeds": int(best["seeds"]),
                     "configs_tried": int(group["config"].nunique()),
                     "valid_ua_mean": best["valid_ua_mean"], "test_ua_mean": best["test_ua_mean"],
                     "test_ua_std": best["test_ua_std"]})
    return pd.DataFrame(rows, columns=["method", "holdout", "config", "seeds", "configs_tried",
                                       "valid_ua_mean", "test_ua_mean", "test_ua_std"])


def format_summary(summary: pd.DataFrame, seeds: int | None = None) -> str:
    """Held-out corpus x method table of mean ± std test UA (%) with an Avg column.

    A cell whose configuration finished fewer than ``seeds`` seeds (default: the most any cell has)
    says so: ``(n=2)``.
    """
    if summary.empty:
        return "(no finished trials)"
    seeds = summary["seeds"].max() if seeds is None else seeds
    cell = summary.assign(text=[
        f"{100 * m:.1f} ± {100 * s:.1f}" + ("" if n == seeds else f" (n={n})")
        for m, s, n in zip(summary["test_ua_mean"], summary["test_ua_std"], summary["seeds"], strict=True)
    ])
    table = cell.pivot(index="method", columns="holdout", values="text")
    table["Avg"] = summary.groupby("method")["test_ua_mean"].mean().map(lambda v: f"{100 * v:.1f}")
    return table.to_string()
