"""``unigram``: label smoothing towards the training set's class prior [17]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import SMOOTHING, TargetRule, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class UnigramSmoothing(TargetRule):
    """``(1 - ε)·one-hot + ε·prior`` with the class prior of the pooled training rows."""

    name = "unigram"
    summary = "unigram label smoothing towards the training set's class prior [17]"
    citation = "Huang et al., Interspeech 2020"
    order = 32
    hyperparameters = (SMOOTHING,)

    def targets(self, labels: Tensor, soft_labels: Tensor | None, num_classes: int) -> Tensor:
        from .._losses import class_prior, unigram_smoothing_targets

        return unigram_smoothing_targets(labels, class_prior(labels, num_classes), self.params.smoothing)
