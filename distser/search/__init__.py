"""Distributed search: Ray Tune trials of the learning core, Optuna + ASHA, MLflow tracking.

Example:
    >>> from distser.search import parse_args
    >>> config = parse_args(["--method", "cww+pel", "--seeds", "2"])
    >>> config.study.methods, config.study.seeds
    (['cww+pel'], 2)
"""

from ._cli import main, parse_args
from ._config import DataConfig, SchedulerConfig, SearchConfig, StudyConfig, TrainingConfig
from ._selection import config_key, format_summary, select
from ._space import PAPER_GRID, SEARCHABLE, hyperparameters, paper_grid

__all__ = [
    "PAPER_GRID",
    "SEARCHABLE",
    "DataConfig",
    "SchedulerConfig",
    "SearchConfig",
    "StudyConfig",
    "TrainingConfig",
    "config_key",
    "format_summary",
    "hyperparameters",
    "main",
    "paper_grid",
    "parse_args",
    "select",
]
