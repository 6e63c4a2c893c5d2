"""Write the report (Markdown + CSV tables, PNG figures) and log it to the searches' parent runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from distser.learning import TABLE2_METHODS
from distser.search._tracking import ROLE_TAG, SEARCH_TAG

from ._figures import figure1, figure2
from ._tables import lambda_sweep, paired_differences, table2, table2_wide, table3


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table of ``frame`` (pandas' ``to_markdown`` would need tabulate)."""
    table = frame.reset_index() if index else frame
    header = [str(c) for c in table.columns]
    rows = [[("–" if v != v else f"{v:.2f}") if isinstance(v, float) else str(v)  # v != v: NaN
             for v in row] for row in table.itertuples(index=False)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows])


def write_report(trials: pd.DataFrame, out: Path, *, title: str = "distser results",
                 sweep: pd.DataFrame | None = None) -> list[Path]:
    """Tables 2 and 3, the paired differences against ``ce`` and Figures 1 and 2 under ``out``.

    ``sweep``: trials of a λ_W sweep (e.g. ``search.py --method cww --grid``) kept apart from ``trials``
    so that Table 2's cww row stays the configuration its own search selected; they draw Figure 2 and
    its table. Without it, Figure 2 uses the cww trials of ``trials``.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    long = table2(trials)
    wide = table2_wide(long)
    long.to_csv(out / "table2.csv", index=False)
    weights = table3(trials)
    if not weights.empty:
        weights.to_csv(out / "table3.csv")
    paired = paired_differences(trials)
    paired.to_csv(out / "paired_differences.csv", index=False)
    written += [out / "table2.csv", out / "paired_differences.csv"]
    if not weights.empty:
        written.append(out / "table3.csv")
    per_lambda = lambda_sweep(trials if sweep is None else sweep)
    if not per_lambda.empty:
        per_lambda.to_csv(out / "lambda_sweep.csv", index=False)
        written.append(out / "lambda_sweep.csv")

    figures = [figure1(trials, out / "figure1.png"), figure2(trials, out / "figure2.png", sweep=sweep)]
    written += [f for f in figures if f is not None]

    searches = sorted(set(trials["search"]) | (set() if sweep is None else set(sweep["search"])))
    counted = trials if sweep is None else pd.concat([trials, sweep])
    lines = [f"# {title}", "",
             f"Searches: {', '.join(searches)}; {len(counted)} trials, "
             f"{int(counted['finished'].sum())} trained to their end.", "",
             "## Table 2: test UA (%) of the validation-selected configuration, mean ± std over seeds", "",
             markdown_table(wide), ""]
    absent = [m for m in TABLE2_METHODS if m not in set(trials["method"])]
    if absent:
        lines += [f"Table 2 methods without runs here: {', '.join(absent)}.", ""]
    if not weights.empty:
        lines += ["## Table 3: corpus-wise weights of the last epoch (cww)", "",
                  markdown_table(weights), ""]
    if not paired.empty:
        lines += ["## Paired differences against ce (UA points; pairs = held-out corpus × seed; 95 % t interval)", "",
                  markdown_table(paired, index=False), ""]
    if not per_lambda.empty:
        lines += ["## Figure 2's data: cww test UA (%) per λ_W, mean over seeds (* = λ_W chosen on validation)", "",
                  markdown_table(_sweep_wide(per_lambda)), ""]
    for figure in figures:
        if figure is not None:
            lines += [f"![{figure.stem}]({figure.name})", ""]
    (out / "README.md").write_text("\n".join(lines))
    written.append(out / "README.md")
    return written


def _sweep_wide(per_lambda: pd.DataFrame) -> pd.DataFrame:
    """λ_W rows × held-out corpora of test UA, the validation-chosen cell starred, Avg last."""
    cells = per_lambda.assign(cell=[f"{t:.1f}{' *' if chosen else ''}"
                                    for t, chosen in zip(per_lambda["test_ua"], per_lambda["selected"], strict=True)])
    wide = cells.pivot(index="lambda_w", columns="holdout", values="cell")
    wide["Avg"] = per_lambda.groupby("lambda_w")["test_ua"].mean().map(lambda v: f"{v:.1f}")
    chosen = per_lambda[per_lambda["selected"]]
    wide.loc["selected on validation"] = {**{h: f"{t:.1f}" for h, t in zip(chosen["holdout"], chosen["test_ua"],
                                                                             strict=True)},
                                          "Avg": f"{chosen['test_ua'].mean():.1f}"}
    wide.index.name = "λ_W"
    return wide


def log_report(tracking_uri: str, searches: list[str], files: list[Path], experiment: str = "distser") -> None:
    """Attach the report files to each search's parent run (under ``report/``)."""
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    for search in searches:
        for parent in client.search_runs([found.experiment_id],
                                         f"tags.`{SEARCH_TAG}` = '{search}' and tags.`{ROLE_TAG}` = 'search'"):
            for path in files:
                client.log_artifact(parent.info.run_id, str(path), artifact_path="report")
