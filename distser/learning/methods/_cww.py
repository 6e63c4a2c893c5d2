"""``cww``: corpus-wise weights, eq. (2)-(3), with the paper's rule as the default and three options."""

from __future__ import annotations

import numpy as np

from ._base import WEIGHT_FLOOR, CorpusWeighting, EpochSignals, Hyperparameter, mix_with_uniform, register


@register
class CorpusWiseWeights(CorpusWeighting):
    """Weights from each corpus's difficulty after every epoch (Algorithm 1, line 8).

    With the defaults this is eq. (3) exactly: ``w_d = (1 - U_d)^λ_W / mean_d (1 - U_d)^λ_W`` with
    ``U_d`` the UA on corpus d's training portion. Options, each a hyperparameter a study can search:
    the difficulty signal (validation UA, or the mean training loss ``L_d`` with ``w ∝ L_d^λ_W``),
    an exponential moving average of the weights over epochs (``cww_smoothing`` β), and a floor
    (``weight_floor`` ρ) so that a corpus learned perfectly is not switched off. λ_W = 0 gives
    weights of exactly 1 every epoch: plain ``ce``.
    """

    name = "cww"
    summary = "corpus-wise weights from each training corpus's difficulty, eq. (2)-(3)"
    citation = "Ahn, Lee & Shin, Interspeech 2022"
    order = 20
    hyperparameters = (
        Hyperparameter("lambda_w", 4.0, "λ_W of eq. (3): how much harder corpora are up-weighted (0: ce)",
                       minimum=0.0, search=(0.0, 5.0), grid=(1.0, 2.0, 3.0, 4.0, 5.0)),
        Hyperparameter("cww_signal", "train-ua", "difficulty of a corpus: 1 - training UA (the paper), "
                       "1 - validation UA, or mean training loss",
                       choices=("train-ua", "valid-ua", "train-loss"), search=("train-ua", "valid-ua", "train-loss")),
        Hyperparameter("cww_smoothing", 0.0, "β of an exponential moving average of the weights over "
                       "epochs, w <- β·w + (1-β)·w_new (0: the paper)", minimum=0.0, maximum=0.99, search=(0.0, 0.9)),
        WEIGHT_FLOOR,
    )

    def after_epoch(self, weights: np.ndarray, signals: EpochSignals) -> np.ndarray:
        from .._losses import corpus_weights, power_weights

        p = self.params
        if p.cww_signal == "train-ua":
            new = corpus_weights(signals.train_ua, p.lambda_w)
        elif p.cww_signal == "valid-ua":
            new = corpus_weights(signals.valid_ua, p.lambda_w)
        else:
            new = power_weights(signals.train_loss, p.lambda_w)
        if p.cww_smoothing > 0:
            new = p.cww_smoothing * weights + (1.0 - p.cww_smoothing) * new
        return mix_with_uniform(new, p.weight_floor)
