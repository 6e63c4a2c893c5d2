"""The corpus registry and the public entry points ``load_corpus`` / ``load_corpora``.

Each corpus is one private module with a ``load(ctx) -> list[dict]`` function; this module only
wires names to loaders, merges ``label_map`` into the default tables and builds the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from distser.corpora import (
    _cremad,
    _csv,
    _emodb,
    _iemocap,
    _labels,
    _librispeech,
    _msp_improv,
    _msp_podcast,
    _ravdess,
    _savee,
    _tess,
)
from distser.corpora._common import DEFAULT_AUDIO_EXT, LoadContext, merge_labels, normalize_ext
from distser.corpora._labels import LabelTable
from distser.corpora._names import CORPUS_NAMES
from distser.corpora._schema import MANIFEST_COLUMNS, CorpusError, make_manifest


@dataclass(frozen=True)
class LoaderInfo:
    """A registered corpus.

    Attributes:
        name: registry name (``"crema-d"``), also the ``corpus`` column and id prefix.
        load: ``load(ctx) -> list[dict]`` manifest rows.
        description: one line: what the corpus is and which layout the loader reads.
        labels: default code -> emotion table (empty for unlabeled corpora).
        audio_ext: default audio extensions.
        root_is_file: True when ``root`` is a file (the ``csv`` corpus), not a folder.
    """

    name: str
    load: Callable[[LoadContext], list[dict]]
    description: str
    labels: LabelTable
    audio_ext: tuple[str, ...] = DEFAULT_AUDIO_EXT
    root_is_file: bool = False

    @property
    def labeled(self) -> bool:
        """False for corpora without emotion labels (LibriSpeech)."""
        return bool(self.labels)


def _info(name: str, module, description: str, labels: LabelTable, **kw) -> tuple[str, LoaderInfo]:
    return name, LoaderInfo(name, module.load, description, labels, **kw)


#: Registered corpora, by name.
CORPORA: dict[str, LoaderInfo] = dict(
    [
        _info("ravdess", _ravdess, "RAVDESS: Actor_NN/03-01-EE-II-SS-RR-AA.{wav,flac}", _labels.RAVDESS),
        _info("tess", _tess, "TESS: {OAF,YAF}_<emotion>/<SPK>_<word>_<emotion>.{wav,flac}", _labels.TESS),
        _info("savee", _savee, "SAVEE: ALL/<SPK>_<code><NN> or AudioData/<SPK>/<code><NN>", _labels.SAVEE),
        _info("emodb", _emodb, "EmoDB: wav/<SS><TTT><E><v>.{wav,flac} (German)", _labels.EMODB),
        _info(
            "librispeech",
            _librispeech,
            "LibriSpeech (unlabeled): <subset>/[<spk>/[<chapter>/]]<spk>-<chapter>-<utt>.flac + SPEAKERS.TXT",
            _labels.LIBRISPEECH,
            audio_ext=(".flac", ".wav"),
        ),
        _info(
            "crema-d",
            _cremad,
            "CREMA-D: AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav"
            " (+ VideoDemographics.csv, processedResults/tabulatedVotes.csv)",
            _labels.CREMA_D,
        ),
        _info(
            "iemocap",
            _iemocap,
            "IEMOCAP: Session*/sentences/wav/<dialog>/<utt>.wav + Session*/dialog/EmoEvaluation/*.txt",
            _labels.IEMOCAP,
        ),
        _info(
            "msp-improv",
            _msp_improv,
            "MSP-IMPROV: Audio/session*/<scenario>/<type>/MSP-IMPROV-*.wav + Evaluation.txt",
            _labels.MSP_IMPROV,
        ),
        _info(
            "msp-podcast",
            _msp_podcast,
            "MSP-Podcast v1.8: Audios/<file>.wav + Labels/labels_consensus.csv",
            _labels.MSP_PODCAST,
        ),
        _info(
            "csv",
            _csv,
            "generic manifest CSV (root = the .csv file): path, corpus, speaker, label [, ...]",
            _labels.CSV,
            root_is_file=True,
        ),
    ]
)


if tuple(CORPORA) != CORPUS_NAMES:  # the light list --help shows must name exactly these
    raise RuntimeError(f"distser.corpora._names.CORPUS_NAMES {CORPUS_NAMES} differs from the registry {tuple(CORPORA)}")


def _lookup(name: str) -> LoaderInfo:
    info = CORPORA.get(name.strip().lower())
    if info is None:
        raise CorpusError(f"unknown corpus {name!r}; registered: {sorted(CORPORA)}")
    return info


def load_corpus(
    name: str,
    root: str | Path,
    *,
    label_map: Mapping[str, str | None] | None = None,
    audio_ext: Sequence[str] | None = None,
    on_unknown: str = "error",
) -> pd.DataFrame:
    """Load one corpus into a manifest with exactly the columns of :data:`MANIFEST_COLUMNS`.

    Args:
        name: a key of :data:`CORPORA` (case-insensitive), e.g. ``"ravdess"``, ``"crema-d"``.
        root: the corpus folder (for ``"csv"``: the CSV file). Relative paths are taken from the
            current directory; the manifest's paths are absolute.
        label_map: entries that replace or add to the corpus's default code -> emotion table
            (``CORPORA[name].labels``); value None drops the code. Codes mapped to None are dropped
            silently; codes missing from the table are rejected (see ``on_unknown``).
        audio_ext: audio extensions to search (default ``CORPORA[name].audio_ext``).
        on_unknown: ``"error"`` (default) raises CorpusError for a file whose name does not parse,
            whose label code is unknown or that has no label entry; ``"skip"`` skips it with a
            :class:`CorpusWarning` naming the file.

    Raises:
        CorpusError: unknown corpus name, missing folder or label file, malformed label file, no
            audio found, unknown code (with ``on_unknown="error"``); the message names the culprit.
        ValueError: bad ``label_map`` value, ``on_unknown`` or a ``label_map`` for an unlabeled corpus.

    Example:
        >>> frame = load_corpus("emodb", "../shared/corpora/emodb")  # doctest: +SKIP
        >>> frame["label"].value_counts().to_dict()  # doctest: +SKIP
        {'angry': 127, 'neutral': 79, 'happy': 71, 'sad': 62}
    """
    info = _lookup(name)
    if label_map and not info.labeled:
        raise ValueError(f"{info.name} has no emotion labels; label_map does not apply to it")
    path = Path(root).expanduser().resolve()
    if not path.exists():
        what = "manifest CSV" if info.root_is_file else "corpus folder"
        raise CorpusError(f"{info.name}: {what} {path} does not exist")
    if not info.root_is_file and not path.is_dir():
        raise CorpusError(f"{info.name}: corpus folder {path} is not a folder")
    ctx = LoadContext(
        corpus=info.name,
        root=path,
        labels=merge_labels(info.name, info.labels, label_map),
        audio_ext=normalize_ext(audio_ext, info.audio_ext),
        on_unknown=on_unknown,
    )
    return make_manifest(info.load(ctx), info.name)


def parse_corpus_spec(spec: str) -> tuple[str, Path]:
    """Split a CLI spec ``NAME=PATH`` into the registered name and the path.

    >>> parse_corpus_spec("RAVDESS=../shared/corpora/ravdess")
    ('ravdess', PosixPath('../shared/corpora/ravdess'))
    """
    name, sep, root = spec.partition("=")
    if not sep or not name.strip() or not root.strip():
        raise CorpusError(f"corpus spec {spec!r} is not NAME=PATH (e.g. ravdess=../shared/corpora/ravdess)")
    return _lookup(name).name, Path(root.strip()).expanduser()


def load_corpora(
    specs: Iterable[str | tuple[str, str | Path]],
    *,
    on_unknown: str = "error",
) -> pd.DataFrame:
    """Concatenate the manifests of several corpora (``"name=path"`` strings or ``(name, path)`` pairs).

    Every corpus uses its default label table; call :func:`load_corpus` per corpus for ``label_map``.

    Example:
        >>> specs = ["ravdess=../shared/corpora/ravdess", ("tess", "../shared/corpora/tess")]
        >>> frame = load_corpora(specs)  # doctest: +SKIP
        >>> sorted(frame["corpus"].unique())  # doctest: +SKIP
        ['ravdess', 'tess']
    """
    pairs = [parse_corpus_spec(s) if isinstance(s, str) else (s[0], Path(s[1])) for s in specs]
    if not pairs:
        raise ValueError("load_corpora needs at least one corpus spec")
    frames = [load_corpus(name, root, on_unknown=on_unknown) for name, root in pairs]
    non_empty = [f for f in frames if len(f)] or frames[:1]
    # Concatenating empty frames would turn their all-None columns into float NaN columns.
    frame = pd.concat(non_empty, ignore_index=True) if len(non_empty) > 1 else non_empty[0]
    duplicated = frame["utterance_id"].duplicated()
    if duplicated.any():
        raise CorpusError(
            f"utterance id {frame.loc[duplicated, 'utterance_id'].iloc[0]!r} occurs twice: "
            "is a corpus listed twice?"
        )
    frame = frame[list(MANIFEST_COLUMNS)]
    return frame.sort_values("utterance_id", kind="stable").reset_index(drop=True)
