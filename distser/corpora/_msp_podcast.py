"""MSP-Podcast v1.8: ``Audios/<FileName>`` + ``Labels/labels_consensus.csv``.

``labels_consensus.csv`` has the columns ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,
Split_Set`` (``FileName`` with its ``.wav``, e.g. ``MSP-PODCAST_0001_0008.wav``). ``EmoClass`` codes
are in :data:`distser.corpora._labels.MSP_PODCAST`; ``Split_Set`` maps Train -> train, Development
-> validation, Test1 -> test and Test2 -> ``test2`` (kept, but under its own name so that the
official test set stays Test1, as in the paper); ``SpkrID`` ``Unknown`` becomes the single speaker
``msp-podcast/unknown`` (the paper: "1285 labeled speakers but also samples without speaker
labels"); ``Gender`` Male/Female -> M/F, anything else None. ``Audios/`` is used when present, else
``Audio/``. A wav without a CSV row is rejected like an unknown code; CSV rows without audio are
ignored (partial copies). There are no vote fractions: the per-annotator ``labels_detailed.csv`` is
not read.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("msp-podcast", "/data/MSP-Podcast")  # doctest: +SKIP
    >>> sorted(frame["split"].unique())  # doctest: +SKIP
    ['test', 'test2', 'train', 'validation']
"""

from __future__ import annotations

from distser.corpora._common import LoadContext, read_csv_checked
from distser.corpora._schema import CorpusError

#: ``Split_Set`` -> manifest split.
SPLITS: dict[str, str] = {"Train": "train", "Development": "validation", "Test1": "test", "Test2": "test2"}
_GENDER = {"male": "M", "female": "F"}
_COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of an MSP-Podcast folder (see the module docstring)."""
    label_file = ctx.root / "Labels" / "labels_consensus.csv"
    if not label_file.is_file():
        raise CorpusError(f"{ctx.corpus}: label file {label_file} does not exist")
    frame = read_csv_checked(label_file, ctx.corpus, _COLUMNS)
    table: dict[str, tuple[int, dict[str, str]]] = {}
    for line, record in enumerate(frame[list(_COLUMNS)].to_dict("records"), start=2):
        stem = record["FileName"].strip()
        stem = stem[: -len(".wav")] if stem.lower().endswith(".wav") else stem
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
            )
        )
    return rows
