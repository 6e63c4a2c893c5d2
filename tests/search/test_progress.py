"""The progress line: a total fixed up front, the best so far that never goes down, a quiet log, Ctrl+C named."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from distser.define import Metric
from distser.search._progress import Progress


@dataclass
class FakeTrial:
    trial_id: str
    status: str = "RUNNING"
    last_result: dict = field(default_factory=dict)
    config: dict = field(default_factory=lambda: {"study": "ce--loco-a"})


def test_an_interrupted_trial_is_counted_as_interrupted_not_stopped_by_asha():
    progress = Progress(4, stream=io.StringIO(), tty=False, stopped_by_asha=lambda trial_id: trial_id == "cut")
    trials = [FakeTrial("done", "TERMINATED", {"finished": 1}), FakeTrial("cut", "TERMINATED", {"finished": 0}),
              FakeTrial("ctrl-c", "TERMINATED", {"finished": 0}), FakeTrial("running")]
    progress.on_experiment_end(trials)
    line = progress.stream.getvalue().strip()
    assert line.startswith("3 of at least 4 trials · 1 running · 1 done · 1 stopped by ASHA · 1 interrupted · 0 failed")


def test_the_best_shown_is_over_all_studies_and_never_goes_down():
    progress = Progress(10, stream=io.StringIO(), tty=True)
    progress.on_trial_result(0, [], FakeTrial("1", config={"study": "cww--loco-a"}), {Metric.VALID: 0.6})
    progress.on_trial_result(0, [], FakeTrial("2", config={"study": "ce--loco-b"}), {Metric.VALID: 0.5})
    assert "best mean valid UA so far 0.600 (all studies; cww--loco-a)" in progress.line()
    assert "of at least 10 trials" in progress.line()


def test_a_log_gets_a_line_per_tenth_of_the_trials_at_most():
    stream = io.StringIO()
    progress = Progress(40, stream=stream, tty=False, stopped_by_asha=lambda trial_id: False)
    trials: list[FakeTrial] = []
    for i in range(40):
        trial = FakeTrial(str(i))
        trials.append(trial)
        progress.on_trial_start(0, trials, trial)
        for epoch in range(3):
            progress.on_trial_result(0, trials, trial, {Metric.VALID: 0.3 + 0.001 * i + 0.01 * epoch})
        trial.status, trial.last_result = "TERMINATED", {"finished": 1}
        progress.on_trial_complete(0, trials, trial)
    progress.on_experiment_end(trials)
    lines = stream.getvalue().splitlines()
    assert len(lines) <= 11 and lines[-1].startswith("40 of at least 40 trials")
