"""Per-corpus code -> emotion tables: the only place where corpus label codes meet :data:`EMOTIONS`.

Every table maps each code a corpus *documents* to one of the four benchmark emotions, or to ``None``
for a class the 4-class benchmark drops (calm, fear, disgust, ...). The difference matters to the
loaders: a code mapped to ``None`` is dropped silently, while a code missing from the table is an
error (or a warned skip with ``on_unknown="skip"``), because it means the file name or label file is
not what we think it is.

``load_corpus(..., label_map=...)`` updates a copy of these tables, e.g. to keep RAVDESS "calm" as
neutral::

    >>> from distser.corpora import load_corpus
    >>> calm_as_neutral = {"02": "neutral"}
    >>> root = "../shared/corpora/ravdess"
    >>> frame = load_corpus("ravdess", root, label_map=calm_as_neutral)  # doctest: +SKIP

The tables are read-only mappings so that no caller can change another caller's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from distser.arrays import EMOTIONS

#: A code -> emotion table; ``None`` = a documented class that the 4-class benchmark drops.
LabelTable = Mapping[str, str | None]


def _table(entries: dict[str, str | None]) -> LabelTable:
    bad = {code: emo for code, emo in entries.items() if emo is not None and emo not in EMOTIONS}
    if bad:  # a typo here would silently empty a class, so fail at import time
        raise ValueError(f"label table maps to unknown emotions: {bad}")
    return MappingProxyType(dict(entries))


#: RAVDESS, 3rd file-name field (``03-01-EE-...``).
RAVDESS: LabelTable = _table(
    {
        "01": "neutral",
        "02": None,  # calm: the benchmark has no calm class (map it with label_map={"02": "neutral"})
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": None,  # fearful
        "07": None,  # disgust
        "08": None,  # surprised
    }
)

#: TESS, emotion word of the folder (``OAF_Sad``) / file name (``OAF_back_sad``), lower-cased.
#: "Pleasant surprise" is spelled three ways across the distribution's folders and files.
TESS: LabelTable = _table(
    {
        "neutral": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "disgust": None,
        "fear": None,
        "ps": None,
        "pleasant_surprise": None,
        "pleasant_surprised": None,
    }
)

#: SAVEE, letters after ``<SPK>_`` (``DC_sa01``): the first letters of the emotion names.
SAVEE: LabelTable = _table(
    {
        "n": "neutral",
        "h": "happy",
        "sa": "sad",
        "a": "angry",
        "d": None,  # disgust
        "f": None,  # fear
        "su": None,  # surprise
    }
)

#: EmoDB, 6th file-name character (``03a01Fa``): German initials.
EMODB: LabelTable = _table(
    {
        "N": "neutral",  # Neutral
        "F": "happy",  # Freude
        "T": "sad",  # Trauer
        "W": "angry",  # Wut
        "L": None,  # Langeweile (boredom)
        "E": None,  # Ekel (disgust)
        "A": None,  # Angst (fear)
    }
)

#: LibriSpeech has no emotion labels: every file is kept with label None.
LIBRISPEECH: LabelTable = _table({})

#: CREMA-D, 3rd file-name field (``1001_DFA_ANG_XX``): the acted (intended) emotion.
CREMA_D: LabelTable = _table(
    {
        "NEU": "neutral",
        "HAP": "happy",
        "SAD": "sad",
        "ANG": "angry",
        "DIS": None,
        "FEA": None,
    }
)

#: CREMA-D ``processedResults/tabulatedVotes.csv`` vote columns (perceived emotion of the raters).
CREMA_D_VOTES: LabelTable = _table(
    {"N": "neutral", "H": "happy", "S": "sad", "A": "angry", "D": None, "F": None}
)

#: IEMOCAP, category of the ``EmoEvaluation`` summary line. Excitement is merged into happy, as in
#: the paper (Sec. 3.1), to balance the classes.
IEMOCAP: LabelTable = _table(
    {
        "neu": "neutral",
        "hap": "happy",
        "exc": "happy",
        "sad": "sad",
        "ang": "angry",
        "fru": None,  # frustration
        "sur": None,  # surprise
        "fea": None,  # fear
        "dis": None,  # disgust
        "oth": None,  # other
        "xxx": None,  # no majority among the evaluators
    }
)

#: IEMOCAP, category names of the individual evaluators' ``C-E1:\tNeutral state;\t()`` lines
#: (lower-cased). Only used for the vote fractions; names not listed here are not counted.
IEMOCAP_VOTES: LabelTable = _table(
    {
        "neutral state": "neutral",
        "neutral": "neutral",
        "happiness": "happy",
        "excited": "happy",
        "sadness": "sad",
        "anger": "angry",
        "frustration": None,
        "surprise": None,
        "fear": None,
        "disgust": None,
        "other": None,
    }
)

#: MSP-IMPROV, consensus code (2nd field) of an ``Evaluation.txt`` utterance line.
MSP_IMPROV: LabelTable = _table(
    {
        "N": "neutral",
        "H": "happy",
        "S": "sad",
        "A": "angry",
        "O": None,  # other
        "X": None,  # no agreement
    }
)

#: MSP-IMPROV, category names of the individual raters' lines in ``Evaluation.txt`` (lower-cased).
MSP_IMPROV_VOTES: LabelTable = _table(
    {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "other": None}
)

#: MSP-Podcast v1.8, ``EmoClass`` of ``Labels/labels_consensus.csv``.
MSP_PODCAST: LabelTable = _table(
    {
        "N": "neutral",
        "H": "happy",
        "S": "sad",
        "A": "angry",
        "U": None,  # surprise
        "F": None,  # fear
        "D": None,  # disgust
        "C": None,  # contempt
        "O": None,  # other
        "X": None,  # no agreement
    }
)

#: Generic CSV manifests already use the benchmark's names.
CSV: LabelTable = _table({emotion: emotion for emotion in EMOTIONS})
