from __future__ import annotations

from distser.corpora import load_corpus


def test_codes_speakers_gender_text(emodb_root):
    frame = load_corpus("emodb", emodb_root).set_index("utterance_id")
    assert frame["label"].to_dict() == {
        "emodb/03a01Fa": "happy",
        "emodb/03a01Nc": "neutral",
        "emodb/08b02Tb": "sad",
        "emodb/16a05Wa": "angry",
    }  # boredom (L), disgust (E) and fear (A) are dropped
    assert frame.loc["emodb/08b02Tb", "speaker"] == "emodb/08"
    assert frame.loc["emodb/08b02Tb", "text"] == "b02"
    assert frame["gender"].to_dict() == {
        "emodb/03a01Fa": "M",
        "emodb/03a01Nc": "M",
        "emodb/08b02Tb": "F",
        "emodb/16a05Wa": "F",
    }
