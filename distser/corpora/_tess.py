"""TESS: ``{OAF,YAF}_<emotion>/<SPK>_<word>_<emotion>.{wav,flac}``.

Two female speakers (OAF aged 64, YAF aged 26) say 200 target words in seven emotions. The
emotion is read from the folder name (its case varies: ``OAF_Sad``, ``YAF_neutral``,
``OAF_Pleasant_surprise``, ``YAF_pleasant_surprised``), lower-cased, and checked against the
emotion at the end of the file name, which spells "pleasant surprise" as ``ps``; a file whose two
emotions map to two different kept classes is rejected as misfiled. The speaker is also taken from
the folder, because file prefixes are not reliable: the distribution has
``OAF_neutral/OA_bite_neutral``. Files outside a ``<SPK>_<emotion>`` folder fall back to their own
name. ``text`` is the target word, so
word-disjoint splits are possible (the only honest alternative to the 2-speaker split).

In the original distribution two files are AIFF with a ``.wav`` name and one is 96 kHz; that is the
audio reader's concern, not the manifest's.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("tess", "../shared/corpora/tess")  # doctest: +SKIP
    >>> sorted(frame["speaker"].unique())  # doctest: +SKIP
    ['tess/OAF', 'tess/YAF']
"""

from __future__ import annotations

import re

from distser.corpora._common import LoadContext

_FILE = re.compile(r"^([A-Za-z]+)_([^_]+)_(.+)$")
_FOLDER = re.compile(r"^([OY]AF)_(.+)$", re.IGNORECASE)


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of a TESS folder (see the module docstring for the layout)."""
    rows = []
    for path in ctx.find_audio(ctx.root):
        match = _FILE.match(path.stem)
        if match is None:
            ctx.reject(path, "file name does not match <SPK>_<word>_<emotion>")
            continue
        speaker, word, file_code = match.group(1).upper(), match.group(2), match.group(3).lower()
        code = file_code
        folder = _FOLDER.match(path.parent.name)
        if folder is not None:
            speaker, code = folder.group(1).upper(), folder.group(2).lower()
            # Two kept classes that differ mean a misfiled clip; a dropped class on one side is no
            # evidence (the spellings "ps" / "pleasant_surprised" may be mapped differently).
            file_label, folder_label = ctx.labels.get(file_code), ctx.labels.get(code)
            if file_label is not None and folder_label is not None and file_label != folder_label:
                problem = f"file name says {file_code!r} but folder {path.parent.name!r} says {code!r}"
                ctx.reject(path, problem)
                continue
        keep, label = ctx.emotion(code, path)
        if not keep:
            continue
        rows.append(ctx.row(path.stem, path, speaker=speaker, label=label, gender="F", text=word.lower()))
    return rows
