"""Method names (Table 2 rows), the component registry, aliases, contradictions and hyperparameters."""

from __future__ import annotations

import pytest

from distser.learning import (
    COMPONENTS,
    HYPERPARAMETERS,
    REGISTRY,
    TABLE2_METHODS,
    MethodParams,
    TrainConfig,
    components_help,
    parse_method,
)
from distser.learning.methods import CorpusWeighting, Hyperparameter, LossTerm, TargetRule, register


@pytest.mark.parametrize("name", TABLE2_METHODS)
def test_table2_names_round_trip(name):
    assert parse_method(name).name == name


def test_components_by_kind():
    assert parse_method("ce").components == ()
    assert [c.name for c in parse_method("cww+pel-al").components] == ["cww", "pel-al"]
    assert [c.name for c in parse_method("cww+unigram").of_kind(TargetRule)] == ["unigram"]
    assert [c.name for c in parse_method("focal+cp+unsup").of_kind(LossTerm)] == ["cp", "unsup"]
    assert [c.name for c in parse_method("dro").of_kind(CorpusWeighting)] == ["dro"]
    assert "cww" in parse_method("cww+pel") and "pel-nl" not in parse_method("cww+pel")
    assert parse_method("pel-al").needs_unlabeled and parse_method("unsup").needs_unlabeled
    assert not parse_method("cww+unigram").needs_unlabeled


def test_every_component_declares_a_kind_summary_and_valid_hyperparameters():
    for name, component in REGISTRY.items():
        assert component.name == name and component.summary, name
        for hp in component.hyperparameters:
            assert HYPERPARAMETERS[hp.name] == hp
            assert hp.check(hp.default) == hp.default
            if hp.searched and not hp.categorical:
                low, high = hp.search
                assert hp.check(low) == low and hp.check(high) == high
    assert COMPONENTS[0] == "ce" and set(COMPONENTS[1:]) == set(REGISTRY)


def test_aliases_and_normalisation():
    assert parse_method("cww+pel") == parse_method("cww+pel-al")
    assert parse_method("pel").name == "pel-al"
    assert parse_method("ce+cww") == parse_method("cww")
    assert parse_method(" CWW + PEL-AL ").name == "cww+pel-al"
    assert parse_method("pel-al+cww").name == "cww+pel-al"  # canonical order
    method = parse_method("cww")
    assert parse_method(method) is method
    assert str(method) == "cww"


@pytest.mark.parametrize("name", ["pel-nl+pel-al", "ls+unigram", "soft+ls", "soft+unigram", "merged+cww",
                                  "pel+pel-nl", "cww+dro", "dro+merged"])
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
    assert (p.lambda_w, p.lambda_l, p.cww_signal, p.pel_batch_size) == (4.0, 0.001, "train-ua", 32)
    assert (p.smoothing, p.focal_gamma, p.cp_beta, p.recon_weight) == (0.1, 2.0, 0.1, 1.0)
    assert (p.cww_smoothing, p.weight_floor, p.dro_eta) == (0.0, 0.0, 0.01)
    for bad in ({"cww_signal": "test-ua"}, {"smoothing": 1.5}, {"lambda_w": -1}, {"pel_batch_size": 0},
                {"pel_batch_size": 2.5}, {"lambda_w": float("nan")}, {"lambda_w": "4"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MethodParams(**bad)
    with pytest.raises(ValueError, match="unknown hyperparameter 'lamda_w'"):
        MethodParams(lamda_w=1)
    assert MethodParams(lambda_w=2) == MethodParams({"lambda_w": 2.0})
    assert hash(MethodParams(lambda_w=2)) == hash(MethodParams(lambda_w=2.0))
    assert MethodParams(lambda_w=2).of("cww+pel") == {
        "lambda_w": 2.0, "cww_signal": "train-ua", "cww_smoothing": 0.0, "weight_floor": 0.0,
        "lambda_l": 0.001, "pel_batch_size": 32}
    assert MethodParams().of("ce") == {}


def test_registering_a_clashing_component_fails():
    class Clash(CorpusWeighting):
        name = "cww"

    with pytest.raises(ValueError, match="taken"):
        register(Clash)

    class Redefined(CorpusWeighting):
        name = "redefined"
        hyperparameters = (Hyperparameter("lambda_w", 1.0, "another λ_W"),)

    with pytest.raises(ValueError, match="lambda_w"):
        register(Redefined)
    assert "redefined" not in REGISTRY


def test_help_lists_every_component_and_its_ranges():
    text = components_help()
    for name in COMPONENTS:
        assert f"  {name} " in text
    assert "lambda_w=4.0 (searched in [0, 5])" in text


def test_train_config_validates_method_and_round_trips():
    with pytest.raises(ValueError, match="valid components"):
        TrainConfig(method="nope")
    cfg = TrainConfig(method="cww+pel", params=MethodParams(lambda_w=2.0), seed=7, min_steps_per_epoch=20)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig(params={"lambda_w": 3}).params.lambda_w == 3.0
    assert (cfg.lr, cfg.batch_size, cfg.max_epochs, cfg.patience, cfg.lr_patience, cfg.lr_factor) == (
        2e-4,
        32,
        100,
        5,
        2,
        0.1,
    )
    with pytest.raises(ValueError, match="min_steps_per_epoch"):
        TrainConfig(min_steps_per_epoch=-1)
