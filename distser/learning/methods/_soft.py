"""``soft``: the annotators' vote distributions as targets [16]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import TargetRule, register

if TYPE_CHECKING:
    from torch import Tensor


@register
class SoftLabels(TargetRule):
    """Targets are the vote distributions; rows without votes fall back to one-hot (the trainer warns)."""

    name = "soft"
    summary = "soft labels: the annotators' vote distribution as target [16]"
    citation = "Steidl et al., ICASSP 2005"
    order = 30

    def targets(self, labels: Tensor, soft_labels: Tensor | None, num_classes: int) -> Tensor:
        import torch

        from .._losses import soft_label_targets

        if soft_labels is None:  # no training corpus has votes: every row falls back to its one-hot label
            soft_labels = torch.full((len(labels), num_classes), float("nan"))
        return soft_label_targets(soft_labels, labels)
