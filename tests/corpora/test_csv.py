from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from distser.corpora import MANIFEST_COLUMNS, CorpusError, CorpusWarning, load_corpus, load_manifest_csv


def test_paths_ids_speakers_labels(manifest_csv):
    frame = load_manifest_csv(manifest_csv)
    assert list(frame.columns) == list(MANIFEST_COLUMNS)
    rows = frame.set_index("utterance_id")
    folder = manifest_csv.parent
    assert rows.loc["mine/audio/a", "path"] == str(folder / "audio" / "a.wav")  # relative to the CSV
    assert rows.loc["mine/audio/sub/b", "speaker"] == "mine/s2"  # already prefixed: kept
    assert rows.loc["mine/audio/a", "speaker"] == "mine/s1"
    assert rows.loc["other/c", "corpus"] == "other"  # absolute path outside the folder: id from the name
    assert rows.loc["mine/audio/a", "label"] == "sad"
    assert pd.isna(rows.loc["other/c", "label"])  # empty label = unlabeled, kept
    assert rows.loc["mine/audio/a", "gender"] == "F" and rows.loc["mine/audio/sub/b", "gender"] == "M"
    assert rows.loc["mine/audio/a", "split"] == "train"
    assert rows.loc["mine/audio/a", "vote_sad"] == 1.0 and math.isnan(
        rows.loc["mine/audio/sub/b", "vote_sad"]
    )


def test_load_corpus_csv_is_the_same(manifest_csv):
    pd.testing.assert_frame_equal(load_corpus("csv", manifest_csv), load_manifest_csv(manifest_csv))


def test_missing_columns_name_the_file_and_columns(manifest_csv):
    manifest_csv.write_text("path,label\naudio/a.wav,sad\n")
    with pytest.raises(CorpusError) as info:
        load_manifest_csv(manifest_csv)
    assert str(manifest_csv) in str(info.value) and "['corpus', 'speaker']" in str(info.value)


def test_unknown_label_names_file_line_and_value(manifest_csv):
    manifest_csv.write_text(manifest_csv.read_text().replace(",angry,", ",anger,"))
    with pytest.raises(CorpusError, match=re.escape(f"{manifest_csv} line 3: unknown emotion code 'anger'")):
        load_manifest_csv(manifest_csv)
    assert (load_manifest_csv(manifest_csv, label_map={"anger": "angry"})["label"] == "angry").sum() == 1
    with pytest.warns(CorpusWarning, match="line 3"):
        assert len(load_manifest_csv(manifest_csv, on_unknown="skip")) == 2


def test_label_map_none_drops_rows(manifest_csv):
    frame = load_manifest_csv(manifest_csv, label_map={"sad": None})
    assert frame["utterance_id"].tolist() == ["mine/audio/sub/b", "other/c"]


def test_missing_audio_and_bad_gender(manifest_csv):
    original = manifest_csv.read_text()
    manifest_csv.write_text(original.replace("audio/a.wav", "audio/zz.wav"))
    with pytest.raises(CorpusError, match=r"line 2: audio file .*zz.wav does not exist"):
        load_manifest_csv(manifest_csv)
    manifest_csv.write_text(original.replace("female", "w"))
    with pytest.raises(CorpusError, match=r"line 2: gender 'w'"):
        load_manifest_csv(manifest_csv)


def test_repeated_utterance_id(manifest_csv):
    manifest_csv.write_text(manifest_csv.read_text() + "audio/a.wav,mine,s1,sad,,,,,,\n")
    with pytest.raises(CorpusError, match="line 5: utterance id 'mine/audio/a' repeats line 2"):
        load_manifest_csv(manifest_csv)


def test_missing_csv_file(tmp_path):
    with pytest.raises(CorpusError, match=r"csv: manifest CSV .*nope.csv does not exist"):
        load_corpus("csv", tmp_path / "nope.csv")
    with pytest.raises(CorpusError, match="nope.csv"):
        load_manifest_csv(tmp_path / "nope.csv")
