"""``dro``: group DRO's exponentiated-gradient corpus weights (Sagawa et al., ICLR 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import WEIGHT_FLOOR, CorpusWeighting, Hyperparameter, mix_with_uniform, register


@register
class GroupDRO(CorpusWeighting):
    """Online group DRO with the training corpora as groups (Sagawa et al., Algorithm 1).

    Every step, before the model update, ``q_d <- q_d · exp(η · L_d)`` with ``L_d`` corpus d's eq. (1)
    loss on this step's minibatch, renormalised to mean 1 (eq. 2's scale). The step's loss uses the
    updated weights, optionally mixed with equal weights (``weight_floor``); the next update starts
    from ``q`` itself, so the floor changes what the loss sees, never the algorithm. Unlike ``cww`` the
    weights accumulate the losses of every step instead of being recomputed from one epoch's UAs.
    """

    name = "dro"
    summary = "group DRO: q_d <- q_d·exp(η·L_d) every step, renormalised to mean 1"
    citation = "Sagawa, Koh, Hashimoto & Liang, ICLR 2020"
    order = 25
    per_step = True
    hyperparameters = (
        Hyperparameter("dro_eta", 0.01, "step size η of the exponentiated-gradient update of the corpus weights",
                       minimum=0.0, search=(1e-3, 1.0), log=True),
        WEIGHT_FLOOR,
    )

    def after_step(self, weights: Tensor, corpus_losses: Tensor) -> Tensor:
        q = weights * torch.exp(self.params.dro_eta * corpus_losses)
        return q / q.mean()

    def applied(self, weights):  # Tensor (every step) or array (the record): the floor, see the class docstring
        return mix_with_uniform(weights, self.params.weight_floor)
