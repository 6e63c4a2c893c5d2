"""Loss terms on hand-computed cases (eq. 1-4 and the compared methods)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from distser.arrays import EMOTIONS
from distser.learning import (
    class_prior,
    class_weights,
    confidence_penalty,
    corpus_weights,
    cross_entropy_per_sample,
    entropy,
    focal_loss,
    multi_corpus_loss,
    one_hot_targets,
    pel_loss,
    pel_target,
    reconstruction_loss,
    soft_label_targets,
    uniform_smoothing_targets,
    unigram_smoothing_targets,
    weighted_cross_entropy,
)


def _close(a: torch.Tensor | float, b: torch.Tensor | float, tol: float = 1e-6) -> bool:
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), atol=tol)


# ---------------------------------------------------------------- eq. (1): class weights α
def test_class_weights_hand_case():
    # counts in the minibatch: class 0 three times, class 1 once; K = 2 classes present, M = 4.
    # α_i = M / (K n_{y_i}): 4/(2*3) = 2/3 for class 0, 4/(2*1) = 2 for class 1; mean 1.
    alpha = class_weights(torch.tensor([0, 0, 0, 1]), 4)
    assert _close(alpha, [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert _close(alpha.mean(), 1.0)
    # inversely proportional to the class count
    assert _close(alpha[3] / alpha[0], 3.0)


def test_class_weights_balanced_is_ones_and_batched_rows_are_independent():
    assert _close(class_weights(torch.tensor([0, 1, 2, 3]), 4), torch.ones(4))
    batched = class_weights(torch.tensor([[0, 0, 0, 1], [2, 2, 3, 3]]), 4)
    assert _close(batched[0], [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert _close(batched[1], torch.ones(4))
    # a minibatch of one class only: every weight is 1
    assert _close(class_weights(torch.tensor([2, 2, 2]), 4), torch.ones(3))


def test_weighted_cross_entropy_hand_case():
    log_probs = torch.log(torch.tensor([[0.5, 0.25, 0.25, 0.0 + 1e-30], [0.1, 0.2, 0.3, 0.4]]))
    y = one_hot_targets(torch.tensor([0, 3]), 4)
    assert _close(weighted_cross_entropy(log_probs, y), (math.log(2) + math.log(2.5)) / 2)
    alpha = torch.tensor([2.0, 0.5])
    assert _close(weighted_cross_entropy(log_probs, y, alpha), (2 * math.log(2) + 0.5 * math.log(2.5)) / 2)


def test_weighted_cross_entropy_with_unit_alpha_equals_torch():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 4), torch.randint(0, 4, (16,))
    ours = weighted_cross_entropy(F.log_softmax(logits, 1), one_hot_targets(labels, 4), torch.ones(16))
    assert _close(ours, F.cross_entropy(logits, labels), 1e-6)


# ---------------------------------------------------------------- eq. (2)
def test_multi_corpus_loss_eq2():
    losses = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)]
    assert _close(multi_corpus_loss(losses), 7 / 3)  # eq. (1): plain mean over corpora
    assert _close(multi_corpus_loss(losses, [0.5, 1.0, 1.5]), (0.5 + 2 + 6) / 3)


# ---------------------------------------------------------------- eq. (3): corpus-wise weights
def test_corpus_weights_hand_case_lambda_1():
    w = corpus_weights([0.9, 0.6, 0.3], lambda_w=1)  # (0.1, 0.4, 0.7) / mean 0.4
    np.testing.assert_allclose(w, [0.25, 1.0, 1.75])
    assert w.sum() == pytest.approx(3.0)


def test_corpus_weights_lambda_4_sum_is_d_and_worse_corpora_weigh_more():
    uas = [0.8, 0.5, 0.65, 0.4]
    w = corpus_weights(uas, lambda_w=4)
    expected = np.array([0.2, 0.5, 0.35, 0.6]) ** 4
    np.testing.assert_allclose(w, expected / expected.mean())
    assert w.sum() == pytest.approx(len(uas))
    # strictly decreasing in UA: the order of weights is the reverse order of UAs
    assert list(np.argsort(w)) == list(np.argsort(uas)[::-1])


def test_corpus_weights_degenerate_cases():
    np.testing.assert_array_equal(corpus_weights([0.9, 0.2, 0.5], lambda_w=0), np.ones(3))
    np.testing.assert_array_equal(corpus_weights([1.0, 1.0], lambda_w=4), np.ones(2))  # 0/0 guard
    np.testing.assert_array_equal(corpus_weights([1.0, 1.0], lambda_w=0), np.ones(2))
    np.testing.assert_allclose(corpus_weights([0.7, 0.7, 0.7], lambda_w=3), np.ones(3))
    # one perfectly recognised corpus gets weight 0, the others share D
    np.testing.assert_allclose(corpus_weights([1.0, 0.5], lambda_w=1), [0.0, 2.0])


def test_corpus_weights_mapping_and_errors():
    w = corpus_weights({"cre": 0.9, "pod": 0.3}, lambda_w=1)
    assert list(w) == ["cre", "pod"]
    assert w["cre"] == pytest.approx(0.25) and w["pod"] == pytest.approx(1.75)
    with pytest.raises(ValueError):
        corpus_weights([], lambda_w=1)
    with pytest.raises(ValueError):
        corpus_weights([0.5, float("nan")], lambda_w=1)


# ---------------------------------------------------------------- eq. (4): pseudo-emotion labels
def test_pel_targets():
    assert EMOTIONS[0] == "neutral"
    assert pel_target("nl").tolist() == [1.0, 0.0, 0.0, 0.0]
    assert pel_target("al").tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        pel_target("xx")


def test_pel_loss_al_sums_all_classes_and_nl_only_neutral():
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    lp = probs.log()
    lam = 0.001
    al = pel_loss(lp, pel_target("al"), lam)
    nl = pel_loss(lp, pel_target("nl"), lam)
    expected_al = -lam / 2 * float(lp.sum())  # ȳ = 1: every class' log-probability, both rows
    expected_nl = -lam / 2 * float(lp[:, 0].sum())
    assert _close(al, expected_al) and _close(nl, expected_nl)
    # AL is minimised by the uniform output, NL by an all-neutral output
    uniform, peaked = torch.full((1, 4), 0.25).log(), torch.tensor([[0.97, 0.01, 0.01, 0.01]]).log()
    assert pel_loss(uniform, pel_target("al"), 1) < pel_loss(peaked, pel_target("al"), 1)
    assert pel_loss(peaked, pel_target("nl"), 1) < pel_loss(uniform, pel_target("nl"), 1)


# ---------------------------------------------------------------- compared methods
def test_focal_gamma_zero_equals_cross_entropy():
    torch.manual_seed(1)
    logits, labels = torch.randn(32, 4), torch.randint(0, 4, (32,))
    lp, y = F.log_softmax(logits, 1), one_hot_targets(labels, 4)
    alpha = class_weights(labels, 4)
    assert _close(focal_loss(lp, y, gamma=0.0), F.cross_entropy(logits, labels), 1e-6)
    assert _close(focal_loss(lp, y, gamma=0.0, alpha=alpha), weighted_cross_entropy(lp, y, alpha), 1e-6)
    assert focal_loss(lp, y, gamma=2.0) < focal_loss(lp, y, gamma=0.0)  # down-weights easy samples


def test_focal_hand_case():
    lp = torch.tensor([[0.8, 0.2]]).log()
    y = torch.tensor([[1.0, 0.0]])
    assert _close(focal_loss(lp, y, gamma=2.0), -(0.2**2) * math.log(0.8))


def test_uniform_label_smoothing_equals_torch():
    torch.manual_seed(2)
    logits, labels = torch.randn(64, 4), torch.randint(0, 4, (64,))
    for eps in (0.0, 0.1, 0.3):
        targets = uniform_smoothing_targets(labels, 4, eps)
        ours = weighted_cross_entropy(F.log_softmax(logits, 1), targets, torch.ones(64))
        assert _close(ours, F.cross_entropy(logits, labels, label_smoothing=eps), 1e-6)


def test_unigram_smoothing_mixes_with_class_prior():
    labels = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3])
    prior = class_prior(labels, 4)
    assert _close(prior, [3 / 8, 1 / 8, 2 / 8, 2 / 8])
    t = unigram_smoothing_targets(torch.tensor([1]), prior, 0.2)
    assert _close(t, [[0.2 * 3 / 8, 0.8 + 0.2 / 8, 0.2 * 2 / 8, 0.2 * 2 / 8]])
    assert _close(t.sum(), 1.0)
    # with a uniform prior it is uniform label smoothing
    uniform = torch.full((4,), 0.25)
    assert _close(unigram_smoothing_targets(labels, uniform, 0.1), uniform_smoothing_targets(labels, 4, 0.1))


def test_soft_label_targets_fall_back_to_hard_labels_for_nan_rows():
    soft = torch.tensor([[0.6, 0.4, 0.0, 0.0], [math.nan] * 4])
    t = soft_label_targets(soft, torch.tensor([1, 3]))
    assert _close(t, [[0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def test_confidence_penalty_sign_and_value():
    beta = 0.1
    uniform = torch.full((2, 4), 0.25).log()
    peaked = torch.tensor([[0.97, 0.01, 0.01, 0.01]] * 2).log()
    assert _close(confidence_penalty(uniform, beta), -beta * math.log(4))
    assert _close(entropy(uniform), [math.log(4)] * 2)
    # the loss DEcreases as entropy INcreases: confident outputs are penalised
    assert confidence_penalty(uniform, beta) < confidence_penalty(peaked, beta) <= 0
    # its gradient pushes logits towards higher entropy
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0]], requires_grad=True)
    confidence_penalty(F.log_softmax(logits, 1), beta).backward()
    assert logits.grad[0, 0] > 0  # gradient descent lowers the dominant logit


def test_reconstruction_loss_is_mse():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    assert _close(reconstruction_loss(a, b), 2.5)


def test_cross_entropy_per_sample_with_pseudo_targets():
    lp = torch.full((3, 4), 0.25).log()
    assert _close(cross_entropy_per_sample(lp, pel_target("al").expand(3, 4)), [4 * math.log(4)] * 3)
