"""The registry names what a user deploys: synthetic models apart, tags that say what a version is, ``@best``."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from distser.define import ModelTag, model_name
from distser.features import FeatureStore, shard_table, synthetic_manifest_and_features
from distser.inference import main as predict


def _predict(capsys, *argv) -> tuple[int, str]:
    status = predict([str(a) for a in argv])
    return status, capsys.readouterr().err


def test_models_of_synthetic_features_are_named_apart_tagged_and_warned_about(shared_search, tmp_path, capsys):
    config, locations = shared_search.config, shared_search.locations
    client = MlflowClient(locations.tracking_uri)
    names = sorted(m.name for m in client.search_registered_models())
    assert names == [model_name("ce", synthetic=True), model_name("cww+pel-al", synthetic=True)]
    assert names == ["distser-synthetic-ce", "distser-synthetic-cww+pel-al"]
    for name in names:
        for version in client.search_model_versions(f"name = '{name}'"):
            tags = version.tags
            assert tags[ModelTag.SYNTHETIC] == "true" and tags[ModelTag.STORE].startswith("embedded synthetic")
            assert tags[ModelTag.PROTOCOL] == "loco" and tags[ModelTag.NORMALIZATION] == "global"
            assert tags[ModelTag.SEARCH] == config.name and tags[ModelTag.HOLDOUT] in ("iemocap", "crema-d")
            assert tags[ModelTag.METHOD] == name.removeprefix("distser-synthetic-") and tags["feature_set"] == "IS10"

    store = shared_search.storage / f"synthetic-features-{config.data.synthetic_scale:g}"
    status, err = _predict(capsys, "--model", "models:/distser-synthetic-ce/1", "--tracking-uri",
                           locations.tracking_uri, "--store", store, "--corpus", "msp-podcast", "--out",
                           tmp_path / "p.csv", "-q")
    assert status == 0, err
    assert err.splitlines()[0].startswith("warning: models:/distser-synthetic-ce/1 was trained on synthetic features "
                                          "(embedded synthetic (scale 0.02)), not on recorded speech")


def _recorded_store(folder) -> FeatureStore:
    """A store of three corpora whose rows name recordings (features from the synthetic generator: not a demo)."""
    manifest, features = synthetic_manifest_and_features(scale=0.01)
    store = FeatureStore(folder)
    for number, corpus in enumerate(("crema-d", "iemocap", "msp-improv")):
        rows = np.flatnonzero(manifest["corpus"] == corpus)
        part = manifest.iloc[rows].reset_index(drop=True)
        part["path"] = [f"/recordings/{u}.wav" for u in part["utterance_id"]]
        store.write_shard(corpus, shard_table(part, features[rows], np.full(len(rows), "h", dtype=object)), "test",
                          number)
    return store


@pytest.mark.slow  # a pool search of its own (~8 s idle)
def test_a_pool_search_sets_best_on_the_model_to_deploy(ray_local, search_cli, tmp_path, capsys):
    store = _recorded_store(tmp_path / "features")
    config, locations, _ = search_cli([
        "--protocol", "pool", "--method", "ce", "--store", str(store.root), "--train-corpora", "crema-d,iemocap",
        "--test-corpus", "msp-improv", "--seeds", "1", "--samples", "1", "--max-epochs", "2", "--no-asha",
        "--checkpoint-seconds", "0", "--storage", str(tmp_path / "runs"), "--name", "pooled"])
    client = MlflowClient(locations.tracking_uri)
    best = client.get_model_version_by_alias("distser-ce", "best")
    assert best.tags[ModelTag.PROTOCOL] == "pool" and best.tags[ModelTag.HOLDOUT] == "-"
    assert best.tags[ModelTag.SYNTHETIC] == "false" and best.tags[ModelTag.STORE] == str(store.root)
    assert best.tags[ModelTag.SEARCH] == "pooled" and best.tags[ModelTag.METHOD] == "ce"
    assert [m.name for m in client.search_registered_models()] == ["distser-ce"]

    status, err = _predict(capsys, "--model", "models:/distser-ce@best", "--tracking-uri", locations.tracking_uri,
                           "--store", store.root, "--corpus", "iemocap", "--out", tmp_path / "p.csv", "-q")
    assert status == 0, err
    assert "warning" not in err and "synthetic" not in err
    assert (tmp_path / "p.csv").read_text().count("\n") == len(store.manifest(["iemocap"])) + 1


@pytest.mark.parametrize("synthetic", [False, True])
def test_model_names(synthetic):
    assert model_name("cww", synthetic) == ("distser-synthetic-cww" if synthetic else "distser-cww")
