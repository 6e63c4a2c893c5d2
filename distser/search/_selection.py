"""Choosing a configuration per (method, held-out corpus): the selection strategies.

After Gulrajani & Lopez-Paz, *In Search of Lost Domain Generalization* (ICLR 2021):

- ``train-domain``: each configuration's trials train on the training corpora and are scored by the
  mean validation UA of those corpora (in-domain validation). The selected configuration's test UA
  is the mean over its seeds.
- ``leave-one-train-corpus-out``: each configuration is also trained with one training corpus held
  back in turn and scored by the UA on that corpus (an unseen corpus inside the pool; a configuration
  needs a score on every held-back corpus); the configuration that generalises best inside the pool
  is selected and retrained on the whole pool for every seed, and those trainings give the test UA.
- ``oracle`` (reports only, never a selection): the configuration with the best test UA, an upper
  bound on what any selection from validation data could reach.

A trial table has one row per trial: ``method, holdout, phase, fold, seed, config, score,
valid_ua, test_ua, finished`` (+ ``test_ua/<corpus>`` of test-only corpora). ``score`` is what the
study's strategy ranks by; ``phase`` is ``search`` (proposals) or ``final`` (completion of cut seeds,
or retraining on the whole pool); ``fold`` is the held-back training corpus (None otherwise).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from distser.define import PAPER_FEATURE_SET, Param, Phase

#: Columns a trial table needs.
TRIAL_COLUMNS = ["method", "holdout", "phase", "fold", "seed", "config", "score", "test_ua", "finished"]


def config_key(hyperparameters: dict) -> str:
    """A stable text key of a configuration (seed excluded), used to group its seeds.

    Example:
        >>> config_key({"lambda_w": 0.5, "cww_signal": "valid-ua"})
        '{"cww_signal": "valid-ua", "lambda_w": 0.5}'
    """
    return json.dumps({k: round(float(v), 10) if isinstance(v, int | float) else v
                       for k, v in sorted(hyperparameters.items())})


@dataclass(frozen=True)
class Strategy:
    """A way to select a configuration from a study's trials.

    ``folds``: trials are run per held-back training corpus. ``retrains``: the selected configuration
    is trained again (on the whole pool) after the search, and only those trainings report test UAs.
    """

    name: str
    description: str
    folds: bool = False
    retrains: bool = False
    selectable: bool = True


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("train-domain", "mean validation UA of the training corpora"),
        Strategy("leave-one-train-corpus-out", "mean UA on each training corpus when it is held back, "
                 "then retrained on the whole pool", folds=True, retrains=True),
    )
}
#: Report-only view: the configuration that the test corpus itself would pick (an upper bound).
ORACLE = Strategy("oracle", "best mean test UA (upper bound, not a selection)", selectable=False)


def _std(values: pd.Series) -> float:
    """Standard deviation over seeds; NaN for one seed (undefined, as in the report), never 0."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def rank_configs(trials: pd.DataFrame, score: str = "score", folds: bool = False) -> pd.DataFrame:
    """Per configuration: members that trained to their end and their mean ``score``, best first.

    A configuration with more finished members (seeds, or seeds x held-back corpora) ranks first, so
    one that ASHA cut short in some never wins on the few it finished; then the higher mean.

    ``folds`` (leave-one-train-corpus-out): a configuration is ranked only when every held-back corpus
    of ``trials`` has a finished trial of it, and its mean is the mean over held-back corpora of their
    mean over seeds: a configuration never wins on the held-back corpora that are easy to score.
    """
    done = trials[trials["finished"].astype(bool)]
    if done.empty:
        return pd.DataFrame(columns=["members", "mean"])
    ranked = done.groupby("config")[score].agg(members="size", mean="mean")
    if folds:
        corpora = trials["fold"].dropna().unique()
        per_fold = done.groupby(["config", "fold"])[score].mean().unstack("fold").reindex(columns=corpora)
        ranked["mean"] = per_fold.mean(axis=1, skipna=False)  # NaN when a held-back corpus has no score
        ranked = ranked.dropna(subset=["mean"])
    return ranked.sort_values(["members", "mean"], ascending=False, kind="stable")


def evaluated_trials(trials: pd.DataFrame, strategy: Strategy | str = "train-domain",
                     config: str | None = None) -> pd.DataFrame:
    """The finished trials whose test UAs report ``config`` (default: the selected one) of one study."""
    strategy = STRATEGIES[strategy] if isinstance(strategy, str) else strategy
    done = trials[trials["finished"].astype(bool)]
    outer = done[done["fold"].isna()]
    if config is None:
        config = choose(trials, strategy)
    if config is None:
        return outer.iloc[:0]
    chosen = outer[outer["config"] == config]
    return chosen[chosen["phase"] == Phase.FINAL] if strategy.retrains else chosen


def choose(trials: pd.DataFrame, strategy: Strategy | str = "train-domain") -> str | None:
    """The selected configuration of ONE study's trials (None when no trial of the search finished)."""
    strategy = STRATEGIES[strategy] if isinstance(strategy, str) else strategy
    search = trials[trials["phase"] == Phase.SEARCH]
    if strategy is ORACLE:
        ranked = rank_configs(search[search["fold"].isna()], score="test_ua")
    elif strategy.folds:
        ranked = rank_configs(search[search["fold"].notna()], folds=True)
    else:
        ranked = rank_configs(search[search["fold"].isna()])
    return None if ranked.empty else str(ranked.index[0])


def select(trials: pd.DataFrame, strategy: Strategy | str = "train-domain") -> pd.DataFrame:
    """Per (method, holdout) — and feature set, where ``trials`` has a ``feature_set`` column — the selected
    configuration and its test UA, mean ± std over its evaluated seeds.

    ``configs_tried`` counts the configurations of the search phase; ``score_mean`` is the strategy's
    mean score of the selected configuration (validation data only); ``test_ua_mean`` is read off the
    selected configuration's evaluated trials — it plays no part in choosing (except for ``oracle``).
    Test-only corpora add ``test_ua/<corpus>_mean`` columns.

    Example:
        >>> trials = pd.DataFrame({"method": ["cww"] * 4, "holdout": ["a"] * 4, "phase": ["search"] * 4,
        ...     "fold": [None] * 4, "seed": [0, 1, 0, 1], "config": ["x", "x", "y", "y"],
        ...     "score": [.5, .6, .7, .8], "test_ua": [.9, .9, .1, .2], "finished": [True] * 4})
        >>> row = select(trials).iloc[0]
        >>> row.config, round(float(row.test_ua_mean), 2), int(row.seeds)
        ('y', 0.15, 2)
        >>> select(trials, "oracle").iloc[0].config
        'x'
    """
    strategy = ORACLE if strategy == "oracle" else STRATEGIES[strategy] if isinstance(strategy, str) else strategy
    missing = set(TRIAL_COLUMNS) - set(trials.columns)
    if missing:
        raise ValueError(f"trial table lacks columns {sorted(missing)}")
    holdouts = set(trials["holdout"])  # their own test_ua/<corpus> is test_ua: only test-only corpora get columns
    extra = sorted(c for c in trials.columns if c.startswith("test_ua/") and c.split("/", 1)[1] not in holdouts
                   and trials[c].notna().any())
    rows = []
    # A study per (method, held-out corpus) and, in a search over several feature sets, per set.
    keys = ["method", "holdout", *([Param.FEATURE_SET] if Param.FEATURE_SET in trials else [])]
    for (method, holdout, *feature_set), study in trials.groupby(keys, sort=True):
        config = choose(study, strategy)
        if config is None:
            continue
        search = study[(study["phase"] == Phase.SEARCH) & (study["fold"].notna() == strategy.folds)]
        ranked = rank_configs(search, score="test_ua" if strategy is ORACLE else "score", folds=strategy.folds)
        evaluated = evaluated_trials(study, ORACLE if strategy is ORACLE else strategy, config)
        row = {"method": method, "holdout": holdout, "selection": strategy.name, "config": config,
               "seeds": int(evaluated["seed"].nunique()), "configs_tried": int(search["config"].nunique()),
               "score_mean": float(ranked.loc[config, "mean"]) if config in ranked.index else math.nan,
               "test_ua_mean": float(evaluated["test_ua"].mean()), "test_ua_std": _std(evaluated["test_ua"])}
        row.update({f"{c}_mean": float(evaluated[c].mean()) for c in extra})
        if Param.NORMALIZATION in study:
            row[Param.NORMALIZATION] = study.loc[study["config"] == config, Param.NORMALIZATION].iloc[0]
        if feature_set:
            row[Param.FEATURE_SET] = feature_set[0]
        rows.append(row)
    labels = ["config", *(c for c in (Param.NORMALIZATION, Param.FEATURE_SET) if c in trials)]
    columns = ["method", "holdout", "selection", *labels, "seeds", "configs_tried", "score_mean", "test_ua_mean",
               "test_ua_std", *(f"{c}_mean" for c in extra)]
    return pd.DataFrame(rows, columns=columns)


def format_summary(summary: pd.DataFrame, seeds: int | None = None) -> str:
    """Held-out corpus x method table of mean ± std test UA (%) with an Avg column (no ± for one seed).

    A cell whose configuration finished fewer than ``seeds`` seeds (default: the most any cell has)
    says so: ``(n=2)``; the selected normalisation follows in brackets (``[corpus]``) unless every
    cell's is the paper's ``global``. Each feature set's studies are rows of their own, labelled with the
    set in braces (``ce {eGeMAPSv02}``) unless every row's is the paper's IS10. Test-only corpora get their
    own columns (``<corpus> (test)``).
    """
    if summary.empty:
        return "(no finished trials)"
    seeds = summary["seeds"].max() if seeds is None else seeds
    has_holdout = summary["holdout"] != "-"
    # The selected normalisation beside each cell, when the search had a choice of them.
    norms = summary[Param.NORMALIZATION] if Param.NORMALIZATION in summary else pd.Series([""] * len(summary))
    shown = norms.nunique() > 1 or (len(norms) and norms.iloc[0] not in ("", "global"))
    # The feature set beside each method, when the search had several (or not the paper's).
    sets = summary[Param.FEATURE_SET] if Param.FEATURE_SET in summary else pd.Series([""] * len(summary))
    named = sets.nunique() > 1 or (len(sets) and sets.iloc[0] not in ("", PAPER_FEATURE_SET))
    cell = summary.assign(text=[
        (f"{100 * m:.1f}" + ("" if math.isnan(s) else f" ± {100 * s:.1f}") if not math.isnan(m) else "–")
        + ("" if n == seeds else f" (n={n})") + (f" [{norm}]" if shown else "")
        for m, s, n, norm in zip(summary["test_ua_mean"], summary["test_ua_std"], summary["seeds"], norms,
                                 strict=True)
    ], row=[f"{method} {{{name}}}" if named else method
            for method, name in zip(summary["method"], sets.to_numpy(), strict=True)])
    parts = []
    if has_holdout.any():
        table = cell[has_holdout].pivot(index="row", columns="holdout", values="text")
        table["Avg"] = cell[has_holdout].groupby("row")["test_ua_mean"].mean().map(lambda v: f"{100 * v:.1f}")
        parts.append(table)
    for column in sorted(c for c in summary.columns if c.startswith("test_ua/") and c.endswith("_mean")):
        corpus = column.removeprefix("test_ua/").removesuffix("_mean")
        means = cell.groupby("row")[column].mean().map(lambda v: f"{100 * v:.1f}")
        parts.append(means.rename(f"{corpus} (test)").to_frame())
    if not parts:  # a model trained on the whole pool and no test-only corpus: nothing was tested
        return "(trained on the whole pool; no corpus was tested: add --test-corpus to test one)"
    text = pd.concat(parts, axis=1)
    text.index.name = "method"  # rows are methods (with their feature set): the name the table always had
    return text.to_string()
