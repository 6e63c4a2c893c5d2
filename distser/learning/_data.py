"""Task helpers of the learning core: merging corpora (method ``merged``) and input checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..arrays import EMOTIONS, CorpusArrays, Task


def concat_corpora(parts: Sequence[CorpusArrays], name: str) -> CorpusArrays:
    """Concatenate corpus portions row-wise, in order, under a new name.

    Soft labels (and ids) are kept only when every part has them.

    Example:
        >>> a = CorpusArrays("a", np.zeros((2, 3), np.float32), np.array([0, 1]))
        >>> b = CorpusArrays("b", np.ones((1, 3), np.float32), np.array([2]))
        >>> merged = concat_corpora([a, b], "ab")
        >>> merged.name, len(merged), merged.labels.tolist()
        ('ab', 3, [0, 1, 2])
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    soft = np.concatenate([p.soft_labels for p in parts]) if all(p.soft_labels is not None for p in parts) else None
    ids = np.concatenate([p.ids for p in parts]) if all(p.ids is not None for p in parts) else None
    return CorpusArrays(
        name=name,
        features=np.concatenate([p.features for p in parts]).astype(np.float32, copy=False),
        labels=np.concatenate([p.labels for p in parts]).astype(np.int64, copy=False),
        soft_labels=soft,
        ids=ids,
    )


def merge_corpora(task: Task, name: str = "merged") -> Task:
    """The task with all training corpora merged into ONE corpus (train and validation alike).

    This is the paper's "merged" baseline (Fig. 2): corpus sizes then act like corpus weights. The
    validation portions are merged as well, so the stopping criterion is the UA of the merged
    validation set (with one corpus, "mean over corpora" is that corpus' UA).

    Example:
        >>> part = CorpusArrays("a", np.zeros((2, 3), np.float32), np.array([0, 1]))
        >>> task = Task({"a": part, "b": part}, {"a": part, "b": part}, test=part)
        >>> merged = merge_corpora(task)
        >>> merged.corpora, len(merged.train["merged"])
        (['merged'], 4)
    """
    return Task(
        train={name: concat_corpora(list(task.train.values()), name)},
        valid={name: concat_corpora(list(task.valid.values()), name)},
        test=task.test,
        unlabeled=task.unlabeled,
        description=dict(task.description),
    )


def check_task(task: Task, batch_size: int) -> None:
    """Raise ``ValueError`` for a task the trainer cannot use, naming the offending corpus."""
    num_classes = len(EMOTIONS)
    dim = task.train[task.corpora[0]].dim
    portions = [("train", p) for p in task.train.values()] + [("valid", p) for p in task.valid.values()]
    portions.append(("test", task.test))
    if task.unlabeled is not None:
        portions.append(("unlabeled", task.unlabeled))
    for role, part in portions:
        if part.dim != dim:
            raise ValueError(f"{role} corpus {part.name!r} has {part.dim} features, expected {dim}")
    for name, part in task.train.items():
        bad = (part.labels < 0) | (part.labels >= num_classes)
        if bad.any():
            raise ValueError(
                f"training corpus {name!r} has {int(bad.sum())} rows with labels outside [0, {num_classes}); "
                "drop unlabeled rows from training portions (use Task.unlabeled for them)"
            )
        if len(part) < batch_size:
            raise ValueError(f"training corpus {name!r} has {len(part)} rows, fewer than one minibatch ({batch_size})")
    for name, part in task.valid.items():
        if not (part.labels >= 0).any():
            raise ValueError(f"validation corpus {name!r} has no labeled rows")
