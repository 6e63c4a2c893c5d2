"""``distser predict``: files, folders, CSV manifests and stored features; bad input named, nothing half-written."""

from __future__ import annotations

import os
import re
import shutil
import stat

import numpy as np
import pandas as pd
import pytest

from distser.features import Extractor, FeatureStore, write_synthetic
from distser.inference import main

COLUMNS = ["path", "emotion", "p_neutral", "p_happy", "p_sad", "p_angry", "statistics", "error"]


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_files_folder_and_manifest_with_a_corrupt_file(registry, clips, tmp_path, capsys, corrupt):
    folder = tmp_path / "folder"
    (folder / "deeper").mkdir(parents=True)
    shutil.copyfile(clips[1], folder / "deeper" / "b.flac")
    corrupt(clips[2], folder / "broken.flac")
    (folder / "notes.txt").write_text("not audio, not collected")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nclip0.flac,happy\nfolder/deeper/b.flac,sad\ngone.flac,angry\n")
    out_csv = tmp_path / "out" / "pred.csv"

    status, out, err = _run(capsys, "--model", f"models:/{registry.name}/1", "--tracking-uri", registry.uri,
                            "--out", out_csv, clips[0], folder, manifest)

    assert status == 1
    table = pd.read_csv(out_csv, keep_default_na=False)
    assert list(table.columns) == [*COLUMNS, "label"]
    assert table["path"].tolist() == [str(clips[0]), str(folder / "broken.flac"), str(folder / "deeper" / "b.flac"),
                                      str(tmp_path / "clip0.flac"), str(tmp_path / "folder/deeper/b.flac"),
                                      str(tmp_path / "gone.flac")]
    assert table["label"].tolist() == ["", "", "", "happy", "sad", "angry"]
    good = table[table["error"] == ""]
    assert len(good) == 4 and set(good["emotion"]) <= {"neutral", "happy", "sad", "angry"}
    np.testing.assert_allclose(good[COLUMNS[2:6]].astype(float).sum(axis=1), 1, atol=1e-4)
    assert "unreadable audio" in table.loc[1, "error"] and table.loc[5, "error"] == "no such file"
    # the same clip gives the same answer whichever way it came in
    assert table.loc[0, "emotion"] == table.loc[3, "emotion"]
    expected = registry.bundle.predict_proba(Extractor("IS10")(clips[0])[None])[0]
    np.testing.assert_allclose(table.loc[0, COLUMNS[2:6]].astype(float), expected, atol=1e-5)
    # stderr: a summary naming every failure; stdout: the table and the UA over the labelled rows
    assert "6 inputs: 4 predicted, 2 failed" in err
    assert f"failed: {folder / 'broken.flac'}: unreadable audio" in err and "gone.flac: no such file" in err
    assert "UA " in out and "over 2 labelled inputs" in out
    assert "clip0.flac" in out
    assert [p.name for p in out_csv.parent.iterdir()] == ["pred.csv"]  # no temporary file left


def test_default_output_is_readable_predictions_csv_under_reports(registry, clips, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mask = os.umask(0o022)
    try:
        status, out, err = _run(capsys, "-m", f"models:/{registry.name}/1", "--tracking-uri", registry.uri, "-q",
                                clips[0])
        assert status == 0, err
        assert out == ""  # --quiet: no table
        written = tmp_path / "reports" / "predictions.csv"
        assert pd.read_csv(written)["path"].tolist() == [str(clips[0])]
        assert stat.S_IMODE(written.stat().st_mode) == 0o644
        assert not (tmp_path / "predictions.csv").exists() and f"wrote {written.relative_to(tmp_path)}" in err
        # --out a folder: predictions.csv in it
        (tmp_path / "mine").mkdir()
        assert _run(capsys, "-m", f"models:/{registry.name}/1", "--tracking-uri", registry.uri, "-q", "--out", "mine",
                    clips[0])[0] == 0
        assert stat.S_IMODE((tmp_path / "mine" / "predictions.csv").stat().st_mode) == 0o644
    finally:
        os.umask(mask)


def test_tracking_uri_from_the_environment(registry, clips, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    status, _, err = _run(capsys, "-m", f"models:/{registry.name}/1", "-o", tmp_path / "p.csv", clips[0])
    assert status == 0, err


@pytest.mark.parametrize("uri, message", [
    ("models:/distser-test/9", "models:/distser-test/9 not found .* has versions 1"),
    ("models:/distser-other/1", "no registered model 'distser-other'"),
    ("runs:/ffffffffffffffffffffffffffffffff/model", "no run 'ffffffffffffffffffffffffffffffff'"),
])
def test_a_missing_model_stops_before_writing(registry, clips, tmp_path, capsys, uri, message):
    out_csv = tmp_path / "pred.csv"
    status, out, err = _run(capsys, "--model", uri, "--tracking-uri", registry.uri, "--out", out_csv, clips[0])
    assert status == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out_csv.exists() and sorted(tmp_path.iterdir()) == clips


def test_no_audio_and_bad_usage_stop_with_status_2(registry, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    common = ["--model", f"models:/{registry.name}/1", "--tracking-uri", registry.uri, "--out", tmp_path / "p.csv"]
    status, _, err = _run(capsys, *common, empty)
    assert status == 2 and "no audio files (" in err and str(empty) in err
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.wav,sad\n")
    status, _, err = _run(capsys, *common, manifest)
    assert status == 2 and "m.csv has no 'path' column" in err
    status, _, err = _run(capsys, *common)
    assert status == 2 and "not both or neither" in err
    assert not (tmp_path / "p.csv").exists()


def test_stored_features_without_extraction(registry, synthetic_store, tmp_path, capsys):
    out_csv = tmp_path / "store.csv"
    status, out, err = _run(capsys, "--model", f"models:/{registry.name}/1", "--tracking-uri", registry.uri,
                            "--store", synthetic_store.root, "--corpus", "iemocap", "--out", out_csv, "-q")
    assert status == 0, err
    table = pd.read_csv(out_csv, keep_default_na=False)
    manifest, features = FeatureStore(synthetic_store.root).load(["iemocap"])
    assert table["path"].tolist() == manifest["path"].tolist()
    assert table["label"].tolist() == manifest["label"].tolist()
    np.testing.assert_allclose(table[COLUMNS[2:6]].to_numpy(float), registry.bundle.predict_proba(features), atol=1e-5)
    assert f"over {len(manifest)} labelled inputs" in out


def test_a_store_is_read_in_the_models_feature_set_unless_told(make_bundle, tmp_path, capsys):
    from mlflow import MlflowClient

    from distser.inference import log_model

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("distser", artifact_location=str(tmp_path / "artifacts")))
    bundle = make_bundle("eGeMAPSv02")
    log_model(bundle, run_id=run.info.run_id, tracking_uri=uri)
    client.set_terminated(run.info.run_id)
    root = tmp_path / "features"
    write_synthetic(str(root), scale=0.01, feature_set="IS10")  # the store holds both sets
    store = write_synthetic(str(root), scale=0.01, feature_set="eGeMAPSv02")
    out_csv = tmp_path / "p.csv"
    status, _, err = _run(capsys, "--model", f"runs:/{run.info.run_id}/model", "--tracking-uri", uri,
                          "--store", root, "--corpus", "iemocap", "--out", out_csv, "-q")
    assert status == 0, err  # eGeMAPSv02, the model's set, without --feature-set
    _, features = store.load(["iemocap"])
    table = pd.read_csv(out_csv, keep_default_na=False)
    np.testing.assert_allclose(table[COLUMNS[2:6]].to_numpy(float), bundle.predict_proba(features), atol=1e-5)
    status, _, err = _run(capsys, "--model", f"runs:/{run.info.run_id}/model", "--tracking-uri", uri,
                          "--store", root, "--feature-set", "IS10", "--out", out_csv)
    assert status == 2 and "takes eGeMAPSv02 features (88 values)" in err  # told otherwise: refused, named


def test_a_model_of_another_feature_set_than_the_store(registry, tmp_path, capsys):
    store = write_synthetic(str(tmp_path / "features"), scale=0.01, feature_set="eGeMAPSv02")
    out_csv = tmp_path / "p.csv"
    status, _, err = _run(capsys, "--model", f"models:/{registry.name}/1", "--tracking-uri", registry.uri,
                          "--store", store.root, "--feature-set", "eGeMAPSv02", "--out", out_csv)
    assert status == 2
    assert (f"model models:/{registry.name}/1 takes IS10 features (1582 values), but the store "
            f"{store.path} holds eGeMAPSv02 (88)") in err
    assert not out_csv.exists()
    # the default feature set (IS10) is absent from this store: that is named too
    status, _, err = _run(capsys, "--model", f"models:/{registry.name}/1", "--tracking-uri", registry.uri,
                          "--store", store.root, "--out", out_csv)
    assert status == 2 and f"no feature shards under {tmp_path / 'features' / 'IS10'}" in err
