"""``merged``: the training corpora pooled into one (the paper's Fig. 2 baseline), like-for-like."""

from __future__ import annotations

from ._base import CorpusWeighting, register


@register
class Merged(CorpusWeighting):
    """Draw each step's labeled rows from all training corpora pooled: corpus sizes act as weights.

    Like-for-like with every other method: a step takes as many labeled rows (D × M) as a per-corpus
    step, an epoch has as many steps, α (eq. 1) is computed over the step's whole minibatch, and
    early stopping, the learning-rate schedule and selection use the mean of the per-corpus
    validation UAs (not the UA of the pooled validation set).
    """

    name = "merged"
    summary = "all training corpora pooled into one; minibatches drawn from the pool (Fig. 2's baseline)"
    citation = "Ahn, Lee & Shin, Interspeech 2022, Fig. 2"
    order = 10
    pooled = True
