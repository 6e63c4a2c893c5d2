from __future__ import annotations

import pytest

from distser.corpora import CorpusError, CorpusWarning, load_corpus


def test_labels_speakers_sessions_text(msp_improv_root):
    frame = load_corpus("msp-improv", msp_improv_root).set_index("utterance_id")
    fields = frame[["label", "speaker", "gender", "session", "text"]].T.to_dict("list")
    assert fields == {
        "msp-improv/MSP-IMPROV-S01A-F01-S-FM01": ["angry", "msp-improv/F01", "F", "Session1", "S01"],
        "msp-improv/MSP-IMPROV-S01A-M01-P-MF02": ["happy", "msp-improv/M01", "M", "Session1", "S01"],
        "msp-improv/MSP-IMPROV-S05H-F03-R-FM01": ["neutral", "msp-improv/F03", "F", "Session3", "S05"],
        "msp-improv/MSP-IMPROV-S20S-M06-S-MF01": ["sad", "msp-improv/M06", "M", "Session6", "S20"],
    }  # X (no agreement) and O (other) are dropped


def test_vote_fractions_count_each_rater_once(msp_improv_root):
    frame = load_corpus("msp-improv", msp_improv_root).set_index("utterance_id")
    votes = frame[["vote_neutral", "vote_happy", "vote_sad", "vote_angry"]].T.to_dict("list")
    # rater01 Angry, rater02 Angry (twice: copied line), rater03 Other, rater04 Neutral -> A 2/3, N 1/3.
    assert votes["msp-improv/MSP-IMPROV-S01A-F01-S-FM01"] == pytest.approx([1 / 3, 0, 0, 2 / 3])
    assert votes["msp-improv/MSP-IMPROV-S05H-F03-R-FM01"] == [0.5, 0.0, 0.5, 0.0]


def test_label_map_keeps_no_agreement_as_neutral(msp_improv_root):
    frame = load_corpus("msp-improv", msp_improv_root, label_map={"X": "neutral"})
    assert (frame["label"] == "neutral").sum() == 2


def test_misspelt_evaluation_file_is_accepted(msp_improv_root):
    (msp_improv_root / "Evaluation.txt").rename(msp_improv_root / "Evalution.txt")
    assert len(load_corpus("msp-improv", msp_improv_root)) == 4


def test_missing_evaluation_file(msp_improv_root):
    (msp_improv_root / "Evaluation.txt").unlink()
    with pytest.raises(CorpusError, match=r"msp-improv: label file .*Evaluation.txt does not exist"):
        load_corpus("msp-improv", msp_improv_root)


def test_wav_without_block_raises_or_is_skipped(msp_improv_root, audio):
    audio(msp_improv_root / "Audio" / "session2" / "S02N" / "R" / "MSP-IMPROV-S02N-F02-R-FM01.wav")
    with pytest.raises(
        CorpusError, match=r"MSP-IMPROV-S02N-F02-R-FM01.wav: no UTD-IMPROV-S02N-F02-R-FM01.avi"
    ):
        load_corpus("msp-improv", msp_improv_root)
    with pytest.warns(CorpusWarning, match="MSP-IMPROV-S02N-F02-R-FM01"):
        assert len(load_corpus("msp-improv", msp_improv_root, on_unknown="skip")) == 4


def test_unknown_consensus_code_names_the_line(msp_improv_root):
    evaluation = msp_improv_root / "Evaluation.txt"
    evaluation.write_text(evaluation.read_text().replace("MF01.avi; S;", "MF01.avi; Q;"))
    with pytest.raises(CorpusError, match=r"Evaluation.txt line \d+ \(MSP-IMPROV-S20S-M06-S-MF01\).*'Q'"):
        load_corpus("msp-improv", msp_improv_root)
