"""What a user looks at per selected model: confusion matrix, per-class report, corpus weights over epochs."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from distser.arrays import EMOTIONS  # noqa: E402

#: Artifact names written by :func:`log_diagnostics` (under its ``artifact_path``).
CONFUSION_PNG, REPORT_CSV, REPORT_MD, WEIGHTS_PNG, WEIGHTS_CSV = (
    "confusion_matrix.png", "class_report.csv", "class_report.md", "corpus_weights.png", "corpus_weights.csv")
MACRO = "macro avg"


def _confusion(confusion: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[str]) -> np.ndarray:
    matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix of shape {matrix.shape} for {len(classes)} classes")
    return matrix


def class_report(confusion: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[str] = EMOTIONS) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (rows = true class), plus a ``macro avg`` row.

    The macro row's recall is the UA (mean recall over the classes present); its precision and F1
    are means over the same classes; its support is the total. A class never predicted has precision 0.

    Example:
        >>> class_report([[3, 1], [0, 4]], ["a", "b"]).round(3).to_dict("index")["macro avg"]
        {'precision': 0.9, 'recall': 0.875, 'f1': 0.873, 'support': 8.0}
    """
    matrix = _confusion(confusion, classes)
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, np.nan)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(support > 0, f1, np.nan)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                         index=pd.Index(list(classes), name="class"))
    present = support > 0
    frame.loc[MACRO] = [float(precision[present].mean()) if present.any() else np.nan,
                        float(recall[present].mean()) if present.any() else np.nan,
                        float(f1[present].mean()) if present.any() else np.nan,
                        float(support.sum())]
    return frame


def confusion_figure(confusion: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[str], path: str | Path,
                     title: str | None = None) -> Path:
    """Heat map of the confusion matrix: counts and row percentages (recall), true class per row."""
    matrix = _confusion(confusion, classes)
    support = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, support, out=np.zeros(matrix.shape), where=support > 0)
    ua = class_report(matrix, classes).loc[MACRO, "recall"]
    figure, axis = plt.subplots(figsize=(1.2 * len(classes) + 2.2, 1.1 * len(classes) + 1.4))
    image = axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            axis.text(j, i, f"{matrix[i, j]}\n{100 * share[i, j]:.0f} %", ha="center", va="center", fontsize=8,
                      color="white" if share[i, j] > 0.6 else "black")
    axis.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title or f"UA {100 * ua:.1f} % ({int(matrix.sum())} clips)", fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def weights_table(epochs: Sequence[Mapping[str, float]] | pd.DataFrame) -> pd.DataFrame:
    """Corpus weights as a frame: index ``epoch`` (1, 2, ...), one column per corpus.

    Accepts a list of ``{corpus: weight}`` dicts (one per epoch) or a frame with one column per
    corpus (names may carry the ``weight/`` prefix of the MLflow metrics) and optionally ``epoch``.
    """
    if isinstance(epochs, pd.DataFrame):
        frame = epochs.copy()
        if "epoch" in frame.columns:
            frame = frame.set_index("epoch")
        frame = frame[[c for c in frame.columns if c != "epoch"]]
    else:
        frame = pd.DataFrame(list(epochs), index=pd.RangeIndex(1, len(epochs) + 1))
    frame.columns = [str(c).removeprefix("weight/") for c in frame.columns]
    frame.index.name = "epoch"
    return frame.astype(np.float64)


def weights_figure(epochs: Sequence[Mapping[str, float]] | pd.DataFrame, path: str | Path,
                   title: str | None = None) -> Path:
    """Corpus-wise weights over epochs, one line per training corpus (1 = the uniform weight)."""
    frame = weights_table(epochs)
    if frame.empty:
        raise ValueError("no corpus weights to draw")
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for corpus in frame.columns:
        axis.plot(frame.index, frame[corpus], "o-" if len(frame) <= 30 else "-", markersize=3, label=corpus)
    axis.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("corpus weight $w_d$")
    axis.set_title(title or "corpus-wise weights over epochs", fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def run_weights(run_id: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """The ``weight/<corpus>`` metric histories of a trial run, as :func:`weights_table` rows (by step)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    names = [k for k in client.get_run(run_id).data.metrics if k.startswith("weight/")]
    series = {}
    for key in names:
        history = client.get_metric_history(run_id, key)
        series[key.removeprefix("weight/")] = pd.Series({m.step: m.value for m in history})
    frame = pd.DataFrame(series).sort_index()
    frame.index.name = "epoch"
    return frame


def log_diagnostics(
    run_id: str,
    *,
    confusion: Sequence[Sequence[int]] | np.ndarray | None = None,
    classes: Sequence[str] = EMOTIONS,
    weights: Sequence[Mapping[str, float]] | pd.DataFrame | None = None,
    tracking_uri: str | None = None,
    artifact_path: str = "diagnostics",
) -> list[str]:
    """Log the confusion matrix PNG, the class report (CSV, Markdown) and the corpus-weight figure on a run.

    ``confusion`` defaults to the run's ``final_metrics.json`` (``confusion``) and ``weights`` to its
    ``weight/<corpus>`` metric histories; the weight figure is skipped when the run logged none.
    Returns the artifact paths written.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    if confusion is None:
        confusion = _run_confusion(client, run_id)
    if weights is None:
        weights = run_weights(run_id, tracking_uri)
    written = []
    with tempfile.TemporaryDirectory(prefix="distser-diagnostics-") as folder:
        out = Path(folder)
        confusion_figure(confusion, classes, out / CONFUSION_PNG)
        report = class_report(confusion, classes)
        report.to_csv(out / REPORT_CSV, float_format="%.4f")
        (out / REPORT_MD).write_text(_markdown(report))
        written += [CONFUSION_PNG, REPORT_CSV, REPORT_MD]
        table = weights_table(weights)
        if not table.empty:
            weights_figure(table, out / WEIGHTS_PNG)
            table.to_csv(out / WEIGHTS_CSV, float_format="%.6g")
            written += [WEIGHTS_PNG, WEIGHTS_CSV]
        client.log_artifacts(run_id, folder, artifact_path)
    return [f"{artifact_path}/{name}" for name in written]


def _run_confusion(client, run_id: str) -> list[list[int]]:
    try:
        path = client.download_artifacts(run_id, "final_metrics.json")
    except Exception as error:
        raise FileNotFoundError(f"run {run_id} has no final_metrics.json to read the confusion matrix from; "
                                "pass confusion=") from error
    return json.loads(Path(path).read_text())["confusion"]


def _markdown(report: pd.DataFrame) -> str:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in report.iterrows():
        cells = [f"{100 * row[c]:.1f} %" if np.isfinite(row[c]) else "–" for c in ("precision", "recall", "f1")]
        lines.append(f"| {name} | {' | '.join(cells)} | {int(row['support'])} |")
    lines.append("")
    lines.append(f"UA (macro-average recall): {100 * report.loc[MACRO, 'recall']:.1f} %")
    return "\n".join(lines) + "\n"
