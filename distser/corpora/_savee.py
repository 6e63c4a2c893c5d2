"""SAVEE: ``ALL/<SPK>_<code><NN>.{wav,flac}`` or the original ``AudioData/<SPK>/<code><NN>.wav``.

Four male speakers (DC, JE, JK, KL); codes a, d, f, h, n, sa, su (see
:data:`distser.corpora._labels.SAVEE`). ``text`` is the sentence id ``<code><NN>`` (e.g. ``sa01``):
SAVEE's sentences are numbered per emotion. ``ALL/`` is used when present, else ``AudioData/``,
else the root folder itself; both layouts give the same ids (``savee/DC_sa01``), so they must not
be loaded together.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("savee", "../shared/corpora/savee")  # doctest: +SKIP
    >>> frame["label"].value_counts()["neutral"]  # doctest: +SKIP
    120
"""

from __future__ import annotations

import re

from distser.corpora._common import LoadContext

_FLAT = re.compile(r"^([A-Za-z]{2})_([a-z]+)(\d{2})$")  # ALL/DC_sa01
_NESTED = re.compile(r"^([a-z]+)(\d{2})$")  # AudioData/DC/sa01
_SPEAKER = re.compile(r"^[A-Z]{2}$")


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of a SAVEE folder (see the module docstring for the layouts)."""
    folder = next((ctx.root / d for d in ("ALL", "AudioData") if (ctx.root / d).is_dir()), ctx.root)
    rows = []
    for path in ctx.find_audio(folder):
        flat, nested = _FLAT.match(path.stem), _NESTED.match(path.stem)
        if flat is not None:
            speaker, code, number = flat.group(1).upper(), flat.group(2), flat.group(3)
        elif nested is not None and _SPEAKER.match(path.parent.name):
            speaker, (code, number) = path.parent.name, nested.groups()
        else:
            ctx.reject(path, "file name does not match <SPK>_<code><NN> (or <SPK>/<code><NN>)")
            continue
        keep, label = ctx.emotion(code, path)
        if not keep:
            continue
        file_id = f"{speaker}_{code}{number}"
        rows.append(ctx.row(file_id, path, speaker=speaker, label=label, gender="M", text=f"{code}{number}"))
    return rows
