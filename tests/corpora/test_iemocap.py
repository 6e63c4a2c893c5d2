from __future__ import annotations

import re

import pytest

from distser.corpora import CorpusError, CorpusWarning, load_corpus


def test_labels_with_excitement_merged_into_happy(iemocap_root):
    frame = load_corpus("iemocap", iemocap_root).set_index("utterance_id")
    assert frame["label"].to_dict() == {
        "iemocap/Ses01F_impro01_F000": "neutral",
        "iemocap/Ses01F_impro01_M000": "happy",  # exc
        "iemocap/Ses01F_script01_1_M002": "angry",
        "iemocap/Ses02M_impro03_F000": "sad",
    }  # fru and xxx dropped; the whole-dialog wav under dialog/wav is not an utterance


def test_speaker_is_session_plus_the_utterance_speakers_gender(iemocap_root):
    frame = load_corpus("iemocap", iemocap_root).set_index("utterance_id")
    fields = frame[["speaker", "gender", "session", "text"]].T.to_dict("list")
    assert fields == {
        "iemocap/Ses01F_impro01_F000": ["iemocap/Ses01F", "F", "Session1", "impro01"],
        "iemocap/Ses01F_impro01_M000": ["iemocap/Ses01M", "M", "Session1", "impro01"],
        "iemocap/Ses01F_script01_1_M002": ["iemocap/Ses01M", "M", "Session1", "script01_1"],
        "iemocap/Ses02M_impro03_F000": ["iemocap/Ses02F", "F", "Session2", "impro03"],
    }


def test_vote_fractions_from_categorical_lines(iemocap_root):
    frame = load_corpus("iemocap", iemocap_root).set_index("utterance_id")
    votes = frame[["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]].T.to_dict("list")
    # F000: four Neutral votes (one line also says Frustration, which is not counted).
    assert votes["iemocap/Ses01F_impro01_F000"] == [1.0, 0.0, 0.0, 0.0]
    # M000: Excited, Happiness, Neutral state, Excited (self-evaluation) -> happy 3/4.
    assert votes["iemocap/Ses01F_impro01_M000"] == [0.25, 0.75, 0.0, 0.0]
    assert votes["iemocap/Ses01F_script01_1_M002"] == [0.0, 0.0, 0.0, 1.0]
    assert votes["iemocap/Ses02M_impro03_F000"] == [0.0, 0.0, 1.0, 0.0]


def test_label_map_keeps_frustration_as_angry_and_drops_excitement(iemocap_root):
    frame = load_corpus("iemocap", iemocap_root, label_map={"fru": "angry", "exc": None})
    labels = frame.set_index("utterance_id")["label"].to_dict()
    assert labels["iemocap/Ses01F_impro01_F001"] == "angry"
    assert "iemocap/Ses01F_impro01_M000" not in labels
    # Its votes: Frustration is not one of the four vote classes, Anger is -> all angry.
    assert frame.set_index("utterance_id").loc["iemocap/Ses01F_impro01_F001", "vote_angry"] == 1.0


def test_wav_without_label_line_raises_or_is_skipped(iemocap_root, audio):
    stray = audio(
        iemocap_root / "Session2" / "sentences" / "wav" / "Ses02M_impro03" / "Ses02M_impro03_F009.wav"
    )
    with pytest.raises(CorpusError, match="Ses02M_impro03_F009.wav: no label line"):
        load_corpus("iemocap", iemocap_root)
    with pytest.warns(CorpusWarning, match=re.escape(str(stray))):
        frame = load_corpus("iemocap", iemocap_root, on_unknown="skip")
    assert len(frame) == 4


def test_unknown_category_names_the_label_file_and_code(iemocap_root):
    txt = iemocap_root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02M_impro03.txt"
    txt.write_text(txt.read_text().replace("\tsad\t", "\tjoy\t"))
    with pytest.raises(CorpusError, match=r"Ses02M_impro03.txt \(utterance Ses02M_impro03_F000\).*'joy'"):
        load_corpus("iemocap", iemocap_root)


def test_missing_sessions_and_labels(tmp_path, iemocap_root):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no Session1..Session5 folders"):
        load_corpus("iemocap", tmp_path / "empty")
    for txt in iemocap_root.glob("Session*/dialog/EmoEvaluation/*.txt"):
        txt.unlink()
    with pytest.raises(CorpusError, match=r"no label lines found in .*EmoEvaluation/\*\.txt"):
        load_corpus("iemocap", iemocap_root)
