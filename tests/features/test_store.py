import numpy as np
import pandas as pd
import pytest

from distser.corpora._schema import make_manifest
from distser.features import FeatureStore, shard_table


def _manifest(ids, corpus="toy"):
    return make_manifest([{"utterance_id": f"{corpus}/{i}", "path": f"/x/{i}.wav", "corpus": corpus,
                           "speaker": f"{corpus}/s{i}", "label": "sad"} for i in ids], corpus)


def test_later_shard_supersedes_earlier_for_same_utterance(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_shard("toy", shard_table(_manifest([1, 2]), np.zeros((2, 1582)), ["a", "b"]), "1", 0)
    store.write_shard("toy", shard_table(_manifest([2]), np.ones((1, 1582)), ["c"]), "2", 1)
    frame, features = store.load(["toy"])
    assert list(frame["utterance_id"]) == ["toy/1", "toy/2"]
    assert features[1].tolist() == [1.0] * 1582
    assert store.known_hashes() == {"toy/1": "a", "toy/2": "c"}


def test_missing_corpus_is_named(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_shard("toy", shard_table(_manifest([1]), np.zeros((1, 1582)), ["a"]), "1", 0)
    with pytest.raises(FileNotFoundError, match="'emodb'.*available: toy"):
        store.load(["emodb"])


def test_unknown_feature_set_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="IS10, eGeMAPSv02, ComParE_2016"):
        FeatureStore(tmp_path, "IS99")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    store = FeatureStore(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write_shard("toy", shard_table(_manifest([1]), np.zeros((1, 1582)), ["a"]), "1", 0)
    assert list((tmp_path / "IS10" / "toy").iterdir()) == []


def test_fingerprint_changes_with_content(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_shard("toy", shard_table(_manifest([1]), np.zeros((1, 1582)), ["a"]), "1", 0)
    before = store.fingerprint()
    store.write_shard("toy", shard_table(_manifest([2]), np.zeros((1, 1582)), ["b"]), "2", 1)
    assert store.fingerprint() != before


def test_failures_table_defaults_to_empty(tmp_path):
    assert isinstance(FeatureStore(tmp_path).failures(), pd.DataFrame)
    assert FeatureStore(tmp_path).failures().empty


def test_compact_merges_shards_and_keeps_the_latest_rows(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_shard("toy", shard_table(_manifest([1, 2]), np.zeros((2, 1582)), ["a", "b"]), "1", 0)
    store.write_shard("toy", shard_table(_manifest([2, 3]), np.ones((2, 1582)), ["c", "d"]), "2", 1)
    before = store.load(["toy"])
    assert store.compact() == 2
    assert len(store.shard_paths(["toy"])) == 1
    frame, features = store.load(["toy"])
    assert frame.equals(before[0]) and np.array_equal(features, before[1])
    assert store.known_hashes() == {"toy/1": "a", "toy/2": "c", "toy/3": "d"}
