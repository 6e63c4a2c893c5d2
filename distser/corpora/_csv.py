"""Generic CSV manifests: any corpus already listed as one row per audio file.

Required columns: ``path, corpus, speaker, label``; optional: ``utterance_id, gender, session,
split, text`` and ``vote_neutral, vote_happy, vote_sad, vote_angry`` (other columns are ignored).

* ``path``: relative paths are resolved against the CSV's folder; the file must exist.
* ``label``: one of :data:`~distser.arrays.EMOTIONS`, or empty for unlabeled speech (kept, label
  None). ``label_map`` translates other values (``{"anger": "angry", "calm": None}``); a value still
  unknown is a CorpusError naming the file, line and value (or a warned skip with
  ``on_unknown="skip"``); a value mapped to None drops the row.
* ``speaker`` and ``utterance_id`` get the ``<corpus>/`` prefix unless they have it already; the
  default ``utterance_id`` is ``<corpus>/<path relative to the CSV folder, without extension>``.
* ``gender``: F/M/female/male (any case) or empty.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.wav").write_bytes(b"")
    >>> _ = (folder / "m.csv").write_text("path,corpus,speaker,label\\na.wav,toy,s1,sad\\n")
    >>> load_manifest_csv(folder / "m.csv").loc[0, ["utterance_id", "speaker", "label"]].tolist()
    ['toy/a', 'toy/s1', 'sad']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from distser.arrays import EMOTIONS
from distser.corpora._common import LoadContext, merge_labels, read_csv_checked
from distser.corpora._labels import CSV
from distser.corpora._schema import CorpusError, make_manifest

#: Columns a manifest CSV must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "corpus", "speaker", "label")
_GENDER = {"f": "F", "female": "F", "m": "M", "male": "M"}


def _prefixed(corpus: str, value: str) -> str:
    return value if value.startswith(f"{corpus}/") else f"{corpus}/{value}"


def _default_id(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).with_suffix("").as_posix()
    except ValueError:  # outside the CSV's folder: the name is all we have that is stable
        return path.stem


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of the CSV file ``ctx.root`` (see the module docstring)."""
    csv_path = ctx.root
    if not csv_path.is_file():
        raise CorpusError(f"{ctx.corpus}: manifest CSV {csv_path} does not exist or is not a file")
    frame = read_csv_checked(csv_path, ctx.corpus, REQUIRED_COLUMNS)
    folder = csv_path.parent
    vote_columns = [f"vote_{e}" for e in EMOTIONS]
    rows, seen = [], {}
    for line, record in enumerate(frame.to_dict("records"), start=2):
        where = f"{csv_path} line {line}"
        value = {k: str(v).strip() for k, v in record.items()}
        corpus = value["corpus"]
        if not corpus or not value["path"]:
            raise CorpusError(f"{ctx.corpus}: {where}: empty 'corpus' or 'path'")
        path = Path(value["path"]).expanduser()
        path = (path if path.is_absolute() else folder / path).resolve()
        if not path.is_file():
            raise CorpusError(f"{ctx.corpus}: {where}: audio file {path} does not exist")
        label = None
        if value["label"]:
            keep, label = ctx.emotion(value["label"], where)
            if not keep:
                continue
        gender = value.get("gender", "")
        if gender and gender.lower() not in _GENDER:
            raise CorpusError(f"{ctx.corpus}: {where}: gender {gender!r} is not F, M, female or male")
        votes = {}
        for column in vote_columns:
            text = value.get(column, "")
            try:
                votes[column] = float(text) if text else math.nan
            except ValueError:
                raise CorpusError(f"{ctx.corpus}: {where}: {column} {text!r} is not a number") from None
        utterance_id = _prefixed(corpus, value.get("utterance_id") or _default_id(path, folder))
        if utterance_id in seen:
            raise CorpusError(
                f"{ctx.corpus}: {where}: utterance id {utterance_id!r} repeats line {seen[utterance_id]}"
            )
        seen[utterance_id] = line
        rows.append(
            {
                "utterance_id": utterance_id,
                "path": str(path),
                "corpus": corpus,
                "speaker": _prefixed(corpus, value["speaker"]) if value["speaker"] else None,
                "label": label,
                "gender": _GENDER.get(gender.lower()),
                "session": value.get("session") or None,
                "split": value.get("split") or None,
                "text": value.get("text") or None,
                **votes,
            }
        )
    return rows


def load_manifest_csv(
    path: str | Path,
    *,
    label_map: Mapping[str, str | None] | None = None,
    on_unknown: str = "error",
) -> pd.DataFrame:
    """Load a manifest CSV (same as ``load_corpus("csv", path)``); see the module docstring."""
    ctx = LoadContext(
        corpus="csv",
        root=Path(path).expanduser().resolve(),
        labels=merge_labels("csv", CSV, label_map),
        audio_ext=(),
        on_unknown=on_unknown,
    )
    return make_manifest(load(ctx), "csv")
