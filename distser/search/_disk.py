"""The disk under a search's storage: a free-space estimate before it starts, a full disk while it runs.

A full disk is a search-level error, not a trial's: every trial would fail the same way, and Tune would
retry each as if its node had died. A trial that hits it removes its half-copied checkpoint, reports
``disk_full`` and waits; :func:`watcher` then interrupts the experiment as Ctrl+C does, and the search
ends with one :class:`DiskFull` line naming the folder and its free space (its runs FAILED), resumable
once there is room.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from distser.config import ConfigError

#: A trial's resumable checkpoint holds the weights, Adam's two moments and the best epoch's weights.
TRAINER_STATE_COPIES = 4
#: Key of a trial's report when its disk was full (the folder it could not write).
DISK_FULL = "disk_full"
_MESSAGES = ("no space left on device", "errno 28", "database or disk is full", "disk quota exceeded")


class DiskFull(Exception):
    """The disk under ``path`` is full: the search stopped."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no space left on the device of {path} ({free_space(path)} free): the search stopped, "
                         "its runs ended FAILED; free some space (or move --storage), then continue it")


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or an error it was raised from) is a full disk or quota, as OSError, pyarrow or SQLite say."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(message in str(error).lower() for message in _MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def free_space(path: str) -> str:
    """Free space of the device holding ``path`` (its nearest existing folder), e.g. ``'1.2 MB'``; '?' if unknown."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return _mb(shutil.disk_usage(folder).free)
    except OSError:
        return "?"


def watcher():
    """A Tune callback that stops the experiment, as Ctrl+C does, once a trial reports a full disk.

    As Ctrl+C, not as a stopper: the trials keep their state (running, pending) and the search resumes
    them from their last checkpoints once there is room; a stopper would end them as if complete.
    """
    import signal

    from ray.tune import Callback

    class DiskFullWatch(Callback):
        def __init__(self) -> None:
            self.interrupted = False

        def __getstate__(self) -> dict:  # Tune pickles its callbacks into the experiment state (for resume)
            return {"interrupted": False}

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if result.get(DISK_FULL) and not self.interrupted:
                self.interrupted = True  # once: a second SIGINT would make Tune stop at once, without its state
                os.kill(os.getpid(), signal.SIGINT)

    return DiskFullWatch()


def disk_full_in(results) -> str | None:
    """The folder a trial of a Tune ResultGrid could not write for a full disk, if any."""
    for result in results:
        where = (result.metrics or {}).get(DISK_FULL)
        if where:
            return str(where)
    return None


def model_bytes(dim: int, hidden: list[int], classes: int = 4) -> int:
    """float32 weights and biases of the classifier: ``dim`` -> ``hidden`` -> ``classes``."""
    sizes = [dim, *hidden, classes]
    return 4 * sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))


def disk_estimate(trials: int, studies: int, model: int, concurrent: int) -> tuple[int, int]:
    """(bytes the first wave of trials needs, bytes the whole search may need) under the storage.

    Tune keeps each trial's last checkpoint: a trainer state while it trains, its best weights once it
    ended (deleted at the end unless ``tracking.keep_checkpoints``); each study registers one model.

    Example:
        >>> disk_estimate(trials=10, studies=1, model=1000, concurrent=2)
        (8000, 19000)
    """
    first = min(concurrent, trials) * TRAINER_STATE_COPIES * model
    return first, first + (trials + studies) * model


def check_free_space(storage, first: int, total: int, say: Callable[[str], None]) -> None:
    """Refuse a search whose first trials' checkpoints do not fit under a local storage; warn if the whole may not."""
    if not storage.is_local:
        return
    free = shutil.disk_usage(storage.local_path).free
    if free < first:
        raise ConfigError(f"--storage {storage.uri}: {_mb(free)} free, but the first trials' checkpoints need about "
                          f"{_mb(first)}; free some space or choose another --storage")
    if free < total:
        say(f"warning: --storage {storage.uri} has {_mb(free)} free; this search may write up to about {_mb(total)} "
            "of checkpoints and models (if the disk fills up, the search stops and can be resumed)")


def concurrency(max_concurrent: int | None, cpus_per_trial: float) -> int:
    """Trials at once on this machine (a cluster's size is not known before Ray starts)."""
    return max_concurrent or max(1, int((os.cpu_count() or 1) // cpus_per_trial))


def _mb(size: float) -> str:
    return f"{size / 2**20:,.1f} MB"
