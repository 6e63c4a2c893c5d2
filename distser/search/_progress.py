"""One progress display per search, instead of Tune's status table.

On a terminal, one line rewritten in place; in a log file (CI), a line every ``interval`` seconds.
It shows trials done / running / stopped by ASHA / failed out of those planned, elapsed and
remaining time, and the best validation score of the study that last improved; when a study ends,
one line with its best configuration's score.
"""

from __future__ import annotations

import math
import sys
import time
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
    had finished before as done.
    """

    def __init__(self, planned: int, *, stream: TextIO | None = None, interval: float = 30.0,
                 tty: bool | None = None) -> None:
        self.planned = planned
        self.interval = interval
        self._tty = tty
        self.stream = stream or sys.stderr
        self._reset()

    def _reset(self) -> None:
        self.started = time.monotonic()
        self.baseline: int | None = None  # trials already complete when this session started
        self.counts = {"running": 0, "done": 0, "asha": 0, "failed": 0}
        self.best: dict[str, float] = {}
        self.latest = ""
        self._printed = -math.inf
        self._width = 0
        self._reported: set[str] = set()

    @property
    def tty(self) -> bool:
        return self.stream.isatty() if self._tty is None else self._tty

    def __getstate__(self) -> dict:
        return {"planned": self.planned, "interval": self.interval, "_tty": self._tty}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stream = sys.stderr
        self._reset()

    def setup(self, **info) -> None:
        self._reset()

    def _count(self, trials) -> None:
        counts = {"running": 0, "done": 0, "asha": 0, "failed": 0}
        for trial in trials:
            if trial.status == "RUNNING":
                counts["running"] += 1
            elif trial.status in ("TERMINATED", "ERROR"):
                last = trial.last_result or {}
                failed = trial.status == "ERROR" or "error" in last
                counts["failed" if failed else "done" if last.get("finished") == 1 else "asha"] += 1
        self.counts = counts
        if self.baseline is None:
            self.baseline = self.completed

    @property
    def completed(self) -> int:
        return self.counts["done"] + self.counts["asha"] + self.counts["failed"]

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        total = max(self.planned, self.completed + self.counts["running"])
        finished_here = self.completed - (self.baseline or 0)
        rate = finished_here / elapsed if elapsed > 0 else 0.0
        left = (total - self.completed) / rate if rate > 0 else math.inf
        parts = [f"{self.completed}/{total} trials", f"{self.counts['running']} running", f"{self.counts['done']} done",
                 f"{self.counts['asha']} stopped by ASHA", f"{self.counts['failed']} failed",
                 f"{_clock(elapsed)} elapsed", f"~{_clock(left)} left"]
        if self.latest:
            parts.append(f"best valid {self.best[self.latest]:.3f} ({self.latest})")
        return " · ".join(parts)

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._printed < (1.0 if self.tty else self.interval):
            return
        self._printed = now
        text = self.line()
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
        study = trial.config.get("study", "")
        if value is not None and math.isfinite(value) and value > self.best.get(study, -math.inf):
            self.best[study] = float(value)
            self.latest = study
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
