"""The in-memory contract between the data layer and the learning core.

The data layer (``distser.features`` + ``distser.protocols``) produces a :class:`Task`;
the learning core (``distser.learning``) consumes one. Nothing here imports Ray, MLflow or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The four emotion classes of the benchmark, in label-index order.
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")

#: Label value of an utterance without an emotion label (e.g. LibriSpeech).
UNLABELED = -1


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
    """Everything one training run needs: per-corpus train/validation arrays and a test set.

    ``train`` and ``valid`` have the same keys (the training corpora, in a fixed order).
    ``unlabeled`` is the corpus used for pseudo-emotion labels or the autoencoder, if any.
    """

    train: dict[str, CorpusArrays]
    valid: dict[str, CorpusArrays]
    test: CorpusArrays
    unlabeled: CorpusArrays | None = None
    description: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.train) != list(self.valid):
            raise ValueError(f"train corpora {list(self.train)} differ from validation corpora {list(self.valid)}")
        if not self.train:
            raise ValueError("a task needs at least one training corpus")

    @property
    def corpora(self) -> list[str]:
        return list(self.train)

    @property
    def dim(self) -> int:
        return self.test.dim
