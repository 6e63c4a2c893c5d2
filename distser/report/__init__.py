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

from ._cli import main
from ._collect import check_tracking_uri, collect_trials, hyperparameter_names, weight_histories
from ._figures import figure1, figure2, figure_weights
from ._stats import hierarchical_bootstrap, paired_differences, paired_wide, t_interval
from ._tables import (
    evaluated,
    lambda_sweep,
    oracle,
    oracle_wide,
    selections,
    table2,
    table2_wide,
    table3,
    test_only_corpora,
    weighting_methods,
    weighting_trials,
)
from ._write import log_report, markdown_table, write_report

__all__ = [
    "check_tracking_uri",
    "collect_trials",
    "evaluated",
    "figure1",
    "figure2",
    "figure_weights",
    "hierarchical_bootstrap",
    "hyperparameter_names",
    "lambda_sweep",
    "log_report",
    "main",
    "markdown_table",
    "oracle",
    "oracle_wide",
    "paired_differences",
    "paired_wide",
    "selections",
    "t_interval",
    "table2",
    "table2_wide",
    "table3",
    "test_only_corpora",
    "weight_histories",
    "weighting_methods",
    "weighting_trials",
    "write_report",
]
