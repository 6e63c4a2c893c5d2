"""CREMA-D: ``AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Level>.wav``, e.g. ``1001_DFA_ANG_XX.wav``.

91 actors (1001-1091) say 12 sentences (``text`` = the three-letter sentence code) in six acted
emotions (see :data:`distser.corpora._labels.CREMA_D`) at levels LO/MD/HI/XX. The label is the
*acted* emotion from the file name. ``AudioWAV/`` is used when present, else the root folder.

Optional files of the distribution, read when present:

* ``VideoDemographics.csv`` (columns ``ActorID,Age,Sex,Race,Ethnicity``; Sex ``Male``/``Female``)
  gives the gender; without it gender is None.
* ``processedResults/tabulatedVotes.csv`` gives the vote fractions. Format (checked against public
  code that reads the real file): a first, unnamed key column ``100000 * queryType + clipNum``
  (queryType 1 = voice only, 2 = face only, 3 = audio-visual), vote counts per perceived emotion
  ``A,D,F,H,N,S``, then ``fileName,numResponses,agreement,emoVote,...``. Each clip thus appears up
  to three times; only the voice-only rows (key // 100000 == 1) are used, because the models hear
  the audio only. If the key column is missing, rows are used as they are and a file named twice
  is an error. ``vote_*`` = votes for N, H, S, A divided by their sum (the four kept classes), NaN
  for clips without a row or without any vote among them. The vote codes follow
  :data:`distser.corpora._labels.CREMA_D_VOTES`, independent of ``label_map``.

Known quirks of the real corpus are kept as they are: ``1040_ITH_SAD_X`` has a one-letter level,
``1076_MTI_SAD_XX`` is silent (the audio reader has to cope).

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("crema-d", "/data/CREMA-D")  # doctest: +SKIP
    >>> frame.loc[0, ["utterance_id", "speaker", "label", "text"]].tolist()  # doctest: +SKIP
    ['crema-d/1001_DFA_ANG_XX', 'crema-d/1001', 'angry', 'DFA']
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from distser.arrays import EMOTIONS
from distser.corpora._common import LoadContext, read_csv_checked, vote_fractions
from distser.corpora._labels import CREMA_D_VOTES
from distser.corpora._schema import CorpusError

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
_SEX = {"male": "M", "female": "F"}


def read_demographics(path: Path, corpus: str = "crema-d") -> dict[str, str]:
    """ActorID -> 'F'/'M' from ``VideoDemographics.csv``."""
    frame = read_csv_checked(path, corpus, ["ActorID", "Sex"])
    genders = {}
    for index, (actor, sex) in enumerate(zip(frame["ActorID"], frame["Sex"], strict=True), start=2):
        gender = _SEX.get(sex.strip().lower())
        if gender is None:
            raise CorpusError(f"{corpus}: {path} line {index}: Sex {sex!r} is not 'Male' or 'Female'")
        genders[actor.strip()] = gender
    return genders


def read_votes(path: Path, corpus: str = "crema-d") -> dict[str, dict[str, float]]:
    """fileName -> ``vote_*`` fractions (voice-only rows) from ``tabulatedVotes.csv``."""
    codes = [code for code, emotion in CREMA_D_VOTES.items() if emotion is not None]
    frame = read_csv_checked(path, corpus, ["fileName", *codes])
    key_column = frame.columns[0]
    if key_column.startswith("Unnamed") or key_column == "":
        keys = frame[key_column].str.strip()
        if not keys.str.isdigit().all():
            bad = keys[~keys.str.isdigit()].iloc[0]
            raise CorpusError(
                f"{corpus}: {path}: key {bad!r} of the first column is not 100000*queryType+clip"
            )
        frame = frame[keys.astype(int) // 100000 == 1]
    names = frame["fileName"].str.strip()
    if names.duplicated().any():
        raise CorpusError(
            f"{corpus}: {path} names {names[names.duplicated()].iloc[0]!r} twice; cannot tell the "
            "voice-only votes apart (the first, unnamed column 100000*queryType+clip is missing)"
        )
    votes = {}
    columns = [frame[c] for c in codes]
    for row_number, (name, *counts) in enumerate(zip(names, *columns, strict=True), start=2):
        tally: dict[str, float] = dict.fromkeys(EMOTIONS, 0.0)
        for code, count in zip(codes, counts, strict=True):
            try:
                value = float(count) if count.strip() else 0.0
            except ValueError:
                raise CorpusError(
                    f"{corpus}: {path} line {row_number} ({name}): {code}={count!r} is not a number"
                ) from None
            if math.isnan(value):
                value = 0.0
            tally[CREMA_D_VOTES[code]] += value
        votes[name] = vote_fractions(tally)
    return votes


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of a CREMA-D folder (see the module docstring for the layout and label files)."""
    folder = ctx.root / "AudioWAV" if (ctx.root / "AudioWAV").is_dir() else ctx.root
    demographics = ctx.root / "VideoDemographics.csv"
    genders = read_demographics(demographics, ctx.corpus) if demographics.is_file() else {}
    tabulated = ctx.root / "processedResults" / "tabulatedVotes.csv"
    votes = read_votes(tabulated, ctx.corpus) if tabulated.is_file() else {}
    no_votes = vote_fractions({})
    rows = []
    for path in ctx.find_audio(folder):
        match = _NAME.match(path.stem)
        if match is None:
            ctx.reject(
                path, "file name does not match <ActorID>_<Sentence>_<Emotion>_<Level> (1001_DFA_ANG_XX)"
            )
            continue
        actor, sentence, code, _level = match.groups()
        keep, label = ctx.emotion(code, path)
        if not keep:
            continue
        rows.append(
            ctx.row(
                path.stem,
                path,
                speaker=actor,
                label=label,
                gender=genders.get(actor),
                text=sentence,
                **votes.get(path.stem, no_votes),
            )
        )
    return rows
