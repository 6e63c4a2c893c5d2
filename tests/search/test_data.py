"""Features in the object store once, shared zero-copy by trials; damaged stores fail naming the shard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distser.features import FeatureStore, write_synthetic
from distser.protocols import loco
from distser.search._data import read_store


def _private_bytes() -> int:
    """Memory only this process holds (USS): private pages, shared object-store pages excluded."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0]) * 1024
    return fields["Private_Clean"] + fields["Private_Dirty"]


@pytest.fixture(scope="module")
def bigger_store(tmp_path_factory):
    return write_synthetic(str(tmp_path_factory.mktemp("store")), scale=0.2, seed=3)


@pytest.mark.slow  # a bigger store in the object store and a trial on it (~7 s idle)
def test_a_trial_trains_on_the_object_store_blocks_without_copying_them(ray_local, bigger_store):
    ray = ray_local
    data = read_store(bigger_store)
    plan = loco(data.manifest, "iemocap", unlabeled="librispeech")
    shared = data.shared([plan])
    feature_bytes = data.table.nbytes

    @ray.remote(num_cpus=1)
    def trial(shared):
        from distser.learning import TrainConfig, Trainer, synthetic_task, train

        train(synthetic_task(dim=1582), TrainConfig(method="cww+pel", max_epochs=1, hidden=(64, 32)))  # warm torch up
        before = _private_bytes()
        table = shared.table()
        blocks = table.blocks
        maps = Path("/proc/self/maps").read_text().splitlines()

        def mapping(array):
            address = array.__array_interface__["data"][0]
            for line in maps:
                low, high = (int(x, 16) for x in line.split()[0].split("-"))
                if low <= address < high:
                    return line
            return ""

        shared_memory = all("/dev/shm/" in mapping(b) or "plasma" in mapping(b) for b in blocks)
        writeable = any(b.flags.writeable for b in blocks)
        # eval_batch_size bounds the evaluation's working memory (a chunk of rows and its activations)
        trainer = Trainer(shared.task("loco-iemocap", table), TrainConfig(method="cww+pel", max_epochs=1,
                                                                          hidden=(64, 32), num_threads=1,
                                                                          eval_batch_size=512))
        trainer.fit()
        return shared_memory, writeable, _private_bytes() - before, trainer.task.table.blocks[0] is blocks[0]

    in_plasma, writeable, grown, same = ray.get(trial.remote(shared))
    assert in_plasma and not writeable and same  # the trial's arrays are views of the object store
    assert feature_bytes > 100e6
    # A copy of the table (or of a held-out corpus's normalised portion) would add ~feature_bytes.
    assert grown < 0.3 * feature_bytes, (grown, feature_bytes)


def test_plans_share_one_table_and_normalise_on_training_rows_only(ray_local, synthetic_store):
    data = read_store(synthetic_store)
    with_test = loco(data.manifest, "iemocap", test_only=["msp-podcast"])
    without = replace(loco(data.manifest, "iemocap", train_corpora=["crema-d", "msp-improv"]), name="other")
    shared = data.shared([with_test, without])
    assert set(shared.plans) == {"loco-iemocap", "other"}
    assert shared.plans["other"].train.keys() == shared.plans["loco-iemocap"].train.keys()
    normal_with = data.loader.indexed(with_test).normalizer
    normal_without = data.loader.indexed(without).normalizer
    np.testing.assert_array_equal(normal_with.mean, normal_without.mean)  # a test-only corpus is never fitted on
    np.testing.assert_array_equal(normal_with.std, normal_without.std)
    assert list(shared.plans["loco-iemocap"].tests) == ["iemocap", "msp-podcast"]


def _copy_store(store: FeatureStore, tmp_path) -> FeatureStore:
    import shutil

    shutil.copytree(store.root, tmp_path / "copy")
    return FeatureStore(tmp_path / "copy", store.feature_set)


def test_non_finite_features_fail_the_read_naming_corpus_utterance_and_shard(ray_local, synthetic_store, tmp_path):
    from distser.features import shard_table
    from distser.features._store import write_table_atomic

    store = _copy_store(synthetic_store, tmp_path)
    shard = store.shard_paths(["msp-improv"])[0]
    table = pq.read_table(shard)
    frame = table.drop_columns(["features"]).to_pandas()
    features = np.stack(table.column("features").to_numpy(zero_copy_only=False)).astype(np.float32)
    features[7, 100] = np.nan  # an edit with the right tool: a valid checksum around a NaN
    write_table_atomic(shard_table(frame, features, frame["content_hash"]), shard)
    with pytest.raises(ValueError) as error:
        read_store(store)
    message = str(error.value)
    assert "corpus 'msp-improv'" in message and frame["utterance_id"][7] in message and str(shard) in message


def test_bytes_overwritten_inside_a_shard_fail_the_read_naming_the_file(ray_local, synthetic_store, tmp_path):
    store = _copy_store(synthetic_store, tmp_path)
    shard = store.shard_paths(["crema-d"])[0]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 3: len(raw) // 3 + 4096] = bytes(4096)  # 4 KB overwritten in the middle of the data
    shard.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=str(shard)):
        read_store(store)


def test_a_re_extracted_corpus_is_planned_normalised_and_tested_once_with_its_latest_features(
        ray_local, synthetic_store, tmp_path):
    from distser.features import shard_table, write_table_atomic

    store = _copy_store(synthetic_store, tmp_path)
    old = store.shard_paths(["crema-d"])
    table = pa.concat_tables([pq.read_table(shard) for shard in old])
    frame = table.drop_columns(["features"]).to_pandas()
    features = np.stack(table.column("features").to_numpy(zero_copy_only=False)).astype(np.float32) + 100.0
    # Changed audio extracted again: the same utterances in a shard that sorts after the first one.
    new = write_table_atomic(shard_table(frame, features, frame["content_hash"]),
                             old[0].parent / "part-zz-re-extracted-00000.parquet")
    assert store.shard_paths(["crema-d"])[-1] == new
    data = read_store(store)
    assert not data.manifest["utterance_id"].duplicated().any()
    assert len(data.manifest) == len(store.manifest())
    plan = loco(data.manifest, "iemocap")
    assert len(plan.train["crema-d"]) == len(set(plan.train["crema-d"]))  # each utterance trained once
    crema = data.shared([plan]).plans["loco-iemocap"]
    np.testing.assert_array_equal(data.table.gather(crema.train["crema-d"]), features[
        frame["utterance_id"].reset_index().set_index("utterance_id").loc[plan.train["crema-d"], "index"]])
    # The normaliser sees each training utterance once, with its latest features: as FeatureStore.load does.
    loaded, matrix = store.load()
    rows = loaded.reset_index().set_index("utterance_id").loc[np.concatenate(list(plan.train.values())), "index"]
    expected = matrix[rows].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(crema.normalizers["global"].mean, expected, rtol=1e-5)
    again = loco(data.manifest, "crema-d")
    assert len(again.test) == (frame["label"].notna()).sum()  # tested once
