r"""IEMOCAP: ``Session1..5/sentences/wav/<dialog>/<utterance>.wav`` + ``Session*/dialog/EmoEvaluation/*.txt``.

Utterance ids look like ``Ses01F_impro01_F000`` or ``Ses03M_script01_2_M012``: ``Ses01F`` names the
session and which actor wore the motion-capture markers, the middle is the dialog, and the final
token's letter is the gender of the *speaker of this utterance*. So ``speaker`` is the session plus
that letter (``iemocap/Ses01M``: 5 sessions x 2 actors = 10 speakers), ``gender`` the letter,
``session`` ``Session1``..``Session5`` and ``text`` the dialog without its session prefix
(``impro01``, ``script01_2``): the same scripts and improvisation topics recur in every session.

Labels come from the summary lines of ``EmoEvaluation/*.txt`` (only the files directly in that
folder; its ``Categorical/``, ``Attribute/`` and ``Self-evaluation/`` subfolders have other
formats)::

    [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
    C-E2:\tNeutral state;\t()
    C-E3:\tNeutral state; Frustration;\t()
    A-E3:\tval 3; act 2; dom  2;\t()

The category codes are in :data:`distser.corpora._labels.IEMOCAP`; excitement is merged into happy.
Vote fractions count the categorical ``C-*`` lines that follow a summary line (external evaluators
``C-E*`` and, where present, the actors' self-evaluations ``C-F*``/``C-M*``); a line naming several
categories gives one vote to each; names map via :data:`~distser.corpora._labels.IEMOCAP_VOTES`
(Excited counts as happy). A wav without a summary line is rejected like an unknown code; the
whole-dialog recordings under ``dialog/wav`` are not utterances and are not searched.

Example:
    >>> from distser.corpora import load_corpus
    >>> frame = load_corpus("iemocap", "/data/IEMOCAP_full_release")  # doctest: +SKIP
    >>> frame.loc[0, ["speaker", "session", "text", "label"]].tolist()  # doctest: +SKIP
    ['iemocap/Ses01F', 'Session1', 'impro01', 'neutral']
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from distser.corpora._common import LoadContext, vote_fractions
from distser.corpora._labels import IEMOCAP_VOTES
from distser.corpora._schema import CorpusError

_UTTERANCE = re.compile(r"^Ses(\d{2})[FM]_(.+)_([FM])\d{3}$")
_SUMMARY = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(\S+)\s+(\S+)\s+\[")
_VOTE = re.compile(r"^C-[^:]+:\s*(.*)$")
_SESSION = re.compile(r"^Session(\d+)$")


@dataclass
class Evaluation:
    """Consensus code and categorical votes of one utterance (``source`` = the .txt it came from)."""

    code: str
    source: Path
    votes: Counter = field(default_factory=Counter)


def read_evaluations(path: Path, corpus: str = "iemocap") -> dict[str, Evaluation]:
    """Utterance id -> :class:`Evaluation` from one ``EmoEvaluation/*.txt`` file."""
    found: dict[str, Evaluation] = {}
    current: Evaluation | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        summary = _SUMMARY.match(line)
        if summary is not None:
            utterance, code = summary.groups()
            current = found[utterance] = Evaluation(code, path)
            continue
        vote = _VOTE.match(line)
        if vote is not None and current is not None:
            # "Neutral state; Frustration;\t(comment)": categories end at the tab before the comment.
            categories = vote.group(1).split("\t")[0]
            for name in categories.split(";"):
                emotion = IEMOCAP_VOTES.get(name.strip().lower())
                if emotion is not None:
                    current.votes[emotion] += 1
        elif not line.strip():
            current = None
    return found


def _sessions(ctx: LoadContext) -> list[Path]:
    sessions = sorted(p for p in ctx.root.iterdir() if p.is_dir() and _SESSION.match(p.name))
    if not sessions:
        raise CorpusError(f"{ctx.corpus}: no Session1..Session5 folders in {ctx.root}")
    return sessions


def load(ctx: LoadContext) -> list[dict]:
    """Manifest rows of an IEMOCAP release folder (see the module docstring)."""
    sessions = _sessions(ctx)
    evaluations: dict[str, Evaluation] = {}
    for session in sessions:
        label_dir = session / "dialog" / "EmoEvaluation"
        for txt in sorted(label_dir.glob("*.txt")):
            if not txt.name.startswith("."):
                evaluations.update(read_evaluations(txt, ctx.corpus))
    if not evaluations:
        raise CorpusError(
            f"{ctx.corpus}: no label lines found in {ctx.root}/Session*/dialog/EmoEvaluation/*.txt"
        )
    rows = []
    for session in sessions:
        for path in ctx.find_audio(session / "sentences" / "wav"):
            match = _UTTERANCE.match(path.stem)
            if match is None:
                ctx.reject(path, "file name does not match Ses<NN><F|M>_<dialog>_<F|M><NNN>")
                continue
            number, dialog, gender = match.groups()
            evaluation = evaluations.get(path.stem)
            if evaluation is None:
                ctx.reject(path, f"no label line for {path.stem!r} in {session}/dialog/EmoEvaluation/*.txt")
                continue
            keep, label = ctx.emotion(evaluation.code, f"{evaluation.source} (utterance {path.stem})")
            if not keep:
                continue
            rows.append(
                ctx.row(
                    path.stem,
                    path,
                    speaker=f"Ses{number}{gender}",
                    label=label,
                    gender=gender,
                    session=f"Session{int(number)}",
                    text=dialog,
                    **vote_fractions(evaluation.votes),
                )
            )
    return rows
