"""``unsup``: unsupervised representation learning with a reconstruction branch [12]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import UNLABELED_BATCH, Hyperparameter, LossTerm, StepOutputs, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class Reconstruction(LossTerm):
    """``recon_weight`` × MSE of a decoder on hidden layer 2 over every row of the step (labeled and not)."""

    name = "unsup"
    summary = "autoencoder branch on hidden layer 2 reconstructing the inputs, labeled and unlabeled [12]"
    citation = "Neumann & Vu, ICASSP 2019"
    order = 70
    term_name = "recon"
    needs_unlabeled = True
    needs_reconstruction = True
    hyperparameters = (
        Hyperparameter("recon_weight", 1.0, "weight of the reconstruction MSE", minimum=0.0,
                       search=(1e-3, 1.0), log=True),
        UNLABELED_BATCH,
    )

    def term(self, step: StepOutputs) -> Tensor:
        from .._losses import reconstruction_loss

        assert step.reconstruction is not None
        return self.params.recon_weight * reconstruction_loss(step.reconstruction, step.x)
