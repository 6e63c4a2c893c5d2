"""Write the report (Markdown + CSV tables, PNG figures) and log it to the searches' parent runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from distser.define import EXPERIMENT, PAPER_FEATURE_SET, Param, Role, Tag
from distser.search import STRATEGIES

from ._collect import (
    WITHIN,
    _client,
    _experiment_id,
    _search_runs,
    base_method,
    same_row_on_paper_set_adapted,
    suffix,
)
from ._figures import figure1, figure2, figure_weights
from ._stats import HELD_OUT, RESAMPLES, paired_differences, paired_wide
from ._tables import (
    TEST_ONLY,
    baseline_of_the_selected_normalisation,
    lambda_sweep,
    oracle,
    oracle_wide,
    ordered,
    same_normalisation_label,
    searched_normalisation,
    selections,
    table2,
    table2_wide,
    table3,
    weighting_methods,
)

#: Below this many held-out corpora, the report says that the bootstrap interval of Avg is too narrow.
FEW_CORPORA = 4


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table of ``frame`` (pandas' ``to_markdown`` would need tabulate).

    Example:
        >>> print(markdown_table(pd.DataFrame({"a": [1.234], "b": ["x"]}), index=False))
        | a | b |
        | --- | --- |
        | 1.23 | x |
    """
    table = frame.reset_index() if index else frame
    header = [str(c) for c in table.columns]
    rows = [[("–" if v != v else f"{v:.2f}") if isinstance(v, float) else str(v)  # v != v: NaN
             for v in row] for row in table.itertuples(index=False)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows])


def describe_config(config: str) -> str:
    """A configuration key as ``name=value`` pairs (numbers to 4 significant digits).

    Example:
        >>> describe_config('{"cww_signal": "train-ua", "lambda_w": 4.0}'), describe_config("{}")
        ('cww_signal=train-ua lambda_w=4', '–')
    """
    values = json.loads(config) if config else {}
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()) or "–"


def _counts(trials: pd.DataFrame) -> str:
    finished = int(trials["finished"].sum())
    stopped = trials["stopped_by"] if "stopped_by" in trials else pd.Series(dtype=object)
    asha, failed = int((stopped == "asha").sum()), int((stopped == "error").sum())
    return f"{len(trials)} trials: {finished} trained to their end, {asha} stopped by ASHA, {failed} failed"


def _selected_table(picked: pd.DataFrame, incomplete: set[str]) -> pd.DataFrame:
    columns = {"method": "method", "holdout": "held out", "plan": "plan", "selection": "selection",
               "configs_tried": "configs tried", "seeds": "seeds", "score_mean": "score",
               "normalization": "normalisation", "config": "configuration"}
    if _named_sets(picked):  # each row's feature set, beside its method, when the report has others than IS10
        columns = {"method": "method", Param.FEATURE_SET: "feature set", **columns}
    table = picked[[c for c in columns if c in picked]].rename(columns=columns)
    table["configuration"] = table["configuration"].map(describe_config)
    if incomplete and "plan" in picked:  # its selection may still change: the search has not finished
        study = picked["method"].map(base_method).str.removeprefix(WITHIN) + "--" + picked["plan"]  # the study's id
        named = study + "@" + picked[Param.FEATURE_SET] if Param.FEATURE_SET in picked else study  # several sets
        table.insert(0, "status", (study.isin(incomplete) | named.isin(incomplete)).map(
            {True: "incomplete", False: ""}))
    return table


def _named_sets(frame: pd.DataFrame) -> bool:
    """Whether ``frame``'s rows are labelled with their feature set (:func:`~._collect.variant`): another than IS10."""
    return Param.FEATURE_SET in frame and bool((frame[Param.FEATURE_SET] != PAPER_FEATURE_SET).any())


def write_report(trials: pd.DataFrame, out: Path, *, title: str = "distser results",
                 sweep: pd.DataFrame | None = None, histories: pd.DataFrame | None = None,
                 baseline: str = "ce", resamples: int = RESAMPLES, notes: list[str] | None = None,
                 incomplete: set[str] | None = None) -> list[Path]:
    """Every table and figure of the report under ``out`` (created); returns the files written.

    ``sweep``: trials of a λ_W sweep (e.g. ``distser search --method cww --grid``) kept apart from
    ``trials`` so that Table 2's cww row stays the configuration its own search selected; they draw
    Figure 2 and its table. ``histories``: :func:`~distser.report.weight_histories` of the evaluated
    trials of weighting methods (the corpus weights figure; none without them). ``notes``: lines shown
    first (an unfinished search); ``incomplete``: studies marked as such in the selected configurations.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def csv(frame: pd.DataFrame, name: str, index: bool = False) -> None:
        frame.to_csv(out / name, index=index)
        written.append(out / name)

    long = table2(trials)
    wide = table2_wide(long)
    csv(long, "table2.csv")
    picked = selections(trials)
    csv(picked, "selected.csv")
    paired = paired_differences(trials, baseline, resamples=resamples)
    csv(paired, "paired_differences.csv")
    # Each normalisation's and each feature set's own ce, when the report has one: what the method adds there.
    # (The baseline's own label is the paper's normalisation and feature set: every other row pairs with it too.)
    same = {}
    for label in ordered(trials["method"].unique()):
        if base_method(label) == baseline and suffix(label):
            mine = trials[trials["method"].map(suffix) == suffix(label)]
            if mine["method"].nunique() > 1:
                same[label] = paired_differences(mine, label, resamples=resamples)
    if same:
        csv(pd.concat(list(same.values()), ignore_index=True),
            "paired_differences_same_normalisation.csv")
    # Each row against the same method and normalisation on IS10 with its targets adapted: what the feature
    # set alone, or not adapting, changes (a searched normalisation has no plain `ce` row to pair with; the
    # baseline's own pairs are above).
    labels = ordered(trials["method"].unique())
    counterparts: dict[str, list[str]] = {}
    for label in labels:
        reference = same_row_on_paper_set_adapted(label)
        if reference != label and reference in labels and reference != baseline:
            counterparts.setdefault(reference, []).append(label)
    across = {reference: paired_differences(trials[trials["method"].isin([reference, *others])], reference,
                                            resamples=resamples)
              for reference, others in counterparts.items()}
    if across:
        csv(pd.concat(list(across.values()), ignore_index=True), "paired_differences_same_method.csv")
    # Each row whose normalisation was searched against the baseline with the normalisation its study selected
    # (per held-out corpus): the method's own share of its gain over the paper's setting.
    alike = {}
    for label in labels:
        if searched_normalisation(label) and base_method(label) != baseline:
            reference = baseline_of_the_selected_normalisation(trials, label, baseline)
            if not reference.empty:
                alike[label] = paired_differences(pd.concat([trials[trials["method"] == label], reference],
                                                            ignore_index=True),
                                                  same_normalisation_label(baseline), resamples=resamples)
    alike_paired = pd.concat(list(alike.values()), ignore_index=True) if alike else None
    if alike_paired is not None:
        csv(alike_paired, "paired_differences_same_selected_normalisation.csv")
    best = oracle(trials)
    if not best.empty:
        csv(best, "oracle.csv")
    weighting = weighting_methods(trials)
    weights = {m: table3(trials, m) for m in weighting}
    weights = {m: w for m, w in weights.items() if not w.empty}
    if weights:
        csv(pd.concat([w.reset_index().assign(method=m) for m, w in weights.items()], ignore_index=True)
            .pipe(lambda f: f[["method", *(c for c in f.columns if c != "method")]]), "table3.csv")
    per_lambda = lambda_sweep(trials if sweep is None else sweep)
    if not per_lambda.empty:
        csv(per_lambda, "lambda_sweep.csv")

    figures = [figure1(trials, out / "figure1.png"), figure2(trials, out / "figure2.png", sweep=sweep),
               figure_weights(histories, out / "weights.png") if histories is not None else None]
    written += [f for f in figures if f is not None]

    searches = sorted(set(trials["search"]) | (set() if sweep is None else set(sweep["search"])))
    counted = trials if sweep is None else pd.concat([trials, sweep])
    used = sorted(set(picked["selection"])) if not picked.empty else []
    lines = [f"# {title}", ""] + [f"**Warning: {note}.**\n" for note in notes or []]
    lines += [f"Searches: {', '.join(searches)}; {_counts(counted)}.", ""]
    lines += [f"Selection: **{name}**: {STRATEGIES[name].description}." for name in used] + [""]
    lines += [f"## Table 2: test UA (%) of the selected configuration ({', '.join(used) or '–'}), "
              "mean ± std over seeds", "", markdown_table(wide) if not wide.empty else "(no finished trials)", ""]
    if _named_sets(trials):
        lines += ["`{set}`: the feature set of the row's trials, each set its own studies (selected on its own); a "
                  f"row without one used {PAPER_FEATURE_SET}, the paper's. Rows are paired by (held-out corpus, seed) "
                  f"below: against {baseline} ({PAPER_FEATURE_SET}), against {baseline} of the same set, and against "
                  f"the same method and normalisation on {PAPER_FEATURE_SET}.", ""]
    if (long["kind"] == "test-only").any():
        lines += [f"`<corpus>{TEST_ONLY}`: a corpus never trained, validated or selected on; the mean over the "
                  "method's held-out corpora of the selected configuration's test UA on it. Avg: the mean over "
                  "held-out corpora.", ""]
    if not picked.empty:
        lines += ["## Selected configurations", "",
                  "score: the strategy's mean score of the configuration (validation data only).", "",
                  markdown_table(_selected_table(picked, incomplete or set()), index=False), ""]
    for base, differences in [(baseline, paired), *same.items(), *across.items()]:
        if not differences.empty:
            lines += _paired_section(differences, base, resamples)
    if alike_paired is not None:
        reference = same_normalisation_label(baseline)
        lines += _paired_section(alike_paired, reference, resamples,
                                 note=f"`{reference}`: per held-out corpus, {baseline} with the normalisation the "
                                 "row's study selected there (that search's trials, paired by seed): what the "
                                 "method adds once the normalisation is the same.")
    if not best.empty:
        lines += ["## Oracle (upper bound, not a selection): the configuration with the best mean test UA", "",
                  "Not a selection: the test corpus itself picks the configuration, so this is an upper bound on "
                  "what any selection from validation data could reach (train-domain studies that tried more "
                  "than one configuration). Test UA (%), mean ± std over the seeds both configurations finished (the "
                  "same seeds on both sides); gap = oracle − selected over those seeds.", "",
                  markdown_table(oracle_wide(best)), ""]
    for method, table in weights.items():
        lines += [f"## Table 3: corpus weights at the end of training ({method}), mean over seeds", "",
                  markdown_table(table), ""]
    if not per_lambda.empty:
        lines += ["## Figure 2's data: cww test UA (%) per λ_W, mean over seeds (* = λ_W the selection chose)", "",
                  markdown_table(_sweep_wide(per_lambda)), ""]
    for figure in figures:
        if figure is not None:
            lines += [f"![{figure.stem}]({figure.name})", ""]
    (out / "README.md").write_text("\n".join(lines))
    written.append(out / "README.md")
    return written


def _paired_section(paired: pd.DataFrame, baseline: str, resamples: int, note: str = "") -> list[str]:
    """The report's paired differences against ``baseline``, a table per target (``note``: a line under each
    heading, saying what the baseline is)."""
    lines: list[str] = []
    for target in dict.fromkeys(paired["target"]):
        what = "the held-out corpus" if target == HELD_OUT else f"{target}{TEST_ONLY}"
        pair = "held-out corpus" if target == HELD_OUT else "held-out fold"
        pairs = "held-out corpora" if target == HELD_OUT else "held-out folds"
        lines += [f"## Paired differences against {baseline}: test UA on {what}, in UA points", ""]
        lines += [note, ""] if note else []
        lines += [f"Unit: a seed within a {pair}; pairs: ({pair}, seed), each method at its own selected "
                  f"configuration. Per {pair}: mean difference over its seeds, 95 % t interval (n = seeds). "
                  f"Avg: mean over {pairs} of their mean differences, 95 % hierarchical bootstrap interval "
                  f"({pairs} resampled, then seeds within each; {resamples:,} resamples). "
                  "wins/losses: pairs above/below the baseline.", ""]
        few = int(paired.loc[(paired["target"] == target) & (paired["holdout"] == "Avg"), "corpora"].min())
        if few < FEW_CORPORA:
            lines += [f"With {few} {pairs if few > 1 else pair} the bootstrap interval of Avg is too narrow: it "
                      f"cannot see the spread between {pairs} that were not run; read it as a lower bound of the "
                      "uncertainty.", ""]
        lines += [markdown_table(paired_wide(paired, target)), ""]
    return lines


def _sweep_wide(per_lambda: pd.DataFrame) -> pd.DataFrame:
    """λ_W rows × held-out corpora of test UA, the selected cell starred, Avg last."""
    cells = per_lambda.assign(cell=[f"{t:.1f}{' *' if chosen else ''}"
                                    for t, chosen in zip(per_lambda["test_ua"], per_lambda["selected"], strict=True)])
    wide = cells.pivot(index="lambda_w", columns="holdout", values="cell")
    wide["Avg"] = per_lambda.groupby("lambda_w")["test_ua"].mean().map(lambda v: f"{v:.1f}")
    chosen = per_lambda[per_lambda["selected"]]
    if not chosen.empty:
        per_holdout = chosen.groupby("holdout")["test_ua"].mean()
        wide.loc["selected"] = {**{h: f"{t:.1f}" for h, t in per_holdout.items()},
                                "Avg": f"{per_holdout.mean():.1f}"}
    wide.index.name = "λ_W"
    wide.columns.name = None
    return wide.fillna("–")


def log_report(tracking_uri: str, searches: list[str], files: list[Path], experiment: str = EXPERIMENT) -> None:
    """Attach the report files to each search's parent run (under ``report/``)."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, tracking_uri, experiment)
    for search in searches:
        for parent in _search_runs(client, experiment_id,
                                   f"tags.`{Tag.SEARCH}` = '{search}' and tags.`{Tag.ROLE}` = '{Role.SEARCH}'"):
            for path in files:
                client.log_artifact(parent.info.run_id, str(path), artifact_path="report")
