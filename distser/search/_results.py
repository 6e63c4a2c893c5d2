"""A search's results: the trial table from Tune, completeness, failed studies, the summary's rows."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from distser.define import PAPER_FEATURE_SET, Metric, Param, Phase

from ._selection import STRATEGIES


def trial_table(results, feature_sets: list[str] | None = None) -> pd.DataFrame:
    """One row per trial of a Tune ResultGrid, in the shape :func:`~distser.search._selection.select` takes.

    ``feature_sets``: the search's; a trial config without one (a search of one set, started before sets were
    a study dimension) was trained on the first.
    """
    default = (feature_sets or [PAPER_FEATURE_SET])[0]
    rows = []
    for result in results:
        if not result.config:  # a trial Tune created but never started (interrupted): no result yet
            continue
        config, metrics = result.config, result.metrics or {}
        final = metrics.get("final", {})
        row = {"study": config["study"], "method": config["method"], "holdout": config["holdout"],
               "plan": config["plan"], "phase": config["phase"], "fold": config["fold"], "seed": config["seed"],
               "config": config["config"], "params": config["params"], "searched": config["searched"],
               Param.NORMALIZATION: config["training"].get(Param.NORMALIZATION, "global"),
               Param.FEATURE_SET: config.get(Param.FEATURE_SET, default),
               "score": metrics.get(Metric.SCORE, math.nan), "valid_ua": metrics.get(Metric.VALID, math.nan),
               "test_ua": final.get(Metric.TEST_UA, math.nan), "finished": metrics.get("finished") == 1,
               "error": metrics.get("error") or (str(result.error).splitlines()[-1] if result.error else None),
               "trial_id": metrics.get("trial_id") or Path(result.path).name.removeprefix("trial-"),
               "path": result.path, "checkpoint": result.checkpoint}
        if config["fold"] is None:  # a fold's held-back corpus is its score, not a test corpus
            row.update({k: v for k, v in final.items() if k.startswith(f"{Metric.TEST_UA}/")})
        rows.append(row)
    return pd.DataFrame(rows)


def missing_trials(specs: list, trials: pd.DataFrame) -> list[str]:
    """Studies whose trials are not all there: the search was interrupted before they ran.

    A study is complete when every configuration of its search phase ran for every member (seed,
    held-back corpus) and its selected configuration has what its strategy needs: every seed trained
    to its end (train-domain: completion runs for seeds ASHA cut) or retrained on the whole pool.
    """
    from ._selection import choose

    missing = []
    for spec in specs:
        mine = trials[trials["study"] == spec.id] if not trials.empty else trials
        if mine.empty or (mine["phase"] == Phase.SEARCH).sum() < spec.configurations * len(spec.members):
            missing.append(spec.id)
            continue
        chosen = choose(mine, spec.selection)
        if chosen is None:
            continue  # nothing trained to its end: a failed study, but a complete one
        of_chosen = mine[(mine["config"] == chosen) & mine["fold"].isna()]
        if STRATEGIES[spec.selection].retrains:
            need = set(spec.eval_seeds)
        else:
            trained = of_chosen["finished"] & (of_chosen["phase"] == Phase.SEARCH)
            need = set(spec.eval_seeds) - set(of_chosen.loc[trained, "seed"])
        if need - set(of_chosen.loc[of_chosen["phase"] == Phase.FINAL, "seed"]):
            missing.append(spec.id)
    return missing


def combine_folds(summary: pd.DataFrame) -> pd.DataFrame:
    """Within-corpus folds of one corpus are separate studies: one summary row per (method, corpus, feature set).

    Means of the folds' values; the fold's selected configurations may differ ("per fold").
    """
    keys = ["method", "holdout", "selection", *([Param.FEATURE_SET] if Param.FEATURE_SET in summary else [])]
    if summary.empty or not summary.duplicated(keys).any():
        return summary
    labels = [c for c in ("config", Param.NORMALIZATION) if c in summary.columns]
    numeric = [c for c in summary.columns if c not in keys and c not in labels]
    combined = summary.groupby(keys, sort=False)[numeric].mean().reset_index()
    for column in labels:
        combined[column] = summary.groupby(keys, sort=False)[column].agg(
            lambda c: c.iloc[0] if c.nunique() == 1 else "(per fold)").to_numpy()
    combined[["seeds", "configs_tried"]] = summary.groupby(keys, sort=False)[["seeds", "configs_tried"]].agg(
        {"seeds": "min", "configs_tried": "sum"}).to_numpy()
    return combined[summary.columns]


def failed_studies(specs: list, trials: pd.DataFrame) -> dict[str, str]:
    """Studies where no trial trained to its end, with their trials' errors."""
    failed = {}
    for spec in specs:
        mine = trials[trials["study"] == spec.id]
        if not mine["finished"].any():
            errors = sorted({str(e) for e in mine["error"].dropna()})
            failed[spec.id] = "; ".join(errors[:3]) or "no trial trained to its end"
    return failed
