"""Self-supervised embeddings from tiny random checkpoints saved to a temporary folder (nothing downloaded).

WavLM with a layer-normalised front-end (batched, masked), HuBERT with a group-normalised one (one
clip at a time) and a Whisper encoder (fixed 30 s windows): shapes, determinism, independence from
the batch, the layer choice, the store's identity, a corrupt clip named, and one training run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile

transformers = pytest.importorskip("transformers", reason="the ssl extra: pip install -e '.[ssl]'")

from distser.corpora._schema import make_manifest  # noqa: E402
from distser.features import FeatureStore, SSLEmbedder, TaskLoader, extract_ssl  # noqa: E402
from distser.features.__main__ import main  # noqa: E402
from distser.features._ssl import identify, resolve_model  # noqa: E402
from distser.features._ssl_identity import IDENTITY_FILE, IDENTITY_KEY, SSLIdentity  # noqa: E402

DIM = 32
LAYERS = 2
TINY_CONV = {"conv_dim": (32, 32), "conv_stride": (5, 5), "conv_kernel": (10, 10),
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
TINY_ENCODER = {"hidden_size": DIM, "num_hidden_layers": LAYERS, "num_attention_heads": 2, "intermediate_size": 64}


def _save(model, features, folder):
    model.save_pretrained(folder)
    features.save_pretrained(folder)
    return folder


def tiny_wavlm(folder, seed=0):
    import torch

    torch.manual_seed(seed)
    config = transformers.WavLMConfig(**TINY_ENCODER, **TINY_CONV, feat_extract_norm="layer",
                                      do_stable_layer_norm=True, num_buckets=32, max_bucket_distance=100)
    return _save(transformers.WavLMModel(config), transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True),
                 folder)


def tiny_hubert(folder):
    import torch

    torch.manual_seed(1)
    config = transformers.HubertConfig(**TINY_ENCODER, **TINY_CONV, feat_extract_norm="group")
    return _save(transformers.HubertModel(config), transformers.Wav2Vec2FeatureExtractor(), folder)


def tiny_whisper(folder):
    import torch

    torch.manual_seed(2)
    config = transformers.WhisperConfig(
        d_model=DIM, encoder_layers=LAYERS, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
        decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=64, max_target_positions=8,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    return _save(transformers.WhisperModel(config), transformers.WhisperFeatureExtractor(feature_size=80), folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"wavlm": tiny_wavlm(root / "wavlm-tiny"), "hubert": tiny_hubert(root / "hubert-tiny"),
            "whisper": tiny_whisper(root / "whisper-tiny")}


def _clip(seconds, frequency, seed=0):
    t = np.arange(int(seconds * 16000)) / 16000
    noise = 0.05 * np.random.default_rng(seed).normal(size=t.size)
    return (0.3 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)


SIGNALS = [_clip(0.8, 150, 0), _clip(0.3, 220, 1), _clip(1.1, 330, 2), _clip(0.5, 180, 3)]


@pytest.mark.parametrize("family", ["wavlm", "hubert", "whisper"])
def test_embeddings_have_the_models_width_and_repeat_exactly(models, family):
    first = SSLEmbedder(models[family], layer="mean").embed(SIGNALS)
    again = SSLEmbedder(models[family], layer="mean").embed(SIGNALS)  # a fresh model: no dropout, eval mode
    assert first.shape == (len(SIGNALS), DIM) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert len({row.tobytes() for row in first}) == len(SIGNALS)


@pytest.mark.parametrize("family", ["wavlm", "hubert", "whisper"])
def test_a_clip_embeds_the_same_alone_and_in_a_batch(models, family):
    embedder = SSLEmbedder(models[family], layer=LAYERS, batch_size=4)
    together = embedder.embed(SIGNALS)
    alone = np.stack([embedder.embed([signal])[0] for signal in SIGNALS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_mean_of_all_layers_is_the_mean_of_each_layers_embedding(models):
    per_layer = [SSLEmbedder(models["wavlm"], layer=n).embed(SIGNALS) for n in range(LAYERS + 1)]
    mean = SSLEmbedder(models["wavlm"], layer="mean").embed(SIGNALS)
    np.testing.assert_allclose(mean, np.mean(per_layer, axis=0), atol=1e-5)
    assert not np.allclose(per_layer[0], per_layer[LAYERS])


def test_whisper_pools_every_30_s_window_of_a_long_clip(models):
    embedder = SSLEmbedder(models["whisper"], layer=1)
    long = np.concatenate([_clip(30, 150, 4), _clip(10, 400, 5)])
    # 30 s in 1500 frames, then 10 s in 500: the clip's mean weighs both windows by their frames
    windows = embedder.embed([long[:480000], long[480000:]])
    np.testing.assert_allclose(embedder.embed([long])[0], (1500 * windows[0] + 500 * windows[1]) / 2000, atol=1e-5)


def test_whisper_leaves_the_padding_of_its_window_out(models):
    import torch

    clip = _clip(10, 250, 6)
    encoder = transformers.WhisperModel.from_pretrained(models["whisper"]).get_encoder().eval()
    inputs = transformers.WhisperFeatureExtractor.from_pretrained(models["whisper"])(
        [clip], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        states = encoder(inputs["input_features"], output_hidden_states=True).hidden_states
    expected = states[1][0, :500].mean(0).numpy()  # 10 s of 30: the first 500 of 1500 frames
    np.testing.assert_allclose(SSLEmbedder(models["whisper"], layer=1).embed([clip])[0], expected, atol=1e-5)


def test_a_bad_layer_or_an_unknown_model_is_named(models, tmp_path):
    with pytest.raises(ValueError, match=r"hidden layers 0\.\.2"):
        identify(str(models["wavlm"]), 3)
    with pytest.raises(ValueError, match="hidden layer number"):
        identify(str(models["wavlm"]), "last")
    with pytest.raises(ValueError, match="hf download distser-tests/no-such-model"):
        resolve_model("distser-tests/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        identify(str(tmp_path / "empty"), 1)


def test_a_hub_id_resolves_to_its_snapshot_in_the_users_cache(models, tmp_path, monkeypatch):
    import shutil

    from huggingface_hub import constants

    # the layout `hf download distser-tests/wavlm-tiny` leaves (files are links to blobs there; copies here)
    repo = tmp_path / "hub" / "models--distser-tests--wavlm-tiny"
    shutil.copytree(models["wavlm"], repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    assert resolve_model("distser-tests/wavlm-tiny") == repo / "snapshots" / ("a" * 40)
    identity = identify("distser-tests/wavlm-tiny", 1)
    assert identity.feature_set == "ssl-wavlm-tiny-L1"
    assert identity.same_embeddings(identify(str(models["wavlm"]), 1))  # the same files under another name


def test_without_the_ssl_extra_the_cli_says_how_to_install_it(models, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    corpus = _write_corpus(tmp_path / "audio", "toy", {"c0": _clip(0.3, 200)})
    corpus.to_csv(tmp_path / "toy.csv", index=False)
    assert main(["extract", "--store", str(tmp_path / "store"), "--feature-set", "ssl", "--model",
                 str(models["wavlm"]), "--corpus", f"csv={tmp_path / 'toy.csv'}"]) == 2
    assert "pip install -e '.[ssl]'" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_the_cli_asks_for_a_model_and_keeps_model_flags_to_ssl(tmp_path, capsys):
    assert main(["extract", "--store", str(tmp_path), "--feature-set", "ssl", "--corpus", f"emodb={tmp_path}"]) == 2
    assert "--feature-set ssl needs --model" in capsys.readouterr().err
    assert main(["extract", "--store", str(tmp_path), "--feature-set", "IS10", "--layer", "3",
                 "--corpus", f"emodb={tmp_path}"]) == 2
    assert "are for --feature-set ssl, not IS10" in capsys.readouterr().err


def test_an_extraction_file_sets_the_model_and_layer(tmp_path):
    from distser.features.__main__ import build_parser, extract_config

    (tmp_path / "emodb").mkdir()
    (tmp_path / "extract.toml").write_text(
        f'store = "{tmp_path / "store"}"\nfeature_set = "ssl"\nmodel = "microsoft/wavlm-base-plus"\nlayer = 6\n'
        f'[[corpus]]\nname = "emodb"\npath = "{tmp_path / "emodb"}"\n')
    config = extract_config(build_parser().parse_args(["extract", "--config", str(tmp_path / "extract.toml")]))
    assert (config.feature_set, config.model, config.layer) == ("ssl", "microsoft/wavlm-base-plus", 6)
    flags = build_parser().parse_args(["extract", "--config", str(tmp_path / "extract.toml"), "--layer", "mean"])
    assert extract_config(flags).layer == "mean"


def _write_corpus(folder, corpus, clips):
    """FLAC files of ``clips`` (name -> signal or raw bytes) as a manifest of one corpus."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (name, clip) in enumerate(clips.items()):
        path = folder / f"{name}.flac"
        if isinstance(clip, bytes):
            path.write_bytes(clip)
        else:
            soundfile.write(path, clip, 16000, format="FLAC")
        rows.append({"utterance_id": f"{corpus}/{name}", "path": str(path), "corpus": corpus,
                     "speaker": f"{corpus}/s{index % 2}", "label": ("angry", "neutral")[index % 2]})
    return make_manifest(rows, corpus)


@pytest.fixture(scope="module")
def extracted(models, tmp_path_factory, ray_local):
    """Layer 1 of the tiny WavLM of three small corpora (one corrupt and one too short clip), via Ray Data."""
    root = tmp_path_factory.mktemp("ssl-store")
    frames = []
    for number, corpus in enumerate(("toy-a", "toy-b", "toy-c")):
        clips = {f"c{i}": _clip(0.3 + 0.1 * i, 120 + 40 * i + 25 * number, 10 * number + i) for i in range(6)}
        if corpus == "toy-a":
            # blip: 32 samples, the tiny front-end needs 55
            clips |= {"corrupt": b"fLaC\x00\x00junk" * 40, "blip": _clip(0.002, 200)}
        frames.append(_write_corpus(root / "audio" / corpus, corpus, clips))
    manifest = pd.concat(frames, ignore_index=True)
    messages = []
    report, store = extract_ssl(manifest, root / "store", str(models["wavlm"]), 1, num_workers=1, threads=1,
                                batch_size=4, shard_rows=4, progress=messages.append)
    return manifest, report, store, messages


def test_extraction_stores_embeddings_and_names_the_failed_clips(extracted, models):
    manifest, report, store, messages = extracted
    assert store.feature_set == "ssl-wavlm-tiny-L1"
    assert report.extracted == 18 and report.failed == 2
    reasons = report.failures.set_index("utterance_id")["reason"]
    assert "unreadable audio" in reasons["toy-a/corrupt"]
    assert "clip too short for wavlm: 0.002 s (needs at least 0.003 s)" in reasons["toy-a/blip"]
    assert set(store.failures()["utterance_id"]) == {"toy-a/corrupt", "toy-a/blip"}
    assert any("2 failed" in message for message in messages)

    frame, features = FeatureStore(store.root, "ssl-wavlm-tiny-L1").load()
    assert features.shape == (18, DIM) and store.dim == DIM
    # the same vectors as the embedder in this process: batching by length and Ray changed nothing
    paths = frame["path"].tolist()
    direct, errors, _ = SSLEmbedder(models["wavlm"], layer=1)(paths)
    assert errors == [""] * len(paths)
    np.testing.assert_allclose(features, direct, atol=1e-5)


def test_the_store_keeps_the_extractors_identity(extracted, models):
    _, _, store, _ = extracted
    identity = SSLIdentity.from_json((store.path / IDENTITY_FILE).read_text(), "extractor.json")
    assert identity == identify(str(models["wavlm"]), 1)
    assert identity.family == "wavlm" and identity.layer == 1 and identity.dim == DIM and len(identity.checksum) == 64
    for shard in store.shard_paths():
        stored = json.loads(pq.read_schema(shard).metadata[IDENTITY_KEY.encode()])
        assert stored["checksum"] == identity.checksum


@pytest.mark.slow  # another Ray Data extraction (~7 s idle); the first is checked in the default suite
def test_a_rerun_skips_what_is_stored(extracted, models):
    manifest, _, store, _ = extracted
    report, _ = extract_ssl(manifest, store.root, str(models["wavlm"]), 1, num_workers=1, threads=1,
                            progress=lambda message: None)
    assert (report.extracted, report.skipped) == (0, 18)
    assert report.failed == 2  # the bad clips are tried (and named) again


def test_a_store_of_another_model_is_refused_naming_both(extracted, models, tmp_path):
    manifest, _, store, _ = extracted
    other = tiny_wavlm(tmp_path / "elsewhere" / "wavlm-tiny", seed=7)  # same folder name, other weights
    before = sorted(store.shard_paths())
    with pytest.raises(ValueError) as refused:
        extract_ssl(manifest, store.root, str(other), 1, progress=lambda message: None)
    message = str(refused.value)
    assert str(models["wavlm"]) in message and str(other) in message and "holds embeddings of" in message
    assert sorted(store.shard_paths()) == before


def test_shards_without_the_identity_are_refused(extracted, models, tmp_path):
    _, _, store, _ = extracted
    copy = tmp_path / "store" / store.feature_set / "toy-a"
    copy.mkdir(parents=True)
    shard = store.shard_paths(["toy-a"])[0]
    pq.write_table(pq.read_table(shard).replace_schema_metadata(None), copy / shard.name)
    with pytest.raises(ValueError, match="unknown extractor"):
        extract_ssl(pd.DataFrame(columns=["utterance_id", "path", "corpus"]), tmp_path / "store",
                    str(models["wavlm"]), 1, progress=lambda message: None)


@pytest.mark.slow  # compaction, then another Ray Data extraction (~8 s idle)
def test_compacted_shards_keep_the_identity(extracted, models):
    manifest, _, store, _ = extracted
    frame, features = store.load()
    assert store.compact() > 0
    assert len(store.shard_paths()) == 3  # one per corpus
    for shard in store.shard_paths():
        assert IDENTITY_KEY.encode() in pq.read_schema(shard).metadata
    again, _ = extract_ssl(manifest, store.root, str(models["wavlm"]), 1, progress=lambda message: None)
    assert again.skipped == 18
    after_frame, after = store.load()
    assert after_frame["utterance_id"].tolist() == frame["utterance_id"].tolist()
    np.testing.assert_array_equal(after, features)


def test_info_reads_an_ssl_feature_set(extracted, capsys):
    _, _, store, _ = extracted
    assert main(["info", "--store", str(store.root), "--feature-set", store.feature_set]) == 0
    out = capsys.readouterr().out
    assert "toy-b" in out and "2 failures in the last extraction" in out


def test_one_training_run_on_the_embeddings(extracted):
    from distser.learning import TrainConfig, train
    from distser.protocols import loco

    _, _, store, _ = extracted
    loader = TaskLoader(store)
    result = train(loader.indexed(loco(loader.manifest, "toy-c")),
                   TrainConfig(method="ce", max_epochs=2, hidden=(16, 8), batch_size=2, seed=0))
    assert len(result.history) == 2 and np.isfinite(result.history[-1].losses["total"])
    assert result.corpora == ["toy-a", "toy-b"] and 0.0 <= result.test_ua <= 1.0


# -- a search on the embeddings registers models that predict from audio -------------------------------------------
WHISPER_SET = "ssl-whisper-tiny-Lmean"


@pytest.fixture(scope="module")
def ssl_search(extracted, models, tmp_path_factory, ray_local, search_cli):
    """The tiny Whisper encoder's mean of layers beside the WavLM's layer 1 in the same store, then one search of
    both sets (ce at the paper's values, the whole pool, one seed, two epochs): a registered model per set."""
    import contextlib
    import io

    from mlflow import MlflowClient

    manifest, _, store, _ = extracted
    extract_ssl(manifest, store.root, str(models["whisper"]), "mean", num_workers=1, threads=1, batch_size=4,
                progress=lambda message: None)
    root = tmp_path_factory.mktemp("ssl-search")
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(io.StringIO()):
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        _, locations, _ = search_cli([
            "--store", str(store.root), "--feature-set", f"{store.feature_set},{WHISPER_SET}", "--protocol", "pool",
            "--method", "ce", "--mode", "paper", "--seeds", "1", "--max-epochs", "2", "--no-asha",
            "--set", "training.batch_size=2", "--checkpoint-seconds", "0", "--name", "ssl",
            "--storage", str(root / "runs")])
    versions = MlflowClient(locations.tracking_uri).search_model_versions("name = 'distser-ce'")
    return store, locations.tracking_uri, {v.tags["feature_set"]: v for v in versions}


def _predict(capsys, *argv) -> tuple[int, str, pd.DataFrame | None]:
    from distser.inference import main as predict

    out = argv[argv.index("--out") + 1]
    status = predict([str(a) for a in argv])
    err = capsys.readouterr().err
    return status, err, pd.read_csv(out, keep_default_na=False) if status < 2 else None


def _probabilities(table: pd.DataFrame) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("p_")]].to_numpy(dtype=np.float64)


@pytest.mark.slow  # two extractions on Ray Data and a search (~1.5 min on 2 busy cores)
@pytest.mark.parametrize(("feature_set", "ray"), [("ssl-wavlm-tiny-L1", "--no-ray"), (WHISPER_SET, "--ray")])
def test_a_searched_ssl_model_is_registered_and_predicts_from_audio_as_from_its_embeddings(
        ssl_search, models, feature_set, ray, tmp_path, capsys):
    from distser.inference import load_predictor

    store, uri, versions = ssl_search
    assert set(versions) == {"ssl-wavlm-tiny-L1", WHISPER_SET}  # a model per set, tagged with it
    version = versions[feature_set]
    model = f"models:/distser-ce/{version.version}"
    bundle = load_predictor(model, uri).bundle
    identity = FeatureStore(store.root, feature_set).extractor
    assert bundle.feature_set == feature_set and bundle.extractor == identity and bundle.input_dim == DIM
    assert version.tags["extractor"] == identity.describe()
    frame, features = FeatureStore(store.root, feature_set).load()
    expected = bundle.predict_proba(features)  # the search's model on the stored embeddings

    status, err, table = _predict(capsys, "--model", model, "--tracking-uri", uri, *frame["path"], ray,
                                  "--out", tmp_path / "audio.csv", "-q")
    assert status == 0, err
    assert table["path"].tolist() == frame["path"].tolist()
    np.testing.assert_allclose(_probabilities(table), expected, atol=1e-4)
    assert table["emotion"].tolist() == [bundle.classes[i] for i in expected.argmax(axis=1)]
    # which the comparison can tell from another layer's embeddings of the same audio
    other = SSLEmbedder(models[identity.family], layer=2 if identity.layer != 2 else 0)(frame["path"].tolist())[0]
    assert not np.allclose(bundle.predict_proba(other), expected, atol=1e-3)


@pytest.mark.slow  # the same search
def test_the_served_ssl_model_embeds_base64_audio_and_a_store_of_it_predicts_without_extraction(
        ssl_search, tmp_path, capsys):
    import base64

    import mlflow

    from distser.inference._predictor import tracking_uri_set

    store, uri, versions = ssl_search
    model = f"models:/distser-ce/{versions[WHISPER_SET].version}"
    frame, features = FeatureStore(store.root, WHISPER_SET).load()
    with tracking_uri_set(uri):
        served = mlflow.pyfunc.load_model(model)
    bundle = served.unwrap_python_model().bundle
    clips = frame["path"].tolist()[:4]
    request = pd.DataFrame({"audio_base64": [base64.b64encode(Path(p).read_bytes()).decode() for p in clips]})
    answer = served.predict(request)
    assert (answer["error"] == "").all()
    np.testing.assert_allclose(_probabilities(answer), bundle.predict_proba(features[:4]), atol=1e-4)

    status, err, table = _predict(capsys, "--model", model, "--tracking-uri", uri, "--store", store.root,
                                  "--feature-set", WHISPER_SET, "--out", tmp_path / "stored.csv", "-q")
    assert status == 0, err
    np.testing.assert_allclose(_probabilities(table), bundle.predict_proba(features), atol=1e-5)
    status, err, _ = _predict(capsys, "--model", model, "--tracking-uri", uri, "--store", store.root,
                              "--feature-set", "ssl-wavlm-tiny-L1", "--out", tmp_path / "other.csv")
    assert status == 2 and f"takes {WHISPER_SET} features" in err


@pytest.fixture(scope="module")
def ssl_registry(models, tmp_path_factory):
    """A small network on the tiny WavLM's layer 1, logged and registered (no search): ``(uri, model, clips)``."""
    import torch
    from mlflow import MlflowClient

    from distser.inference import ModelBundle, log_model
    from distser.learning import EmotionClassifier

    root = tmp_path_factory.mktemp("ssl-registry")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("distser", artifact_location=str(root / "artifacts")))
    clips = []
    for number in range(3):
        clips.append(root / f"clip{number}.flac")
        soundfile.write(clips[-1], _clip(0.4 + 0.2 * number, 150 + 50 * number, number), 16000)
    # z-scored by the clips' own statistics, as training normalises: the probabilities differ from clip to clip
    embeddings = SSLEmbedder(models["wavlm"], layer=1)([str(c) for c in clips])[0]
    torch.manual_seed(0)
    bundle = ModelBundle.from_classifier(EmotionClassifier(DIM, hidden=(8,)), embeddings.mean(0),
                                         embeddings.std(0) + 1e-3, "ssl-wavlm-tiny-L1", {"method": "ce"},
                                         extractor=identify(str(models["wavlm"]), 1))
    log_model(bundle, run_id=run.info.run_id, registered_model_name="distser-ce", tracking_uri=uri)
    return uri, "models:/distser-ce/1", clips


def test_an_ssl_model_predicts_from_audio_with_its_checkpoint(ssl_registry, models, tmp_path, capsys):
    from distser.inference import load_predictor

    uri, model, clips = ssl_registry
    bundle = load_predictor(model, uri).bundle
    status, err, table = _predict(capsys, "--model", model, "--tracking-uri", uri, *clips, "--out", tmp_path / "p.csv")
    assert status == 0, err
    expected = bundle.predict_proba(SSLEmbedder(models["wavlm"], layer=1).embed([soundfile.read(c, dtype="float32")[0]
                                                                                for c in clips]))
    np.testing.assert_allclose(_probabilities(table), expected, atol=1e-4)
    other = SSLEmbedder(models["wavlm"], layer=2)([str(c) for c in clips])[0]  # what another layer would give
    assert not np.allclose(bundle.predict_proba(other), expected, atol=1e-3)


def test_predict_takes_a_moved_checkpoint_and_refuses_another_one_naming_both(ssl_registry, models, tmp_path,
                                                                              capsys):
    import shutil

    uri, model, clips = ssl_registry
    status, err, before = _predict(capsys, "--model", model, "--tracking-uri", uri, *clips, "--out", tmp_path / "a.csv")
    assert status == 0, err
    moved = shutil.copytree(models["wavlm"], tmp_path / "moved" / "wavlm-tiny")
    status, err, after = _predict(capsys, "--model", model, "--tracking-uri", uri, *clips, "--ssl-model", moved,
                                  "--out", tmp_path / "b.csv")
    assert status == 0, err
    np.testing.assert_allclose(_probabilities(after), _probabilities(before), atol=1e-5)

    other = tiny_wavlm(tmp_path / "other" / "wavlm-tiny", seed=7)
    status, err, _ = _predict(capsys, "--model", model, "--tracking-uri", uri, *clips, "--ssl-model", other,
                              "--out", tmp_path / "c.csv")
    mine, theirs = identify(str(models["wavlm"]), 1).checksum, identify(str(other), 1).checksum
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert f"model folder {other} has checksum {theirs[:12]}" in err and f"checksum {mine[:12]}" in err
    assert not (tmp_path / "c.csv").exists()


def test_a_checkpoint_no_longer_where_extraction_found_it_is_asked_for(models, tmp_path):
    from distser.features import find_checkpoint

    gone = identify(str(models["wavlm"]), 1)
    gone = SSLIdentity(**{**gone.to_dict(), "model": str(tmp_path / "gone"), "folder": str(tmp_path / "gone")})
    with pytest.raises(ValueError, match=f"not in {tmp_path / 'gone'} or at .*--ssl-model FOLDER .*DISTSER_SSL_MODEL"):
        find_checkpoint(gone)
    assert find_checkpoint(gone, models["wavlm"]) == models["wavlm"].resolve()
    with pytest.raises(ValueError, match="--ssl-model .*: no such folder"):
        find_checkpoint(gone, tmp_path / "nowhere")


def test_predict_without_the_ssl_extra_says_how_to_install_it(ssl_registry, tmp_path, capsys, monkeypatch):
    import sys

    uri, model, clips = ssl_registry
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    status, err, _ = _predict(capsys, "--model", model, "--tracking-uri", uri, *clips, "--out", tmp_path / "p.csv")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "pip install -e '.[ssl]'" in err, err
    assert not (tmp_path / "p.csv").exists()
