"""Extraction over Ray Data on generated audio: good files land, bad files are named, reruns skip."""

import numpy as np
import pytest
import soundfile

from distser.corpora._schema import make_manifest
from distser.features import FeatureStore, extract


def _tone(path, frequency, seconds=0.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.01 * np.random.default_rng(0).normal(size=t.size)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * frequency * t) + noise, rate)


@pytest.fixture
def audio_manifest(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for i, frequency in enumerate((150, 220, 330)):
        _tone(folder / f"good{i}.wav", frequency)
    _tone(folder / "good3.wav", 180, rate=48000)  # other rates are resampled to 16 kHz
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00junk" * 50)
    (folder / "empty.wav").write_bytes(b"")
    names = ["good0", "good1", "good2", "good3", "corrupt", "empty"]
    rows = [{"utterance_id": f"toy/{n}", "path": str(folder / f"{n}.wav"), "corpus": "toy",
             "speaker": "toy/s1", "label": "neutral"} for n in names]
    return make_manifest(rows, "toy"), folder


def test_good_files_land_and_bad_files_are_named(audio_manifest, tmp_path, ray_local):
    manifest, folder = audio_manifest
    messages = []
    report = extract(manifest, tmp_path / "store", num_workers=2, batch_size=2, progress=messages.append)

    assert report.extracted == 4 and report.failed == 2
    failures = report.failures.set_index("utterance_id")["reason"]
    assert "zero-length" in failures["toy/empty"]
    assert "unreadable audio" in failures["toy/corrupt"]
    assert any("2 failed" in m for m in messages)

    store = FeatureStore(tmp_path / "store")
    frame, features = store.load(["toy"])
    assert sorted(frame["utterance_id"]) == ["toy/good0", "toy/good1", "toy/good2", "toy/good3"]
    assert features.shape == (4, 1582) and features.dtype == np.float32 and np.isfinite(features).all()
    assert set(store.failures()["path"]) == {str(folder / "corrupt.wav"), str(folder / "empty.wav")}
    assert not list((tmp_path / "store").rglob("*.tmp"))


@pytest.mark.slow  # a second and third Ray Data extraction (~5 s idle)
def test_rerun_skips_unchanged_and_reextracts_changed(audio_manifest, tmp_path, ray_local):
    manifest, folder = audio_manifest
    good = manifest[manifest["utterance_id"].str.startswith("toy/good")]
    extract(good, tmp_path / "store", num_workers=1, progress=lambda m: None)
    before = FeatureStore(tmp_path / "store").load()[1]

    again = extract(good, tmp_path / "store", num_workers=1, progress=lambda m: None)
    assert (again.extracted, again.skipped) == (0, 4)

    _tone(folder / "good1.wav", 440)  # new content under the same name
    changed = extract(good, tmp_path / "store", num_workers=1, progress=lambda m: None)
    assert (changed.extracted, changed.skipped) == (1, 3)
    frame, after = FeatureStore(tmp_path / "store").load()
    assert len(frame) == 4
    row = frame.index[frame["utterance_id"] == "toy/good1"][0]
    assert not np.array_equal(before[row], after[row])


def test_missing_file_is_a_failure_not_a_crash(audio_manifest, tmp_path, ray_local):
    manifest, folder = audio_manifest
    (folder / "good2.wav").unlink()
    report = extract(manifest, tmp_path / "store", num_workers=1, progress=lambda m: None)
    assert "toy/good2" in set(report.failures["utterance_id"])
    assert report.extracted == 3


def test_a_worker_that_dies_ends_the_extraction_with_one_clear_error(ray_local):
    """A process death is not retried forever (Ray Data's default): it ends the run, saying how to continue."""
    import os
    import threading

    import pandas as pd

    from distser.features import WorkerDied
    from distser.features._extract import map_files

    class Dies:  # defined here: Ray ships it by value
        def __init__(self, feature_set: str) -> None:
            pass

        def __call__(self, batch):
            if any("crash" in str(p) for p in batch["path"]):
                os._exit(1)  # what a crash in native code looks like to Ray
            return {"utterance_id": batch["utterance_id"]}

    files = pd.DataFrame({"utterance_id": ["a", "b"], "path": ["fine.wav", "crash.wav"]})
    outcome: dict = {}

    def consume() -> None:
        try:
            outcome["batches"] = list(map_files(files, Dies, {"feature_set": "IS10"}, batch_size=1, num_workers=1))
        except WorkerDied as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the extraction retried the dying worker instead of ending"
    assert "run the same command again" in outcome.get("error", ""), outcome


@pytest.mark.slow
def test_the_extract_command_prints_its_own_progress_not_rays(audio_manifest, tmp_path, subprocess_env):
    """Ray's token notice, its C++ `E` lines and Ray Data's notices stay off the terminal (-v shows them)."""
    import subprocess
    import sys

    manifest, _ = audio_manifest
    manifest.to_csv(tmp_path / "toy.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "distser", "extract", "--store", str(tmp_path / "store"),
                          "--corpus", f"csv={tmp_path / 'toy.csv'}", "--workers", "1"],
                         env=subprocess_env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out  # two of the files are bad: a partial extraction
    for internal in ("Token authentication", "core_worker", "Progress bars", "WARNING", " E "):
        assert internal not in out, out
    assert "extracted 4 files" in out, out


def test_emobase_is_one_of_the_opensmile_feature_sets(tmp_path):
    from distser.features import FEATURE_SETS, Extractor, feature_sets_in, write_synthetic

    assert FEATURE_SETS["emobase"] == 988
    _tone(tmp_path / "clip.wav", 220)
    values = Extractor("emobase")(tmp_path / "clip.wav")
    assert values.shape == (988,) and np.isfinite(values).all()
    write_synthetic(str(tmp_path / "store"), scale=0.01, feature_set="emobase")
    assert feature_sets_in(tmp_path / "store") == ["emobase"]
