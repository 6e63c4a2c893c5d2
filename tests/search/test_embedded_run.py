"""`distser search` with no arguments is a demo of minutes: the embedded run's budget, under the user's settings."""

from __future__ import annotations

import tomllib

from distser.search import main
from distser.search._config import EMBEDDED_RUN


def _config(capsys, *argv: str) -> dict:
    assert main([*argv, "--print-config"]) == 0
    return tomllib.loads(capsys.readouterr().out)


def test_the_embedded_run_has_the_small_budget_and_every_held_out_corpus(capsys):
    config = _config(capsys)
    for section, values in EMBEDDED_RUN.items():
        for key, value in values.items():
            assert config[section][key] == value, f"{section}.{key}"
    assert config["data"]["holdouts"] == [] and config["study"]["methods"] == ["ce", "cww+pel-al"]
    assert config["scheduler"]["asha"] is True and config["study"]["mode"] == "search"


def test_a_setting_given_wins_and_a_store_gets_the_full_defaults(capsys):
    assert _config(capsys, "--seeds", "4")["study"]["seeds"] == 4
    full = _config(capsys, "--store", "features")
    assert (full["study"]["seeds"], full["study"]["samples"], full["training"]["max_epochs"]) == (5, 4, 100)
