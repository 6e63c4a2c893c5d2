"""Process-level runtime tuning for CPU training (glibc malloc)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt(3) parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit
_TRIM_THRESHOLD = 1 << 30

_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the OS (idempotent).

    Every training step allocates and frees the same activation and gradient buffers (~0.5-7 MB each).
    By default glibc serves such blocks with ``mmap`` or trims them off the heap when freed, so the
    next step page-faults them in again: ~1000 minor faults per step at the paper's batch, ~10 % of the
    step time (``bench/train_step.py``). Raising the mmap and trim thresholds keeps them in the heap.
    The cost is that the process keeps its peak heap (of blocks < 32 MB) until it exits.

    Returns whether the setting is active (False off glibc, e.g. macOS or musl).

    Example:
        >>> keep_freed_memory() in (True, False)
        True
    """
    global _tuned
    if _tuned is None:
        _tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):
                return False
            _tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
                mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
            )
    return _tuned


def release_freed_memory() -> bool:
    """Hand the heap's free memory back to the OS now (glibc ``malloc_trim(0)``); False off glibc.

    :func:`keep_freed_memory` keeps every freed block for the next training step, which is right for the
    step's buffers but also keeps evaluation's larger ones (``eval_batch_size`` rows of features and
    activations) and a finished trial's leftovers, fragmenting the heap of a long-lived process that
    trains trial after trial. Called once per epoch (after evaluation) and at the end of a run: the
    next steps fault their buffers in once again, which costs milliseconds.

    Example:
        >>> release_freed_memory() in (True, False)
        True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0)) or True
    except (OSError, AttributeError):
        return False
