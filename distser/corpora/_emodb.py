"""EmoDB (Berlin Database of Emotional Speech): ``wav/<SS><TTT><E><v>.{wav,flac}``, e.g. ``03a01Fa``.

SS is the speaker (two digits), TTT the text id (``a01``..``b10``), E the emotion initial in
German (see :data:`distser.corpora._labels.EMODB`) and v the take. Speaker genders are from the
EmoDB documentation. ``wav/`` is used when present, else the root folder.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("emodb", "../shared/corpora/emodb")  # doctest: +SKIP
    >>> frame.loc[0, ["speaker", "text", "gender"]].tolist()  # doctest: +SKIP
    ['emodb/03', 'a01', 'M']
"""

from __future__ import annotations

import re

from distser.corpora._common import LoadContext

_NAME = re.compile(r"^(\d{2})([a-z]\d{2})([A-Z])([a-z])$")

#: Speaker -> gender, from the EmoDB documentation (5 female, 5 male actors).
GENDER: dict[str, str] = {
    "03": "M",
    "08": "F",
    "09": "F",
    "10": "M",
    "11": "M",
    "12": "M",
    "13": "F",
    "14": "F",
    "15": "M",
    "16": "F",
}


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of an EmoDB folder (see the module docstring for the layout)."""
    folder = ctx.root / "wav" if (ctx.root / "wav").is_dir() else ctx.root
    rows = []
    for path in ctx.find_audio(folder):
        match = _NAME.match(path.stem)
        if match is None:
            ctx.reject(path, "file name does not match <SS><TTT><E><v> (e.g. 03a01Fa)")
            continue
        speaker, text, code, _take = match.groups()
        keep, label = ctx.emotion(code, path)
        if not keep:
            continue
        gender = GENDER.get(speaker)
        rows.append(ctx.row(path.stem, path, speaker=speaker, label=label, gender=gender, text=text))
    return rows
