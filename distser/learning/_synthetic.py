"""Small synthetic tasks (Gaussian class blobs) for tests, examples and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..arrays import EMOTIONS, CorpusArrays, Task


def synthetic_task(
    corpora: Sequence[str] = ("a", "b", "c"),
    n_train: int = 120,
    n_valid: int = 60,
    n_test: int = 120,
    n_unlabeled: int = 100,
    dim: int = 20,
    separation: Sequence[float] | float = (2.0, 1.2, 0.7),
    soft_labels: bool = True,
    seed: int = 0,
) -> Task:
    """A task whose corpora are Gaussian class blobs of different difficulty.

    Every corpus shares the class means (so there is something to transfer) but has its own offset
    and class separation (``separation[d]``: larger is easier). Labels are balanced-ish random draws.
    Soft labels, when asked for, mix the one-hot label with annotator-like noise.

    Example:
        >>> task = synthetic_task(seed=0)
        >>> task.corpora, task.train["a"].features.shape, len(task.unlabeled)
        (['a', 'b', 'c'], (120, 20), 100)
    """
    rng = np.random.default_rng(seed)
    num_classes = len(EMOTIONS)
    means = rng.normal(size=(num_classes, dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    seps = [separation] * len(corpora) if isinstance(separation, (int, float)) else list(separation)
    if len(seps) < len(corpora):
        seps += [seps[-1]] * (len(corpora) - len(seps))

    def draw(name: str, n: int, sep: float, offset: np.ndarray, labeled: bool = True) -> CorpusArrays:
        labels = rng.integers(0, num_classes, size=n)
        x = rng.normal(size=(n, dim)) + sep * means[labels] + offset
        soft = None
        if soft_labels and labeled:
            votes = rng.dirichlet(np.ones(num_classes), size=n)
            soft = (0.6 * np.eye(num_classes)[labels] + 0.4 * votes).astype(np.float32)
        return CorpusArrays(
            name,
            x.astype(np.float32),
            labels.astype(np.int64) if labeled else np.full(n, -1, dtype=np.int64),
            soft_labels=soft,
        )

    train, valid = {}, {}
    for name, sep in zip(corpora, seps, strict=False):
        offset = 0.3 * rng.normal(size=dim)
        train[name] = draw(name, n_train, sep, offset)
        valid[name] = draw(name, n_valid, sep, offset)
    test = draw("test", n_test, float(np.mean(seps)), 0.3 * rng.normal(size=dim))
    unlabeled = draw("unlabeled", n_unlabeled, 0.5, np.zeros(dim), labeled=False) if n_unlabeled else None
    return Task(train=train, valid=valid, test=test, unlabeled=unlabeled, description={"source": "synthetic"})
