"""`python -m distser.features`: synthetic, info, and errors that name the culprit."""

import pytest

from distser.features.__main__ import main


def test_synthetic_then_info(tmp_path, capsys):
    assert main(["synthetic", "--out", str(tmp_path), "--scale", "0.01"]) == 0
    assert main(["info", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "crema-d" in out and "librispeech" in out and "0 failures" in out


def test_info_on_empty_store(tmp_path, capsys):
    assert main(["info", "--out", str(tmp_path)]) == 1
    assert "no feature shards" in capsys.readouterr().err


def test_extract_missing_corpus_folder_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "emodb"
    assert main(["extract", "--out", str(tmp_path / "f"), "--corpus", f"emodb={missing}"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_help_explains_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "extract" in out and "synthetic" in out and "--corpus ravdess=" in out
