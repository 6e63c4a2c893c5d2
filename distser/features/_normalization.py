"""How a plan's features are normalised: globally (the paper), per corpus or per speaker, plain or robust.

Cross-corpus emotion recognition moves most when each corpus (or speaker) is normalised by its own
statistics (Schuller et al., IEEE TAC 2010): recording conditions, languages and speakers shift the
features more than emotions do. A :class:`Normalization` says how; :func:`fit_normalizer` fits it on a
plan's rows of a shared :class:`~distser.arrays.FeatureTable`:

- ``global``: one z-normalisation fitted on the pooled training rows (the paper's §3.3; bit for bit
  what distser always did).
- ``corpus``: each training corpus by the statistics of its own training rows (its validation rows
  use the same); the unlabeled corpus by all of its rows; each target — a held-out, test-only or
  held-back corpus — by all of its own rows (features only: labels are never read).
- ``speaker``: each speaker (within a corpus and a part of the plan) by their own rows; a speaker
  with fewer than ``min_speaker_rows`` falls back to their corpus's statistics, as does a row
  without a speaker.

``robust`` uses the median and the interquartile range (divided by 1.349, the IQR of a unit normal,
so it is on a standard deviation's scale) instead of the mean and standard deviation.
``adapt_target = False`` normalises targets with the pooled training rows' statistics instead of
their own, so a study can tell "normalise the training corpora apart" from "adapt to the target".
Every grouping is followed by the usual z-normalisation on the (group-normalised) training rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from distser.arrays import FeatureTable, GroupNormalizer, Normalizer, concat_rows

#: What each kind groups rows by (manifest columns); ``global`` has no first stage.
GROUPINGS: dict[str, tuple[str, ...]] = {"global": (), "corpus": ("corpus",), "speaker": ("corpus", "speaker")}
#: Suffix of a robust variant's name: ``corpus-robust``.
ROBUST = "-robust"
#: How a deployed model may normalise its inputs: by the training statistics, or adapted to them.
ADAPTS = ("none", "corpus", "speaker")
#: Fewest clips a model adapts to (``corpus``): fewer give noise, not a corpus's statistics.
MIN_ADAPT_CLIPS = 10
#: The interquartile range of a standard normal distribution: IQR / 1.349 estimates a standard deviation.
_IQR_OF_NORMAL = 1.349


@dataclass(frozen=True)
class Normalization:
    """One way of normalising a plan's features (see the module docstring).

    Example:
        >>> Normalization.parse("speaker-robust")
        Normalization(kind='speaker', robust=True, adapt_target=True, min_speaker_rows=10)
        >>> Normalization.parse("corpus").name, Normalization().name
        ('corpus', 'global')
    """

    kind: str = "global"
    robust: bool = False
    adapt_target: bool = True
    min_speaker_rows: int = 10

    def __post_init__(self) -> None:
        if self.kind not in GROUPINGS:
            raise ValueError(f"unknown normalisation {self.kind!r}: choose one of {', '.join(normalization_names())}")
        if self.min_speaker_rows < 1:
            raise ValueError(f"min_speaker_rows must be >= 1, got {self.min_speaker_rows}")

    @classmethod
    def parse(cls, name: str, *, adapt_target: bool = True, min_speaker_rows: int = 10) -> Normalization:
        """A normalisation by its name: ``global``, ``corpus``, ``speaker``, each optionally ``-robust``."""
        robust = name.endswith(ROBUST)
        kind = name[: -len(ROBUST)] if robust else name
        if kind not in GROUPINGS:
            raise ValueError(f"unknown normalisation {name!r}: choose one of {', '.join(normalization_names())}")
        return cls(kind, robust, adapt_target, min_speaker_rows)

    @property
    def name(self) -> str:
        return self.kind + (ROBUST if self.robust else "")

    @property
    def grouped(self) -> bool:
        """Whether rows are normalised by group statistics before the final z-normalisation."""
        return self.kind != "global" or self.robust


#: The paper's normalisation (and distser's default).
GLOBAL = Normalization()


def normalization_names() -> list[str]:
    """Every normalisation's name."""
    return [kind + suffix for suffix in ("", ROBUST) for kind in GROUPINGS]


def statistics(features: FeatureTable | np.ndarray, rows: np.ndarray | None = None, *,
               robust: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of ``features[rows]``: mean and std, or median and IQR / 1.349; a zero scale is 1.

    The mean and std are :meth:`Normalizer.fit`'s (chunked, float64); the median needs every row of the
    group at once, so a robust statistic copies its group's rows (at most a corpus).
    """
    if not robust:
        fitted = Normalizer.fit(features, rows)
        return fitted.mean, fitted.std
    table = features if isinstance(features, FeatureTable) else FeatureTable.single(features)
    x = table.gather(np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)).astype(np.float64)
    if len(x) == 0:
        raise ValueError("cannot fit a normaliser on zero rows")
    low, center, high = np.percentile(x, [25, 50, 75], axis=0)
    scale = (high - low) / _IQR_OF_NORMAL
    scale[scale < 1e-8] = 1.0
    return center.astype(np.float32), scale.astype(np.float32)


@dataclass(frozen=True)
class PlanParts:
    """A plan's table rows by part, with each row's corpus and speaker (what a normalisation groups by).

    ``train``/``valid`` map each training corpus to its rows, ``tests`` each target corpus,
    ``unlabeled`` the unlabeled corpus's rows (empty if none). ``speaker`` gives the speaker of
    every table row (None where unknown); labels are not part of it.
    """

    train: Mapping[str, np.ndarray]
    valid: Mapping[str, np.ndarray]
    tests: Mapping[str, np.ndarray]
    unlabeled: tuple[str, np.ndarray] | None
    speaker: np.ndarray


class StatisticsCache:
    """Group statistics already fitted on one table, by the rows they were fitted on.

    The plans of a search fit the same groups again and again (a speaker's rows, a training corpus's
    training rows recur in every plan that trains on it): with a cache each is fitted once. Only valid
    for one table; :class:`~distser.features.TaskLoader` keeps one per table.
    """

    def __init__(self) -> None:
        self._fitted: dict[tuple[bool, int, bytes], tuple[np.ndarray, np.ndarray]] = {}

    def statistics(self, table: FeatureTable, rows: np.ndarray, *, robust: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        key = (robust, len(rows), hashlib.blake2b(rows.data, digest_size=16).digest())
        if key not in self._fitted:
            self._fitted[key] = statistics(table, rows, robust=robust)
        return self._fitted[key]


class _Groups:
    """Collects groups (statistics + the rows they apply to) into one :class:`GroupNormalizer`."""

    def __init__(self, table: FeatureTable, normalization: Normalization, cache: StatisticsCache | None = None) -> None:
        self.table, self.normalization = table, normalization
        self.cache = cache or StatisticsCache()
        self.groups = np.full(len(table), -1, np.int32)
        self.center: list[np.ndarray] = []
        self.scale: list[np.ndarray] = []

    def add(self, fit_rows: np.ndarray, apply_rows: np.ndarray) -> int:
        center, scale = self.cache.statistics(self.table, fit_rows, robust=self.normalization.robust)
        self.center.append(center)
        self.scale.append(scale)
        index = len(self.center) - 1
        self.groups[apply_rows] = index
        return index

    def reuse(self, index: int, apply_rows: np.ndarray) -> None:
        self.groups[apply_rows] = index

    def corpus(self, fit_rows: np.ndarray, apply_rows: np.ndarray, speaker: np.ndarray) -> None:
        """One corpus portion: as a whole, or by speaker (a speaker's own rows of ``fit_rows``)."""
        if len(apply_rows) == 0:
            return
        self.add(fit_rows, apply_rows)  # the corpus's statistics: every row's, unless a speaker has their own
        if self.normalization.kind != "speaker":
            return
        fit_of = _by_speaker(fit_rows, speaker)
        for name, rows in _by_speaker(apply_rows, speaker).items():
            own = fit_of.get(name, rows)  # a speaker with no fitting rows (validation only) fits on their own
            if name is None or len(own) < self.normalization.min_speaker_rows:
                continue  # too few rows for their own statistics: the corpus's (set above)
            self.add(own, rows)

    def normalizer(self, train_rows: np.ndarray, pooled: int) -> GroupNormalizer:
        center, scale = np.stack(self.center), np.stack(self.scale)
        stage_one = GroupNormalizer(self.groups, center, scale, _identity(self.table.dim), pooled)
        final = Normalizer.fit(self.table, train_rows, transform=stage_one.first_stage)
        return GroupNormalizer(self.groups, center, scale, final, pooled)


def _identity(dim: int) -> Normalizer:
    return Normalizer(np.zeros(dim, np.float32), np.ones(dim, np.float32))


def _by_speaker(rows: np.ndarray, speaker: np.ndarray) -> dict[str | None, np.ndarray]:
    """``rows`` by their speaker (None: unknown), each in the order given."""
    names = speaker[rows]
    out: dict[str | None, list[int]] = {}
    for row, name in zip(rows.tolist(), names.tolist(), strict=True):
        out.setdefault(name if isinstance(name, str) and name else None, []).append(row)
    return {name: np.asarray(found, dtype=np.int64) for name, found in out.items()}


def fit_normalizer(table: FeatureTable, parts: PlanParts, normalization: Normalization = GLOBAL,
                   cache: StatisticsCache | None = None) -> Normalizer | GroupNormalizer:
    """The normaliser of one plan (see the module docstring): ``global`` gives the paper's :class:`Normalizer`.

    ``cache`` (for ``table``) lets the plans of one search share the group statistics they have in common.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> table = FeatureTable.single(np.concatenate([rng.normal(0, 1, (20, 2)), rng.normal(5, 3, (20, 2))]
        ...                                            ).astype(np.float32))
        >>> parts = PlanParts(train={"a": np.arange(0, 10)}, valid={"a": np.arange(10, 20)},
        ...                   tests={"b": np.arange(20, 40)}, unlabeled=None, speaker=np.full(40, None))
        >>> norm = fit_normalizer(table, parts, Normalization("corpus"))
        >>> x = norm.apply(table.gather(np.arange(20, 40)), np.arange(20, 40))
        >>> bool(abs(x.mean()) < 0.2)  # the target, by its own statistics, is centred too
        True
    """
    train_rows = concat_rows(parts.train)
    if not normalization.grouped:
        return Normalizer.fit(table, train_rows)
    groups = _Groups(table, normalization, cache)
    if normalization.kind == "global":  # robust: one group, the pooled training rows, for every row
        pooled = groups.add(train_rows, concat_rows([*parts.train.values(), *parts.valid.values(),
                                                    *parts.tests.values(),
                                                    *([parts.unlabeled[1]] if parts.unlabeled else [])]))
        return groups.normalizer(train_rows, pooled)
    for corpus, rows in parts.train.items():
        groups.corpus(rows, np.concatenate([rows, parts.valid[corpus]]), parts.speaker)
    if parts.unlabeled is not None:
        groups.corpus(parts.unlabeled[1], parts.unlabeled[1], parts.speaker)
    pooled = groups.add(train_rows, np.zeros(0, np.int64))
    for rows in parts.tests.values():
        if normalization.adapt_target:
            groups.corpus(rows, rows, parts.speaker)
        else:
            groups.reuse(pooled, rows)
    return groups.normalizer(train_rows, pooled)


def normalize_target(features: np.ndarray, normalization: Normalization,
                     speaker: np.ndarray | None = None) -> np.ndarray:
    """The first stage of ``normalization`` for rows that are one target corpus, fitted on themselves.

    What :func:`fit_normalizer` does with a plan's target (``speaker``: each row's speaker, None
    where unknown), for rows that arrive without a plan: a model adapting to the clips it is given.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    rows = np.arange(len(features), dtype=np.int64)
    table = FeatureTable.single(features)
    groups = _Groups(table, normalization)
    groups.corpus(rows, rows, np.full(len(rows), None, dtype=object) if speaker is None else speaker)
    stage_one = GroupNormalizer(groups.groups, np.stack(groups.center), np.stack(groups.scale), _identity(table.dim))
    return stage_one.first_stage(features, rows)


def share_statistics(normalizers: list[GroupNormalizer]) -> list[GroupNormalizer]:
    """The same normalisers with one statistics table between them: every distinct group once.

    A search fits a normaliser per plan, and most groups recur across plans (a speaker's own statistics,
    a training corpus's training rows in every plan that trains on it). Sharing one table (the same
    arrays, which pickling then sends once) keeps what every trial receives from growing with
    plans x speakers.
    """
    if not normalizers:
        return []
    center = np.concatenate([n.center for n in normalizers])
    scale = np.concatenate([n.scale for n in normalizers])
    keys = np.ascontiguousarray(np.concatenate([center, scale], axis=1))
    _, first, inverse = np.unique(keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel(),
                                  return_index=True, return_inverse=True)
    center, scale = center[first], scale[first]
    shared, offset = [], 0
    for normalizer in normalizers:
        remap = inverse[offset:offset + len(normalizer.center)].astype(np.int32)
        offset += len(normalizer.center)
        groups = np.where(normalizer.groups >= 0, remap[np.maximum(normalizer.groups, 0)], -1).astype(np.int32)
        shared.append(GroupNormalizer(groups, center, scale, normalizer.final, int(remap[normalizer.pooled])))
    return shared
