"""One progress display per search, instead of Tune's status table.

On a terminal, one line rewritten in place (at most once a second); in a log file (CI), a line each
time another tenth of the planned trials completes, and one at the end. It shows trials completed out
of those planned up front ("of at least": a final phase may complete seeds ASHA cut), running, done,
stopped by ASHA, interrupted and failed, elapsed and remaining time, and the best mean validation UA
of any trial so far over all studies (with its study), which never goes down.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from ray.tune import Callback

from distser.define import Metric


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress(Callback):
    """A Tune callback that keeps the terminal quiet but informative (see the module docstring).

    ``planned`` is the number of trials the search will run at least (final phases may add a few).
    Counts are read off Tune's trial list at every event, so a resumed search shows the trials it
    had finished before as done. ``stopped_by_asha(trial_id)`` tells a trial ASHA stopped from one
    stopped because the search was interrupted (Ctrl+C); without it both count as "stopped early".
    """

    def __init__(self, planned: int, *, stream: TextIO | None = None, tty: bool | None = None,
                 stopped_by_asha: Callable[[str], bool] | None = None) -> None:
        self.planned = planned
        self._tty = tty
        self.stopped_by_asha = stopped_by_asha
        self.stream = stream or sys.stderr
        self._reset()

    def _reset(self) -> None:
        self.started = time.monotonic()
        self.baseline: int | None = None  # trials already complete when this session started
        self.counts = {"running": 0, "done": 0, "asha": 0, "interrupted": 0, "failed": 0}
        self.best: tuple[float, str] | None = None  # (best mean validation UA of any trial, its study)
        self._printed = -math.inf
        self._tenths = -1  # tenths of the planned trials completed at the last line (not a terminal)
        self._last = ""
        self._width = 0
        self._reported: set[str] = set()

    @property
    def tty(self) -> bool:
        return self.stream.isatty() if self._tty is None else self._tty

    def __getstate__(self) -> dict:  # the scheduler's method stays behind: a restored search has its own
        return {"planned": self.planned, "_tty": self._tty, "stopped_by_asha": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stream = sys.stderr
        self._reset()

    def setup(self, **info) -> None:
        self._reset()

    def _count(self, trials) -> None:
        counts = {"running": 0, "done": 0, "asha": 0, "interrupted": 0, "failed": 0}
        for trial in trials:
            if trial.status == "RUNNING":
                counts["running"] += 1
            elif trial.status in ("TERMINATED", "ERROR"):
                last = trial.last_result or {}
                if trial.status == "ERROR" or "error" in last:
                    counts["failed"] += 1
                elif last.get("finished") == 1:
                    counts["done"] += 1
                elif self.stopped_by_asha is None or self.stopped_by_asha(trial.trial_id):
                    counts["asha"] += 1
                else:  # stopped neither by its own end nor by ASHA: the search was interrupted
                    counts["interrupted"] += 1
        self.counts = counts
        if self.baseline is None:
            self.baseline = self.completed

    @property
    def completed(self) -> int:
        return self.counts["done"] + self.counts["asha"] + self.counts["interrupted"] + self.counts["failed"]

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        finished_here = self.completed - (self.baseline or 0)
        rate = finished_here / elapsed if elapsed > 0 else 0.0
        left = max(self.planned - self.completed, 0) / rate if rate > 0 else math.inf
        asha = "stopped by ASHA" if self.stopped_by_asha is not None else "stopped early"
        parts = [f"{self.completed} of at least {self.planned} trials", f"{self.counts['running']} running",
                 f"{self.counts['done']} done", f"{self.counts['asha']} {asha}"]
        if self.counts["interrupted"]:
            parts.append(f"{self.counts['interrupted']} interrupted")
        parts += [f"{self.counts['failed']} failed", f"{_clock(elapsed)} elapsed", f"~{_clock(left)} left"]
        if self.best is not None:
            parts.append(f"best mean valid UA so far {self.best[0]:.3f} (all studies; {self.best[1]})")
        return " · ".join(parts)

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if not force and now - self._printed < 1.0:
                return
        else:  # a log: a line per tenth of the planned trials, never more
            tenths = min(10, self.completed * 10 // max(self.planned, 1))
            if tenths <= self._tenths and not force:
                return
            self._tenths = tenths
        self._printed = now
        text = self.line()
        if not self.tty and text == self._last:  # the end of a log repeats nothing
            return
        self._last = text
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def say(self, message: str) -> None:
        """A line of its own (above the progress line on a terminal)."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(message + "\n")
        self.stream.flush()

    # -- Tune's callbacks -------------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.show()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        value = result.get(Metric.VALID)
        if value is not None and math.isfinite(value) and (self.best is None or value > self.best[0]):
            self.best = (float(value), trial.config.get("study", ""))
        self._count(trials)
        self.show()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        last = trial.last_result or {}
        if "error" in last and trial.trial_id not in self._reported:
            self._reported.add(trial.trial_id)
            self.say(f"trial {trial.trial_id} ({trial.config.get('study')}, seed {trial.config.get('seed')}) "
                     f"failed: {last['error']}")
        self.show()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.say(f"trial {trial.trial_id} ({trial.config.get('study')}, seed {trial.config.get('seed')}) "
                 f"failed; its error: {trial.error_file}")
        self.show()

    def on_experiment_end(self, trials, **info) -> None:
        self._count(trials)
        self.show(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
