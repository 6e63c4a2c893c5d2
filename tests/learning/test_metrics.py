"""UA, WA and the confusion matrix on hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distser.learning import confusion_matrix, unweighted_accuracy, weighted_accuracy


def test_confusion_rows_are_true_classes():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred, 4)
    assert cm.shape == (4, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]


def test_ua_is_mean_recall_over_present_classes():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    # recalls: class 0 1/2, class 1 1/1, class 2 2/3; class 3 absent and not averaged
    assert unweighted_accuracy(y_true, y_pred) == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert weighted_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_ua_differs_from_wa_on_imbalance():
    y_true = np.array([0] * 9 + [1])
    y_pred = np.zeros(10, dtype=np.int64)
    assert weighted_accuracy(y_true, y_pred) == pytest.approx(0.9)
    assert unweighted_accuracy(y_true, y_pred) == pytest.approx(0.5)


def test_unlabeled_rows_ignored_and_empty_is_nan():
    y_true = np.array([0, -1, 1])
    y_pred = np.array([0, 1, 0])
    assert unweighted_accuracy(y_true, y_pred) == pytest.approx(0.5)
    assert confusion_matrix(y_true, y_pred, 2).sum() == 2
    assert math.isnan(unweighted_accuracy(np.array([-1]), np.array([0])))
    assert math.isnan(weighted_accuracy(np.array([], dtype=np.int64), np.array([], dtype=np.int64)))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        unweighted_accuracy(np.array([0, 1]), np.array([0]))
