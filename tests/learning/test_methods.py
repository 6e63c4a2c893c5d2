"""Method names (Table 2 rows), aliases, contradictions and hyperparameters."""

from __future__ import annotations

import pytest

from distser.learning import COMPONENTS, TABLE2_METHODS, Method, MethodParams, TrainConfig, parse_method


@pytest.mark.parametrize("name", TABLE2_METHODS)
def test_table2_names_round_trip(name):
    assert parse_method(name).name == name


def test_flags():
    assert parse_method("ce") == Method()
    assert parse_method("cww+pel-al") == Method(cww=True, pel="al")
    assert parse_method("pel-nl") == Method(pel="nl")
    assert parse_method("cww+unsup") == Method(cww=True, unsup=True)
    assert parse_method("cww+unigram") == Method(cww=True, targets="unigram")
    assert parse_method("soft").targets == "soft"
    assert parse_method("ls").targets == "ls"
    assert parse_method("focal+cp") == Method(focal=True, cp=True)
    assert parse_method("merged") == Method(merged=True)
    assert parse_method("pel-al").needs_unlabeled and parse_method("unsup").needs_unlabeled
    assert not parse_method("cww+unigram").needs_unlabeled


def test_aliases_and_normalisation():
    assert parse_method("cww+pel") == parse_method("cww+pel-al")
    assert parse_method("pel").name == "pel-al"
    assert parse_method("ce+cww") == parse_method("cww")
    assert parse_method(" CWW + PEL-AL ").name == "cww+pel-al"
    assert parse_method("pel-al+cww").name == "cww+pel-al"  # canonical order
    method = parse_method("cww")
    assert parse_method(method) is method
    assert str(method) == "cww"


@pytest.mark.parametrize("name", ["pel-nl+pel-al", "ls+unigram", "soft+ls", "soft+unigram", "merged+cww", "pel+pel-nl"])
def test_contradictory_combinations(name):
    with pytest.raises(ValueError, match="contradictory") as err:
        parse_method(name)
    assert "valid components" in str(err.value)


@pytest.mark.parametrize("name", ["xyz", "cww+foo", "", "cww+", "CE2"])
def test_unknown_names_list_valid_ones(name):
    with pytest.raises(ValueError) as err:
        parse_method(name)
    message = str(err.value)
    for component in COMPONENTS:
        assert component in message
    assert "cww+pel-al" in message


def test_repeated_component_rejected():
    with pytest.raises(ValueError, match="repeated"):
        parse_method("cww+cww")
    with pytest.raises(ValueError, match="repeated"):
        parse_method("pel+pel-al")


def test_method_params_defaults_and_validation():
    p = MethodParams()
    assert (p.lambda_w, p.lambda_l, p.cww_source, p.pel_batch_size) == (4.0, 0.001, "train", 32)
    assert (p.smoothing, p.focal_gamma, p.cp_beta, p.recon_weight) == (0.1, 2.0, 0.1, 1.0)
    for bad in ({"cww_source": "test"}, {"smoothing": 1.5}, {"lambda_w": -1}, {"pel_batch_size": 0}):
        with pytest.raises(ValueError):
            MethodParams(**bad)


def test_train_config_validates_method_and_round_trips():
    with pytest.raises(ValueError, match="valid components"):
        TrainConfig(method="nope")
    cfg = TrainConfig(method="cww+pel", params=MethodParams(lambda_w=2.0), seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert (cfg.lr, cfg.batch_size, cfg.max_epochs, cfg.patience, cfg.lr_patience, cfg.lr_factor) == (
        2e-4,
        32,
        100,
        5,
        2,
        0.1,
    )
