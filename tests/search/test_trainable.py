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
