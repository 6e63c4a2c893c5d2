from __future__ import annotations

import pytest

from distser.corpora import CorpusError, load_corpus


def test_labels_splits_speakers_gender(msp_podcast_root):
    frame = load_corpus("msp-podcast", msp_podcast_root).set_index("utterance_id")
    fields = frame[["label", "split", "speaker"]].T.to_dict("list")
    assert fields == {
        "msp-podcast/MSP-PODCAST_0001_0008": ["happy", "train", "msp-podcast/127"],
        "msp-podcast/MSP-PODCAST_0001_0009": ["neutral", "validation", "msp-podcast/unknown"],
        "msp-podcast/MSP-PODCAST_0002_0001": ["angry", "test", "msp-podcast/3"],
        "msp-podcast/MSP-PODCAST_0002_0002": ["sad", "test2", "msp-podcast/3"],
    }  # contempt (C) is dropped; the label row without audio is ignored
    assert frame["gender"].dropna().to_dict() == {
        "msp-podcast/MSP-PODCAST_0001_0008": "F",
        "msp-podcast/MSP-PODCAST_0002_0001": "M",
        "msp-podcast/MSP-PODCAST_0002_0002": "M",
    }
    assert frame["vote_neutral"].isna().all()


def test_label_map_contempt_as_angry(msp_podcast_root):
    frame = load_corpus("msp-podcast", msp_podcast_root, label_map={"C": "angry"})
    assert (frame["label"] == "angry").sum() == 2


def test_missing_label_file_and_column(msp_podcast_root):
    labels = msp_podcast_root / "Labels" / "labels_consensus.csv"
    text = labels.read_text()
    labels.write_text(text.replace(",Split_Set", ",Partition"))
    with pytest.raises(CorpusError, match=r"labels_consensus.csv lacks required column\(s\) \['Split_Set'\]"):
        load_corpus("msp-podcast", msp_podcast_root)
    labels.unlink()
    with pytest.raises(CorpusError, match=r"label file .*labels_consensus.csv does not exist"):
        load_corpus("msp-podcast", msp_podcast_root)


def test_unknown_split_names_line_and_value(msp_podcast_root):
    labels = msp_podcast_root / "Labels" / "labels_consensus.csv"
    labels.write_text(labels.read_text().replace("Test2", "Test3"))
    with pytest.raises(CorpusError, match=r"labels_consensus.csv line 5: Split_Set 'Test3'"):
        load_corpus("msp-podcast", msp_podcast_root)


def test_unknown_emotion_class(msp_podcast_root):
    labels = msp_podcast_root / "Labels" / "labels_consensus.csv"
    labels.write_text(labels.read_text().replace("0002.wav,S,", "0002.wav,Z,"))
    with pytest.raises(CorpusError, match=r"line 5 \(MSP-PODCAST_0002_0002.wav\): unknown emotion code 'Z'"):
        load_corpus("msp-podcast", msp_podcast_root)
