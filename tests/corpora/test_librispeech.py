from __future__ import annotations

import pandas as pd
import pytest

from distser.corpora import load_corpus
from distser.corpora._librispeech import read_speakers


def test_official_layout_unlabeled_with_gender_and_subset(librispeech_root):
    frame = load_corpus("librispeech", librispeech_root).set_index("utterance_id")
    assert list(frame.index) == [
        "librispeech/19-198-0000",
        "librispeech/19-198-0001",
        "librispeech/60-121082-0000",
        "librispeech/84-121123-0000",
        "librispeech/999-1-0000",
    ]
    assert frame["label"].isna().all()  # unlabeled corpora keep every file, label None
    assert frame["gender"].dropna().to_dict() == {
        "librispeech/19-198-0000": "F",
        "librispeech/19-198-0001": "F",
        "librispeech/60-121082-0000": "M",  # the reader whose name is "|CBW|Simon"
        "librispeech/84-121123-0000": "F",
    }
    assert pd.isna(frame.loc["librispeech/999-1-0000", "gender"])  # not in SPEAKERS.TXT
    assert frame["split"].to_dict()["librispeech/84-121123-0000"] == "dev-clean"
    assert frame.loc["librispeech/19-198-0000", "split"] == "train-clean-100"
    assert frame.loc["librispeech/19-198-0000", "speaker"] == "librispeech/19"
    assert frame[[f"vote_{e}" for e in ("neutral", "happy", "sad", "angry")]].isna().all().all()


def test_subset_folder_as_root_finds_speakers_one_level_up(librispeech_root):
    frame = load_corpus("librispeech", librispeech_root / "train-clean-100")
    assert set(frame["split"]) == {"train-clean-100"}
    assert frame["gender"].tolist() == ["F", "F", "M"]


def test_flattened_sample_layout(tmp_path, audio):
    """The shared sample's layout: train-clean-100/<spk>-<ch>-<utt>.flac and test-other/<spk>/...,
    each subset folder with its own SPEAKERS.TXT."""
    root = tmp_path / "librispeech"
    audio(root / "train-clean-100" / "103-1240-0000.flac")
    audio(root / "test-other" / "1688" / "1688-142285-0000.flac")
    (root / "train-clean-100" / "SPEAKERS.TXT").write_text(
        ";ID|SEX|SUBSET|MINUTES|NAME\n103 | F | train-clean-100 | 25 | A\n"
    )
    (root / "test-other" / "SPEAKERS.TXT").write_text("1688 | M | test-other | 10 | B\n")
    frame = load_corpus("librispeech", root)
    assert frame[["utterance_id", "gender", "split"]].values.tolist() == [
        ["librispeech/103-1240-0000", "F", "train-clean-100"],
        ["librispeech/1688-142285-0000", "M", "test-other"],
    ]


def test_label_map_does_not_apply(librispeech_root):
    with pytest.raises(ValueError, match="no emotion labels"):
        load_corpus("librispeech", librispeech_root, label_map={"x": "sad"})


def test_read_speakers_rejects_bad_sex(tmp_path):
    bad = tmp_path / "SPEAKERS.TXT"
    bad.write_text("19 | X | train-clean-100 | 25 | Kara\n")
    with pytest.raises(ValueError, match=r"SPEAKERS.TXT line 1: SEX 'X'"):
        read_speakers(bad)
