"""Algorithm 1 trainer: determinism, CWW, merged, early stopping, LR schedule, callbacks, exact resume."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from distser.arrays import CorpusArrays
from distser.learning import (
    TABLE2_METHODS,
    CheckpointCallback,
    EpochRecord,
    MethodParams,
    NonFiniteLoss,
    StopTraining,
    TrainConfig,
    Trainer,
    TrainResult,
    corpus_weights,
    train,
)

# Most tests use a narrow model F: the trainer's logic does not depend on the layer sizes, and the
# paper's 1024-1024-512-512 is ~50x more work. Tests marked "paper size" use the real one.
SMALL = (64, 64, 32, 32)


def _cfg(**kwargs) -> TrainConfig:
    return TrainConfig(**{"hidden": SMALL, **kwargs})


def _assert_same_run(a: TrainResult, b: TrainResult) -> None:
    """Exact equality of metrics and history (``seconds`` and the state dict are compared apart)."""
    assert a == b
    assert a.state_dict.keys() == b.state_dict.keys()
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key


class _StopAfter:
    """Saves a checkpoint after epoch ``k``, then stops the run (raising, or via ``should_stop``)."""

    def __init__(self, k: int, path, raise_: bool = True) -> None:
        self.k, self.path, self.raise_ = k, path, raise_

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        if record.epoch == self.k:
            trainer.save_checkpoint(self.path)
            if self.raise_:
                raise StopTraining
            trainer.should_stop = True


class _Recorder:
    def __init__(self) -> None:
        self.records: list[EpochRecord] = []

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        self.records.append(record)


# ---------------------------------------------------------------- determinism
def test_same_seed_identical_different_seed_different(task):  # paper size
    cfg = TrainConfig(method="cww+pel-al", max_epochs=2, seed=5)
    first, second = train(task, cfg), train(task, cfg)
    _assert_same_run(first, second)
    other = train(task, replace(cfg, seed=6))
    assert other.history != first.history
    assert any(not torch.equal(first.state_dict[k], other.state_dict[k]) for k in first.state_dict)


def test_trainer_neither_disturbs_nor_depends_on_global_torch_rng(task):
    cfg = _cfg(method="cww", max_epochs=2)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = train(task, cfg)
    assert torch.equal(torch.rand(3), expected_next)  # global stream untouched
    torch.manual_seed(999)  # a different global state must not change the run
    _assert_same_run(a, train(task, cfg))


# ---------------------------------------------------------------- methods
@pytest.mark.parametrize("method", [*TABLE2_METHODS, "merged", "focal+cp", "cww+soft", "cww+pel-nl+unsup"])
def test_every_method_trains_two_epochs(task, method):
    result = train(task, _cfg(method=method, max_epochs=2, early_stopping=False))
    assert len(result.history) == 2 and result.stop_reason == "max_epochs"
    record = result.history[-1]
    assert all(math.isfinite(v) for v in record.losses.values())
    assert "total" in record.losses and "ce" in record.losses
    assert ("pel" in record.losses) == ("pel" in method)
    assert ("recon" in record.losses) == ("unsup" in method)
    assert ("cp" in record.losses) == ("cp" in method)
    assert 0.0 <= result.test_ua <= 1.0 and 0.0 <= result.test_wa <= 1.0
    assert np.asarray(result.test_confusion).sum() == len(task.test)
    assert result.corpora == task.corpora and list(record.valid_ua) == task.corpora


def test_loss_terms_add_up_to_total(task):
    result = train(task, _cfg(method="cww+pel-al+cp", max_epochs=1))
    losses = result.history[0].losses
    assert losses["ce"] + losses["cp"] + losses["pel"] == pytest.approx(losses["total"], rel=1e-5)
    assert losses["cp"] < 0  # the confidence penalty lowers the loss


def test_unknown_method_lists_valid_names(task):
    with pytest.raises(ValueError) as err:
        Trainer(task, TrainConfig(method="cww+magic"))
    assert "cww+pel-al" in str(err.value) and "unigram" in str(err.value)


def test_soft_falls_back_to_one_hot_for_a_corpus_without_votes_and_names_it(task):
    parts = dict(task.train)
    parts["b"] = replace(parts["b"], soft_labels=None)
    no_soft = replace(task, train=parts)
    with pytest.warns(UserWarning, match="'b' has no annotator votes"):
        trainer = Trainer(no_soft, _cfg(method="soft"))
    b = slice(len(parts["a"]), len(parts["a"]) + len(parts["b"]))
    assert torch.equal(trainer._targets[b], torch.eye(4)[torch.from_numpy(parts["b"].labels)])
    assert torch.allclose(trainer._targets[: len(parts["a"])], torch.from_numpy(parts["a"].soft_labels))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(no_soft, _cfg(method="ls"))  # other methods do not need votes and do not warn


def test_methods_needing_unlabeled_data_say_so(task):
    no_unlabeled = replace(task, unlabeled=None)
    for method in ("pel-al", "cww+unsup"):
        with pytest.raises(ValueError, match="unlabeled"):
            Trainer(no_unlabeled, _cfg(method=method))
    train(no_unlabeled, _cfg(method="cww", max_epochs=1))


def test_bad_tasks_rejected(task):
    parts = dict(task.train)
    a = parts["a"]
    parts["a"] = replace(a, labels=np.where(np.arange(len(a)) == 0, -1, a.labels))
    with pytest.raises(ValueError, match="'a'"):
        Trainer(replace(task, train=parts), _cfg(method="ce"))
    with pytest.raises(ValueError, match="minibatch"):
        Trainer(task, _cfg(method="ce", batch_size=500))


def test_steps_per_epoch_follow_the_smallest_corpus(task):
    parts = dict(task.train)
    small = parts["c"]
    parts["c"] = CorpusArrays("c", small.features[:70], small.labels[:70], small.soft_labels[:70])
    trainer = Trainer(replace(task, train=parts), _cfg(method="cww"))
    assert trainer.steps_per_epoch == 70 // 32


# ---------------------------------------------------------------- corpus-wise weights
def test_cww_weights_follow_eq3_from_train_ua(task):
    params = MethodParams(lambda_w=4.0)
    result = train(task, _cfg(method="cww", params=params, max_epochs=3, early_stopping=False))
    history = result.history
    assert history[0].corpus_weights_used == {c: 1.0 for c in task.corpora}  # initialised as ones
    for prev, rec in zip(history, history[1:], strict=False):
        assert rec.corpus_weights_used == prev.corpus_weights
    for rec in history:
        expected = corpus_weights(rec.train_ua, params.lambda_w)
        assert rec.corpus_weights == pytest.approx(expected)
        assert sum(rec.corpus_weights.values()) == pytest.approx(len(task.corpora))
    assert result.corpus_weights == history[-1].corpus_weights


def test_cww_from_valid_ua(task):
    cfg = _cfg(method="cww", params=MethodParams(cww_signal="valid-ua", lambda_w=2), max_epochs=2)
    for rec in train(task, cfg).history:
        assert rec.corpus_weights == pytest.approx(corpus_weights(rec.valid_ua, 2))


def test_cww_from_training_loss(task):
    cfg = _cfg(method="cww", params=MethodParams(cww_signal="train-loss", lambda_w=3), max_epochs=2)
    for rec in train(task, cfg).history:
        losses = np.array([rec.train_loss[c] for c in task.corpora])
        expected = losses**3 / np.mean(losses**3)
        assert [rec.corpus_weights[c] for c in task.corpora] == pytest.approx(expected)


def test_cww_smoothing_and_floor_compose_over_epochs(task):
    beta, floor = 0.6, 0.25
    cfg = _cfg(method="cww", params=MethodParams(lambda_w=4, cww_smoothing=beta, weight_floor=floor), max_epochs=3,
               early_stopping=False)
    previous = np.ones(3)
    for rec in train(task, cfg).history:
        raw = np.array(list(corpus_weights(rec.train_ua, 4).values()))
        expected = (1 - floor) * (beta * previous + (1 - beta) * raw) + floor
        got = np.array([rec.corpus_weights[c] for c in task.corpora])
        assert got == pytest.approx(expected)
        assert got.min() >= floor and got.mean() == pytest.approx(1.0)
        previous = got


def test_dro_updates_weights_every_step_from_corpus_losses(task):
    eta = 0.5
    trainer = Trainer(task, _cfg(method="dro", params=MethodParams(dro_eta=eta), max_epochs=1))
    seen = []
    original = trainer._weighting.after_step

    def spy(weights, losses):
        seen.append((weights.clone(), losses.clone()))
        return original(weights, losses)

    trainer._weighting.after_step = spy
    result = trainer.fit()
    assert len(seen) == trainer.steps_per_epoch
    q = torch.ones(3)
    for weights, losses in seen:  # q <- q·exp(η·L_d), renormalised to mean 1, step after step
        assert torch.allclose(weights, q)
        q = q * torch.exp(eta * losses)
        q = q / q.mean()
    final = np.array([result.corpus_weights[c] for c in task.corpora])
    assert final == pytest.approx(q.numpy(), rel=1e-6) and final.mean() == pytest.approx(1.0)
    assert not np.allclose(final, 1.0)  # the corpora differ in difficulty
    # The corpus with the highest mean loss gains the most weight.
    losses = result.history[0].train_loss
    assert max(losses, key=losses.get) == max(result.corpus_weights, key=result.corpus_weights.get)


def test_dro_weight_floor_changes_the_applied_weights_not_the_algorithm(task):
    eta, floor = 0.5, 0.3
    trainer = Trainer(task, _cfg(method="dro", params=MethodParams(dro_eta=eta, weight_floor=floor), max_epochs=2,
                                 early_stopping=False))
    seen = []
    original = trainer._weighting.after_step

    def spy(weights, losses):
        seen.append(losses.clone())
        return original(weights, losses)

    trainer._weighting.after_step = spy
    result = trainer.fit()
    q, applied = torch.ones(3), []
    for step, losses in enumerate(seen, start=1):  # the exponentiated-gradient updates of dro without a floor
        q = q * torch.exp(eta * losses)
        q = q / q.mean()
        if step % trainer.steps_per_epoch == 0:
            applied.append(((1 - floor) * q + floor).numpy())  # the floor only mixes what the loss uses
    assert len(applied) == 2
    for record, expected in zip(result.history, applied, strict=True):
        got = np.array([record.corpus_weights[c] for c in task.corpora])
        assert got == pytest.approx(expected, rel=1e-5) and got.min() >= floor


def test_dro_with_a_full_floor_equals_ce(task):
    ce = train(task, _cfg(method="ce", max_epochs=2))
    dro = train(task, _cfg(method="dro", params=MethodParams(dro_eta=0.5, weight_floor=1.0), max_epochs=2))
    _assert_same_run(replace(dro, method="ce"), ce)  # the loss uses the floored weights: all 1


def test_dro_with_zero_step_size_equals_ce(task):
    ce = train(task, _cfg(method="ce", max_epochs=2))
    dro = train(task, _cfg(method="dro", params=MethodParams(dro_eta=0.0), max_epochs=2))
    _assert_same_run(replace(dro, method="ce"), ce)


def test_without_cww_weights_stay_one(task):
    result = train(task, _cfg(method="ce", max_epochs=2))
    assert all(w == 1.0 for rec in result.history for w in rec.corpus_weights.values())


@pytest.mark.parametrize("signal", ["train-ua", "valid-ua", "train-loss"])
def test_cww_lambda_zero_equals_ce_every_epoch(task, signal):
    ce = train(task, _cfg(method="ce", max_epochs=4, early_stopping=False))
    cww0 = train(task, _cfg(method="cww", params=MethodParams(lambda_w=0.0, cww_signal=signal), max_epochs=4,
                            early_stopping=False))
    assert [r.flat() | {"seconds": 0} for r in cww0.history] == [r.flat() | {"seconds": 0} for r in ce.history]
    _assert_same_run(replace(cww0, method="ce"), ce)


# ---------------------------------------------------------------- merged
def test_merged_draws_like_for_like_minibatches_from_the_pool(task):
    trainer = Trainer(task, _cfg(method="merged", max_epochs=3, seed=2))
    ce = Trainer(task, _cfg(method="ce", max_epochs=3, seed=2))
    assert trainer.steps_per_epoch == ce.steps_per_epoch == 120 // 32  # same updates per epoch
    index, alpha, coef = trainer._plan_epoch()
    assert index.shape == (trainer.steps_per_epoch, 3 * 32)  # D x M rows per step, from the pool
    assert alpha.shape == (trainer.steps_per_epoch, 1, 3 * 32)  # α over the whole minibatch
    spans = zip(trainer._offsets, trainer._sizes, strict=True)
    rows_per_corpus = [np.isin(index, np.arange(o, o + n)).sum() for o, n in spans]
    assert sum(rows_per_corpus) == index.size and min(rows_per_corpus) > 0
    assert len(np.unique(index[0])) == index.shape[1]  # one permutation of the pool
    assert torch.allclose(coef.sum(dim=1), torch.ones(trainer.steps_per_epoch))  # (1/(DM)) Σ α = 1
    result = trainer.fit()
    # Stopping and selection on the mean of the per-corpus validation UAs, like every method.
    assert result.corpora == task.corpora
    for rec in result.history:
        assert rec.mean_valid_ua == pytest.approx(np.mean(list(rec.valid_ua.values())))
        assert rec.corpus_weights == {c: 1.0 for c in task.corpora} and rec.train_loss == {}


def test_min_steps_per_epoch_draws_small_corpora_again(task):
    trainer = Trainer(task, _cfg(method="ce", min_steps_per_epoch=10))
    assert trainer.steps_per_epoch == 10  # the paper's rule gives 120 // 32 = 3
    index, _, _ = trainer._plan_epoch()
    first = index[:, :32]  # corpus a: 320 rows drawn from 120: every row 2 or 3 times
    counts = np.bincount(first.ravel(), minlength=120)
    assert counts.min() >= 2 and counts.max() <= 3
    assert Trainer(task, _cfg(method="ce", min_steps_per_epoch=2)).steps_per_epoch == 3  # never fewer


def test_non_finite_loss_fails_with_a_reason(task):
    parts = dict(task.train)
    bad = parts["b"].features.copy()
    bad[:, 5] = np.nan
    parts["b"] = replace(parts["b"], features=bad)
    with pytest.raises(NonFiniteLoss, match="loss became nan in epoch 1"):
        train(replace(task, train=parts), _cfg(method="ce", max_epochs=2))


def test_test_only_corpora_are_evaluated_and_never_trained_on(task):
    extra = replace(task.test, name="extra")
    with_extra = replace(task, test_only={"extra": extra})
    result = train(with_extra, _cfg(method="cww", max_epochs=2))
    plain = train(task, _cfg(method="cww", max_epochs=2))
    assert list(result.tests) == ["test", "extra"]
    assert result.tests["extra"].ua == pytest.approx(plain.test_ua)  # same data, same model
    assert result.history == plain.history  # training did not see it
    relabeled = replace(extra, labels=(extra.labels + 1) % 4)
    other = train(replace(task, test_only={"extra": relabeled}), _cfg(method="cww", max_epochs=2))
    assert other.history == plain.history and other.test_ua == plain.test_ua
    assert other.tests["extra"].confusion != result.tests["extra"].confusion


def test_a_pool_without_held_out_corpus_trains_and_reports_no_test_ua(task):
    pool = replace(task, test=None, test_only={"extra": task.test})
    result = train(pool, _cfg(method="ce", max_epochs=1))
    assert math.isnan(result.test_ua) and list(result.tests) == ["extra"]


# ---------------------------------------------------------------- stopping, schedule, best weights
def test_early_stopping_and_lr_schedule_when_nothing_improves(task):
    # A vanishing learning rate: predictions never change, so no epoch after the first improves.
    cfg = _cfg(method="ce", lr=1e-20, max_epochs=50, patience=5, lr_patience=2)
    result = train(task, cfg)
    assert result.stopped_early and result.stop_reason == "early_stopping"
    assert result.best_epoch == 1 and len(result.history) == 1 + 5
    lrs = [rec.lr for rec in result.history]
    # torch's ReduceLROnPlateau(patience=2) reduces once the 3rd epoch without improvement is seen
    assert lrs == pytest.approx([1e-20] * 5 + [1e-21], rel=1e-9)


def test_no_early_stopping_runs_max_epochs_and_restores_best(task):
    cfg = _cfg(method="cww", max_epochs=4, patience=1, early_stopping=False)
    trainer = Trainer(task, cfg)
    result = trainer.fit()
    assert len(result.history) == 4 and not result.stopped_early
    best = max(result.history, key=lambda r: r.mean_valid_ua)
    assert result.best_epoch == best.epoch and result.best_mean_valid_ua == best.mean_valid_ua
    assert result.history[-1].best_epoch == result.best_epoch
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, result.state_dict[key])
    # the reported test metrics are those of the restored best model
    preds = trainer.predict(task.test.features)
    assert result.test_wa == pytest.approx(float(np.mean(preds == task.test.labels)))


def test_training_learns_the_synthetic_task(task):  # paper size
    result = train(task, TrainConfig(method="cww", max_epochs=15, lr=1e-3))
    assert result.best_mean_valid_ua > 0.5  # chance is 0.25
    assert result.test_ua > 0.4


# ---------------------------------------------------------------- callbacks and resume
def test_callbacks_see_every_epoch_and_can_stop(task, tmp_path):
    recorder = _Recorder()
    result = train(task, _cfg(method="cww", max_epochs=5), callbacks=[recorder])
    assert recorder.records == result.history
    stopped = train(
        task,
        _cfg(method="cww", max_epochs=5),
        callbacks=[_StopAfter(2, tmp_path / "x.pt", raise_=False)],
    )
    assert len(stopped.history) == 2 and stopped.stop_reason == "callback" and not stopped.stopped_early
    flat = recorder.records[0].flat()
    assert {"epoch", "mean_valid_ua", "lr", "train_ua/a", "valid_ua/c", "weight/b", "loss/total"} <= set(flat)


@pytest.mark.parametrize("method", ["cww+pel-al", "cww+unsup", "ce"])
@pytest.mark.parametrize("raise_", [True, False])
def test_resume_from_checkpoint_is_exact(task, tmp_path, method, raise_):
    cfg = _cfg(method=method, max_epochs=6, patience=2, seed=3)
    full = train(task, cfg)
    path = tmp_path / "ckpt" / "run.pt"
    interrupted = train(task, cfg, callbacks=[_StopAfter(3, path, raise_)])
    assert interrupted.stop_reason == "callback" and len(interrupted.history) == 3
    assert interrupted.history == full.history[:3]
    resumed = Trainer(task, cfg).fit(resume_from=path)
    _assert_same_run(resumed, full)
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]  # no temp file left behind


def test_fit_again_continues_the_same_trainer(task, tmp_path):
    cfg = _cfg(method="cww+pel-al", max_epochs=5, seed=4)
    full = train(task, cfg)
    trainer = Trainer(task, cfg)
    trainer.fit(callbacks=[_StopAfter(2, tmp_path / "a.pt")])
    _assert_same_run(trainer.fit(), full)


def test_checkpoint_callback_and_resume_after_the_end(task, tmp_path):
    path = tmp_path / "every.pt"
    cfg = _cfg(method="cww", max_epochs=3)
    full = train(task, cfg, callbacks=[CheckpointCallback(path)])
    again = Trainer(task, cfg).fit(resume_from=path)  # nothing left to run: same result
    _assert_same_run(again, full)


def test_checkpoint_rejects_a_different_run(task, tmp_path):
    path = tmp_path / "c.pt"
    trainer = Trainer(task, _cfg(method="cww", max_epochs=1))
    trainer.fit()
    trainer.save_checkpoint(path)
    with pytest.raises(ValueError, match="seed"):
        Trainer(task, _cfg(method="cww", seed=1)).fit(resume_from=path)
    with pytest.raises(ValueError, match="method"):
        Trainer(task, _cfg(method="ce")).fit(resume_from=path)
    # run-length settings may change on resume
    longer = Trainer(task, _cfg(method="cww", max_epochs=2)).fit(resume_from=path)
    assert len(longer.history) == 2


def test_a_within_corpus_fold_tests_other_speakers_of_its_training_corpus(task):
    same = replace(task, test=replace(task.test, name="a"))  # train on a, test on a's other speakers
    result = train(same, _cfg(method="ce", max_epochs=1))
    assert list(result.tests) == ["a"] and 0 <= result.test_ua <= 1


def test_the_trainer_says_when_an_epoch_is_its_last(task):
    seen = []

    class Watch:
        def on_epoch_end(self, trainer, record):
            seen.append(trainer.stopping)

    train(task, _cfg(method="ce", max_epochs=3, early_stopping=False), callbacks=[Watch()])
    assert seen == [False, False, True]
