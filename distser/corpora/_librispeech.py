"""LibriSpeech (read audiobooks, no emotion labels): every file is kept with label None.

Layouts:

* official: ``<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` with ``SPEAKERS.TXT`` beside
  the subset folders (``LibriSpeech/SPEAKERS.TXT``);
* flattened samples such as the shared one: ``train-clean-100/<spk>-<chapter>-<utt>.flac`` and
  ``test-other/<spk>/<spk>-<chapter>-<utt>.flac``, each subset folder with its own ``SPEAKERS.TXT``.

``SPEAKERS.TXT`` has ``;`` comment lines and rows ``ID | SEX | SUBSET | MINUTES | NAME``; names may
themselves contain ``|`` (reader 60 is ``|CBW|Simon``), so only the first four bars split. It gives
the gender; a missing file or reader leaves gender None. ``split`` is the subset folder name
(``train-clean-100``, ``test-other``, ...), the nearest folder above the file that looks like one,
or None; the root may itself be a subset folder. The ``.txt`` transcripts are not read.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("librispeech", "../shared/corpora/librispeech")  # doctest: +SKIP
    >>> frame["label"].isna().all(), sorted(frame["split"].unique())  # doctest: +SKIP
    (True, ['test-other', 'train-clean-100'])
"""

from __future__ import annotations

import re
from pathlib import Path

from distser.corpora._common import LoadContext
from distser.corpora._schema import CorpusError

_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_SUBSET = re.compile(r"^(train|dev|test)-(clean|other)(-\d+)?$")


def read_speakers(path: Path, corpus: str = "librispeech") -> dict[str, str]:
    """Reader id -> 'F'/'M' from a ``SPEAKERS.TXT``.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "SPEAKERS.TXT"
    >>> _ = f.write_text(";ID |SEX| SUBSET |MINUTES| NAME\\n60 | M | train-clean-100 | 20.18 | |CBW|Simon\\n")
    >>> read_speakers(f)
    {'60': 'M'}
    """
    genders: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        if len(fields) < 2 or not fields[0].isdigit():
            raise CorpusError(
                f"{corpus}: {path} line {number} is not 'ID | SEX | SUBSET | MINUTES | NAME': {line!r}"
            )
        sex = fields[1].upper()
        if sex not in ("F", "M"):
            raise CorpusError(f"{corpus}: {path} line {number}: SEX {fields[1]!r} is not F or M")
        genders[fields[0]] = sex
    return genders


def _speaker_files(root: Path) -> list[Path]:
    candidates = [root / "SPEAKERS.TXT", *sorted(root.glob("*/SPEAKERS.TXT"))]
    if _SUBSET.match(root.name):  # root is a subset of an official tree: the table is one level up
        candidates.append(root.parent / "SPEAKERS.TXT")
    return [p for p in candidates if p.is_file()]


def _subset(path: Path, root: Path) -> str | None:
    for folder in path.parents:
        if _SUBSET.match(folder.name):
            return folder.name
        if folder == root:
            return None
    return None


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of a LibriSpeech folder (see the module docstring for the layouts)."""
    genders: dict[str, str] = {}
    for table in _speaker_files(ctx.root):
        for reader, sex in read_speakers(table, ctx.corpus).items():
            genders.setdefault(reader, sex)
    rows = []
    for path in ctx.find_audio(ctx.root):
        match = _NAME.match(path.stem)
        if match is None:
            ctx.reject(path, "file name does not match <speaker>-<chapter>-<utterance>")
            continue
        reader = match.group(1)
        rows.append(
            ctx.row(
                path.stem,
                path,
                speaker=reader,
                label=None,
                gender=genders.get(reader),
                split=_subset(path, ctx.root),
            )
        )
    return rows
