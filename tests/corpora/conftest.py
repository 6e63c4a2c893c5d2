"""Fabricated corpus trees in the real distribution layouts, with tiny generated audio files.

Every builder writes 16 kHz, 0.2 s noise clips (WAV with the stdlib ``wave`` module, FLAC with
``soundfile``) into ``tmp_path`` and returns the corpus root. The label files copy the real formats
(see each loader's docstring), including the quirks the loaders must survive.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

SAMPLE_RATE = 16_000

def write_audio(path: Path, seconds: float = 0.2, seed: int = 0) -> Path:
    """Write a short noise clip; the format follows the suffix (.wav via ``wave``, .flac via soundfile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(SAMPLE_RATE * seconds)) * 1000).astype(np.int16)
    if path.suffix == ".flac":
        import soundfile

        soundfile.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
    else:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(samples.tobytes())
    return path


@pytest.fixture
def audio():
    """The :func:`write_audio` helper, for tests that add files to a fixture tree."""
    return write_audio


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def ravdess_root(tmp_path: Path) -> Path:
    root = tmp_path / "ravdess"
    for name in [
        "Actor_01/03-01-01-01-01-01-01.wav",  # neutral, male
        "Actor_01/03-01-02-01-01-01-01.wav",  # calm: dropped
        "Actor_01/03-01-05-02-02-01-01.wav",  # angry
        "Actor_02/03-01-03-01-02-02-02.flac",  # happy, female
        "Actor_02/03-01-04-02-01-01-02.wav",  # sad
        "Actor_02/03-01-08-01-01-01-02.wav",  # surprised: dropped
    ]:
        write_audio(root / name)
    write_text(root / "Actor_01" / "notes.txt", "not audio")
    return root


@pytest.fixture
def tess_root(tmp_path: Path) -> Path:
    root = tmp_path / "tess"
    for name in [
        "OAF_Sad/OAF_back_sad.wav",
        "OAF_neutral/OA_bite_neutral.wav",  # real quirk: file prefix OA, folder OAF
        "OAF_Pleasant_surprise/OAF_back_ps.wav",  # dropped
        "YAF_angry/YAF_back_angry.wav",
        "YAF_happy/YAF_bar_happy.flac",
        "YAF_pleasant_surprised/YAF_bar_ps.wav",  # dropped
    ]:
        write_audio(root / name)
    return root


@pytest.fixture
def savee_root(tmp_path: Path) -> Path:
    root = tmp_path / "savee"
    for name in ["DC_a01", "DC_sa02", "JE_n30", "KL_h15", "JK_su01", "JK_d03", "JK_f01"]:
        write_audio(root / "ALL" / f"{name}.wav")
    return root


@pytest.fixture
def emodb_root(tmp_path: Path) -> Path:
    root = tmp_path / "emodb"
    for name in ["03a01Fa", "03a01Nc", "08b02Tb", "16a05Wa", "11b09La", "13a04Ea", "14a07Aa"]:
        write_audio(root / "wav" / f"{name}.wav")
    return root


SPEAKERS_TXT = """\
; Some pipe(|) separated metadata about all LibriVox readers, whose work was used
; in the corpus.
;
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara Shallenberg
60   | M | train-clean-100  | 20.18 | |CBW|Simon
84   | F | dev-clean        |  8.02 | Christie Nowak
"""


@pytest.fixture
def librispeech_root(tmp_path: Path) -> Path:
    """The official layout: ``LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``."""
    root = tmp_path / "LibriSpeech"
    write_text(root / "SPEAKERS.TXT", SPEAKERS_TXT)
    for name in [
        "train-clean-100/19/198/19-198-0000.flac",
        "train-clean-100/19/198/19-198-0001.flac",
        "train-clean-100/60/121082/60-121082-0000.flac",
        "dev-clean/84/121123/84-121123-0000.flac",
        "dev-clean/999/1/999-1-0000.flac",  # reader missing from SPEAKERS.TXT: gender None
    ]:
        write_audio(root / name)
    write_text(root / "train-clean-100/19/198/19-198.trans.txt", "19-198-0000 NORTHANGER ABBEY\n")
    return root


@pytest.fixture
def cremad_root(tmp_path: Path) -> Path:
    root = tmp_path / "CREMA-D"
    for name in [
        "1001_DFA_ANG_XX",
        "1001_IEO_HAP_LO",
        "1002_DFA_NEU_XX",
        "1002_IEO_SAD_HI",
        "1040_ITH_SAD_X",  # real quirk: one-letter level
        "1091_TIE_DIS_XX",  # dropped
        "1003_DFA_FEA_XX",  # dropped
    ]:
        write_audio(root / "AudioWAV" / f"{name}.wav")
    write_text(
        root / "VideoDemographics.csv",
        "ActorID,Age,Sex,Race,Ethnicity\n"
        "1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
        "1040,24,Male,African American,Not Hispanic\n"
        "1091,29,Female,Asian,Not Hispanic\n",
    )
    # Keys are 100000*queryType + clip: 1 voice only, 2 face only, 3 audio-visual.
    write_text(
        root / "processedResults" / "tabulatedVotes.csv",
        '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"\n'
        '"100001",6,1,0,0,2,0,"1001_DFA_ANG_XX",9,0.6666667,"A"\n'
        '"100002",0,5,0,0,0,0,"1002_IEO_SAD_HI",5,1,"D"\n'
        '"100003",0,0,0,1,1,2,"1002_DFA_NEU_XX",4,0.5,"S"\n'
        '"200001",0,0,0,0,9,0,"1001_DFA_ANG_XX",9,1,"N"\n'
        '"300001",1,0,0,0,0,0,"1001_DFA_ANG_XX",1,1,"A"\n'
        '"200003",0,0,0,8,0,0,"1001_IEO_HAP_LO",8,1,"H"\n',
    )
    return root


IEMOCAP_EVAL_S1 = """\
% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral state;\t()
C-E3:\tNeutral state;\t()
C-E4:\tNeutral state; Frustration;\t()
C-F1:\tNeutral state;\t()
A-E3:\tval 3; act 2; dom  2;\t()
A-F1:\tval 3; act 3; dom  3;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[3.5000, 3.0000, 3.0000]
C-E1:\tExcited;\t()
C-E2:\tHappiness;\t(cheerful)
C-E3:\tNeutral state;\t()
C-M1:\tExcited;\t()
A-E1:\tval 4; act 3; dom  3;\t()

[14.8872 - 18.0175]\tSes01F_impro01_F001\tfru\t[2.0000, 3.5000, 3.5000]
C-E2:\tFrustration;\t()
C-E3:\tAnger;\t()

[20.1000 - 22.0000]\tSes01F_script01_1_M002\tang\t[1.5000, 4.0000, 4.5000]
C-E1:\tAnger;\t()
C-E3:\tAnger;\t()
C-E4:\tFrustration;\t()
"""

IEMOCAP_EVAL_S2 = """\
% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[1.0000 - 2.0000]\tSes02M_impro03_F000\tsad\t[1.5000, 2.0000, 2.0000]
C-E1:\tSadness;\t()
C-E2:\tSadness;\t()
C-E3:\tSadness;\t()

[2.5000 - 3.0000]\tSes02M_impro03_M001\txxx\t[2.5000, 2.5000, 2.5000]
C-E1:\tSurprise;\t()
C-E2:\tOther;\t(nervous)
"""


@pytest.fixture
def iemocap_root(tmp_path: Path) -> Path:
    root = tmp_path / "IEMOCAP_full_release"
    s1, s2 = root / "Session1", root / "Session2"
    for utterance in ["Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_F001"]:
        write_audio(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"{utterance}.wav")
    write_audio(s1 / "sentences" / "wav" / "Ses01F_script01_1" / "Ses01F_script01_1_M002.wav")
    for utterance in ["Ses02M_impro03_F000", "Ses02M_impro03_M001"]:
        write_audio(s2 / "sentences" / "wav" / "Ses02M_impro03" / f"{utterance}.wav")
    write_audio(s1 / "dialog" / "wav" / "Ses01F_impro01.wav")  # whole dialog: not an utterance
    write_text(s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", IEMOCAP_EVAL_S1)
    # Subfolders hold other formats, which the loader must not read as summary files.
    write_text(
        s1 / "dialog" / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e2_cat.txt",
        ":Ses01F_impro01_F000 :Neutral state; ()\n",
    )
    write_text(s2 / "dialog" / "EmoEvaluation" / "Ses02M_impro03.txt", IEMOCAP_EVAL_S2)
    return root


MSP_IMPROV_EVALUATION = """\
UTD-IMPROV-S01A-F01-S-FM01.avi; A; A:4.200000; V:1.800000; D:3.600000 ; N:2.800000;
rater01; Angry; Angry,Frustrated; A:4.000000; V:2.000000; D:4.000000; N:3.000000;
rater02; Angry; ; A:4.000000; V:2.000000; D:3.000000; N:3.000000;
rater02; Angry; ; A:4.000000; V:2.000000; D:3.000000; N:3.000000;
rater03; Other; Annoyed; A:5.000000; V:1.000000; D:4.000000; N:2.000000;
rater04; Neutral; ; A:3.000000; V:3.000000; D:3.000000; N:3.000000;

UTD-IMPROV-S01A-M01-P-MF02.avi; H; A:3.000000; V:4.000000; D:3.000000 ; N:4.000000;
rater01; Happy; Happy; A:3.000000; V:4.000000; D:3.000000; N:4.000000;

UTD-IMPROV-S05H-F03-R-FM01.avi; N; A:2.000000; V:3.000000; D:3.000000 ; N:3.000000;
rater05; Neutral; ; A:2.000000; V:3.000000; D:3.000000; N:3.000000;
rater06; Sad; ; A:2.000000; V:2.000000; D:2.000000; N:3.000000;

UTD-IMPROV-S05H-F03-T-FM02.avi; X; A:3.000000; V:3.000000; D:NaN ; N:3.000000;
rater05; Happy; ; A:3.000000; V:3.000000; D:3.000000; N:3.000000;
rater06; Sad; ; A:3.000000; V:3.000000; D:3.000000; N:3.000000;

UTD-IMPROV-S05H-M03-S-MF01.avi; O; A:3.000000; V:3.000000; D:3.000000 ; N:3.000000;
rater05; Other; ; A:3.000000; V:3.000000; D:3.000000; N:3.000000;

UTD-IMPROV-S20S-M06-S-MF01.avi; S; A:1.500000; V:1.500000; D:2.000000 ; N:3.000000;
rater07; Sad; ; A:1.000000; V:1.000000; D:2.000000; N:3.000000;
"""


@pytest.fixture
def msp_improv_root(tmp_path: Path) -> Path:
    root = tmp_path / "MSP-IMPROV"
    for name in [
        "session1/S01A/S/MSP-IMPROV-S01A-F01-S-FM01.wav",
        "session1/S01A/P/MSP-IMPROV-S01A-M01-P-MF02.wav",
        "session3/S05H/R/MSP-IMPROV-S05H-F03-R-FM01.wav",
        "session3/S05H/T/MSP-IMPROV-S05H-F03-T-FM02.wav",  # X: dropped
        "session3/S05H/S/MSP-IMPROV-S05H-M03-S-MF01.wav",  # O: dropped
        "session6/S20S/S/MSP-IMPROV-S20S-M06-S-MF01.wav",
    ]:
        write_audio(root / "Audio" / name)
    write_text(root / "Evaluation.txt", MSP_IMPROV_EVALUATION)
    return root


# One row per annotation, the EmoDetail format of releases 1.7-1.11 (see the loader's docstring), with
# the real file's quirks: empty or missing secondary field, free-text "Other-..." answers, lower case.
MSP_PODCAST_DETAILED = """\
FileName,EmoDetail
MSP-PODCAST_0001_0008.wav,"WORKER00001; Happy; Happy,Excited; A:5.0; V:6.0; D:4.0;"
MSP-PODCAST_0001_0008.wav,"WORKER00002; Happy; ; A:4.0; V:6.0; D:4.0;"
MSP-PODCAST_0001_0008.wav,"WORKER00003; Neutral; Neutral,Concerned; A:3.0; V:4.0; D:4.0;"
MSP-PODCAST_0001_0008.wav,"WORKER00004; Surprise; Surprise,Happy; A:5.0; V:5.0; D:4.0;"
MSP-PODCAST_0001_0008.wav,"WORKER00002; Sad; ; A:4.0; V:6.0; D:4.0;"
MSP-PODCAST_0001_0009.wav,"WORKER00005; Other-Curious; Other-Curious; A:4.0; V:4.0; D:4.0;"
MSP-PODCAST_0001_0009.wav,"WORKER00001; neutral; A:3.0; V:4.0; D:3.0;"
MSP-PODCAST_0002_0001.wav,"WORKER00006; Angry; Angry,Annoyed; A:6.0; V:2.0; D:6.0;"
MSP-PODCAST_0002_0001.wav,"WORKER00007; Contempt; Contempt,Angry; A:5.0; V:2.0; D:5.0;"
MSP-PODCAST_0002_0001.wav,"WORKER00008; Angry; ; A:6.0; V:2.0; D:5.0;"
MSP-PODCAST_0002_0001.wav,"WORKER00009; Sad; Sad,Disappointed; A:3.0; V:2.0; D:3.0;"
MSP-PODCAST_0003_0001.wav,"WORKER00001; Contempt; ; A:4.0; V:3.0; D:4.0;"
MSP-PODCAST_0404_0001.wav,"WORKER00001; Happy; ; A:4.0; V:5.0; D:4.0;"
"""


@pytest.fixture
def msp_podcast_root(tmp_path: Path) -> Path:
    root = tmp_path / "MSP-Podcast"
    for stem in ["0001_0008", "0001_0009", "0002_0001", "0002_0002", "0003_0001"]:
        write_audio(root / "Audios" / f"MSP-PODCAST_{stem}.wav")
    write_text(
        root / "Labels" / "labels_consensus.csv",
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,H,4.2,5.8,4.0,127,Female,Train\n"
        "MSP-PODCAST_0001_0009.wav,N,3.6,4.0,3.8,Unknown,Unknown,Development\n"
        "MSP-PODCAST_0002_0001.wav,A,5.6,2.2,5.4,3,Male,Test1\n"
        "MSP-PODCAST_0002_0002.wav,S,2.0,2.4,3.0,3,Male,Test2\n"
        "MSP-PODCAST_0003_0001.wav,C,4.0,3.0,4.0,12,Female,Train\n"
        "MSP-PODCAST_0404_0001.wav,H,4.0,5.0,4.0,12,Female,Train\n",  # no audio: ignored
    )
    write_text(root / "Labels" / "labels_detailed.csv", MSP_PODCAST_DETAILED)  # no rows for 0002_0002
    return root


@pytest.fixture
def manifest_csv(tmp_path: Path) -> Path:
    """A manifest CSV with relative, nested and absolute paths, an unlabeled row and optional columns."""
    folder = tmp_path / "mine"
    write_audio(folder / "audio" / "a.wav")
    write_audio(folder / "audio" / "sub" / "b.wav")
    elsewhere = write_audio(tmp_path / "elsewhere" / "c.flac")
    return write_text(
        folder / "manifest.csv",
        "path,corpus,speaker,label,gender,split,vote_neutral,vote_happy,vote_sad,vote_angry\n"
        "audio/a.wav,mine,s1,sad,female,train,0,0,1,0\n"
        "audio/sub/b.wav,mine,mine/s2,angry,M,test,,,,\n"
        f"{elsewhere},other,x,,,,,,,\n",
    )
