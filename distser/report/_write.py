"""Write the report (Markdown + CSV tables, PNG figures) and log it to the searches' parent runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from distser.search._tracking import ROLE_TAG, SEARCH_TAG

from ._figures import figure1, figure2
from ._tables import paired_differences, table2, table2_wide, table3


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table of ``frame`` (pandas' ``to_markdown`` would need tabulate)."""
    table = frame.reset_index() if index else frame
    header = [str(c) for c in table.columns]
    rows = [[("–" if v != v else f"{v:.2f}") if isinstance(v, float) else str(v)  # v != v: NaN
             for v in row] for row in table.itertuples(index=False)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows])


def write_report(trials: pd.DataFrame, out: Path, *, title: str = "distser results") -> list[Path]:
    """Tables 2 and 3, the paired differences against ``ce`` and Figures 1 and 2 under ``out``."""
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

    figures = [figure1(trials, out / "figure1.png"), figure2(trials, out / "figure2.png")]
    written += [f for f in figures if f is not None]

    lines = [f"# {title}", "",
             f"Searches: {', '.join(sorted(trials['search'].unique()))}; {len(trials)} trials, "
             f"{int(trials['finished'].sum())} trained to their end.", "",
             "## Table 2: test UA (%) of the validation-selected configuration, mean ± std over seeds", "",
             markdown_table(wide), ""]
    if not weights.empty:
        lines += ["## Table 3: corpus-wise weights of the last epoch (cww)", "",
                  markdown_table(weights), ""]
    if not paired.empty:
        lines += ["## Paired differences against ce (UA points; pairs = held-out corpus × seed; 95 % t interval)", "",
                  markdown_table(paired, index=False), ""]
    for figure in figures:
        if figure is not None:
            lines += [f"![{figure.stem}]({figure.name})", ""]
    (out / "README.md").write_text("\n".join(lines))
    written.append(out / "README.md")
    return written


def log_report(tracking_uri: str, searches: list[str], files: list[Path], experiment: str = "distser") -> None:
    """Attach the report files to each search's parent run (under ``report/``)."""
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    for search in searches:
        for parent in client.search_runs([found.experiment_id],
                                         f"tags.`{SEARCH_TAG}` = '{search}' and tags.`{ROLE_TAG}` = 'search'"):
            for path in files:
                client.log_artifact(parent.info.run_id, str(path), artifact_path="report")
