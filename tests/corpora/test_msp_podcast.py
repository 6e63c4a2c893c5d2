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

VOTES = ["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]


def test_votes_from_labels_detailed(msp_podcast_root):
    frame = load_corpus("msp-podcast", msp_podcast_root).set_index("utterance_id")[VOTES]
    votes = frame.dropna().T.to_dict("list")
    assert votes == {
        # happy, happy, neutral; Surprise is not one of the four; WORKER00002's second row is ignored
        "msp-podcast/MSP-PODCAST_0001_0008": [1 / 3, 2 / 3, 0.0, 0.0],
        # "Other-Curious" is not counted; lower-case "neutral" without a secondary field is
        "msp-podcast/MSP-PODCAST_0001_0009": [1.0, 0.0, 0.0, 0.0],
        # angry, angry, sad; Contempt is not counted
        "msp-podcast/MSP-PODCAST_0002_0001": [0.0, 0.0, 1 / 3, 2 / 3],
    }
    assert frame.loc["msp-podcast/MSP-PODCAST_0002_0002"].isna().all()  # no annotation rows


def test_votes_do_not_follow_label_map(msp_podcast_root):
    frame = load_corpus("msp-podcast", msp_podcast_root, label_map={"C": "angry"}).set_index("utterance_id")
    assert frame.loc["msp-podcast/MSP-PODCAST_0002_0001", "vote_angry"] == 2 / 3  # Contempt vote not added
    assert frame.loc["msp-podcast/MSP-PODCAST_0003_0001", VOTES].isna().all()  # kept as angry, no votes


def test_missing_detailed_file_means_no_votes(msp_podcast_root):
    (msp_podcast_root / "Labels" / "labels_detailed.csv").unlink()
    frame = load_corpus("msp-podcast", msp_podcast_root)
    assert len(frame) == 4 and frame[VOTES].isna().all().all()


def test_tabular_detailed_layout(msp_podcast_root):
    (msp_podcast_root / "Labels" / "labels_detailed.csv").write_text(
        "FileName,WorkerID,EmoClass_Major,EmoClass_Second,EmoAct,EmoVal,EmoDom\n"
        "MSP-PODCAST_0001_0008.wav,WORKER01,Sad,,3,3,3\n"
        "MSP-PODCAST_0001_0008.wav,WORKER02,H,,3,3,3\n"
        "MSP-PODCAST_0001_0008.wav,WORKER02,Sad,,3,3,3\n"
    )
    frame = load_corpus("msp-podcast", msp_podcast_root).set_index("utterance_id")[VOTES]
    assert frame.loc["msp-podcast/MSP-PODCAST_0001_0008"].tolist() == [0.0, 0.5, 0.5, 0.0]
    assert frame.drop(index="msp-podcast/MSP-PODCAST_0001_0008").isna().all().all()


def test_malformed_detailed_rows_name_file_and_line(msp_podcast_root):
    detailed = msp_podcast_root / "Labels" / "labels_detailed.csv"
    text = detailed.read_text()
    detailed.write_text(text.replace('"WORKER00006; Angry; Angry,Annoyed;', '"WORKER00006 Angry Angry,Annoyed'))
    with pytest.raises(CorpusError, match=r"labels_detailed.csv line 9 \(MSP-PODCAST_0002_0001.wav\): EmoDetail "
                                          r"'WORKER00006 Angry Angry,Annoyed"):
        load_corpus("msp-podcast", msp_podcast_root)
    detailed.write_text(text.replace('"WORKER00002; Happy; ;', '"WORKER00002; ; ;'))
    with pytest.raises(CorpusError, match=r"labels_detailed.csv line 3 .*is not '<worker>; <primary emotion>"):
        load_corpus("msp-podcast", msp_podcast_root)
    detailed.write_text(text.replace('"WORKER00008; Angry; ;', '"WORKER00008;'))  # primary emotion left out
    with pytest.raises(CorpusError, match=r"labels_detailed.csv line 11 .*EmoDetail 'WORKER00008; A:6.0;"):
        load_corpus("msp-podcast", msp_podcast_root)
    detailed.write_text(text.replace("FileName,EmoDetail", "FileName,Detail"))
    with pytest.raises(CorpusError, match=r"labels_detailed.csv has neither an EmoDetail column"):
        load_corpus("msp-podcast", msp_podcast_root)
    detailed.write_text(text + 'MSP-PODCAST_0001_0008.wav,"WORKER1; Happy",extra\n')
    with pytest.raises(CorpusError, match=r"msp-podcast: cannot read .*labels_detailed.csv"):
        load_corpus("msp-podcast", msp_podcast_root)


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
