"""``focal``: the multi-class focal loss [18, 19]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Hyperparameter, SampleLoss, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class FocalLoss(SampleLoss):
    """``-Σ_c y_c (1 - p_c)^γ log p_c`` per labeled row (γ = 0: cross-entropy)."""

    name = "focal"
    summary = "focal loss: down-weights rows the model already classifies well [18]"
    citation = "Lin et al., ICCV 2017"
    order = 40
    hyperparameters = (
        Hyperparameter("focal_gamma", 2.0, "focusing parameter γ of the focal loss (0: cross-entropy)",
                       minimum=0.0, search=(0.0, 5.0)),
    )

    def per_sample(self, log_probs: Tensor, targets: Tensor) -> Tensor:
        from .._losses import focal_per_sample

        return focal_per_sample(log_probs, targets, self.params.focal_gamma)
