"""Shared plumbing of the corpus loaders: the load context, audio discovery, label lookup, errors.

A loader is a function ``load(ctx: LoadContext) -> list[dict]`` that returns one dict per kept
utterance, built with :meth:`LoadContext.row`; :func:`distser.corpora.load_corpus` turns the rows
into a manifest with :func:`make_manifest`. Keeping all error wording here makes every loader name
the corpus, the file and the offending value the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from distser.arrays import EMOTIONS
from distser.corpora._labels import LabelTable
from distser.corpora._schema import CorpusError, CorpusWarning

#: Accepted values of ``on_unknown``.
ON_UNKNOWN: tuple[str, ...] = ("error", "skip")

#: Audio extensions searched when the caller gives none (the shared corpora are FLAC, originals WAV).
DEFAULT_AUDIO_EXT: tuple[str, ...] = (".wav", ".flac")


def normalize_ext(
    audio_ext: Sequence[str] | None, default: Sequence[str] = DEFAULT_AUDIO_EXT
) -> tuple[str, ...]:
    """Lower-case extensions with a leading dot: ``["WAV", ".flac"] -> (".wav", ".flac")``.

    >>> normalize_ext(["WAV", ".flac"])
    ('.wav', '.flac')
    """
    exts = default if audio_ext is None else audio_ext
    if isinstance(exts, str):  # a bare "wav" would otherwise be read as the extensions w, a, v
        exts = [exts]
    out = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in exts)
    if not out:
        raise ValueError("audio_ext must name at least one extension, e.g. ('.wav',)")
    return out


def merge_labels(corpus: str, default: LabelTable, label_map: Mapping[str, str | None] | None) -> LabelTable:
    """The default table updated with ``label_map`` (entries replace or add codes; None drops).

    >>> from distser.corpora._labels import RAVDESS
    >>> merge_labels("ravdess", RAVDESS, {"02": "neutral"})["02"]
    'neutral'
    """
    table = dict(default)
    for code, emotion in (label_map or {}).items():
        if emotion is not None and emotion not in EMOTIONS:
            raise ValueError(
                f"{corpus}: label_map[{code!r}] = {emotion!r} is not one of {list(EMOTIONS)} or None"
            )
        table[str(code)] = emotion
    return table


def vote_fractions(counts: Mapping[str, float]) -> dict[str, float]:
    """``vote_<emotion>`` fractions among the four classes; all NaN when none of them got a vote.

    >>> vote_fractions({"neutral": 3, "angry": 1})
    {'vote_neutral': 0.75, 'vote_happy': 0.0, 'vote_sad': 0.0, 'vote_angry': 0.25}
    >>> math.isnan(vote_fractions({})["vote_sad"])
    True
    """
    total = float(sum(counts.get(e, 0) for e in EMOTIONS))
    if total <= 0:
        return {f"vote_{e}": math.nan for e in EMOTIONS}
    return {f"vote_{e}": float(counts.get(e, 0)) / total for e in EMOTIONS}


def read_csv_checked(path: Path, corpus: str, required: Iterable[str]) -> pd.DataFrame:
    """Read a label CSV as strings; CorpusError naming the file and the missing column(s)."""
    try:
        # Strings only: ids like "0001" and codes like "NA" must survive as written.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{corpus}: cannot read {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CorpusError(
            f"{corpus}: {path} lacks required column(s) {missing}; it has {list(frame.columns)}"
        )
    return frame


def require_dir(corpus: str, path: Path, what: str = "corpus folder") -> Path:
    """``path`` if it is a folder, else a CorpusError naming it and the corpus."""
    if not path.exists():
        raise CorpusError(f"{corpus}: {what} {path} does not exist")
    if not path.is_dir():
        raise CorpusError(f"{corpus}: {what} {path} is not a folder")
    return path


@dataclass(frozen=True)
class LoadContext:
    """What a loader needs: where the corpus is, how to label it and what to do with odd files.

    Attributes:
        corpus: registry name, used as id / speaker prefix and in every message.
        root: absolute corpus folder (or CSV file for the ``csv`` corpus).
        labels: code -> emotion table (defaults updated with the caller's ``label_map``).
        audio_ext: lower-case extensions with a dot.
        on_unknown: ``"error"`` (raise CorpusError) or ``"skip"`` (warn and skip the file).
    """

    corpus: str
    root: Path
    labels: LabelTable
    audio_ext: tuple[str, ...]
    on_unknown: str = "error"

    def __post_init__(self) -> None:
        if self.on_unknown not in ON_UNKNOWN:
            raise ValueError(f"on_unknown must be one of {ON_UNKNOWN}, got {self.on_unknown!r}")

    def reject(self, path: Path | str, problem: str) -> None:
        """Raise CorpusError for ``path`` or, with ``on_unknown="skip"``, warn and let the caller skip it."""
        message = f"{self.corpus}: {path}: {problem}"
        if self.on_unknown == "error":
            raise CorpusError(message + " (to skip such files with a warning: distser extract --skip-unknown-labels, "
                              "or load_corpus(..., on_unknown='skip'))")
        warnings.warn("skipped " + message, CorpusWarning, stacklevel=3)

    def emotion(self, code: str, path: Path | str) -> tuple[bool, str | None]:
        """``(keep, label)`` for a label code; unknown codes go through :meth:`reject` (keep False)."""
        if code not in self.labels:
            self.reject(
                path,
                f"unknown emotion code {code!r}; valid codes: {sorted(self.labels)} "
                f"(label_map={{{code!r}: <emotion or None>}} maps it)",
            )
            return False, None
        label = self.labels[code]
        return label is not None, label

    def find_audio(self, folder: Path) -> list[Path]:
        """Audio files under ``folder`` (recursive, sorted); CorpusError naming it when there are none.

        Hidden files are ignored: macOS copies leave ``._name.wav`` resource forks beside the audio.
        """
        require_dir(self.corpus, folder, "audio folder")
        found = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in self.audio_ext and not p.name.startswith(".") and p.is_file()
        )
        if not found:
            raise CorpusError(
                f"{self.corpus}: no audio files ({', '.join(self.audio_ext)}) found under {folder}"
            )
        return found

    def row(self, file_id: str, path: Path, *, speaker: str | None, label: str | None, **fields) -> dict:
        """One manifest row; ids and speakers get the corpus prefix so corpora never collide."""
        return {
            "utterance_id": f"{self.corpus}/{file_id}",
            "path": str(path),
            "corpus": self.corpus,
            "speaker": None if speaker is None else f"{self.corpus}/{speaker}",
            "label": label,
            **fields,
        }
