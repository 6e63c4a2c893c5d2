"""``tcww``: tempered corpus-wise weights, a softmax of each corpus's difficulty with a temperature."""

from __future__ import annotations

import numpy as np

from ._base import CorpusWeighting, EpochSignals, Hyperparameter, register


@register
class TemperedCorpusWeights(CorpusWeighting):
    """``w_d = D · softmax_d((1 - U_d) / τ)`` from the training UAs, after every epoch.

    Like eq. (3), harder corpora (lower training UA) get more weight, but through a temperature τ
    instead of a power: the weights are bounded away from zero (``w_d >= D / (1 + (D - 1) e^{1/τ})``),
    so a corpus learned perfectly keeps part of the loss, and τ -> ∞ gives equal weights (plain ``ce``).
    """

    name = "tcww"
    summary = "tempered corpus-wise weights: D·softmax((1 - training UA) / τ), never switching a corpus off"
    citation = "a temperature form of Ahn, Lee & Shin's eq. (3)"
    order = 21
    hyperparameters = (
        Hyperparameter("cww_temperature", 0.1, "temperature τ of the softmax over corpora's (1 - training UA)",
                       minimum=1e-3, search=(0.02, 1.0), log=True),
    )

    def after_epoch(self, weights: np.ndarray, signals: EpochSignals) -> np.ndarray:
        hardness = (1.0 - signals.train_ua) / self.params.cww_temperature
        powered = np.exp(hardness - hardness.max())  # shifted: never overflows
        return powered / powered.mean()
