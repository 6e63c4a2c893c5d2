"""Distributed search: every study's Ray Tune trials in one experiment, Optuna + ASHA, selection, MLflow.

Example:
    >>> from distser.search import SearchConfig, StudyConfig
    >>> config = SearchConfig(study=StudyConfig(methods=["cww+pel"], seeds=2))
    >>> config.study.methods, config.study.seeds
    (['cww+pel-al'], 2)
"""

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use so that `--help` stays fast (distser._lazy).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._cli": ("build_parser", "configure", "main",),
    "._config": (
        "DataConfig", "ResourcesConfig", "SchedulerConfig", "SearchConfig", "StudyConfig", "TrackingConfig",
        "TrainingConfig",
    ),
    "._prepare": ("Locations", "RunOptions", "locate", "prepare",),
    "._run": ("run_search",),
    "._selection": ("ORACLE", "STRATEGIES", "choose", "config_key", "evaluated_trials", "format_summary", "select",),
    "._space": ("grid_points", "method_params", "search_space",),
})
