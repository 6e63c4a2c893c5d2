"""The trial: its reports to Tune (where ASHA decides, every few seconds, with time-based checkpoints), its process."""

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from distser.define import EARLIER_EPOCHS
from distser.search import _trainable
from distser.search._scheduler import PerStudyASHA


@pytest.fixture
def reports(monkeypatch):
    """What the callback hands Tune: (epoch, with a checkpoint, the earlier epochs it carries) per report."""
    sent = []

    def report(metrics, checkpoint=None):
        sent.append((metrics["epoch"], checkpoint is not None, [epoch for epoch, _ in metrics[EARLIER_EPOCHS]]))

    monkeypatch.setattr(tune, "report", report)
    monkeypatch.setattr(_trainable, "_node_id", lambda: "node")
    return sent


@pytest.fixture
def clock(monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(_trainable.time, "monotonic", lambda: clock.now)
    return clock


class _Trainer:
    def __init__(self, last_epoch: int = 10**6):
        self.last_epoch, self.epoch = last_epoch, 0

    @property
    def stopping(self):
        return self.epoch >= self.last_epoch

    def save_checkpoint(self, path):
        path.write_bytes(b"state")


def _train(callback, epochs, clock=None, seconds_per_epoch=1.0, trainer=None):
    trainer = trainer or _Trainer()
    for epoch in range(1, epochs + 1):
        if clock is not None:
            clock.now += seconds_per_epoch
        trainer.epoch = epoch
        callback.on_epoch_end(trainer, SimpleNamespace(epoch=epoch, best_mean_valid_ua=0.5,
                                                       flat=lambda epoch=epoch: {"epoch": epoch}))


def test_checkpoints_follow_the_clock_not_the_epoch_count(reports, clock):
    callback = _trainable.ReportToTune(60.0, report_seconds=math.inf)
    _train(callback, 4, clock, seconds_per_epoch=25.0)
    # 25 s, 50 s: too soon; 75 s: a checkpoint, with the epochs before it; 100 s: 25 s later, too soon
    assert reports == [(3, True, [1, 2])]


def test_zero_seconds_checkpoints_every_epoch(reports, clock):
    _train(_trainable.ReportToTune(0.0), 3, clock)
    assert reports == [(1, True, []), (2, True, []), (3, True, [])]


def test_a_trial_reports_where_asha_decides_at_its_end_and_every_few_seconds(reports, clock):
    callback = _trainable.ReportToTune(math.inf, report_epochs=[3, 9], report_seconds=4.0)
    _train(callback, 12, clock, trainer=_Trainer(last_epoch=12))
    # epoch 3 and 9: ASHA's rungs; 7: 4 s after the previous report; 12: the last epoch (13 would be 4 s after 9)
    assert reports == [(3, False, [1, 2]), (7, False, [4, 5, 6]), (9, False, [8]), (12, False, [10, 11])]


def test_the_epochs_a_trial_reports_at_are_where_asha_decides():
    """Read off ASHA itself: the epochs at which Ray's bracket records a trial reporting every epoch."""
    for max_epochs, grace_period, reduction_factor in ((20, 3, 3.0), (20, 2, 2.5), (5, 5, 3.0), (40, 1, 2.0)):
        scheduler = PerStudyASHA({"x"}, max_epochs=max_epochs, grace_period=grace_period,
                                 reduction_factor=reduction_factor)
        bracket = ASHAScheduler(**scheduler.options)._brackets[0]
        recorded_at, trial = [], SimpleNamespace(trial_id="t")
        for epoch in range(1, max_epochs + 1):
            before = sum(trial.trial_id in recorded for _, recorded in bracket._rungs)
            bracket.on_result(trial, epoch, 0.5)
            if sum(trial.trial_id in recorded for _, recorded in bracket._rungs) > before:
                recorded_at.append(epoch)
        assert scheduler.decision_epochs()[:len(recorded_at)] == recorded_at
        assert all(epoch > max_epochs for epoch in scheduler.decision_epochs()[len(recorded_at):])


def test_a_restored_checkpoint_is_a_final_result_a_trainer_state_or_nothing_usable(tmp_path, capsys):
    import json

    from distser.define import File

    assert _trainable.restored_state(None) == (None, None)
    final = tmp_path / "final"
    final.mkdir()
    (final / File.MODEL).write_bytes(b"weights")
    (final / File.FINAL_REPORT).write_text(json.dumps({"finished": 1, "score": 0.5}))
    assert _trainable.restored_state(final) == ({"finished": 1, "score": 0.5}, None)  # handed in again
    state = tmp_path / "state"
    state.mkdir()
    (state / File.CHECKPOINT).write_bytes(b"state")
    assert _trainable.restored_state(state) == (None, state / File.CHECKPOINT)  # continued from there
    cut = tmp_path / "cut"  # an upload cut short by a kill: train from the start rather than fail 4 times
    cut.mkdir()
    assert _trainable.restored_state(cut) == (None, None)
    assert "holds neither a trainer state nor a final result" in capsys.readouterr().err


def test_a_checkpoint_missing_from_storage_is_no_checkpoint_and_the_trial_starts_over(tmp_path, monkeypatch,
                                                                                         capsys):
    from ray.train._internal.checkpoint_manager import _TrainingResult
    from ray.tune.trainable.function_trainable import FunctionTrainable, wrap_function

    # The class Tune makes of the trial function (its mixins travel through with_parameters/with_resources).
    def trial(config):
        return None

    trial.__mixins__ = getattr(_trainable.run_trial, "__mixins__", ())
    trainable = object.__new__(wrap_function(trial))  # restore() needs no running trial
    trainable._local_ip = "127.0.0.1"
    loaded = []
    monkeypatch.setattr(FunctionTrainable, "load_checkpoint", lambda self, result: loaded.append(result))

    # Tune's saved state names a checkpoint that never reached storage (a kill mid-upload).
    gone = _TrainingResult(checkpoint=tune.Checkpoint.from_directory(tmp_path / "checkpoint_000003"),
                           metrics={"training_iteration": 3})
    assert trainable.restore(gone) is None and loaded == []  # nothing loaded: tune.get_checkpoint() is None
    assert "checkpoint_000003 is missing from storage" in capsys.readouterr().err

    there = tmp_path / "checkpoint_000001"
    there.mkdir()
    (there / "final_report.json").write_text("{}")
    kept = _TrainingResult(checkpoint=tune.Checkpoint.from_directory(there), metrics={"training_iteration": 1})
    trainable.restore(kept)
    assert loaded == [kept]  # a checkpoint that is there is restored as Tune does


def test_a_reused_actor_waits_for_the_previous_trials_thread_longer_than_tunes_two_seconds(monkeypatch):
    import os

    from ray.tune.trainable.function_trainable import FunctionTrainable, wrap_function

    def trial(config):
        return None

    trial.__mixins__ = getattr(_trainable.run_trial, "__mixins__", ())
    monkeypatch.delenv("TUNE_FUNCTION_THREAD_TIMEOUT_S", raising=False)
    waited = []
    # Tune's reset_config reads the timeout when called, then joins the previous trial's thread for that long.
    monkeypatch.setattr(FunctionTrainable, "reset_config",
                        lambda self, config: waited.append(int(os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S", 2)))
                        or True)
    assert object.__new__(wrap_function(trial)).reset_config({}) is True
    assert waited == [_trainable.THREAD_END_SECONDS] and waited[0] > 2


def test_a_trial_process_freezes_its_imports_once_and_still_collects_what_its_trials_leave():
    code = (
        "import gc\n"
        "from distser.search._trainable import _freeze_imports\n"
        "_freeze_imports()\n"
        "frozen = gc.get_freeze_count()\n"
        "class Cycle: pass\n"
        "cycle = Cycle(); cycle.me = cycle; del cycle\n"  # garbage a trial leaves behind
        "_freeze_imports()\n"  # the next trial's start
        "assert gc.get_freeze_count() == frozen > 10_000, frozen\n"
        "assert gc.collect() >= 1\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
