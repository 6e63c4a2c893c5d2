"""A search whose plans train a corpus-weighting method on one corpus says, before any trial, that it equals ce."""

from __future__ import annotations

from distser.features import synthetic_manifest_and_features
from distser.search import SearchConfig
from distser.search._plans import make_plans


def _plans(capsys, methods, corpora):
    manifest, _ = synthetic_manifest_and_features(scale=0.01, dim=8)
    from distser.config import build

    config = build(SearchConfig, [{"study": {"methods": methods}, "data": {"train_corpora": corpora}}])
    make_plans(config, manifest)
    return capsys.readouterr().err


def test_loco_over_two_corpora_warns_that_cww_equals_ce(capsys):
    err = _plans(capsys, ["ce", "cww"], ["iemocap", "crema-d"])
    assert err.splitlines() == ["warning: method cww trains on one corpus (crema-d): cww has nothing to weight, "
                                "so it equals ce"]


def test_no_warning_with_two_training_corpora(capsys):
    assert _plans(capsys, ["ce", "cww"], ["iemocap", "crema-d", "msp-improv"]) == ""
