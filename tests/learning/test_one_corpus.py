"""A corpus-weighting method trained on one corpus equals the method without its weighting, and says so."""

from __future__ import annotations

import warnings

import pytest

from distser.learning import TrainConfig, Trainer, one_corpus_warning, synthetic_task


@pytest.mark.parametrize(("method", "same"), [("cww", "ce"), ("dro", "ce"), ("tcww", "ce"), ("merged", "ce"),
                                              ("cww+pel", "pel-al"), ("cww+focal", "focal")])
def test_a_weighting_method_on_one_corpus_warns_that_it_equals_the_rest(method, same):
    task = synthetic_task(corpora=("a",), separation=1.0, n_train=40, n_valid=20, n_test=20, n_unlabeled=20, dim=8)
    with pytest.warns(UserWarning, match=rf"trains on one corpus \(a\): .* so it equals {same}$"):
        Trainer(task, TrainConfig(method=method, max_epochs=1))


def test_no_warning_with_several_corpora_or_without_a_weighting():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(synthetic_task(corpora=("a", "b"), separation=(1.0, 1.0), dim=8), TrainConfig(method="cww"))
        Trainer(synthetic_task(corpora=("a",), separation=1.0, dim=8), TrainConfig(method="focal"))
    assert one_corpus_warning("ce", ["a"]) is None
