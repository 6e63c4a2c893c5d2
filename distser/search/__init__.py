"""Distributed search: every study's Ray Tune trials in one experiment, Optuna + ASHA, selection, MLflow.

Example:
    >>> from distser.search import SearchConfig, StudyConfig
    >>> config = SearchConfig(study=StudyConfig(methods=["cww+pel"], seeds=2))
    >>> config.study.methods, config.study.seeds
    (['cww+pel-al'], 2)
"""

from ._cli import build_parser, configure, main
from ._config import (
    DataConfig,
    ResourcesConfig,
    SchedulerConfig,
    SearchConfig,
    StudyConfig,
    TrackingConfig,
    TrainingConfig,
)
from ._prepare import Locations, RunOptions, locate, prepare
from ._run import run_search
from ._selection import ORACLE, STRATEGIES, choose, config_key, evaluated_trials, format_summary, select
from ._space import grid_points, method_params, search_space

__all__ = [
    "ORACLE",
    "STRATEGIES",
    "DataConfig",
    "Locations",
    "ResourcesConfig",
    "RunOptions",
    "SchedulerConfig",
    "SearchConfig",
    "StudyConfig",
    "TrackingConfig",
    "TrainingConfig",
    "build_parser",
    "choose",
    "configure",
    "config_key",
    "evaluated_trials",
    "format_summary",
    "grid_points",
    "locate",
    "main",
    "method_params",
    "prepare",
    "run_search",
    "search_space",
    "select",
]
