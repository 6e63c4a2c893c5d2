"""``cp``: the confidence penalty [20]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Hyperparameter, LossTerm, StepOutputs, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class ConfidencePenalty(LossTerm):
    """``-β · mean_i H(F(x_i))`` over the step's labeled rows (not corpus-weighted)."""

    name = "cp"
    summary = "confidence penalty: an entropy bonus on the labeled rows' outputs [20]"
    citation = "Pereyra et al., 2017"
    order = 50
    term_name = "cp"
    hyperparameters = (
        Hyperparameter("cp_beta", 0.1, "β of the confidence penalty", minimum=0.0, search=(1e-3, 1.0), log=True),
    )

    def term(self, step: StepOutputs) -> Tensor:
        from .._losses import confidence_penalty

        return confidence_penalty(step.labeled_log_probs, self.params.cp_beta)
