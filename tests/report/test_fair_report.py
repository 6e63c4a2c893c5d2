"""The report does not mislead: equal seed counts against the oracle, only what ran, honest figure axes."""

from __future__ import annotations

import math

import pytest

from distser.report import _figures, figure1, oracle, write_report


@pytest.fixture
def cut_oracle(trial_row, trial_table):
    """ASHA cut seed 2 of both cww configurations; the final phase completed it for the selected one (λ_W = 4)
    only, so the oracle's configuration (λ_W = 1, the better test UA) has two finished seeds, the selected three."""
    rows = []
    for holdout, shift in (("emodb", 0.0), ("ravdess", 0.1)):
        for seed in range(3):
            cut = seed == 2
            rows.append(trial_row("ce", holdout, seed, 0.40 + shift, **{"train_ua/a": 0.9, "train_ua/b": 0.7}))
            rows.append(trial_row("cww", holdout, seed, math.nan if cut else 0.45 + shift + 0.02 * seed,
                                  config={"lambda_w": 4.0}, score=0.65, finished=not cut,
                                  **{"train_ua/a": 0.8, "train_ua/b": 0.75}))
            rows.append(trial_row("cww", holdout, seed, math.nan if cut else 0.50 + shift, config={"lambda_w": 1.0},
                                  score=0.62, finished=not cut))
        rows.append(trial_row("cww", holdout, 2, 0.49 + shift, config={"lambda_w": 4.0}, score=0.65, phase="final",
                              **{"train_ua/a": 0.8, "train_ua/b": 0.75}))
    return trial_table(rows)


def test_the_oracle_and_the_selection_are_compared_over_the_same_seeds(cut_oracle):
    best = oracle(cut_oracle).set_index(["method", "holdout"])
    assert best.loc[("cww", "emodb"), "oracle_n"] == 2
    assert best.loc[("cww", "emodb"), "oracle_mean"] == pytest.approx(50.0)
    assert best.loc[("cww", "emodb"), "selected_mean"] == pytest.approx(46.0)  # seeds 0 and 1, not 47.0 over 3


def test_the_report_lists_only_the_methods_the_searches_ran(cut_oracle, tmp_path):
    write_report(cut_oracle, tmp_path / "out")
    text = (tmp_path / "out" / "README.md").read_text()
    assert "without runs" not in text and "unsup" not in text and "pel-al" not in text


def test_figure1_test_ua_shares_the_training_axis_and_a_corpus_keeps_its_colour(cut_oracle, tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(_figures, "_save", lambda figure, path: drawn.append(figure) or path)
    trials = cut_oracle[~((cut_oracle["holdout"] == "ravdess") & (cut_oracle["method"] == "ce"))].copy()
    trials.loc[trials["holdout"] == "ravdess", "train_ua/a"] = math.nan  # corpus a absent from one panel
    figure1(trials, tmp_path / "f1.png")
    (figure,) = drawn
    assert len(figure.axes) == 2  # one axis per panel: no second, auto-scaled test-UA axis
    colours = {}
    for axis in figure.axes:
        assert axis.get_ylim() == (0, 100)
        for container in axis.containers:
            corpus = container.get_label()
            colour = tuple(container.patches[0].get_facecolor())
            assert colours.setdefault(corpus, colour) == colour, corpus
    assert colours.keys() == {"train: a", "train: b"}
