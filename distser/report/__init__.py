"""Reports from MLflow: the paper's Tables 2 and 3 and Figures 1 and 2, corpus weights over epochs,
paired differences against ce with intervals over seeds and held-out corpora, and the oracle view.

Every study (search, method, outer plan) is reported at the configuration its own selection strategy
chose (``selection`` of its trials), read with :func:`distser.search.select`'s machinery.

Example:
    >>> import pandas as pd
    >>> from distser.report import table2
    >>> trials = pd.DataFrame({"method": ["ce", "ce"], "holdout": ["emodb", "emodb"], "phase": ["search"] * 2,
    ...     "fold": [None, None], "seed": [0, 1], "config": ["{}", "{}"], "score": [.6, .7],
    ...     "test_ua": [.5, .6], "finished": [True, True]})
    >>> table2(trials).query("holdout == 'emodb'")[["mean", "n"]].round(1).values.tolist()
    [[55.0, 2.0]]
"""

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use so that `--help` stays fast (distser._lazy).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._cli": ("main",),
    "._collect": ("check_tracking_uri", "collect_trials", "hyperparameter_names", "weight_histories",),
    "._figures": ("figure1", "figure2", "figure_weights",),
    "._stats": ("hierarchical_bootstrap", "paired_differences", "paired_wide", "t_interval",),
    "._tables": (
        "evaluated", "lambda_sweep", "oracle", "oracle_wide", "selections", "table2", "table2_wide", "table3",
        "test_only_corpora", "weighting_methods", "weighting_trials",
    ),
    "._write": ("log_report", "markdown_table", "write_report",),
})
