"""Selection from hand-made trial tables: what ranks a configuration, the summary's mean ± std."""

from __future__ import annotations

import math

import pandas as pd

from distser.search import format_summary, select
from distser.search._selection import choose

COLUMNS = ["method", "holdout", "phase", "fold", "seed", "config", "score", "test_ua", "finished"]


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(COLUMNS, row, strict=True)) for row in rows], columns=COLUMNS)


def test_leave_one_train_corpus_out_needs_a_score_on_every_held_back_corpus():
    nan = math.nan
    trials = _table([
        # x: two finished trials, both without b (high); without c it never finished
        ("cww", "a", "search", "b", 0, "x", 0.9, nan, True),
        ("cww", "a", "search", "b", 1, "x", 0.9, nan, True),
        ("cww", "a", "search", "c", 0, "x", nan, nan, False),
        ("cww", "a", "search", "c", 1, "x", nan, nan, False),
        # y: as many finished trials, one on each held-back corpus
        ("cww", "a", "search", "b", 0, "y", 0.5, nan, True),
        ("cww", "a", "search", "b", 1, "y", nan, nan, False),
        ("cww", "a", "search", "c", 0, "y", 0.4, nan, True),
        ("cww", "a", "search", "c", 1, "y", nan, nan, False),
    ])
    assert choose(trials, "leave-one-train-corpus-out") == "y"
    # with no configuration scored on every held-back corpus, nothing is selected
    assert choose(trials[trials["config"] == "x"], "leave-one-train-corpus-out") is None


def test_one_seed_has_no_standard_deviation_in_the_summary():
    trials = _table([("cww", h, "search", None, 0, "x", 0.5, 0.61, True) for h in ("a", "b")]
                    + [("cww", "c", "search", None, s, "x", 0.5, 0.60 + s / 100, True) for s in (0, 1)])
    summary = select(trials).set_index("holdout")
    assert math.isnan(summary.loc["a", "test_ua_std"])  # the std of one value is undefined, not 0
    assert summary.loc["c", "test_ua_std"] > 0
    text = format_summary(summary.reset_index(), seeds=1)
    assert "61.0" in text and "± 0.0" not in text and "nan" not in text


def test_a_pool_search_without_a_test_corpus_has_a_summary():
    from distser.search import format_summary

    summary = pd.DataFrame({"method": ["ce"], "holdout": ["-"], "selection": ["train-domain"], "config": ["{}"],
                            "seeds": [2], "configs_tried": [1], "score_mean": [0.8], "test_ua_mean": [float("nan")],
                            "test_ua_std": [float("nan")]})
    assert "no corpus was tested" in format_summary(summary)
