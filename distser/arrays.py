"""The in-memory contract between the data layer and the learning core.

The data layer (``distser.features`` + ``distser.protocols``) produces tasks; the learning core
(``distser.learning``) consumes them. Two shapes of the same thing:

- :class:`Task`: every corpus portion as its own (already normalised) arrays. Easy to build by hand,
  what tests, examples and small scripts use.
- :class:`IndexedTask`: row indices into one shared, raw :class:`FeatureTable` plus the
  :class:`Normalizer` of the task's training rows, applied per minibatch. Many tasks (every held-out
  corpus, seed and hyperparameter of a search) share one table without copying it, so memory does
  not grow with them. The trainer works on this shape; it turns a :class:`Task` into it.

Nothing here imports Ray, MLflow or torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The four emotion classes of the benchmark, in label-index order.
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")

#: Label value of an utterance without an emotion label (e.g. LibriSpeech).
UNLABELED = -1

#: Bytes of float64 values per chunk when statistics run over many rows (bounds the temporary memory).
#: In bytes, not rows: 8192 rows of ComParE_2016's 6373 features made a driver's fit hold ~1 GB of
#: temporaries (the float32 rows, their float64 copy, the deviations), most of the features' own size.
CHUNK_BYTES = 64 * 2**20


def chunk_rows(dim: int) -> int:
    """Rows per chunk of ``dim`` features: at most :data:`CHUNK_BYTES` of float64 values, at least one row."""
    return max(1, CHUNK_BYTES // (8 * max(dim, 1)))


@dataclass(frozen=True)
class CorpusArrays:
    """Features and labels of one corpus portion (e.g. CREMA-D's training split).

    Attributes:
        name: corpus name, e.g. ``"crema-d"``.
        features: float32 array of shape ``(n, dim)``.
        labels: int64 array of shape ``(n,)``: index into :data:`EMOTIONS`, or :data:`UNLABELED`.
        soft_labels: optional float32 ``(n, len(EMOTIONS))`` annotator vote distributions
            (rows sum to 1; NaN rows where a clip has no votes).
        ids: optional utterance ids, shape ``(n,)``.

    Example:
        >>> import numpy as np
        >>> part = CorpusArrays("toy", np.zeros((2, 3), np.float32), np.array([0, 3]))
        >>> len(part), part.dim
        (2, 3)
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    soft_labels: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.features.ndim != 2:
            raise ValueError(f"{self.name}: features must be 2-D, got shape {self.features.shape}")
        if self.labels.shape != (len(self.features),):
            raise ValueError(
                f"{self.name}: labels shape {self.labels.shape} does not match {len(self.features)} rows"
            )
        if self.soft_labels is not None and self.soft_labels.shape != (len(self.features), len(EMOTIONS)):
            raise ValueError(f"{self.name}: soft_labels shape {self.soft_labels.shape} is not (n, 4)")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


@dataclass(frozen=True)
class Task:
    """Everything one training run needs, as one array set per corpus portion.

    ``train`` and ``valid`` have the same keys (the training corpora, in a fixed order). ``test`` is
    the held-out corpus (None when a model is trained on every corpus of a pool; within-corpus folds
    test other speakers of their training corpus); ``test_only`` are
    further corpora that are only evaluated, never trained or validated on. ``unlabeled`` is the
    corpus used for pseudo-emotion labels or the autoencoder, if any.
    """

    train: dict[str, CorpusArrays]
    valid: dict[str, CorpusArrays]
    test: CorpusArrays | None = None
    unlabeled: CorpusArrays | None = None
    description: dict[str, str] = field(default_factory=dict)
    test_only: dict[str, CorpusArrays] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.train) != list(self.valid):
            raise ValueError(f"train corpora {list(self.train)} differ from validation corpora {list(self.valid)}")
        if not self.train:
            raise ValueError("a task needs at least one training corpus")

    @property
    def corpora(self) -> list[str]:
        return list(self.train)

    @property
    def tests(self) -> dict[str, CorpusArrays]:
        """Every evaluated corpus: the held-out one first, then the test-only ones."""
        return ({self.test.name: self.test} if self.test is not None else {}) | dict(self.test_only)

    @property
    def dim(self) -> int:
        return self.train[self.corpora[0]].dim


@dataclass(frozen=True)
class Normalizer:
    """z-normalisation (§3.3) fitted on training features only, applied to everything else.

    Example:
        >>> x = np.array([[1.0, 5.0], [3.0, 5.0]], np.float32)
        >>> norm = Normalizer.fit(x)
        >>> norm(x).tolist()  # the constant second feature stays centred at 0
        [[-1.0, 0.0], [1.0, 0.0]]
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray | FeatureTable, rows: np.ndarray | None = None, *,
            transform: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Normalizer:
        """Mean and standard deviation (float64 accumulation) of ``features[rows]`` (all rows by default).

        Reads :func:`chunk_rows` rows at a time, so fitting on a shared table copies no more than a
        chunk. The result is bit-identical to ``np.mean/np.std(axis=0, dtype=float64)`` over the
        gathered rows: numpy reduces axis 0 row after row, and each chunk continues that sum by
        starting from the previous chunks' total as its first row. ``transform(chunk, rows)``, if
        given, is applied to each gathered chunk first (a :class:`GroupNormalizer`'s first stage).
        """
        table = features if isinstance(features, FeatureTable) else FeatureTable.single(features)
        rows = np.arange(len(table), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise ValueError("cannot fit a normaliser on zero rows")

        step = chunk_rows(table.dim)

        def chunk(start: int) -> np.ndarray:
            part = rows[start:start + step]
            x = table.gather(part)
            return x if transform is None else transform(x, part)

        total = np.zeros(table.dim)
        for start in range(0, len(rows), step):
            total = np.add.reduce(np.vstack([total[None], chunk(start)]), axis=0)
        mean = total / len(rows)
        squares = np.zeros(table.dim)
        for start in range(0, len(rows), step):
            deviation = chunk(start) - mean
            np.multiply(deviation, deviation, out=deviation)
            squares = np.add.reduce(np.vstack([squares[None], deviation]), axis=0)
        std = np.sqrt(squares / len(rows))
        # Constant features (std 0) would divide by zero; leave them centred at 0 instead.
        std[std < 1e-8] = 1.0
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(np.size(self.mean))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32, copy=False)

    def apply(self, features: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The same as calling it: one normaliser for every row (``rows`` is ignored)."""
        return self(features)


@dataclass(frozen=True)
class GroupNormalizer:
    """Each group of rows (a corpus, a speaker) by its own statistics, then one :class:`Normalizer`.

    Stage 1 centres and scales table row ``r`` by the statistics of its group ``groups[r]``
    (``center``/``scale``, one row per group); stage 2, ``final``, is the usual z-normalisation,
    fitted on the training rows after stage 1. ``groups`` covers the whole table, -1 for rows the
    task never reads (reading one is an error). ``pooled`` is the group of the pooled training rows'
    statistics: what a corpus not adapted to is normalised with (it may have no rows of its own).
    Built by :mod:`distser.features`, which knows corpora and speakers; nothing here does.

    Example:
        >>> x = np.array([[1.0], [3.0], [10.0], [30.0]], np.float32)
        >>> groups = np.array([0, 0, 1, 1], np.int32)
        >>> center, scale = np.array([[2.0], [20.0]], np.float32), np.array([[1.0], [10.0]], np.float32)
        >>> norm = GroupNormalizer(groups, center, scale, Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32)))
        >>> norm.apply(x, np.arange(4)).ravel().tolist()
        [-1.0, 1.0, -1.0, 1.0]
    """

    groups: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    final: Normalizer
    pooled: int = 0

    def __post_init__(self) -> None:
        if self.center.shape != self.scale.shape or self.center.ndim != 2:
            raise ValueError(f"group statistics must be (groups, dim), got {self.center.shape} and {self.scale.shape}")
        if self.center.shape[1] != self.final.dim:
            raise ValueError(f"group statistics have {self.center.shape[1]} features, the final normaliser "
                             f"{self.final.dim}")
        if len(self.groups) and int(self.groups.max()) >= len(self.center):
            raise ValueError(f"group index {int(self.groups.max())} has no statistics ({len(self.center)} groups)")

    @property
    def dim(self) -> int:
        return self.final.dim

    def group_of(self, rows: np.ndarray) -> np.ndarray:
        """The group of each table row; ValueError for a row without one."""
        groups = self.groups[np.asarray(rows, dtype=np.int64)]
        if len(groups) and groups.min() < 0:
            bad = np.asarray(rows)[groups < 0][:3].tolist()
            raise ValueError(f"table rows {bad} belong to no normalisation group of this task")
        return groups

    def first_stage(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Stage 1 only: each row by its group's statistics."""
        groups = self.group_of(rows)
        return ((features - self.center[groups]) / self.scale[groups]).astype(np.float32, copy=False)

    def apply(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Both stages of ``features``, the table's rows ``rows`` (row-aligned)."""
        return self.final(self.first_stage(features, rows))


@dataclass(frozen=True)
class FeatureTable:
    """Raw float32 features of many utterances, in row blocks that may be read-only shared memory.

    Each block is a ``(rows, dim)`` float32 array; row ``r`` of the table is row ``r - start`` of the
    block it falls in. In a search the blocks are views of Ray's object store, one per feature shard,
    shared by every trial on a node; nothing here copies them except :meth:`gather`, which copies
    only the rows asked for.

    Example:
        >>> table = FeatureTable((np.zeros((2, 3), np.float32), np.ones((1, 3), np.float32)),
        ...                      labels=np.array([0, 1, 2]))
        >>> len(table), table.gather(np.array([2, 0]))[:, 0].tolist()
        (3, [1.0, 0.0])
    """

    blocks: tuple[np.ndarray, ...]
    labels: np.ndarray
    soft_labels: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("a feature table needs at least one block")
        dims = {int(b.shape[1]) if b.ndim == 2 else -1 for b in self.blocks}
        if len(dims) != 1 or -1 in dims:
            raise ValueError(f"feature blocks must be 2-D with one width, got shapes {[b.shape for b in self.blocks]}")
        if any(b.dtype != np.float32 for b in self.blocks):
            raise ValueError("feature blocks must be float32")
        n = sum(len(b) for b in self.blocks)
        if self.labels.shape != (n,):
            raise ValueError(f"labels shape {self.labels.shape} does not match the table's {n} rows")
        if self.soft_labels is not None and self.soft_labels.shape != (n, len(EMOTIONS)):
            raise ValueError(f"soft_labels shape {self.soft_labels.shape} is not ({n}, {len(EMOTIONS)})")
        object.__setattr__(self, "_starts", np.cumsum([0] + [len(b) for b in self.blocks])[:-1])

    @classmethod
    def single(cls, features: np.ndarray, labels: np.ndarray | None = None) -> FeatureTable:
        """A one-block table (labels default to :data:`UNLABELED`)."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        return cls((features,), np.full(len(features), UNLABELED, np.int64) if labels is None else labels)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.blocks[0].shape[1])

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block number and row within that block of each table row."""
        block = np.searchsorted(self._starts, rows, side="right") - 1
        return block, rows - self._starts[block]

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """A new float32 array of the given rows, in order."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.blocks) == 1:
            return np.take(self.blocks[0], rows, axis=0)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        block, local = self.locate(rows)
        for b in np.unique(block):
            where = np.flatnonzero(block == b)
            out[where] = np.take(self.blocks[b], local[where], axis=0)
        return out


@dataclass(frozen=True)
class IndexedTask:
    """A task as row indices into a shared :class:`FeatureTable`, normalised per minibatch.

    ``train``/``valid`` map each training corpus to its rows; ``tests`` maps each evaluated corpus to
    its rows (the held-out corpus ``holdout`` first, when there is one). ``normalizer`` is applied to
    every row the trainer reads (None: the table is already normalised); a :class:`GroupNormalizer`
    normalises each corpus or speaker by its own statistics first.
    """

    table: FeatureTable
    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    tests: dict[str, np.ndarray] = field(default_factory=dict)
    holdout: str | None = None
    unlabeled: np.ndarray | None = None
    unlabeled_name: str | None = None
    normalizer: Normalizer | GroupNormalizer | None = None
    description: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.train) != list(self.valid):
            raise ValueError(f"train corpora {list(self.train)} differ from validation corpora {list(self.valid)}")
        if not self.train:
            raise ValueError("a task needs at least one training corpus")
        if self.holdout is not None and next(iter(self.tests), None) != self.holdout:
            raise ValueError(f"the held-out corpus {self.holdout!r} must be the first of tests {list(self.tests)}")

    @property
    def corpora(self) -> list[str]:
        return list(self.train)

    @property
    def dim(self) -> int:
        return self.table.dim

    def features(self, rows: np.ndarray) -> np.ndarray:
        """Normalised features of ``rows`` (a new array)."""
        x = self.table.gather(rows)
        return x if self.normalizer is None else self.normalizer.apply(x, rows)

    def arrays(self, name: str, rows: np.ndarray) -> CorpusArrays:
        """One portion as ordinary, normalised arrays (copies: for small portions and inspection)."""
        table = self.table
        soft = None if table.soft_labels is None else table.soft_labels[rows]
        return CorpusArrays(name, self.features(rows), table.labels[rows],
                            None if soft is None or np.isnan(soft).all() else soft,
                            None if table.ids is None else table.ids[rows])

    def to_task(self) -> Task:
        """The same task as ordinary arrays (copies everything; the inverse of :func:`index_task`)."""
        tests = {name: self.arrays(name, rows) for name, rows in self.tests.items()}
        return Task(
            train={c: self.arrays(c, rows) for c, rows in self.train.items()},
            valid={c: self.arrays(c, rows) for c, rows in self.valid.items()},
            test=tests.pop(self.holdout) if self.holdout is not None else None,
            unlabeled=(self.arrays(self.unlabeled_name or "unlabeled", self.unlabeled)
                       if self.unlabeled is not None else None),
            description=dict(self.description),
            test_only=tests,
        )


def index_task(task: Task | IndexedTask) -> IndexedTask:
    """An :class:`IndexedTask` view of ``task``: an ordinary task's portions become one table block.

    Example:
        >>> a = CorpusArrays("a", np.zeros((2, 3), np.float32), np.array([0, 1]))
        >>> t = CorpusArrays("t", np.ones((1, 3), np.float32), np.array([2]))
        >>> indexed = index_task(Task({"a": a}, {"a": a}, test=t))
        >>> indexed.train["a"].tolist(), indexed.tests["t"].tolist(), indexed.holdout, len(indexed.table)
        ([0, 1], [4], 't', 5)
    """
    if isinstance(task, IndexedTask):
        return task
    portions: list[tuple[str, str, CorpusArrays]] = [("train", c, p) for c, p in task.train.items()]
    portions += [("valid", c, p) for c, p in task.valid.items()]
    portions += [("test", c, p) for c, p in task.tests.items()]
    if task.unlabeled is not None:
        portions.append(("unlabeled", task.unlabeled.name, task.unlabeled))
    dims = {p.dim for _, _, p in portions}
    if len(dims) != 1:
        first = portions[0][2]
        role, name, bad = next((r, n, p) for r, n, p in portions if p.dim != first.dim)
        raise ValueError(f"{role} corpus {name!r} has {bad.dim} features, expected {first.dim}")
    soft = None
    if any(p.soft_labels is not None for _, _, p in portions):
        soft = np.concatenate([p.soft_labels if p.soft_labels is not None
                               else np.full((len(p), len(EMOTIONS)), np.nan, np.float32) for _, _, p in portions])
    table = FeatureTable(
        (np.ascontiguousarray(np.concatenate([p.features for _, _, p in portions]), dtype=np.float32),),
        labels=np.concatenate([p.labels for _, _, p in portions]).astype(np.int64),
        soft_labels=None if soft is None else soft.astype(np.float32),
    )
    rows: dict[str, dict[str, np.ndarray]] = {"train": {}, "valid": {}, "test": {}, "unlabeled": {}}
    start = 0
    for role, name, part in portions:
        rows[role][name] = np.arange(start, start + len(part), dtype=np.int64)
        start += len(part)
    return IndexedTask(
        table=table,
        train=rows["train"],
        valid=rows["valid"],
        tests=rows["test"],
        holdout=task.test.name if task.test is not None else None,
        unlabeled=next(iter(rows["unlabeled"].values()), None),
        unlabeled_name=task.unlabeled.name if task.unlabeled is not None else None,
        description=dict(task.description),
    )


def concat_rows(parts: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> np.ndarray:
    """Row indices of several portions, concatenated in order."""
    values = list(parts.values()) if isinstance(parts, Mapping) else list(parts)
    return np.concatenate(values).astype(np.int64, copy=False) if values else np.zeros(0, np.int64)
