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


def test_every_command_names_the_store_store(tmp_path, capsys):
    from distser.cli import main as distser

    assert distser(["synthetic", "--store", str(tmp_path), "--scale", "0.01"]) == 0
    assert distser(["info", "--store", str(tmp_path)]) == 0
    assert distser(["compact", "--store", str(tmp_path)]) == 0
    assert "crema-d" in capsys.readouterr().out


def test_an_extraction_file_sets_corpora_and_label_maps(tmp_path):
    from distser.features.__main__ import build_parser, extract_config

    (tmp_path / "e.toml").write_text(
        'store = "feat"\nfeature_set = "eGeMAPSv02"\n[[corpus]]\nname = "ravdess"\npath = "/data/ravdess"\n'
        'label_map = { "02" = "neutral", "07" = "" }\n')
    args = build_parser().parse_args(["extract", "--config", str(tmp_path / "e.toml"), "--corpus", "emodb=/data/e"])
    config = extract_config(args)
    assert config.store == "feat" and config.feature_set == "eGeMAPSv02"
    assert [(c.name, c.label_map) for c in config.corpus] == [("ravdess", {"02": "neutral", "07": ""}),
                                                              ("emodb", {})]
    args = build_parser().parse_args(["extract", "--config", str(tmp_path / "e.toml"), "--store", "other"])
    assert extract_config(args).store == "other"  # a flag overrides the file


def test_a_label_map_in_an_extraction_file_reaches_the_loader(tmp_path, capsys):
    (tmp_path / "e.toml").write_text(f'store = "{tmp_path}/f"\n[[corpus]]\nname = "emodb"\npath = "{tmp_path}/no"\n'
                                     'label_map = { "W" = "happy" }\n')
    assert main(["extract", "--config", str(tmp_path / "e.toml")]) == 2  # the loader ran (and named the folder)
    assert f"{tmp_path}/no" in capsys.readouterr().err


def test_info_lists_each_feature_set_with_its_corpora_and_counts(tmp_path, capsys):
    assert main(["synthetic", "--store", str(tmp_path), "--scale", "0.01"]) == 0
    assert main(["synthetic", "--store", str(tmp_path), "--scale", "0.01", "--feature-set", "eGeMAPSv02"]) == 0
    capsys.readouterr()
    assert main(["info", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'IS10'}  (IS10-" in out and "1582 features per utterance" in out
    assert f"{tmp_path / 'eGeMAPSv02'}  (eGeMAPSv02-" in out and "88 features per utterance" in out
    side_by_side = out.split("utterances per corpus and feature set:")[1].splitlines()
    assert side_by_side[1].split() == ["IS10", "eGeMAPSv02"]
    assert next(line for line in side_by_side if line.startswith("iemocap")).split()[1:] == ["55", "55"]
    # One set named: that set only.
    assert main(["info", "--store", str(tmp_path), "--feature-set", "eGeMAPSv02"]) == 0
    out = capsys.readouterr().out
    assert "eGeMAPSv02" in out and "IS10" not in out
