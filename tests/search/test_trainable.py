"""The trial's per-epoch reporting: time-based checkpoints."""

from types import SimpleNamespace

import pytest
from ray import tune

from distser.search import _trainable


@pytest.fixture
def reports(monkeypatch):
    sent = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: sent.append(checkpoint is not None))
    monkeypatch.setattr(_trainable, "_node_id", lambda: "node")
    return sent


class _Trainer:
    stopping = False

    def save_checkpoint(self, path):
        path.write_bytes(b"state")


def _epoch(epoch):
    return SimpleNamespace(epoch=epoch, best_mean_valid_ua=0.5, flat=lambda: {"epoch": epoch})


def test_checkpoints_follow_the_clock_not_the_epoch_count(reports, monkeypatch):
    clock = iter([0.0, 10.0, 50.0, 61.0, 62.0, 100.0])  # start, then one reading per epoch
    monkeypatch.setattr(_trainable.time, "monotonic", lambda: next(clock))
    callback = _trainable._ReportEveryEpoch(60.0)
    for epoch in range(1, 5):
        callback.on_epoch_end(_Trainer(), _epoch(epoch))
    # 10 s, 50 s: too soon; 61 s: checkpoint (clock read again after saving: 62 s); 100 s: 38 s later, too soon
    assert reports == [False, False, True, False]


def test_zero_seconds_checkpoints_every_epoch(reports):
    callback = _trainable._ReportEveryEpoch(0.0)
    for epoch in range(1, 4):
        callback.on_epoch_end(_Trainer(), _epoch(epoch))
    assert reports == [True, True, True]


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
