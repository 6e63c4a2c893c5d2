"""``ls``: uniform label smoothing [17]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import SMOOTHING, TargetRule, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class UniformSmoothing(TargetRule):
    """``(1 - ε)·one-hot + ε / C``."""

    name = "ls"
    summary = "uniform label smoothing [17]"
    citation = "Huang et al., Interspeech 2020"
    order = 31
    hyperparameters = (SMOOTHING,)

    def targets(self, labels: Tensor, soft_labels: Tensor | None, num_classes: int) -> Tensor:
        from .._losses import uniform_smoothing_targets

        return uniform_smoothing_targets(labels, num_classes, self.params.smoothing)
