"""The paper's tables from a trial table: Table 2 (test UA), Table 3 (corpus weights), the oracle view, λ_W sweep.

A study is one (search, method, outer plan): its configuration is chosen by the study's own selection
strategy (the trials' ``selection``) with :func:`distser.search.select`'s machinery, and its
*evaluated trials* are those whose test UAs report that configuration (for leave-one-train-corpus-out:
the retrainings of the final phase). A Table 2 cell (method, held-out corpus) is the mean over seeds of
the evaluated trials' test UA (first averaged over a seed's within-corpus folds, where there are several).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from distser.define import Metric, Param, Phase
from distser.learning import method_order, parse_method
from distser.search import ORACLE, STRATEGIES, choose, evaluated_trials, select

from ._collect import NOT_ADAPTED, WITHIN, base_method, feature_set_of, variant

#: Views of a study's configurations: the study's own selection, or the oracle (an upper bound).
VIEWS = ("selected", "oracle")
TEST_ONLY = " (test only)"


def ordered(methods) -> list[str]:
    """Methods in Table 2's row order: the within-corpus bounds, then the out-of-corpus rows, each in the
    method registry's order (:func:`distser.learning.method_order`: the paper's rows first), each method's
    normalisation variants (``ce [corpus]``) right after it."""
    labels = set(methods)
    bases = {base_method(m) for m in labels}
    within = {b for b in bases if b.startswith(WITHIN)}
    order = ([f"{WITHIN}{b}" for b in method_order(b.removeprefix(WITHIN) for b in within)]
             + method_order(bases - within))
    rank = {b: i for i, b in enumerate(order)}
    return sorted(labels, key=lambda m: (rank[base_method(m)], m))


def _std(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _outer_plan(plan: str) -> str:
    return plan.split("/without-", 1)[0]


def studies(trials: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each study's trials with its selection strategy's name: one (search, method, outer plan).

    A hand-made table may leave out ``search``, ``study``, ``plan`` and ``selection`` (one search; a
    study per (method, held-out corpus); train-domain).
    """
    if trials.empty:
        return
    search = trials["search"] if "search" in trials else pd.Series("", index=trials.index)
    if "study" in trials:
        study = trials["study"].astype(str)
    elif "plan" in trials:
        study = trials["method"] + "--" + trials["plan"].map(_outer_plan)
    else:
        study = trials["method"] + "--" + trials["holdout"].astype(str)
    for _, frame in trials.groupby([search, study], sort=True):
        strategy = str(frame["selection"].iloc[0]) if "selection" in frame else "train-domain"
        yield strategy, frame


def configs_tried(study: pd.DataFrame, strategy: str) -> int:
    """Configurations a study's search phase tried."""
    search = study[(study["phase"] == Phase.SEARCH) & (study["fold"].notna() == STRATEGIES[strategy].folds)]
    return int(search["config"].nunique())


def has_oracle(study: pd.DataFrame, strategy: str) -> bool:
    """The oracle view applies to train-domain studies that tried more than one configuration."""
    return not STRATEGIES[strategy].folds and configs_tried(study, strategy) > 1


def evaluated(trials: pd.DataFrame, view: str = "selected") -> pd.DataFrame:
    """The evaluated trials of every study: of its selected configuration, or (``view="oracle"``) of the one
    with the best mean test UA, for studies where :func:`has_oracle`. Adds ``selection`` (what chose)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} (views: {', '.join(VIEWS)})")
    parts = []
    for strategy, study in studies(trials):
        if view == "oracle":
            if not has_oracle(study, strategy):
                continue
            chosen = evaluated_trials(study, ORACLE, choose(study, ORACLE))
        else:
            chosen = evaluated_trials(study, strategy)
        parts.append(chosen.assign(selection=ORACLE.name if view == "oracle" else strategy))
    if not parts:
        return trials.iloc[:0].assign(selection=pd.Series(dtype=object))
    return pd.concat(parts, ignore_index=True)


def selections(trials: pd.DataFrame, view: str = "selected") -> pd.DataFrame:
    """Per study: its chosen configuration and test UA (:func:`distser.search.select` of that study alone)."""
    frames = []
    for strategy, study in studies(trials):
        if view == "oracle" and not has_oracle(study, strategy):
            continue
        chosen = select(study, "oracle" if view == "oracle" else strategy)
        if "search" in study:
            chosen.insert(0, "search", study["search"].iloc[0])
        if "plan" in study:
            chosen.insert(min(3, len(chosen.columns)), "plan", _outer_plan(str(study["plan"].iloc[0])))
        frames.append(chosen)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def same_normalisation_label(baseline: str) -> str:
    """The row label of :func:`baseline_of_the_selected_normalisation`."""
    return f"{baseline} [the same normalisation]"


def baseline_of_the_selected_normalisation(trials: pd.DataFrame, label: str, baseline: str = "ce") -> pd.DataFrame:
    """For a row whose normalisation was searched (``cww [global/corpus/speaker]``): per held-out corpus, the
    baseline's trials with the normalisation (and feature set) that row's study selected there, labelled
    :func:`same_normalisation_label`; paired with the row, what the method adds once the normalisation is
    the same. Empty where no such baseline row was run (e.g. ``ce [speaker]`` of a fixed search).
    """
    chosen = evaluated(trials[trials["method"] == label])
    labels = set(trials["method"])
    parts = []
    for holdout, study in chosen.groupby("holdout", sort=True):
        normalisations = set(study[Param.NORMALIZATION])
        if len(normalisations) != 1:
            continue
        reference = variant(baseline, [normalisations.pop()], feature_set_of(label))
        if reference in labels:
            parts.append(trials[(trials["method"] == reference) & (trials["holdout"] == holdout)])
    if not parts:
        return trials.iloc[:0]
    return pd.concat(parts, ignore_index=True).assign(method=same_normalisation_label(baseline))


def searched_normalisation(label: str) -> bool:
    """A row label whose normalisation was a searched choice (adapted to its targets).

    Example:
        >>> searched_normalisation("cww [global/speaker]"), searched_normalisation("ce [corpus]")
        (True, False)
    """
    inside = label.split(" [", 1)[1].split("]", 1)[0] if " [" in label else ""
    return "/" in inside and NOT_ADAPTED not in inside


def test_only_corpora(trials: pd.DataFrame) -> list[str]:
    """Corpora only tested (``test_ua/<corpus>`` columns that are nobody's held-out corpus)."""
    holdouts = set(trials["holdout"])
    return sorted(c.split("/", 1)[1] for c in trials.columns
                  if c.startswith(f"{Metric.TEST_UA}/") and c.split("/", 1)[1] not in holdouts
                  and trials[c].notna().any())


def per_seed(chosen: pd.DataFrame, column: str, by: tuple[str, ...] = ("method", "holdout")) -> pd.DataFrame:
    """Mean of ``column`` per (``by``, seed) over a seed's evaluated trials (several within-corpus folds)."""
    keys = [*by, "seed"]
    return chosen.dropna(subset=[column]).groupby(keys, sort=True)[column].mean().reset_index()


def cells(chosen: pd.DataFrame, column: str = Metric.TEST_UA) -> pd.DataFrame:
    """Per (method, holdout): mean and std over seeds of ``column`` (%), ``n`` seeds."""
    return _over_seeds(per_seed(chosen, column), column)


def _over_seeds(seeds: pd.DataFrame, column: str) -> pd.DataFrame:
    out = seeds.groupby(["method", "holdout"], sort=True)[column].agg(mean="mean", std=_std, n="size").reset_index()
    out[["mean", "std"]] *= 100
    return out


def table2(trials: pd.DataFrame, view: str = "selected") -> pd.DataFrame:
    """Table 2 as a long frame: ``method, selection, holdout, kind, mean, std, n`` (UA in %).

    ``kind`` is ``held-out`` (mean ± std over the seeds of the evaluated trials), ``avg`` (``holdout``
    = "Avg": mean over held-out corpora of their means; ``n`` = corpora) or ``test-only`` (``holdout``
    = "<corpus> (test only)": mean over the method's held-out folds of each fold's mean ``test_ua/<corpus>``;
    ``n`` = folds). ``view="oracle"``: the oracle configuration's (see :func:`evaluated`).
    """
    chosen = evaluated(trials, view)
    columns = ["method", "selection", "holdout", "kind", "mean", "std", "n"]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    strategy = chosen.groupby("method")["selection"].agg(lambda s: " / ".join(sorted(set(s))))
    parts = []
    held = cells(chosen[chosen["holdout"] != "-"]).assign(kind="held-out")
    parts.append(held)
    if not held.empty:
        parts.append(held.groupby("method").agg(mean=("mean", "mean"), n=("holdout", "size")).reset_index()
                     .assign(holdout="Avg", kind="avg", std=math.nan))
    for corpus in test_only_corpora(trials):
        per_fold = cells(chosen, f"{Metric.TEST_UA}/{corpus}")
        if per_fold.empty:
            continue
        parts.append(per_fold.groupby("method").agg(mean=("mean", "mean"), n=("holdout", "size")).reset_index()
                     .assign(holdout=f"{corpus}{TEST_ONLY}", kind="test-only", std=math.nan))
    long = pd.concat(parts, ignore_index=True)
    long["selection"] = long["method"].map(strategy)
    long["n"] = long["n"].astype(int)
    return long[columns]


def table2_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it: a row per method, ``mean ± std`` cells, Avg, then test-only corpora.

    A cell with fewer seeds than the table's most says so (``(n=2)``). Rows are labelled ``method ·
    selection`` when the table mixes selection strategies.
    """
    if long.empty:
        return pd.DataFrame()
    mixed = long["selection"].nunique() > 1
    seeds = long.loc[long["kind"] == "held-out", "n"].max() if (long["kind"] == "held-out").any() else 0

    def text(row) -> str:
        if row.kind != "held-out":
            return f"{row.mean:.1f}"
        std = "" if math.isnan(row.std) else f" ± {row.std:.1f}"
        return f"{row.mean:.1f}{std}" + ("" if row.n == seeds else f" (n={row.n})")

    cells_ = long.assign(cell=[text(r) for r in long.itertuples()],
                         row=[f"{m} · {s}" if mixed else m for m, s in zip(long["method"], long["selection"],
                                                                           strict=True)])
    wide = cells_.pivot(index="row", columns="holdout", values="cell")
    held = sorted(set(long.loc[long["kind"] == "held-out", "holdout"]))
    tested = sorted(set(long.loc[long["kind"] == "test-only", "holdout"]))
    order = {m: i for i, m in enumerate(ordered(long["method"]))}
    rows = sorted(set(cells_["row"]), key=lambda r: (order[r.split(" · ")[0]], r))
    wide = wide.reindex(index=rows, columns=[*held, *(["Avg"] if held else []), *tested]).fillna("–")
    wide.index.name = "method"
    wide.columns.name = None
    return wide


def oracle(trials: pd.DataFrame) -> pd.DataFrame:
    """Oracle vs selected per (method, held-out corpus) of train-domain studies that tried several configurations.

    Columns: ``method, holdout, configs_tried, oracle_mean, oracle_std, oracle_n, selected_mean, gap`` (%),
    ``oracle_config, selected_config``; plus an ``Avg`` row per method (mean over its held-out corpora).
    The oracle is an upper bound on what selection from validation data could reach, not a selection.
    Both sides average the same seeds (``oracle_n`` of them): those both configurations finished (ASHA
    may have cut some of the oracle's, which no final phase completes).
    """
    columns = ["method", "holdout", "configs_tried", "oracle_mean", "oracle_std", "oracle_n", "selected_mean", "gap",
               "oracle_config", "selected_config"]
    best = selections(trials, "oracle")
    if best.empty:
        return pd.DataFrame(columns=columns)
    picked = selections(trials)
    held = best[best["holdout"] != "-"]
    keys = ["method", "holdout", "seed"]
    top_seeds, mine_seeds = per_seed(evaluated(trials, "oracle"), Metric.TEST_UA), per_seed(evaluated(trials),
                                                                                             Metric.TEST_UA)
    both = top_seeds[keys].merge(mine_seeds[keys])  # seeds both configurations finished: equal counts
    top = _over_seeds(top_seeds.merge(both), Metric.TEST_UA)
    mine = _over_seeds(mine_seeds.merge(both), Metric.TEST_UA)
    configs = held.groupby(["method", "holdout"]).agg(
        configs_tried=("configs_tried", "max"), oracle_config=("config", lambda c: " | ".join(sorted(set(c))))
    ).reset_index()
    chosen = (picked[picked["holdout"] != "-"].groupby(["method", "holdout"])["config"]
              .agg(lambda c: " | ".join(sorted(set(c)))).rename("selected_config").reset_index())
    rows = (configs.merge(top.rename(columns={"mean": "oracle_mean", "std": "oracle_std", "n": "oracle_n"}),
                          on=["method", "holdout"], how="left")
            .merge(mine[["method", "holdout", "mean"]].rename(columns={"mean": "selected_mean"}),
                   on=["method", "holdout"], how="left")
            .merge(chosen, on=["method", "holdout"], how="left"))
    rows["gap"] = rows["oracle_mean"] - rows["selected_mean"]
    avg = (rows.groupby("method").agg(oracle_mean=("oracle_mean", "mean"), selected_mean=("selected_mean", "mean"),
                                      configs_tried=("configs_tried", "max"), oracle_n=("holdout", "size"))
           .reset_index().assign(holdout="Avg"))
    avg["gap"] = avg["oracle_mean"] - avg["selected_mean"]
    out = pd.concat([rows, avg], ignore_index=True)
    order = {m: i for i, m in enumerate(ordered(out["method"]))}
    out = out.sort_values(["method", "holdout"], key=lambda s: s.map(order) if s.name == "method" else
                          s.map(lambda h: (h == "Avg", h))).reset_index(drop=True)
    return out[columns]


def oracle_wide(long: pd.DataFrame) -> pd.DataFrame:
    """The oracle view as a table: a row per method, oracle mean ± std per held-out corpus, Avg, selected Avg, gap."""
    if long.empty:
        return pd.DataFrame()
    held = long[long["holdout"] != "Avg"]
    wide = held.assign(cell=[f"{m:.1f}" + ("" if math.isnan(s) else f" ± {s:.1f}")
                             for m, s in zip(held["oracle_mean"], held["oracle_std"], strict=True)]
                       ).pivot(index="method", columns="holdout", values="cell")
    avg = long[long["holdout"] == "Avg"].set_index("method")
    wide["Avg (oracle)"] = avg["oracle_mean"].map(lambda v: f"{v:.1f}")
    wide["Avg (selected)"] = avg["selected_mean"].map(lambda v: f"{v:.1f}")
    wide["gap"] = avg["gap"].map(lambda v: f"{v:+.1f}")
    wide["configs tried"] = avg["configs_tried"].map(lambda v: f"{int(v)}")
    wide = wide.reindex(ordered(wide.index)).fillna("–")
    wide.columns.name = None
    return wide


def weighting_methods(trials: pd.DataFrame) -> list[str]:
    """Methods whose corpus weights move: by their rule (:attr:`distser.learning.Method.moves_weights`: cww,
    tcww, dro and any rule added to the registry), or any whose final weights are not all 1."""
    finals = [c for c in trials.columns if c.startswith(f"{Metric.FINAL_WEIGHT}/")]
    found = []
    for method, runs in trials.groupby("method"):
        moved = bool(finals) and bool(((runs[finals] - 1).abs() > 1e-6).to_numpy().any())
        named = False
        if not method.startswith(WITHIN):
            try:
                named = parse_method(base_method(method)).moves_weights
            except ValueError:
                named = False
        if moved or named:
            found.append(method)
    return ordered(found)


def weighting_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The evaluated trials of the weighting methods (whose corpus weights over epochs are drawn)."""
    chosen = evaluated(trials)
    return chosen[chosen["method"].isin(weighting_methods(trials)) & (chosen["holdout"] != "-")]


def table3(trials: pd.DataFrame, method: str = "cww") -> pd.DataFrame:
    """Final corpus weights per training corpus (rows) for each held-out corpus (columns), and Avg.

    Mean over the evaluated seeds of the selected configuration of ``method``.
    """
    chosen = evaluated(trials)
    chosen = chosen[(chosen["method"] == method) & (chosen["holdout"] != "-")]
    weights = [c for c in chosen.columns if c.startswith(f"{Metric.FINAL_WEIGHT}/") and chosen[c].notna().any()]
    if chosen.empty or not weights:
        return pd.DataFrame()
    means = chosen.groupby("holdout")[weights].mean().T
    means.index = pd.Index([w.split("/", 1)[1] for w in means.index], name="training corpus")
    means = means.sort_index()
    means.columns.name = None
    means["Avg"] = means.mean(axis=1, skipna=True)
    return means


def lambda_sweep(trials: pd.DataFrame, method: str = "cww", name: str = "lambda_w") -> pd.DataFrame:
    """Per value of hyperparameter ``name`` (λ_W) and held-out corpus: mean validation and test UA (%) (Fig. 2).

    Every finished outer trial of ``method`` counts, not only the selected configuration. ``selected``
    marks, per held-out corpus, the value of the configuration each study's own selection picked.
    """
    columns = [name, "holdout", "valid_ua", "test_ua", "seeds", "selected"]
    runs = trials[(trials["method"] == method) & trials["finished"].astype(bool) & trials["fold"].isna()]
    if name not in runs or runs[name].nunique() < 2:
        return pd.DataFrame(columns=columns)
    sweep = (runs.groupby([name, "holdout"])
             .agg(valid_ua=("valid_ua", "mean"), test_ua=("test_ua", "mean"), seeds=("seed", "nunique"))
             .reset_index())
    sweep[["valid_ua", "test_ua"]] *= 100
    picked = set()
    for strategy, study in studies(trials[trials["method"] == method]):
        config = choose(study, strategy)
        of_config = study.loc[study["config"] == config, name].dropna()
        if config is not None and not of_config.empty:
            picked.add((of_config.iloc[0], study["holdout"].iloc[0]))
    sweep["selected"] = [(v, h) in picked for v, h in zip(sweep[name], sweep["holdout"], strict=True)]
    return sweep[columns]
