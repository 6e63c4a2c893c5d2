from __future__ import annotations

import pytest

from distser.corpora import CorpusError, load_corpus


def test_folder_case_variants_words_and_speakers(tess_root):
    frame = load_corpus("tess", tess_root).set_index("utterance_id")
    assert frame["label"].to_dict() == {
        "tess/OAF_back_sad": "sad",
        "tess/OA_bite_neutral": "neutral",
        "tess/YAF_back_angry": "angry",
        "tess/YAF_bar_happy": "happy",
    }
    # The speaker comes from the folder: the real corpus has OAF_neutral/OA_bite_neutral.
    assert frame.loc["tess/OA_bite_neutral", "speaker"] == "tess/OAF"
    assert frame.loc["tess/YAF_bar_happy", "text"] == "bar"
    assert set(frame["gender"]) == {"F"}


def test_pleasant_surprise_spellings_are_known_codes(tess_root):
    # The folders carry the label: OAF_Pleasant_surprise and YAF_pleasant_surprised, files say "ps".
    frame = load_corpus("tess", tess_root, label_map={"pleasant_surprise": "happy"})
    assert len(frame) == 5 and "tess/OAF_back_ps" in set(frame["utterance_id"])
    frame = load_corpus(
        "tess", tess_root, label_map={"pleasant_surprise": "happy", "pleasant_surprised": "happy"}
    )
    assert len(frame) == 6


def test_folder_and_file_name_must_agree(tess_root, audio):
    audio(tess_root / "YAF_sad" / "YAF_dog_angry.wav")
    with pytest.raises(CorpusError, match="YAF_dog_angry.wav.*'angry'.*'YAF_sad'"):
        load_corpus("tess", tess_root)
