"""Starting Ray the one way every distser command does: quiet, lean, on the address the user gave.

Ray speaks a lot on start (its token-authentication notice, Ray Data's progress-bar notice, worker
logs forwarded to the driver); distser's commands print their own progress instead and show Ray's
only when asked (``-v``). Imports nothing of distser: any stage may use it.
"""

from __future__ import annotations

import logging
import os
import warnings

__all__ = ["quiet_ray_logs", "start_ray"]

#: Ray's Python loggers (children included) that distser's commands keep at ERROR unless verbose.
_RAY_LOGGERS = ("ray", "ray.tune", "ray.train")


def quiet_ray_logs(verbose: int = 0) -> None:
    """Keep Ray's notices and warnings off the terminal (``verbose`` > 0 leaves them as Ray has them)."""
    if verbose:
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # An error a Ray task raised reaches the user once, as the command's ``error:`` line; Ray would print its
    # worker traceback again ("Unhandled error") for the task's other results, never fetched.
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    for name in _RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Ray Data's logger writes to its own log file too: only its terminal handler is quieted there. Importing
    # ray.data configures that logger (undoing this): :func:`start_ray` imports it first, then calls here.
    data = logging.getLogger("ray.data")
    for handler in data.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="ray")


def start_ray(address: str | None = None, *, verbose: int = 0) -> None:
    """``ray.init`` on ``address`` (else ``RAY_ADDRESS``, else a new local instance), unless Ray is running.

    A local instance starts without the dashboard (seconds of start-up a command never uses); worker
    output reaches the terminal only when ``verbose``.
    """
    import ray
    import ray.data  # noqa: F401  (configures its logger on import: before quiet_ray_logs, not after)

    quiet_ray_logs(verbose)
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    ray.init(address=address or "local", log_to_driver=verbose > 0, configure_logging=False,
             logging_level=logging.INFO if verbose else logging.WARNING,
             **({} if address else {"include_dashboard": False}))
