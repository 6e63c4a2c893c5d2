"""The paper's figures from a trial table (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ._tables import lambda_sweep, selected_trials  # noqa: E402

#: Fig. 1 pairs each system with its CWW variant.
FIGURE1_PAIRS = (("ce", "cww"), ("unsup", "cww+unsup"), ("unigram", "cww+unigram"), ("pel-al", "cww+pel-al"))


def figure1(trials: pd.DataFrame, path: Path) -> Path | None:
    """Per-corpus training UA (bars, left axis) and test UA (line, right axis), with and without CWW.

    One panel per held-out corpus; training UAs are the last epoch's, averaged over the seeds of the
    selected configuration. Returns None when no method pair of :data:`FIGURE1_PAIRS` is present.
    """
    chosen = selected_trials(trials)
    methods = [m for pair in FIGURE1_PAIRS for m in pair if m in set(chosen["method"])]
    if not methods:
        return None
    holdouts = sorted(chosen.loc[chosen["method"].isin(methods), "holdout"].unique())
    figure, axes = plt.subplots(1, len(holdouts), figsize=(4.2 * len(holdouts), 3.6), squeeze=False)
    for axis, holdout in zip(axes[0], holdouts, strict=True):
        part = chosen[(chosen["holdout"] == holdout) & chosen["method"].isin(methods)]
        corpora = sorted(c.split("/", 1)[1] for c in part.columns
                         if c.startswith("train_ua/") and part[c].notna().any())
        means = part.groupby("method")[[f"train_ua/{c}" for c in corpora] + ["test_ua"]].mean().reindex(methods)
        x = np.arange(len(methods))
        width = 0.8 / max(1, len(corpora))
        for k, corpus in enumerate(corpora):
            axis.bar(x + (k - (len(corpora) - 1) / 2) * width, 100 * means[f"train_ua/{corpus}"], width,
                     label=corpus)
        axis.set_xticks(x, methods, rotation=35, ha="right", fontsize=8)
        axis.set_ylabel("training UA (%)")
        axis.set_title(f"held out: {holdout}")
        twin = axis.twinx()
        twin.plot(x, 100 * means["test_ua"], "o-", color="tab:red", label="test UA")
        twin.set_ylabel("test UA (%)", color="tab:red")
        axis.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def figure2(trials: pd.DataFrame, path: Path, method: str = "cww", baseline: str = "merged",
            sweep: pd.DataFrame | None = None) -> Path | None:
    """Test UA against λ_W (mean over seeds, per held-out corpus and their average), merged baseline dashed.

    The curves use every finished trial of ``method`` in ``sweep`` (e.g. a ``--grid`` search over
    λ_W; default: ``trials``), not only the selected one; the baseline is ``baseline``'s selected
    configuration in ``trials``.
    """
    per = lambda_sweep(trials if sweep is None else sweep, method)
    if per.empty:
        return None
    per = per.pivot(index="lambda_w", columns="holdout", values="test_ua")
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for holdout in per.columns:
        axis.plot(per.index, per[holdout], "o-", alpha=0.6, label=holdout)
    axis.plot(per.index, per.mean(axis=1), "s-", color="black", linewidth=2, label="Avg")
    merged = selected_trials(trials)
    merged = merged[merged["method"] == baseline]
    if not merged.empty:
        axis.axhline(100 * merged.groupby("holdout")["test_ua"].mean().mean(), color="black", linestyle="--",
                     label=f"{baseline} (Avg)")
    axis.set_xlabel("λ_W")
    axis.set_ylabel("test UA (%)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
