from __future__ import annotations

from distser.corpora import load_corpus


def test_all_folder_codes_speakers_text(savee_root):
    frame = load_corpus("savee", savee_root).set_index("utterance_id")
    assert frame["label"].to_dict() == {
        "savee/DC_a01": "angry",
        "savee/DC_sa02": "sad",
        "savee/JE_n30": "neutral",
        "savee/KL_h15": "happy",
    }
    assert frame.loc["savee/DC_sa02", "speaker"] == "savee/DC"
    assert frame.loc["savee/DC_sa02", "text"] == "sa02"
    assert set(frame["gender"]) == {"M"}


def test_original_audiodata_layout_gives_the_same_ids(tmp_path, audio):
    root = tmp_path / "savee"
    for name in ["DC/a01", "DC/sa02", "JE/n30", "KL/h15", "JK/su01"]:
        audio(root / "AudioData" / f"{name}.wav")
    frame = load_corpus("savee", root)
    assert frame["utterance_id"].tolist() == ["savee/DC_a01", "savee/DC_sa02", "savee/JE_n30", "savee/KL_h15"]
    assert frame["speaker"].tolist() == ["savee/DC", "savee/DC", "savee/JE", "savee/KL"]


def test_surprise_as_happy_via_label_map(savee_root):
    frame = load_corpus("savee", savee_root, label_map={"su": "happy"})
    assert (frame["label"] == "happy").sum() == 2
