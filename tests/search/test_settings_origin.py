"""A settings error names where the value came from (a file, --set or a flag) and the next step."""

from __future__ import annotations

from distser.search import main


def test_a_store_from_a_file_is_named_by_its_key_and_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.toml").write_text('[data]\nstore = "features"\n')
    assert main(["--config", "exp.toml", "--storage", str(tmp_path / "runs")]) == 2
    error = capsys.readouterr().err
    # the store as the search records it (absolute, so that a resume works from any folder)
    assert error.startswith(f"error: data.store {tmp_path / 'features'}: no such folder")
    assert "(data.store is set in exp.toml)" in error
    assert f"distser extract --store {tmp_path / 'features'}" in error and "distser synthetic --store" in error


def test_a_flag_is_named_as_given_and_a_set_as_given(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--store", "features", "--storage", str(tmp_path / "runs")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --store {tmp_path / 'features'}: no such folder") and "is set in" not in error
    assert main(["--set", "study.seeds=0"]) == 2
    assert capsys.readouterr().err.strip() == "error: study.seeds must be >= 1, got 0 (study.seeds is set in --set " \
                                              "study.seeds=0)"
