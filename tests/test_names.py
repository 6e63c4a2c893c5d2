"""One name per method, and examples that exist: README, docs and every `--help` agree with the outputs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from distser.cli import COMMANDS, main
from distser.learning import parse_method

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def texts(request) -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text() for path in DOCS}


def test_help_and_docs_name_methods_as_the_outputs_do(texts, capsys):
    texts = {**texts, **{f"distser {c} --help": _help(c, capsys) for c in COMMANDS}}
    for where, text in texts.items():
        for given in re.findall(r"--method[ =]([a-z][a-z0-9+\-]*)", text):
            assert parse_method(given).name == given, f"{where}: --method {given} is {parse_method(given).name}"
        for given in re.findall(r"models:/distser-(?:synthetic-)?([a-z][a-z0-9+\-]*)[/@]", text):
            assert parse_method(given).name == given, f"{where}: model distser-{given}"


def test_help_and_docs_examples_name_files_that_exist(texts, capsys):
    texts = {**texts, **{f"distser {c} --help": _help(c, capsys) for c in COMMANDS}}
    for where, text in texts.items():
        for path in re.findall(r"--config ([\w./\-]+\.toml)", text):
            if not Path(path).name.startswith("my"):  # my.toml, my-corpora.toml: the user's own file
                assert (ROOT / path).is_file(), f"{where}: --config {path} does not exist"


def test_an_alias_is_shown_with_the_name_outputs_use(capsys):
    assert main(["search", "--method", "ce", "--method", "cww+pel", "--print-config"]) == 0
    captured = capsys.readouterr()
    assert "method cww+pel is cww+pel-al" in captured.err
    assert tomllib.loads(captured.out)["study"]["methods"] == ["ce", "cww+pel-al"]
    assert "method ce is" not in captured.err
