"""RAVDESS (speech and song): ``Actor_NN/03-01-EE-II-SS-RR-AA.{wav,flac}``.

The seven two-digit fields are modality (03 = audio only), vocal channel (01 speech, 02 song),
emotion EE (see :data:`distser.corpora._labels.RAVDESS`), intensity, statement SS (01 "Kids are
talking by the door", 02 "Dogs are sitting by the door"), repetition and actor AA. Odd actors are
male, even actors female (RAVDESS documentation). Files are searched recursively, so the Kaggle
layout ``audio_speech_actors_01-24/Actor_01/...`` works too.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("ravdess", "../shared/corpora/ravdess")  # doctest: +SKIP
    >>> frame.loc[0, ["utterance_id", "speaker", "label", "gender", "text"]].tolist()  # doctest: +SKIP
    ['ravdess/03-01-01-01-01-01-01', 'ravdess/01', 'neutral', 'M', '01']
"""

from __future__ import annotations

import re

from distser.corpora._common import LoadContext

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of a RAVDESS folder (see the module docstring for the layout)."""
    rows = []
    for path in ctx.find_audio(ctx.root):
        match = _NAME.match(path.stem)
        if match is None:
            ctx.reject(path, "file name does not match MM-VC-EE-II-SS-RR-AA (seven two-digit fields)")
            continue
        _modality, _channel, code, _intensity, statement, _repetition, actor = match.groups()
        keep, label = ctx.emotion(code, path)
        if not keep:
            continue
        gender = "M" if int(actor) % 2 else "F"
        rows.append(ctx.row(path.stem, path, speaker=actor, label=label, gender=gender, text=statement))
    return rows
