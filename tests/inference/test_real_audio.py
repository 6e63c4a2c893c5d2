"""Real clips end to end: a model trained on real IS10 features, predicted from audio, from the store, on Ray."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from distser.arrays import EMOTIONS, CorpusArrays, Task
from distser.features import Extractor, FeatureStore, shard_table
from distser.inference import ModelBundle, load_predictor, log_model, main

pytestmark = [pytest.mark.slow, pytest.mark.corpora]

TRAIN = ("ravdess", "tess", "savee")
HELD_OUT = "emodb"
PER_CLASS = 8  # clips per emotion and corpus: 32 per corpus
COLUMNS = [f"p_{c}" for c in EMOTIONS]


@pytest.fixture(scope="module")
def real(shared_corpora, tmp_path_factory):
    """Real IS10 features of 32 clips per corpus, a model trained on three corpora, and a store of the fourth."""
    import numpy as np

    from distser.corpora import load_corpus
    from distser.learning import EmotionClassifier, TrainConfig, train

    extractor = Extractor("IS10")
    parts = {}
    for name in (*TRAIN, HELD_OUT):
        manifest = load_corpus(name, shared_corpora / name)
        manifest = manifest.groupby("label", sort=True).head(PER_CLASS).reset_index(drop=True)
        parts[name] = (manifest, np.stack([extractor(p) for p in manifest["path"]]))
    train_rows = {name: np.arange(len(parts[name][0])) % 4 != 0 for name in TRAIN}  # 3/4 train, 1/4 valid
    pooled = np.concatenate([parts[name][1][train_rows[name]] for name in TRAIN])
    mean = pooled.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = pooled.std(axis=0, dtype=np.float64)
    std[std < 1e-8] = 1.0
    std = std.astype(np.float32)

    def arrays(name, rows):
        manifest, features = parts[name]
        labels = manifest["label"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()[rows]
        return CorpusArrays(name, ((features[rows] - mean) / std).astype(np.float32), labels.astype(np.int64))

    everything = np.ones(len(parts[HELD_OUT][0]), bool)
    task = Task(train={n: arrays(n, train_rows[n]) for n in TRAIN}, valid={n: arrays(n, ~train_rows[n]) for n in TRAIN},
                test=arrays(HELD_OUT, everything))
    config = TrainConfig(method="ce", max_epochs=15, hidden=(64, 32), batch_size=8, early_stopping=False)
    result = train(task, config)
    model = EmotionClassifier(1582, hidden=config.hidden)
    model.load_state_dict(result.state_dict)
    bundle = ModelBundle.from_classifier(model, mean, std, "IS10",
                                         {"method": "ce", "holdout": HELD_OUT, "test_ua": f"{result.test_ua:.4f}"})

    root = tmp_path_factory.mktemp("real-store")
    store = FeatureStore(root, "IS10")
    manifest, features = parts[HELD_OUT]
    store.write_shard(HELD_OUT, shard_table(manifest, features, manifest["path"]), "test", 0)
    return bundle, result, store, manifest, features


def test_audio_and_stored_features_give_the_same_answers(real, registry, tmp_path, capsys):
    bundle, result, store, manifest, features = real
    from mlflow import MlflowClient

    client = MlflowClient(registry.uri)
    run = client.create_run(client.get_experiment_by_name("distser").experiment_id, run_name="real")
    log_model(bundle, run_id=run.info.run_id, registered_model_name="distser-real", tracking_uri=registry.uri,
              tags={"search": "real-test"})
    uri = "models:/distser-real/1"

    listing = tmp_path / "emodb.csv"
    manifest[["path", "label"]].to_csv(listing, index=False)
    assert main(["-m", uri, "--tracking-uri", registry.uri, "-o", str(tmp_path / "audio.csv"), "-q", str(listing)]) == 0
    from_audio_out = capsys.readouterr().out
    assert main(["-m", uri, "--tracking-uri", registry.uri, "-o", str(tmp_path / "store.csv"), "-q",
                 "--store", str(store.root), "--corpus", HELD_OUT]) == 0
    from_store_out = capsys.readouterr().out

    from_audio = pd.read_csv(tmp_path / "audio.csv", keep_default_na=False)
    from_store = pd.read_csv(tmp_path / "store.csv", keep_default_na=False)
    assert from_audio["path"].tolist() == from_store["path"].tolist() == manifest["path"].tolist()
    assert from_audio["emotion"].tolist() == from_store["emotion"].tolist()
    pd.testing.assert_frame_equal(from_audio[COLUMNS], from_store[COLUMNS], atol=1e-5)
    # and both equal the trainer's own test predictions: the same UA as the search would report
    ua_line = f"UA {100 * result.test_ua:.1f} %"
    assert ua_line in from_audio_out and ua_line in from_store_out, (ua_line, from_audio_out)


def test_ray_data_extraction_matches_in_process(real, shared_corpora, tmp_path, corrupt, ray_local):
    bundle, _, _, manifest, _ = real
    from distser.inference import Predictor

    paths = [*manifest["path"][:6], str(corrupt(Path(manifest["path"][0]), tmp_path / "cut.flac"))]
    predictor = Predictor(bundle, "in-memory")
    local = predictor.predict_files(paths, use_ray=False)
    distributed = predictor.predict_files(paths, use_ray=True, num_workers=2)
    assert distributed["path"].tolist() == paths
    assert distributed["emotion"].tolist() == local["emotion"].tolist()
    pd.testing.assert_frame_equal(distributed[COLUMNS], local[COLUMNS], atol=1e-5)
    assert "unreadable audio" in distributed["error"].iloc[-1] and (distributed["error"].iloc[:-1] == "").all()


def test_loading_the_model_by_run(real, registry):
    bundle = real[0]
    from mlflow import MlflowClient

    client = MlflowClient(registry.uri)
    run = client.create_run(client.get_experiment_by_name("distser").experiment_id, run_name="by-run")
    log_model(bundle, run_id=run.info.run_id, name="emotion", tracking_uri=registry.uri)
    predictor = load_predictor(f"runs:/{run.info.run_id}/emotion", registry.uri)
    assert predictor.bundle.metadata["holdout"] == HELD_OUT
