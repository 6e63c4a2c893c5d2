"""ModelBundle: nn.Linear layout, exact logits, the training normaliser, atomic weights-only files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from distser.arrays import EMOTIONS
from distser.inference import BundleError, ModelBundle

HIDDEN_SIZES = [(32, 16), (8, 8, 8), (64, 32, 16, 8)]


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
def test_to_module_equals_classifier_logits(make_model, hidden):
    model = make_model("eGeMAPSv02", hidden)
    bundle = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02")
    x = torch.randn(50, 88) * 3
    with torch.no_grad():
        expected = model.eval()(x)
    module = bundle.to_module()
    assert isinstance(module, nn.Sequential)
    assert {type(m) for m in module} <= {nn.Linear, nn.ReLU}
    assert not module.training
    assert bundle.hidden == hidden and bundle.classes == EMOTIONS and bundle.input_dim == 88
    torch.testing.assert_close(module(x), expected, atol=1e-5, rtol=1e-5)


def test_weights_are_in_linear_layout(make_model):
    model = make_model("eGeMAPSv02", (32, 16))
    bundle = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02")
    assert [tuple(w.shape) for w, _ in bundle.layers] == [(32, 88), (16, 32), (4, 16)]
    torch.testing.assert_close(bundle.layers[0][0], model.hidden[0].weight.detach().t())


def test_predict_proba_applies_the_training_normaliser(make_model):
    model = make_model("eGeMAPSv02", (32, 16))
    rng = np.random.default_rng(1)
    mean, std = rng.normal(100, 10, 88).astype(np.float32), rng.uniform(1, 5, 88).astype(np.float32)
    raw = (rng.normal(size=(300, 88)) * std + mean).astype(np.float32)
    bundle = ModelBundle.from_classifier(model, mean, std, "eGeMAPSv02")
    probs = bundle.predict_proba(raw)
    assert probs.shape == (300, 4) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    # the same as the network on features z-scored like distser.features.Normalizer does
    with torch.no_grad():
        z = torch.from_numpy(((raw - mean) / std).astype(np.float32))
        expected = torch.softmax(model(z), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # and not the same as without the normaliser
    plain = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02")
    assert not np.allclose(plain.predict_proba(raw), probs, atol=1e-3)


def test_predict_proba_in_chunks_matches_one_pass(make_model, monkeypatch):
    from distser.inference import _bundle

    bundle = ModelBundle.from_classifier(make_model("eGeMAPSv02"), np.zeros(88), np.ones(88), "eGeMAPSv02")
    x = np.random.default_rng(2).normal(size=(37, 88)).astype(np.float32)
    whole = bundle.predict_proba(x)
    monkeypatch.setattr(_bundle, "CHUNK_ROWS", 5)
    np.testing.assert_allclose(bundle.predict_proba(x), whole, atol=1e-6)
    assert bundle.predict_proba(x[:0]).shape == (0, 4)
    with pytest.raises(ValueError, match=r"\(n, 88\)"):
        bundle.predict_proba(np.zeros((2, 1582)))


def test_reconstruction_branch_is_not_exported(make_model):
    model = make_model("eGeMAPSv02", (32, 16), method="unsup")
    assert model.has_reconstruction
    bundle = ModelBundle.from_state_dict(model.state_dict(), np.zeros(88), np.ones(88), "eGeMAPSv02")
    assert len(bundle.layers) == 3
    with torch.no_grad():
        x = torch.randn(4, 88)
        torch.testing.assert_close(bundle.to_module()(x), model.eval()(x), atol=1e-5, rtol=1e-5)


def test_save_load_round_trip_with_weights_only(make_bundle, tmp_path):
    bundle = make_bundle("IS10", hidden=(8, 8, 8), search="s1")
    path = bundle.save(tmp_path / "sub" / "bundle.pt")
    assert [p.name for p in path.parent.iterdir()] == ["bundle.pt"]  # no temporary file left
    loaded = ModelBundle.load(path)
    assert (loaded.feature_set, loaded.classes, loaded.hidden, loaded.input_dim) == ("IS10", EMOTIONS, (8, 8, 8), 1582)
    assert loaded.metadata == bundle.metadata and loaded.metadata["search"] == "s1"
    np.testing.assert_array_equal(loaded.mean, bundle.mean)
    np.testing.assert_array_equal(loaded.std, bundle.std)
    x = np.random.default_rng(0).normal(100, 50, size=(5, 1582)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), bundle.predict_proba(x))


def test_plain_pytorch_loads_the_file(make_bundle, tmp_path):
    bundle = make_bundle("IS10", hidden=(32, 16))
    path = bundle.save(tmp_path / "bundle.pt")
    payload = torch.load(path, weights_only=True)  # no distser needed
    module = nn.Sequential(nn.Linear(1582, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    module.load_state_dict(payload["state_dict"])
    x = torch.randn(3, 1582) * 100
    z = (x - payload["mean"]) / payload["std"]
    expected = torch.from_numpy(bundle.predict_proba(x.numpy()))
    torch.testing.assert_close(torch.softmax(module(z), dim=1), expected, atol=1e-5, rtol=1e-5)
    assert payload["classes"] == list(EMOTIONS) and payload["feature_set"] == "IS10"


def test_save_is_atomic(make_bundle, tmp_path, monkeypatch):
    bundle = make_bundle("eGeMAPSv02")
    path = bundle.save(tmp_path / "bundle.pt")
    before = path.read_bytes()

    def broken_save(obj, stream):
        stream.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        make_bundle("eGeMAPSv02", seed=3).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.pt"]


def test_load_rejects_foreign_damaged_and_inconsistent_files(make_bundle, tmp_path):
    good = make_bundle("eGeMAPSv02").save(tmp_path / "good.pt")

    with pytest.raises(BundleError, match="missing.pt: model bundle not found"):
        ModelBundle.load(tmp_path / "missing.pt")

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(good.read_bytes()[:500])
    with pytest.raises(BundleError, match="damaged.pt: not a readable model bundle"):
        ModelBundle.load(damaged)

    foreign = tmp_path / "best_model.pt"  # what trials log today: a bare state dict
    torch.save({"hidden.0.weight": torch.zeros(88, 8)}, foreign)
    with pytest.raises(BundleError, match="best_model.pt: not a distser model bundle"):
        ModelBundle.load(foreign)

    payload = torch.load(good, weights_only=True)
    newer = tmp_path / "newer.pt"
    torch.save({**payload, "version": 99}, newer)
    with pytest.raises(BundleError, match="newer.pt: model bundle version 99 is not supported"):
        ModelBundle.load(newer)

    wrong = tmp_path / "wrong.pt"
    torch.save({**payload, "mean": torch.zeros(10)}, wrong)
    with pytest.raises(BundleError, match=r"wrong.pt: .*mean has shape \(10,\)"):
        ModelBundle.load(wrong)

    layers = tmp_path / "layers.pt"
    torch.save({**payload, "hidden": [32]}, layers)
    with pytest.raises(BundleError, match="layers.pt: weights .* do not match hidden sizes"):
        ModelBundle.load(layers)

    pickled = tmp_path / "pickled.pt"
    torch.save({**payload, "metadata": ValueError("code")}, pickled)  # not loadable with weights_only
    with pytest.raises(BundleError, match="pickled.pt: not a readable model bundle"):
        ModelBundle.load(pickled)


def test_constructor_checks_feature_set_and_shapes(make_model):
    model = make_model("eGeMAPSv02")
    with pytest.raises(BundleError, match="IS10 has 1582 features, but input_dim is 88"):
        ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "IS10")
    with pytest.raises(BundleError, match="unknown feature set 'MFCC'"):
        ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "MFCC")
    with pytest.raises(BundleError, match="std has values <= 0"):
        ModelBundle.from_classifier(model, np.zeros(88), np.zeros(88), "eGeMAPSv02")
    with pytest.raises(BundleError, match="not an EmotionClassifier state dict"):
        ModelBundle.from_state_dict({"weight": torch.zeros(2, 2)}, np.zeros(2), np.ones(2), "eGeMAPSv02")


def _identity(dim: int = 88, **changes):
    from distser.features import SSLIdentity

    return SSLIdentity(**{"model": "microsoft/wavlm-base-plus", "family": "wavlm", "layer": 6, "layers": 12,
                          "dim": dim, "checksum": "ab" * 32, "folder": "/models/wavlm-base-plus", **changes})


def test_a_bundle_of_embeddings_carries_its_extractor_and_others_do_not(make_model, make_bundle, tmp_path):
    model = make_model("eGeMAPSv02")  # 88 inputs: an 88-wide checkpoint's embeddings here
    bundle = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "ssl-wavlm-base-plus-L6",
                                         extractor=_identity())
    path = bundle.save(tmp_path / "ssl.pt")
    loaded = ModelBundle.load(path)
    assert loaded.extractor == _identity() and loaded.feature_set == "ssl-wavlm-base-plus-L6"
    payload = torch.load(path, weights_only=True)
    recorded = payload["extractor"]
    assert payload["version"] == 2 and (recorded["checksum"], recorded["layer"]) == ("ab" * 32, 6)
    x = np.random.default_rng(0).normal(size=(3, 88)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), bundle.predict_proba(x))
    # an openSMILE set's file is as before: no extractor key, and one written before it existed loads
    plain = torch.load(make_bundle("eGeMAPSv02").save(tmp_path / "plain.pt"), weights_only=True)
    assert "extractor" not in plain and ModelBundle.load(tmp_path / "plain.pt").extractor is None


def test_a_bundle_of_embeddings_needs_a_matching_extractor(make_model, tmp_path):
    model = make_model("eGeMAPSv02")
    with pytest.raises(BundleError, match="ssl-wavlm-base-plus-L6 embeddings, but no extractor identity"):
        ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "ssl-wavlm-base-plus-L6")
    with pytest.raises(BundleError, match="makes 768 values, but input_dim is 88"):
        ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "ssl-wavlm-base-plus-L6",
                                    extractor=_identity(768))
    with pytest.raises(BundleError, match=r"an openSMILE set \(eGeMAPSv02\) with a self-supervised extractor"):
        ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02", extractor=_identity())
    path = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "ssl-wavlm-base-plus-L6",
                                       extractor=_identity()).save(tmp_path / "ssl.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "extractor": {"model": "m"}}, tmp_path / "broken.pt")
    with pytest.raises(BundleError, match="broken.pt: extractor: not a readable extractor identity"):
        ModelBundle.load(tmp_path / "broken.pt")
