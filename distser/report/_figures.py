"""The paper's figures from a trial table, and the corpus weights over epochs (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ._collect import TRAIN_UA  # noqa: E402
from ._tables import evaluated, lambda_sweep  # noqa: E402

#: Fig. 1 pairs each system with its CWW variant.
FIGURE1_PAIRS = (("ce", "cww"), ("unsup", "cww+unsup"), ("unigram", "cww+unigram"), ("pel-al", "cww+pel-al"))


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def figure1(trials: pd.DataFrame, path: Path) -> Path | None:
    """Per-corpus training UA (bars) and test UA (black line), with and without CWW, on one axis.

    One panel per held-out corpus; training UAs are those of each trial's best epoch, averaged over the
    evaluated trials of the selected configuration. Training and test UA share the axis (0-100 %, chance
    at 25 % dotted), so a gap of a point looks like one; a corpus has one colour in every panel.
    Returns None when no method of :data:`FIGURE1_PAIRS` is present.
    """
    chosen = evaluated(trials)
    chosen = chosen[chosen["holdout"] != "-"]
    methods = [m for pair in FIGURE1_PAIRS for m in pair if m in set(chosen["method"])]
    if not methods:
        return None
    chosen = chosen[chosen["method"].isin(methods)]
    holdouts = sorted(chosen["holdout"].unique())
    colours = {c: f"C{i % 10}" for i, c in enumerate(sorted(
        c.removeprefix(TRAIN_UA) for c in chosen.columns if c.startswith(TRAIN_UA) and chosen[c].notna().any()))}
    figure, axes = plt.subplots(1, len(holdouts), figsize=(4.2 * len(holdouts), 3.6), squeeze=False, sharey=True)
    for axis, holdout in zip(axes[0], holdouts, strict=True):
        part = chosen[chosen["holdout"] == holdout]
        corpora = [c for c in colours if part[f"{TRAIN_UA}{c}"].notna().any()]
        means = part.groupby("method")[[f"{TRAIN_UA}{c}" for c in corpora] + ["test_ua"]].mean().reindex(methods)
        x = np.arange(len(methods))
        width = 0.8 / max(1, len(corpora))
        for k, corpus in enumerate(corpora):
            axis.bar(x + (k - (len(corpora) - 1) / 2) * width, 100 * means[f"{TRAIN_UA}{corpus}"], width,
                     color=colours[corpus], label=f"train: {corpus}")
        axis.plot(x, 100 * means["test_ua"], "o-", color="black", label=f"test: {holdout}")
        axis.axhline(25, color="grey", linewidth=0.8, linestyle=":", label="chance (25 %)")
        axis.set_ylim(0, 100)
        axis.set_xticks(x, methods, rotation=35, ha="right", fontsize=8)
        axis.set_ylabel("UA (%)")
        axis.set_title(f"held out: {holdout}")
        axis.legend(fontsize=7, loc="lower left")
    return _save(figure, path)


def figure2(trials: pd.DataFrame, path: Path, method: str = "cww", baseline: str = "merged",
            sweep: pd.DataFrame | None = None) -> Path | None:
    """Test UA against λ_W (mean over seeds, per held-out corpus and their average), the baseline dashed.

    The curves use every finished trial of ``method`` in ``sweep`` (e.g. a ``--grid`` search over
    λ_W, whose value each trial's configuration holds; default: ``trials``), not only the selected
    one; the baseline is ``baseline``'s selected configuration in ``trials``.
    """
    per = lambda_sweep(trials if sweep is None else sweep, method)
    if per.empty:
        return None
    per = per.pivot(index="lambda_w", columns="holdout", values="test_ua")
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for holdout in per.columns:
        axis.plot(per.index, per[holdout], "o-", alpha=0.6, label=holdout)
    axis.plot(per.index, per.mean(axis=1), "s-", color="black", linewidth=2, label="Avg")
    merged = evaluated(trials)
    merged = merged[(merged["method"] == baseline) & (merged["holdout"] != "-")]
    if not merged.empty:
        axis.axhline(100 * merged.groupby("holdout")["test_ua"].mean().mean(), color="black", linestyle="--",
                     label=f"{baseline} (Avg)")
    axis.set_xlabel("λ_W")
    axis.set_ylabel("test UA (%)")
    axis.legend(fontsize=7)
    return _save(figure, path)


def figure_weights(histories: pd.DataFrame, path: Path) -> Path | None:
    """Corpus weights over epochs: a row of panels per weighting method, a panel per held-out corpus.

    ``histories``: :func:`~distser.report.weight_histories` of the evaluated trials. In each panel, a
    thick line per training corpus is the mean over the evaluated seeds of its weight at each epoch,
    and a thin line of the same colour is each seed's. Returns None without histories.
    """
    if histories.empty:
        return None
    methods = list(dict.fromkeys(histories["method"]))
    holdouts = sorted(histories["holdout"].unique())
    figure, axes = plt.subplots(len(methods), len(holdouts), figsize=(3.8 * len(holdouts), 2.9 * len(methods)),
                                squeeze=False, sharex=True)
    corpora = sorted(histories["corpus"].unique())
    colours = {c: f"C{i % 10}" for i, c in enumerate(corpora)}
    for row, method in zip(axes, methods, strict=True):
        for axis, holdout in zip(row, holdouts, strict=True):
            part = histories[(histories["method"] == method) & (histories["holdout"] == holdout)]
            if part.empty:
                axis.set_visible(False)
                continue
            for corpus, lines in part.groupby("corpus", sort=True):
                for _, seed in lines.groupby("run_id"):
                    seed = seed.sort_values("epoch")
                    axis.plot(seed["epoch"], seed["weight"], color=colours[corpus], linewidth=0.6, alpha=0.45)
                mean = lines.groupby("epoch")["weight"].mean()
                axis.plot(mean.index, mean.to_numpy(), color=colours[corpus], linewidth=2, label=corpus)
            axis.axhline(1.0, color="grey", linewidth=0.6, linestyle=":")
            axis.set_title(f"{method} · held out: {holdout}", fontsize=9)
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylabel("corpus weight")
            axis.legend(fontsize=7)
    return _save(figure, path)
