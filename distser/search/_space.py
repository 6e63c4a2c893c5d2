"""What a study may vary: its method's hyperparameters (declared by the components) and training settings.

Ranges come from :mod:`distser.learning.methods` (each component declares its own), the training
settings of :data:`~distser.search._config.TRAINING_SPACE` when ``study.tune`` names them, and
``study.ranges`` overrides; values in ``study.params`` are fixed and not searched.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from distser.learning import HYPERPARAMETERS, parse_method

from ._config import TRAINING_SPACE, StudyConfig


def method_params(method: str, study: StudyConfig) -> dict[str, Any]:
    """The method's hyperparameters at their defaults, overridden by ``study.params`` (only the method's own).

    Example:
        >>> method_params("cww+pel", StudyConfig(params={"lambda_w": 1.0, "focal_gamma": 3.0}))["lambda_w"]
        1.0
    """
    values = {hp.name: hp.default for hp in parse_method(method).hyperparameters}
    values.update({k: HYPERPARAMETERS[k].check(v) for k, v in study.params.items() if k in values})
    return values


def search_space(method: str, study: StudyConfig) -> dict[str, BaseDistribution]:
    """The dimensions a study of ``method`` searches: name -> Optuna distribution.

    Example:
        >>> sorted(search_space("cww+pel", StudyConfig()))
        ['cww_signal', 'cww_smoothing', 'lambda_l', 'lambda_w', 'weight_floor']
        >>> search_space("ce", StudyConfig(tune=["lr"]))
        {'lr': FloatDistribution(high=0.001, log=True, low=5e-05, step=None)}
    """
    space: dict[str, BaseDistribution] = {}
    for hp in parse_method(method).hyperparameters:
        if hp.name in study.params or not (hp.searched or hp.name in study.ranges):
            continue
        bounds = study.ranges.get(hp.name, hp.search)
        if hp.categorical:
            space[hp.name] = CategoricalDistribution(tuple(bounds))
        elif hp.integer:
            space[hp.name] = IntDistribution(int(bounds[0]), int(bounds[1]), log=hp.log)
        else:
            space[hp.name] = FloatDistribution(float(bounds[0]), float(bounds[1]), log=hp.log)
    for name in study.tune:
        low, high, log = TRAINING_SPACE[name]
        low, high = study.ranges.get(name, (low, high))
        integer = name == "min_steps_per_epoch"
        space[name] = IntDistribution(int(low), int(high)) if integer else FloatDistribution(low, high, log=log)
    return space


def grid_points(method: str, study: StudyConfig) -> list[dict[str, Any]]:
    """The configurations of a study without Optuna: the paper's grid (``mode = "grid"``) or one point.

    One point (the defaults, i.e. the paper's values) for ``mode = "paper"`` and for a method with
    nothing to search. Values in ``study.params`` replace grid dimensions.

    Example:
        >>> len(grid_points("cww+pel", StudyConfig(mode="grid"))), grid_points("cww", StudyConfig(mode="paper"))
        (25, [{}])
    """
    if study.mode == "paper" or (study.mode == "search" and not search_space(method, study)):
        return [{}]
    if study.mode != "grid":
        raise ValueError(f"grid_points: study mode {study.mode!r} has no grid")
    dims = [hp for hp in parse_method(method).hyperparameters if hp.grid and hp.name not in study.params]
    return [dict(zip([hp.name for hp in dims], values, strict=True))
            for values in itertools.product(*(hp.grid for hp in dims))]


def space_size(space: dict[str, BaseDistribution]) -> float:
    """How many configurations ``space`` holds (``math.inf`` with a continuous dimension).

    Example:
        >>> space_size({"a": CategoricalDistribution(("x", "y")), "b": IntDistribution(1, 5, step=2)})
        6
    """
    size = 1
    for distribution in space.values():
        points = _points(distribution)
        if points is None:
            return math.inf
        size *= points
    return size


def random_point(space: dict[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    """A configuration of ``space`` drawn uniformly (log-uniformly for a continuous log dimension)."""
    point: dict[str, Any] = {}
    for name, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            point[name] = distribution.choices[int(rng.integers(len(distribution.choices)))]
        elif _points(distribution) is not None:  # an integer or stepped float range
            value = distribution.low + distribution.step * int(rng.integers(_points(distribution)))
            point[name] = int(value) if isinstance(distribution, IntDistribution) else float(value)
        elif distribution.log:
            point[name] = float(np.exp(rng.uniform(np.log(distribution.low), np.log(distribution.high))))
        else:
            point[name] = float(rng.uniform(distribution.low, distribution.high))
    return point


def _points(distribution: BaseDistribution) -> int | None:
    if isinstance(distribution, CategoricalDistribution):
        return len(distribution.choices)
    if isinstance(distribution, IntDistribution | FloatDistribution) and distribution.step is not None:
        return int(round((distribution.high - distribution.low) / distribution.step)) + 1
    return None
