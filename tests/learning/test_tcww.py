"""``tcww``: the tempered corpus-wise weights, added as one module."""

from __future__ import annotations

import numpy as np
import pytest

from distser.learning import MethodParams, TrainConfig, parse_method, train
from distser.learning.methods import REGISTRY, EpochSignals


def _weights(uas, temperature):
    rule = REGISTRY["tcww"](MethodParams(cww_temperature=temperature))
    return rule.after_epoch(np.ones(len(uas)), EpochSignals(np.array(uas), np.array(uas)))


def test_weights_are_a_tempered_softmax_of_the_training_error():
    w = _weights([0.9, 0.6, 0.3], 0.2)
    expected = np.exp(np.array([0.1, 0.4, 0.7]) / 0.2)
    assert w == pytest.approx(3 * expected / expected.sum())
    assert w.mean() == pytest.approx(1.0)


def test_a_perfectly_learned_corpus_keeps_weight_and_hot_temperatures_equalise():
    w = _weights([1.0, 1.0, 0.2], 0.1)  # eq. (3) would give (0, 0, 3)
    assert w[0] > 0 and w[0] >= 3 / (1 + 2 * np.exp(1 / 0.1)) - 1e-12
    assert _weights([0.9, 0.6, 0.3], 1e3) == pytest.approx(np.ones(3), abs=1e-3)


def test_tcww_trains_composes_and_is_searched(task):
    assert parse_method("tcww+pel").name == "tcww+pel-al"
    with pytest.raises(ValueError, match="contradictory"):
        parse_method("tcww+cww")
    result = train(task, TrainConfig(method="tcww", params=MethodParams(cww_temperature=0.05), max_epochs=2,
                                     hidden=(32, 16)))
    for rec in result.history:
        assert list(rec.corpus_weights.values()) == pytest.approx(list(_weights(list(rec.train_ua.values()), 0.05)))
    assert [h.name for h in parse_method("tcww").hyperparameters] == ["cww_temperature"]
