"""MSP-IMPROV: ``Audio/session1..6/<scenario>/<type>/MSP-IMPROV-S01A-F01-P-FM01.wav`` + ``Evaluation.txt``.

File names (checked against public code that reads the real corpus) are
``MSP-IMPROV-S<NN><E>-<G><NN>-<T>-<...>``: target sentence ``S01``..``S20`` with the emotion
``E`` its scenario targets (A, H, S, N), the speaker (``F01``, ``M03``: gender + session number),
the recording type ``T`` (R read target sentence, S improvised target sentence, T other improvised
turns, P natural interaction between takes) and the interlocutor/turn part (``FM01``). So
``speaker`` = ``msp-improv/F01``, ``gender`` = F, ``session`` = ``Session1`` (spelt as IEMOCAP's) (the speaker number,
which is also the ``sessionN`` folder of the distribution) and ``text`` = ``S01``: the sentence's
four emotion scenarios share its words.

``Evaluation.txt`` (at the root; the misspelt ``Evalution.txt`` is accepted too) has one block per
utterance, keyed by the video name::

    UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.200000; V:2.000000; D:3.400000 ; N:2.600000;
    rater01; Angry; Frustrated,Angry; A:3.000000; V:2.000000; D:3.000000; N:3.000000;
    rater02; Other; Annoyed; A:4.000000; ...

The 2nd field of the ``UTD-IMPROV`` line is the consensus code (see
:data:`distser.corpora._labels.MSP_IMPROV`; O other and X no agreement are dropped); the rater
lines' 2nd field (Angry, Happy, Sad, Neutral, Other) gives the vote fractions. Some raters appear
twice in a block in the real file (copied lines); only their first line counts. A wav without an
``Evaluation.txt`` block is rejected like an unknown code. ``Audio/`` is used when present, else
the root (the layout ``session1/S01A/P/*.wav`` of the original archive).

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("msp-improv", "/data/MSP-IMPROV")  # doctest: +SKIP
    >>> frame.loc[0, ["speaker", "session", "text"]].tolist()  # doctest: +SKIP
    ['msp-improv/F01', 'Session1', 'S01']
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from distser.corpora._common import LoadContext, vote_fractions
from distser.corpora._labels import MSP_IMPROV_VOTES
from distser.corpora._schema import CorpusError

_NAME = re.compile(r"^MSP-IMPROV-(S\d{2})([A-Z])-([FM])(\d{2})-([A-Z])-([A-Za-z0-9]+)$")
_HEADER = re.compile(r"^UTD-IMPROV-([A-Za-z0-9-]+)\.avi\s*;\s*([^;\s]*)\s*;")
_RATER = re.compile(r"^([^;]+);\s*([A-Za-z]+)\s*;")
_FILES = ("Evaluation.txt", "Evalution.txt")


@dataclass
class Evaluation:
    """Consensus code and rater votes of one utterance, from line ``line`` of ``Evaluation.txt``."""

    code: str
    line: int
    votes: Counter = field(default_factory=Counter)
    raters: set = field(default_factory=set)


def read_evaluation(path: Path, corpus: str = "msp-improv") -> dict[str, Evaluation]:
    """``MSP-IMPROV-<id>`` -> :class:`Evaluation` from ``Evaluation.txt``."""
    found: dict[str, Evaluation] = {}
    current: Evaluation | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if line.startswith("UTD-IMPROV-"):
            header = _HEADER.match(line)
            if header is None:
                raise CorpusError(
                    f"{corpus}: {path} line {number} is not 'UTD-IMPROV-<id>.avi; <code>; ...': {line!r}"
                )
            current = found[f"MSP-IMPROV-{header.group(1)}"] = Evaluation(header.group(2), number)
            continue
        if not line:
            current = None
            continue
        rater = _RATER.match(line)
        if rater is not None and current is not None:
            name = rater.group(1).strip()
            if name in current.raters:  # duplicated rater lines are copies; count them once
                continue
            current.raters.add(name)
            emotion = MSP_IMPROV_VOTES.get(rater.group(2).lower())
            if emotion is not None:
                current.votes[emotion] += 1
    return found


def _evaluation_file(ctx: LoadContext) -> Path:
    for name in _FILES:
        if (ctx.root / name).is_file():
            return ctx.root / name
    raise CorpusError(f"{ctx.corpus}: label file {ctx.root / _FILES[0]} does not exist")


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of an MSP-IMPROV folder (see the module docstring)."""
    label_file = _evaluation_file(ctx)
    evaluations = read_evaluation(label_file, ctx.corpus)
    folder = ctx.root / "Audio" if (ctx.root / "Audio").is_dir() else ctx.root
    rows = []
    for path in ctx.find_audio(folder):
        match = _NAME.match(path.stem)
        if match is None:
            ctx.reject(path, "file name does not match MSP-IMPROV-S<NN><E>-<F|M><NN>-<R|S|T|P>-<turn>")
            continue
        sentence, _target, gender, number, _kind, _turn = match.groups()
        evaluation = evaluations.get(path.stem)
        if evaluation is None:
            ctx.reject(path, f"no UTD-IMPROV-{path.stem[len('MSP-IMPROV-') :]}.avi block in {label_file}")
            continue
        keep, label = ctx.emotion(evaluation.code, f"{label_file} line {evaluation.line} ({path.stem})")
        if not keep:
            continue
        rows.append(
            ctx.row(
                path.stem,
                path,
                speaker=f"{gender}{number}",
                label=label,
                gender=gender,
                session=f"Session{int(number)}",
                text=sentence,
                **vote_fractions(evaluation.votes),
            )
        )
    return rows
