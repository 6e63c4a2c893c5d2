"""Shard integrity: damaged, truncated or edited shards and non-finite features are named, never read."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from distser.corpora._schema import make_manifest
from distser.features import FeatureStore, ShardError, check_finite, read_shard, shard_table
from distser.features.__main__ import main

DIM = 1582


def _manifest(n, corpus="toy"):
    return make_manifest([{"utterance_id": f"{corpus}/{i:04d}", "path": f"/x/{i}.wav", "corpus": corpus,
                           "speaker": f"{corpus}/s{i % 7}", "label": "sad"} for i in range(n)], corpus)


def _features(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _store_with(tmp_path, n=300, corpus="toy", features=None):
    store = FeatureStore(tmp_path)
    features = _features(n) if features is None else features
    table = shard_table(_manifest(n, corpus), features, [f"h{i}" for i in range(n)])
    return store, store.write_shard(corpus, table, "1", 0), features


def test_sealed_shard_reads_back_exactly(tmp_path):
    store, shard, features = _store_with(tmp_path)
    frame, loaded = store.load()
    assert np.array_equal(loaded, features) and len(frame) == 300
    assert store.unverified_shards() == []
    meta = pq.ParquetFile(shard).metadata
    assert b"distser.seal" in meta.metadata  # written with its content digest


def test_truncated_shard_names_the_file(tmp_path):
    store, shard, _ = _store_with(tmp_path, n=20)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    for read in (store.load, store.manifest, store.known_hashes, lambda: read_shard(shard)):
        with pytest.raises(ShardError, match=rf"{shard}.*not a readable Parquet file \(truncated"):
            read()


def test_overwritten_data_page_is_detected_and_named(tmp_path):
    """4 KB overwritten inside the features' pages: pyarrow alone reads wrong numbers, we refuse."""
    store, shard, features = _store_with(tmp_path)
    chunk = pq.ParquetFile(shard).metadata.row_group(0).column(14)  # features.list.element
    assert chunk.path_in_schema == "features.list.element"
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data = bytearray(shard.read_bytes())
    data[middle:middle + 4096] = data[middle + 8192:middle + 12288]  # plausible float bytes, wrong place
    shard.write_bytes(bytes(data))
    silently_wrong = pq.read_table(shard).column("features").combine_chunks().flatten().to_numpy()
    assert (silently_wrong != features.reshape(-1)).sum() > 100  # the damage is real and silent without checks
    with pytest.raises(ShardError, match=rf"feature shard {shard} is damaged: .*CRC"):
        store.load()
    with pytest.raises(ShardError, match=str(shard)):
        read_shard(shard, ["features"])


def test_footer_damage_is_named_or_harmless(tmp_path):
    """Flip bytes across the footer: each flip is refused naming the file, or changes nothing read."""
    _, shard, _ = _store_with(tmp_path, n=3)
    original = read_shard(shard)
    data = shard.read_bytes()
    footer_length = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_length
    refused = 0
    for offset in [*range(start, len(data) - 8, 13), len(data) - 8, len(data) - 1]:
        damaged = bytearray(data)
        damaged[offset] ^= 0x24
        shard.write_bytes(bytes(damaged))
        try:
            table = read_shard(shard, dim=DIM)
        except ShardError as error:
            assert str(shard) in str(error)
            refused += 1
        else:
            assert table.equals(original), f"flip at footer offset {offset - start} changed what is read"
    assert refused > footer_length // 13 // 2


def test_edit_outside_distser_breaks_the_checksum(tmp_path):
    """Rewritten by plain pyarrow (fresh page CRCs, stale seal): only the content digest can tell."""
    _, shard, _ = _store_with(tmp_path, n=5)
    table = pq.read_table(shard)
    labels = table.column("label").to_pylist()
    labels[2] = "happy"
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", [labels]), shard,
                   write_page_checksum=True)
    assert pq.read_table(shard, page_checksum_verification=True).num_rows == 5  # Parquet finds nothing wrong
    read_shard(shard, ["utterance_id", "features"])  # the untouched columns still verify
    with pytest.raises(ShardError, match=rf"{shard}: checksum mismatch in column 'label'"):
        read_shard(shard, ["label"])


def test_missing_columns_and_wrong_width_are_named(tmp_path):
    _, shard, _ = _store_with(tmp_path, n=2)
    with pytest.raises(ShardError, match=rf"{shard} lacks column\(s\) \['speakers'\]"):
        read_shard(shard, ["utterance_id", "speakers"])
    with pytest.raises(ShardError, match=rf"{shard}: features are .*1582.*expected 88 float32"):
        read_shard(shard, ["features"], dim=88)
    other = FeatureStore(tmp_path, "eGeMAPSv02")  # 88 features: an IS10 shard in the wrong folder
    misplaced = other.path / "toy" / shard.name
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(shard.read_bytes())
    with pytest.raises(ShardError, match=rf"{misplaced}: features are .*expected 88"):
        other.load()


def test_non_finite_features_in_a_valid_shard_name_corpus_utterance_count_and_file(tmp_path):
    features = _features(40)
    features[7, [3, 9]] = np.nan
    features[30, 100] = np.inf
    store, shard, _ = _store_with(tmp_path, n=40, corpus="emodb", features=features)
    read_shard(shard)  # the checksum is valid: the shard holds exactly what was written
    with pytest.raises(ValueError, match=(r"corpus 'emodb': 2 utterance\(s\) with 3 non-finite feature "
                                          rf"value\(s\).*first 'emodb/0007', feature 3 = nan, in shard {shard}")):
        store.load()
    store.write_shard("emodb", shard_table(_manifest(1, "emodb"), _features(1), ["new"]), "2", 1)
    with pytest.raises(ValueError, match="emodb/0007"):
        store.compact()  # merging does not seal NaN into a fresh shard either
    assert len(store.shard_paths()) == 2


def test_check_finite_counts_per_corpus_and_passes_finite_input():
    frame = _manifest(3, "a").assign(corpus=["a", "b", "b"])
    features = np.zeros((3, 4), dtype=np.float32)
    check_finite(frame, features)
    features[1, 0] = features[2, :] = -np.inf
    with pytest.raises(ValueError, match=r"corpus 'b': 2 utterance\(s\) with 5 non-finite .*first 'a/0001'"):
        check_finite(frame, features, where="x.parquet")


def test_old_unsealed_shard_reads_is_counted_and_compact_seals_it(tmp_path, capsys):
    store = FeatureStore(tmp_path)
    features = _features(4)
    old = store.path / "toy" / "part-0-00000.parquet"
    old.parent.mkdir(parents=True)
    pq.write_table(shard_table(_manifest(4), features, list("abcd")), old)  # as written before seals
    frame, loaded = store.load()
    assert np.array_equal(loaded, features)
    assert store.unverified_shards() == [old]
    assert main(["info", "--out", str(tmp_path)]) == 0
    assert "1 of 1 shards unverified" in capsys.readouterr().out
    assert store.compact() == 1
    assert store.unverified_shards() == [] and not old.exists()
    assert np.array_equal(store.load()[1], features) and store.load()[0].equals(frame)
    assert main(["info", "--out", str(tmp_path)]) == 0
    assert "unverified" not in capsys.readouterr().out


def test_shards_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        _, shard, _ = _store_with(tmp_path, n=1)
    finally:
        os.umask(previous)
    assert shard.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in shard.parent.iterdir()] == [shard.name]  # no temporary left behind
