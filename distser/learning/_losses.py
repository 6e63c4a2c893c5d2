"""Loss terms of the paper and of the compared methods, as pure functions on tensors.

Conventions: ``log_probs`` are ``log_softmax`` outputs of shape ``(M, C)``; ``targets`` are target
*distributions* of shape ``(M, C)`` (one-hot, smoothed, soft or pseudo labels), so every
classification term is an inner product ``y · log F(x)`` as in eq. (1)-(4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


def class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """Class weights α of eq. (1), per minibatch (the last dimension of ``labels`` is the minibatch).

    α_i is inversely proportional to the number of samples of sample i's class in its minibatch.
    The paper leaves the constant open; we normalise so that α has **mean 1 over the minibatch**
    (α_i = M / (K · n_{y_i}), with K the number of classes present). A balanced minibatch then gets
    α = 1 everywhere, and the scale of the loss does not depend on how many classes a minibatch holds.

    Leading dimensions are independent minibatches (the trainer computes a whole epoch at once).

    Example:
        >>> class_weights(torch.tensor([0, 0, 0, 1]), 4)
        tensor([0.6667, 0.6667, 0.6667, 2.0000])
    """
    one_hot = F.one_hot(labels, num_classes).to(torch.float32)
    counts = one_hot.sum(dim=-2, keepdim=True)  # (..., 1, C): class counts of each minibatch
    per_sample = (one_hot * counts).sum(dim=-1)  # n_{y_i}
    present = (counts > 0).sum(dim=-1).to(torch.float32)  # K, shape (..., 1)
    return labels.shape[-1] / (present * per_sample)


def cross_entropy_per_sample(log_probs: Tensor, targets: Tensor) -> Tensor:
    """``-y_i · log F(x_i)`` for every row (shape ``(M,)``)."""
    return -(targets * log_probs).sum(dim=-1)


def weighted_cross_entropy(log_probs: Tensor, targets: Tensor, alpha: Tensor | None = None) -> Tensor:
    """One corpus' term of eq. (1): ``-(1/M) Σ_i α_i y_i · log F(x_i)``.

    Example:
        >>> lp = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75]]))
        >>> y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> round(float(weighted_cross_entropy(lp, y)), 4)  # (ln 2 + ln 4/3) / 2
        0.4904
    """
    per = cross_entropy_per_sample(log_probs, targets)
    if alpha is not None:
        per = per * alpha
    return per.mean()


def multi_corpus_loss(
    corpus_losses: Sequence[Tensor] | Tensor, weights: Sequence[float] | Tensor | None = None
) -> Tensor:
    """Eq. (2): ``(1/D) Σ_d w_d L_d`` from per-corpus losses ``L_d`` (eq. (1) when ``weights`` is None).

    Example:
        >>> float(multi_corpus_loss([torch.tensor(1.0), torch.tensor(3.0)], [0.5, 1.5]))
        2.5
    """
    losses = torch.stack(list(corpus_losses)) if not isinstance(corpus_losses, Tensor) else corpus_losses
    if weights is None:
        return losses.mean()
    w = torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)
    return (w * losses).mean()


def power_weights(hardness: Sequence[float] | np.ndarray, exponent: float) -> np.ndarray:
    """``h_d^λ / mean_d h_d^λ``: weights of mean 1 that grow with each corpus's hardness ``h_d >= 0``.

    ``λ = 0`` gives ones (``0**0 == 1``); if every ``h_d^λ`` is 0 (nothing is hard) the weights are ones.

    Example:
        >>> power_weights([1.0, 3.0], 1).tolist()
        [0.5, 1.5]
    """
    h = np.asarray(hardness, dtype=np.float64)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"hardness must be a non-empty 1-D sequence, got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        raise ValueError(f"hardness must be finite and >= 0, got {h.tolist()}")
    powered = np.power(h, float(exponent))
    mean = powered.mean()
    if mean <= 0.0:  # no corpus is harder than another: keep equal weights
        return np.ones_like(h)
    return powered / mean


def corpus_weights(uas: Sequence[float] | np.ndarray | Mapping[str, float], lambda_w: float):
    """Eq. (3): ``w_d = (1 - U_d)^λ_W / mean_d (1 - U_d)^λ_W`` — larger for corpora with lower UA.

    The weights sum to D. ``λ_W = 0`` gives ones; if every ``U_d = 1`` (0/0) the weights are ones too.
    Returns a float64 array, or a dict with the same keys when ``uas`` is a mapping.

    Example:
        >>> corpus_weights([0.8, 0.6], lambda_w=1).round(4).tolist()  # (0.2, 0.4) / 0.3
        [0.6667, 1.3333]
        >>> corpus_weights({"a": 0.5, "b": 0.5}, lambda_w=4)
        {'a': 1.0, 'b': 1.0}
    """
    if isinstance(uas, Mapping):
        values = corpus_weights(list(uas.values()), lambda_w)
        return dict(zip(uas, values.tolist(), strict=True))
    u = np.asarray(uas, dtype=np.float64)
    if u.ndim != 1 or u.size == 0:
        raise ValueError(f"uas must be a non-empty 1-D sequence, got shape {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError(f"uas must be finite, got {u.tolist()}")
    # Clip: a UA is in [0, 1]; tiny float excursions must not produce NaN from a negative base.
    return power_weights(np.clip(1.0 - u, 0.0, 1.0), lambda_w)


def pel_target(kind: str, num_classes: int = 4, neutral_index: int = 0) -> Tensor:
    """Pseudo-emotion label vector ȳ of eq. (4): ``"nl"`` one-hot neutral, ``"al"`` all ones.

    Note that with the all-ones ȳ, eq. (4) sums the log-probabilities of *all* classes (it is not a
    uniform distribution: the vector sums to C), which pushes the output towards uniform.

    Example:
        >>> pel_target("nl"), pel_target("al")
        (tensor([1., 0., 0., 0.]), tensor([1., 1., 1., 1.]))
    """
    if kind == "al":
        return torch.ones(num_classes)
    if kind == "nl":
        return F.one_hot(torch.tensor(neutral_index), num_classes).to(torch.float32)
    raise ValueError(f"PEL kind must be 'nl' or 'al', got {kind!r}")


def pel_loss(log_probs: Tensor, target: Tensor, lambda_l: float) -> Tensor:
    """Eq. (4): ``-(λ_L / M) Σ_i ȳ · log F(x_i)`` over a minibatch of the unlabeled corpus.

    Example:
        >>> lp = torch.log(torch.full((2, 4), 0.25))
        >>> round(float(pel_loss(lp, pel_target("al"), 0.5)), 4)  # 0.5 * 4 * ln 4
        2.7726
    """
    return lambda_l * cross_entropy_per_sample(log_probs, target.expand_as(log_probs)).mean()


def one_hot_targets(labels: Tensor, num_classes: int) -> Tensor:
    """Float one-hot targets."""
    return F.one_hot(labels, num_classes).to(torch.float32)


def uniform_smoothing_targets(labels: Tensor, num_classes: int, epsilon: float) -> Tensor:
    """Uniform label smoothing [17]: ``(1 - ε) onehot + ε / C`` (what ``F.cross_entropy`` uses).

    Example:
        >>> uniform_smoothing_targets(torch.tensor([1]), 4, 0.2)
        tensor([[0.0500, 0.8500, 0.0500, 0.0500]])
    """
    return (1.0 - epsilon) * one_hot_targets(labels, num_classes) + epsilon / num_classes


def class_prior(labels: Tensor, num_classes: int) -> Tensor:
    """Class distribution of ``labels`` (the unigram distribution of [17]).

    Example:
        >>> class_prior(torch.tensor([0, 0, 1, 3]), 4)
        tensor([0.5000, 0.2500, 0.0000, 0.2500])
    """
    counts = torch.bincount(labels, minlength=num_classes).to(torch.float32)
    return counts / counts.sum()


def unigram_smoothing_targets(labels: Tensor, prior: Tensor, epsilon: float) -> Tensor:
    """Unigram label smoothing [17]: ``(1 - ε) onehot + ε · prior`` with the training-set class prior.

    Example:
        >>> unigram_smoothing_targets(torch.tensor([0]), torch.tensor([0.5, 0.5, 0.0, 0.0]), 0.2)
        tensor([[0.9000, 0.1000, 0.0000, 0.0000]])
    """
    return (1.0 - epsilon) * one_hot_targets(labels, len(prior)) + epsilon * prior


def soft_label_targets(soft_labels: Tensor, labels: Tensor) -> Tensor:
    """Soft-label targets [16]: the annotators' vote distributions.

    Rows without votes (NaN, allowed by :class:`distser.arrays.CorpusArrays`) fall back to the
    one-hot hard label, so such clips still count as ordinary labeled samples.

    Example:
        >>> soft = torch.tensor([[0.5, 0.5, 0, 0], [float("nan")] * 4])
        >>> soft_label_targets(soft, torch.tensor([0, 2]))
        tensor([[0.5000, 0.5000, 0.0000, 0.0000],
                [0.0000, 0.0000, 1.0000, 0.0000]])
    """
    missing = torch.isnan(soft_labels).any(dim=-1, keepdim=True)
    hard = one_hot_targets(labels, soft_labels.shape[-1])
    return torch.where(missing, hard, soft_labels.to(torch.float32))


def focal_per_sample(log_probs: Tensor, targets: Tensor, gamma: float) -> Tensor:
    """Multi-class focal loss [19] per row: ``-Σ_c y_c (1 - p_c)^γ log p_c`` (γ = 0: cross-entropy)."""
    if gamma == 0:
        return cross_entropy_per_sample(log_probs, targets)
    modulating = (1.0 - log_probs.exp()).clamp_min(0.0).pow(gamma)
    return -(targets * modulating * log_probs).sum(dim=-1)


def focal_loss(log_probs: Tensor, targets: Tensor, gamma: float, alpha: Tensor | None = None) -> Tensor:
    """Class-weighted mean of :func:`focal_per_sample` over the minibatch (one corpus' term).

    Example:
        >>> lp = torch.log(torch.tensor([[0.5, 0.5]]))
        >>> y = torch.tensor([[1.0, 0.0]])
        >>> round(float(focal_loss(lp, y, gamma=2.0)), 4)  # 0.25 * ln 2
        0.1733
    """
    per = focal_per_sample(log_probs, targets, gamma)
    if alpha is not None:
        per = per * alpha
    return per.mean()


def entropy(log_probs: Tensor) -> Tensor:
    """Entropy of each row's distribution, in nats."""
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def confidence_penalty(log_probs: Tensor, beta: float) -> Tensor:
    """Confidence penalty [20]: ``-β · mean_i H(F(x_i))``, *added* to the loss.

    The loss thus decreases as the output entropy increases, discouraging over-confident outputs.

    Example:
        >>> uniform = torch.log(torch.full((1, 4), 0.25))
        >>> round(float(confidence_penalty(uniform, 0.1)), 4)  # -0.1 * ln 4
        -0.1386
    """
    return -beta * entropy(log_probs).mean()


def reconstruction_loss(reconstruction: Tensor, inputs: Tensor) -> Tensor:
    """Mean squared reconstruction error of the autoencoder branch of ``unsup`` [12]."""
    return F.mse_loss(reconstruction, inputs)
