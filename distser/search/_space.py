"""Hyperparameter spaces: what Optuna may propose for a method, and the paper's grid (§3.3)."""

from __future__ import annotations

import itertools
from typing import Any

from distser.learning import parse_method

#: The paper's grid: λ_W ∈ {1..5}, λ_L ∈ {1, 0.1, ..., 1e-4}.
PAPER_GRID: dict[str, list[float]] = {
    "lambda_w": [1.0, 2.0, 3.0, 4.0, 5.0],
    "lambda_l": [1.0, 0.1, 0.01, 0.001, 0.0001],
}


#: Every hyperparameter a study may vary (the rest of a trial's config is fixed per study).
SEARCHABLE = ("lambda_w", "lambda_l", "smoothing", "focal_gamma", "cp_beta", "recon_weight", "lr", "dropout")


def hyperparameters(method: str, *, tune_lr: bool = False, tune_dropout: bool = False) -> dict[str, tuple]:
    """The searched hyperparameters of ``method`` as ``name -> (kind, low, high)``.

    ``kind`` is ``"uniform"`` or ``"loguniform"``. The ranges cover the paper's grid and beyond.

    Example:
        >>> sorted(hyperparameters("cww+pel"))
        ['lambda_l', 'lambda_w']
        >>> hyperparameters("ce")
        {}
    """
    parsed = parse_method(method)
    space: dict[str, tuple] = {}
    if parsed.cww:
        space["lambda_w"] = ("uniform", 0.0, 6.0)
    if parsed.pel is not None:
        space["lambda_l"] = ("loguniform", 1e-5, 1.0)
    if parsed.targets in ("ls", "unigram"):
        space["smoothing"] = ("uniform", 0.0, 0.4)
    if parsed.focal:
        space["focal_gamma"] = ("uniform", 0.0, 5.0)
    if parsed.cp:
        space["cp_beta"] = ("loguniform", 1e-3, 1.0)
    if parsed.unsup:
        space["recon_weight"] = ("loguniform", 1e-3, 1.0)
    if tune_lr:
        space["lr"] = ("loguniform", 5e-5, 1e-3)
    if tune_dropout:
        space["dropout"] = ("uniform", 0.1, 0.7)
    return space


def tune_space(method: str, **options: bool) -> dict[str, Any]:
    """The Ray Tune search space (``tune.uniform`` / ``tune.loguniform``) for ``method``."""
    from ray import tune

    samplers = {"uniform": tune.uniform, "loguniform": tune.loguniform}
    return {name: samplers[kind](low, high) for name, (kind, low, high) in hyperparameters(method, **options).items()}


def paper_grid(method: str) -> list[dict[str, float]]:
    """The paper's grid points for ``method``'s λ hyperparameters (one empty point if it has none).

    Example:
        >>> len(paper_grid("cww+pel")), len(paper_grid("cww")), paper_grid("ce")
        (25, 5, [{}])
    """
    names = [name for name in PAPER_GRID if name in hyperparameters(method)]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(PAPER_GRID[n] for n in names))]
