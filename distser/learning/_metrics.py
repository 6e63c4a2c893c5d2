"""Evaluation metrics (numpy): unweighted accuracy (UA), weighted accuracy (WA), confusion matrix.

Rows whose true label is negative (:data:`distser.arrays.UNLABELED`) are ignored everywhere.
"""

from __future__ import annotations

import numpy as np

from ..arrays import EMOTIONS


def _labeled(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D of equal length")
    keep = y_true >= 0
    return y_true[keep], y_pred[keep]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = len(EMOTIONS)) -> np.ndarray:
    """C×C count matrix, rows = true class, columns = predicted class.

    Example:
        >>> confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), 2).tolist()
        [[1, 1], [0, 1]]
    """
    t, p = _labeled(y_true, y_pred)
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat[: num_classes * num_classes].reshape(num_classes, num_classes)


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = len(EMOTIONS)) -> float:
    """UA: mean per-class recall over the classes present in ``y_true`` (NaN without labeled rows).

    Example:
        >>> unweighted_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))  # (2/3 + 1) / 2
        0.8333333333333333
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """WA: plain accuracy over labeled rows (NaN without labeled rows).

    Example:
        >>> weighted_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
        0.75
    """
    t, p = _labeled(y_true, y_pred)
    return float(np.mean(t == p)) if len(t) else float("nan")
