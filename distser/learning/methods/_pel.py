"""``pel-nl`` and ``pel-al``: pseudo-emotion labels on an unlabeled corpus, eq. (4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ._base import UNLABELED_BATCH, Hyperparameter, LossTerm, StepOutputs, register

if TYPE_CHECKING:
    from torch import Tensor

LAMBDA_L = Hyperparameter("lambda_l", 0.001, "λ_L of eq. (4): weight of the pseudo-emotion-label term",
                          minimum=0.0, search=(1e-5, 1.0), log=True, grid=(1.0, 0.1, 0.01, 0.001, 0.0001))


class _PseudoLabels(LossTerm):
    """``-(λ_L / M) Σ_i ȳ · log F(x_i)`` over the step's minibatch of the unlabeled corpus."""

    term_name = "pel"
    slot = "pseudo-labels"
    needs_unlabeled = True
    hyperparameters = (LAMBDA_L, UNLABELED_BATCH)
    vector: ClassVar[str] = ""

    def __init__(self, params) -> None:
        from .._losses import pel_target

        super().__init__(params)
        self.target = pel_target(self.vector)

    def term(self, step: StepOutputs) -> Tensor:
        from .._losses import pel_loss

        return pel_loss(step.unlabeled_log_probs, self.target, self.params.lambda_l)


@register
class NeutralPseudoLabels(_PseudoLabels):
    name = "pel-nl"
    summary = "pseudo-emotion label 'neutral' for every unlabeled utterance, eq. (4)"
    citation = "Ahn, Lee & Shin, Interspeech 2022, §2.2"
    order = 60
    vector = "nl"


@register
class AllOnesPseudoLabels(_PseudoLabels):
    name = "pel-al"
    aliases = ("pel",)
    summary = "all-ones pseudo-emotion label vector for every unlabeled utterance, eq. (4)"
    citation = "Ahn, Lee & Shin, Interspeech 2022, §2.2"
    order = 61
    vector = "al"
