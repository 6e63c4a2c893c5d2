"""``cp``: the confidence penalty [20]."""

from __future__ import annotations

from torch import Tensor

from .._losses import confidence_penalty
from ._base import Hyperparameter, LossTerm, StepOutputs, register


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
        return confidence_penalty(step.labeled_log_probs, self.params.cp_beta)
