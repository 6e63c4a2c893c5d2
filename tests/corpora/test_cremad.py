from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest

from distser.corpora import CorpusError, load_corpus


def test_labels_speakers_gender_text(cremad_root):
    frame = load_corpus("crema-d", cremad_root).set_index("utterance_id")
    assert frame["label"].to_dict() == {
        "crema-d/1001_DFA_ANG_XX": "angry",
        "crema-d/1001_IEO_HAP_LO": "happy",
        "crema-d/1002_DFA_NEU_XX": "neutral",
        "crema-d/1002_IEO_SAD_HI": "sad",
        "crema-d/1040_ITH_SAD_X": "sad",  # the real corpus's one-letter level is accepted
    }  # DIS and FEA are dropped
    assert frame.loc["crema-d/1002_IEO_SAD_HI", "speaker"] == "crema-d/1002"
    assert frame.loc["crema-d/1002_IEO_SAD_HI", "text"] == "IEO"
    assert frame["gender"].to_dict() == {
        "crema-d/1001_DFA_ANG_XX": "M",
        "crema-d/1001_IEO_HAP_LO": "M",
        "crema-d/1002_DFA_NEU_XX": "F",
        "crema-d/1002_IEO_SAD_HI": "F",
        "crema-d/1040_ITH_SAD_X": "M",
    }
    assert frame["session"].isna().all() and frame["split"].isna().all()


def test_vote_fractions_use_voice_only_rows_and_the_four_classes(cremad_root):
    frame = load_corpus("crema-d", cremad_root).set_index("utterance_id")
    votes = frame[["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]]
    # Voice row 100001: A=6, D=1, N=2 -> A 6/8, N 2/8 (disgust is not one of the four classes);
    # the face (200001) and audio-visual (300001) rows of the same clip are ignored.
    assert votes.loc["crema-d/1001_DFA_ANG_XX"].tolist() == [0.25, 0.0, 0.0, 0.75]
    assert votes.loc["crema-d/1002_DFA_NEU_XX"].tolist() == [0.25, 0.25, 0.5, 0.0]
    assert votes.loc["crema-d/1002_IEO_SAD_HI"].isna().all()  # only disgust votes
    assert votes.loc["crema-d/1001_IEO_HAP_LO"].isna().all()  # face-only row: no voice votes
    assert votes.loc["crema-d/1040_ITH_SAD_X"].isna().all()  # no row at all
    sums = votes.dropna().sum(axis=1)
    assert all(math.isclose(s, 1.0) for s in sums)


def test_optional_label_files_may_be_absent(cremad_root):
    (cremad_root / "VideoDemographics.csv").unlink()
    shutil.rmtree(cremad_root / "processedResults")
    frame = load_corpus("crema-d", cremad_root)
    assert len(frame) == 5
    assert frame["gender"].isna().all()
    assert frame[["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]].isna().all().all()


def test_tabulated_votes_missing_column_names_file_and_column(cremad_root):
    votes = cremad_root / "processedResults" / "tabulatedVotes.csv"
    votes.write_text('"","A","D","F","H","S","fileName"\n"100001",1,0,0,0,0,"1001_DFA_ANG_XX"\n')
    with pytest.raises(CorpusError, match=r"tabulatedVotes.csv lacks required column\(s\) \['N'\]"):
        load_corpus("crema-d", cremad_root)


def test_tabulated_votes_without_key_column_must_not_repeat_files(cremad_root):
    votes = cremad_root / "processedResults" / "tabulatedVotes.csv"
    table = pd.read_csv(votes).drop(columns="Unnamed: 0")
    table.to_csv(votes, index=False)
    with pytest.raises(CorpusError, match="1001_DFA_ANG_XX.*twice"):
        load_corpus("crema-d", cremad_root)
    table.iloc[:3].to_csv(votes, index=False)  # one row per clip: taken as they are
    frame = load_corpus("crema-d", cremad_root).set_index("utterance_id")
    assert frame.loc["crema-d/1001_DFA_ANG_XX", "vote_angry"] == 0.75


def test_bad_demographics_sex(cremad_root):
    (cremad_root / "VideoDemographics.csv").write_text("ActorID,Age,Sex\n1001,51,Unknown\n")
    with pytest.raises(CorpusError, match=r"VideoDemographics.csv line 2: Sex 'Unknown'"):
        load_corpus("crema-d", cremad_root)


def test_label_map_fear_as_angry(cremad_root):
    frame = load_corpus("crema-d", cremad_root, label_map={"FEA": "angry"})
    assert (frame["label"] == "angry").sum() == 2


def test_unknown_emotion_code_names_file_and_code(cremad_root, audio):
    audio(cremad_root / "AudioWAV" / "1005_DFA_XYZ_XX.wav")
    with pytest.raises(CorpusError, match=r"1005_DFA_XYZ_XX.wav: unknown emotion code 'XYZ'.*'ANG'"):
        load_corpus("crema-d", cremad_root)
