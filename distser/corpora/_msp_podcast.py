"""MSP-Podcast v1.8: ``Audios/<FileName>`` + ``Labels/labels_consensus.csv``.

``labels_consensus.csv`` has the columns ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,
Split_Set`` (``FileName`` with its ``.wav``, e.g. ``MSP-PODCAST_0001_0008.wav``). ``EmoClass`` codes
are in :data:`distser.corpora._labels.MSP_PODCAST`; ``Split_Set`` maps Train -> train, Development
-> validation, Test1 -> test and Test2 -> ``test2`` (kept, but under its own name so that the
official test set stays Test1, as in the paper); ``SpkrID`` ``Unknown`` becomes the single speaker
``msp-podcast/unknown`` (the paper: "1285 labeled speakers but also samples without speaker
labels"); ``Gender`` Male/Female -> M/F, anything else None. ``Audios/`` is used when present, else
``Audio/``. A wav without a CSV row is rejected like an unknown code; CSV rows without audio are
ignored (partial copies).

Vote fractions come from the per-annotator ``Labels/labels_detailed.csv`` when it is present. Format
(checked against public code that reads releases 1.7 to 1.11; the distribution's own documentation
could not be consulted): one row per annotation, columns ``FileName,EmoDetail``, ``EmoDetail`` being
``"<worker>; <primary emotion>; <secondary emotions, comma-separated, may be empty>; A:<act>;
V:<val>; D:<dom>;"`` (e.g. ``"WORKER00014; Angry; Angry,Frustrated; A:4.0; V:2.0; D:4.0;"``; some
rows leave the secondary field out altogether). Only the worker and the primary emotion are used.
The tabular layout of release 1.6 and 2.x (an ``EmoClass_Major`` column, and the worker in
``Workers`` or ``WorkerID`` when present) is read too. Primary emotions are the category names
(Neutral, Happy, Sad, Angry, Contempt, Surprise, Disgust, Fear, Other, in any case; the consensus
letters are accepted as well) mapped by :data:`VOTES`, independent of ``label_map``; the free-text
"Other-..." answers and anything else unknown are not counted. A worker is counted once per file
(their first row). ``vote_*`` = votes for N, H, S, A divided by their sum (the four kept classes), as
for CREMA-D: NaN for files without a row, without any vote among them, or when the file is absent.
A row that cannot be split into worker and primary emotion is a CorpusError naming the line.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("msp-podcast", "/data/MSP-Podcast")  # doctest: +SKIP
    >>> sorted(frame["split"].unique())  # doctest: +SKIP
    ['test', 'test2', 'train', 'validation']
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from distser.corpora._common import LoadContext, read_csv_checked, vote_fractions
from distser.corpora._labels import MSP_PODCAST, LabelTable, _table
from distser.corpora._schema import CorpusError

#: ``Split_Set`` -> manifest split.
SPLITS: dict[str, str] = {"Train": "train", "Development": "validation", "Test1": "test", "Test2": "test2"}
_GENDER = {"male": "M", "female": "F"}
_COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")

#: Primary emotion of a ``labels_detailed.csv`` annotation (lower-cased) -> emotion, None = not one
#: of the four. Names not listed (free-text "Other-..." answers) are not counted either.
VOTES: LabelTable = _table(
    {
        "neutral": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "contempt": None,
        "surprise": None,
        "disgust": None,
        "fear": None,
        "other": None,
    }
)
_WORKER_COLUMNS = ("Workers", "WorkerID", "Worker")
_WORKER = re.compile(r"^\S+$")  # one token: WORKER00014
_ATTRIBUTE = re.compile(r"^[AVD]\s*:\s*[-+0-9.]*$")  # A:4.0 where the primary emotion should be


def _stem(name: str) -> str:
    name = name.strip()
    return name[: -len(".wav")] if name.lower().endswith(".wav") else name


def _vote(primary: str) -> str | None:
    primary = primary.strip()
    return VOTES.get(primary.lower(), MSP_PODCAST.get(primary))


def read_detailed(path: Path, corpus: str = "msp-podcast") -> dict[str, dict[str, float]]:
    """File stem -> ``vote_*`` fractions from ``labels_detailed.csv`` (see the module docstring)."""
    frame = read_csv_checked(path, corpus, ["FileName"])
    names = frame["FileName"].tolist()
    if "EmoDetail" in frame.columns:
        annotations = [_split_detail(detail, path, line, name, corpus)
                       for line, (name, detail) in enumerate(zip(names, frame["EmoDetail"], strict=True), start=2)]
    elif "EmoClass_Major" in frame.columns:
        worker_column = next((c for c in _WORKER_COLUMNS if c in frame.columns), None)
        workers = frame[worker_column].str.strip().tolist() if worker_column else [""] * len(frame)
        annotations = list(zip(workers, frame["EmoClass_Major"].str.strip(), strict=True))
    else:
        raise CorpusError(
            f"{corpus}: {path} has neither an EmoDetail column (releases 1.7-1.11) nor an EmoClass_Major "
            f"column (1.6, 2.x); it has {list(frame.columns)}"
        )
    tallies: dict[str, tuple[Counter, set[str]]] = {}
    for line, (name, (worker, primary)) in enumerate(zip(names, annotations, strict=True), start=2):
        if not name.strip() or not primary:
            what = "FileName" if not name.strip() else "primary emotion"
            raise CorpusError(f"{corpus}: {path} line {line}: empty {what}")
        votes, seen = tallies.setdefault(_stem(name), (Counter(), set()))
        if worker:  # a worker counts once per file (their first row)
            if worker in seen:
                continue
            seen.add(worker)
        emotion = _vote(primary)
        if emotion is not None:
            votes[emotion] += 1
    return {stem: vote_fractions(votes) for stem, (votes, _) in tallies.items()}


def _split_detail(detail: str, path: Path, line: int, name: str, corpus: str) -> tuple[str, str]:
    """``(worker, primary emotion)`` of an ``EmoDetail`` value."""
    fields = [f.strip() for f in detail.split(";")]
    if len(fields) < 2 or not _WORKER.match(fields[0]) or not fields[1] or _ATTRIBUTE.match(fields[1]):
        raise CorpusError(
            f"{corpus}: {path} line {line} ({name.strip()}): EmoDetail {detail!r} is not "
            "'<worker>; <primary emotion>; <secondary>; A:<act>; V:<val>; D:<dom>;'"
        )
    return fields[0], fields[1]


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of an MSP-Podcast folder (see the module docstring)."""
    label_file = ctx.root / "Labels" / "labels_consensus.csv"
    if not label_file.is_file():
        raise CorpusError(f"{ctx.corpus}: label file {label_file} does not exist")
    frame = read_csv_checked(label_file, ctx.corpus, _COLUMNS)
    table: dict[str, tuple[int, dict[str, str]]] = {}
    for line, record in enumerate(frame[list(_COLUMNS)].to_dict("records"), start=2):
        stem = _stem(record["FileName"])
        if stem in table:
            raise CorpusError(
                f"{ctx.corpus}: {label_file} line {line}: FileName {record['FileName']!r} "
                f"repeats line {table[stem][0]}"
            )
        split = record["Split_Set"].strip()
        if split not in SPLITS:
            raise CorpusError(
                f"{ctx.corpus}: {label_file} line {line}: Split_Set {split!r} is not one of {sorted(SPLITS)}"
            )
        table[stem] = (line, record)
    detailed = ctx.root / "Labels" / "labels_detailed.csv"
    votes = read_detailed(detailed, ctx.corpus) if detailed.is_file() else {}
    no_votes = vote_fractions({})
    folder = next((ctx.root / d for d in ("Audios", "Audio") if (ctx.root / d).is_dir()), ctx.root / "Audios")
    rows = []
    for path in ctx.find_audio(folder):
        entry = table.get(path.stem)
        if entry is None:
            ctx.reject(path, f"no row with FileName {path.name!r} in {label_file}")
            continue
        line, record = entry
        keep, label = ctx.emotion(record["EmoClass"].strip(), f"{label_file} line {line} ({path.name})")
        if not keep:
            continue
        speaker = record["SpkrID"].strip()
        rows.append(
            ctx.row(
                path.stem,
                path,
                speaker="unknown" if speaker.lower() in ("unknown", "") else speaker,
                label=label,
                gender=_GENDER.get(record["Gender"].strip().lower()),
                split=SPLITS[record["Split_Set"].strip()],
                **votes.get(path.stem, no_votes),
            )
        )
    return rows
