import numpy as np
import pytest

from distser.features import PAPER_CORPORA, FeatureStore, synthetic_manifest_and_features, write_synthetic


def test_same_seed_same_data_and_other_seed_differs():
    frame_a, features_a = synthetic_manifest_and_features(scale=0.01, seed=3)
    frame_b, features_b = synthetic_manifest_and_features(scale=0.01, seed=3)
    _, features_c = synthetic_manifest_and_features(scale=0.01, seed=4)
    assert frame_a.equals(frame_b)
    np.testing.assert_array_equal(features_a, features_b)
    assert not np.array_equal(features_a, features_c)


def test_class_counts_follow_table_1_scaled():
    frame, features = synthetic_manifest_and_features(scale=0.1)
    assert features.shape == (len(frame), 1582) and np.isfinite(features).all()
    for corpus in PAPER_CORPORA:
        counts = frame[frame["corpus"] == corpus.name]["label"].value_counts()
        expected = [round(c * 0.1) for c in corpus.class_counts]
        assert [counts[e] for e in ("neutral", "happy", "sad", "angry")] == expected
    unlabeled = frame[frame["corpus"] == "librispeech"]
    assert unlabeled["label"].isna().all() and len(unlabeled) == round(28539 * 0.1)


def test_paper_split_fields_exist():
    frame, _ = synthetic_manifest_and_features(scale=0.02)
    assert set(frame.loc[frame.corpus == "iemocap", "session"]) == {f"Session{i}" for i in range(1, 6)}
    assert set(frame.loc[frame.corpus == "msp-improv", "session"]) == {f"Session{i}" for i in range(1, 7)}
    assert set(frame.loc[frame.corpus == "msp-podcast", "split"]) == {"train", "validation", "test"}
    votes = frame.loc[frame.corpus == "crema-d", ["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]]
    np.testing.assert_allclose(votes.sum(axis=1), 1.0, rtol=1e-6)


def test_written_store_reads_back(tmp_path):
    store = write_synthetic(str(tmp_path), scale=0.01)
    frame, features = FeatureStore(tmp_path).load()
    expected_frame, expected_features = synthetic_manifest_and_features(scale=0.01)
    assert store.corpora() == sorted(expected_frame["corpus"].unique())
    order = frame["utterance_id"].argsort()
    np.testing.assert_array_equal(features[order], expected_features[expected_frame["utterance_id"].argsort()])


def test_scale_must_be_a_fraction():
    with pytest.raises(ValueError, match="scale"):
        synthetic_manifest_and_features(scale=0)


def test_a_wide_set_is_written_in_shards_bounded_in_bytes(tmp_path, monkeypatch):
    from distser.features import _store

    monkeypatch.setattr(_store, "SHARD_BYTES", 300 * 4 * 6373)  # 300 rows of ComParE_2016, 1,000+ of IS10
    wide = write_synthetic(str(tmp_path), scale=0.01, feature_set="ComParE_2016")
    narrow = write_synthetic(str(tmp_path), scale=0.01, feature_set="IS10")
    wide_rows = [_rows(path) for path in wide.shard_paths(None)]
    assert max(wide_rows) == 300 and len(wide_rows) > len(narrow.shard_paths(None))
    assert max(_rows(path) for path in narrow.shard_paths(None)) > 300  # IS10 is narrower: more rows a shard
    frame, _ = wide.load()
    assert frame["utterance_id"].tolist() == narrow.load()[0]["utterance_id"].tolist()  # same rows, same order
    wide.compact()
    assert max(_rows(path) for path in wide.shard_paths(None)) == 300  # compaction keeps the bound
    assert wide.load()[0]["utterance_id"].tolist() == frame["utterance_id"].tolist()


def _rows(path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
