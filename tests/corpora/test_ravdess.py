from __future__ import annotations

import re

import pytest

from distser.corpora import MANIFEST_COLUMNS, CorpusError, CorpusWarning, load_corpus


def test_labels_speakers_gender_text(ravdess_root):
    frame = load_corpus("ravdess", ravdess_root)
    assert list(frame.columns) == list(MANIFEST_COLUMNS)
    rows = frame.set_index("utterance_id")
    assert rows["label"].to_dict() == {
        "ravdess/03-01-01-01-01-01-01": "neutral",
        "ravdess/03-01-03-01-02-02-02": "happy",
        "ravdess/03-01-04-02-01-01-02": "sad",
        "ravdess/03-01-05-02-02-01-01": "angry",
    }
    assert rows.loc["ravdess/03-01-01-01-01-01-01", "gender"] == "M"  # odd actor
    assert rows.loc["ravdess/03-01-03-01-02-02-02", "gender"] == "F"  # even actor
    assert rows.loc["ravdess/03-01-03-01-02-02-02", "speaker"] == "ravdess/02"
    assert rows.loc["ravdess/03-01-05-02-02-01-01", "text"] == "02"
    assert (frame["corpus"] == "ravdess").all()
    assert frame["path"].map(lambda p: p.startswith(str(ravdess_root))).all()


def test_label_map_keeps_calm_as_neutral_and_drops_angry(ravdess_root):
    frame = load_corpus("ravdess", ravdess_root, label_map={"02": "neutral", "05": None})
    assert sorted(frame["label"]) == ["happy", "neutral", "neutral", "sad"]


def test_audio_ext_limits_the_search(ravdess_root):
    frame = load_corpus("ravdess", ravdess_root, audio_ext=["FLAC"])
    assert frame["utterance_id"].tolist() == ["ravdess/03-01-03-01-02-02-02"]


def test_bad_file_name_raises_or_is_skipped(ravdess_root, audio):
    bad = audio(ravdess_root / "Actor_03" / "03-01-05-01.wav")
    with pytest.raises(CorpusError, match="03-01-05-01.wav.*does not match"):
        load_corpus("ravdess", ravdess_root)
    with pytest.warns(CorpusWarning, match=re.escape(str(bad))):
        frame = load_corpus("ravdess", ravdess_root, on_unknown="skip")
    assert len(frame) == 4


def test_unknown_emotion_code(ravdess_root, audio):
    audio(ravdess_root / "Actor_03" / "03-01-09-01-01-01-03.wav")
    with pytest.raises(CorpusError) as info:
        load_corpus("ravdess", ravdess_root)
    message = str(info.value)
    assert "03-01-09-01-01-01-03.wav" in message and "'09'" in message
    assert "'01'" in message and "label_map" in message  # lists the valid codes and the way out
