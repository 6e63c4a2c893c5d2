"""Input checks of the learning core: a task the trainer cannot use fails early, naming the culprit."""

from __future__ import annotations

from ..arrays import EMOTIONS, IndexedTask
from .methods import Method


def check_task(task: IndexedTask, batch_size: int, method: Method) -> None:
    """Raise ``ValueError`` for a task ``method`` cannot train on, naming the offending corpus."""
    num_classes = len(EMOTIONS)
    table = task.table
    if task.normalizer is not None and task.normalizer.dim != table.dim:
        raise ValueError(f"the normaliser has {task.normalizer.dim} features, the table {table.dim}")
    portions = [("train", task.train), ("valid", task.valid), ("test", task.tests)]
    for role, parts in portions:
        for name, rows in parts.items():
            if len(rows) and (rows.min() < 0 or rows.max() >= len(table)):
                raise ValueError(f"{role} corpus {name!r} has rows outside the feature table (0..{len(table) - 1})")
    for name, rows in task.train.items():
        labels = table.labels[rows]
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise ValueError(
                f"training corpus {name!r} has {int(bad.sum())} rows with labels outside [0, {num_classes}); "
                "drop unlabeled rows from training portions (use the task's unlabeled corpus for them)"
            )
        if len(rows) < batch_size:
            raise ValueError(f"training corpus {name!r} has {len(rows)} rows, fewer than one minibatch ({batch_size})")
    for name, rows in task.valid.items():
        if not (table.labels[rows] >= 0).any():
            raise ValueError(f"validation corpus {name!r} has no labeled rows")
    if method.needs_unlabeled and (task.unlabeled is None or len(task.unlabeled) == 0):
        raise ValueError(f"method {method.name!r} needs an unlabeled corpus, but the task has none")
