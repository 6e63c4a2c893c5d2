"""Reports from MLflow: the paper's Table 2 and 3, Figures 1 and 2, paired differences against ce.

Example:
    >>> import pandas as pd
    >>> from distser.report import table2
    >>> trials = pd.DataFrame({"method": ["ce", "ce"], "holdout": ["emodb", "emodb"], "seed": [0, 1],
    ...     "config": ["{}", "{}"], "valid_ua": [.6, .7], "test_ua": [.5, .6], "finished": [True, True]})
    >>> table2(trials).query("holdout == 'emodb'")[["mean", "n"]].round(1).values.tolist()
    [[55.0, 2.0]]
"""

from ._cli import main
from ._collect import collect_trials
from ._figures import figure1, figure2
from ._tables import lambda_sweep, paired_differences, selected_trials, table2, table2_wide, table3
from ._write import log_report, markdown_table, write_report

__all__ = [
    "collect_trials",
    "figure1",
    "figure2",
    "lambda_sweep",
    "log_report",
    "main",
    "markdown_table",
    "paired_differences",
    "selected_trials",
    "table2",
    "table2_wide",
    "table3",
    "write_report",
]
