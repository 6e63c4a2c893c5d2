"""The Ray Tune trial: one (plan, method, seed, configuration) training of the learning core.

The trial contract, shared by the searcher that makes trials, this trainable, the MLflow callback and
the report (names in :mod:`distser.define`):

- a trial's **config** (:func:`trial_config`): ``study``, ``phase``, ``method``, ``plan`` (the plan it
  trains on), ``holdout`` (the study's held-out corpus), ``fold`` (the training corpus held back by
  leave-one-train-corpus-out, else None), ``seed``, ``params`` (every hyperparameter of the method),
  ``training`` (trainer settings), ``config`` (the configuration's key), ``selection`` and
  ``feature_set`` (the features its plan indexes; absent: the search's only set);
- now and then (:class:`ReportToTune`: at the epochs ``training.report_epochs`` names, where ASHA decides, with
  each checkpoint, at the last epoch, else every few seconds) it reports ``epoch``, ``best_mean_valid_ua``
  (ASHA's metric), ``last`` (training ends after this epoch), ``metrics``: the epoch record's every value
  (:meth:`~distser.learning.EpochRecord.flat`), logged as they are, and ``earlier_epochs``: the same of
  every epoch since its previous report;
- at its **end** it reports ``finished = 1``, ``score`` (what its study's selection ranks by) and
  ``final``: test metrics of every test corpus, the final corpus weights, the best epoch; plus the
  confusion matrices and a checkpoint holding the best epoch's weights (``best_model.pt``) and this
  report (``final_report.json``): a trial restored from that checkpoint hands both in again;
- a trial whose loss diverges or whose data is unusable reports ``error`` instead and ends: it is
  reported as failed, not retried as if its node had died.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from distser.define import EARLIER_EPOCHS, File, Metric, Param
from distser.learning import (
    EpochRecord,
    MethodParams,
    NonFiniteLoss,
    TrainConfig,
    Trainer,
    TrainResult,
    release_freed_memory,
)

from ._data import SharedSets
from ._disk import DISK_FULL, is_disk_full

#: Seconds a trial that found the disk full waits for the search to stop it before failing.
DISK_FULL_WAIT = 300.0
TRAINING_KEYS = ("max_epochs", "patience", "early_stopping", "min_steps_per_epoch", "batch_size", "lr",
                 "lr_patience", "lr_factor", "dropout", "hidden")


def trial_config(*, study: str, phase: str, method: str, plan: str, holdout: str, fold: str | None, seed: int,
                 params: dict[str, Any], training: dict[str, Any], config: str, selection: str,
                 searched: dict[str, Any], feature_set: str | None = None) -> dict[str, Any]:
    """A trial's config (see the module docstring); ``searched`` are the values the study varied."""
    return {"study": study, "phase": phase, "method": method, "plan": plan, "holdout": holdout, "fold": fold,
            "seed": int(seed), "params": dict(params), "training": dict(training), "config": config,
            "selection": selection, "searched": dict(searched),
            **({Param.FEATURE_SET: feature_set} if feature_set is not None else {})}


def train_config(config: dict[str, Any]) -> TrainConfig:
    """A trial's config -> the trainer's :class:`~distser.learning.TrainConfig`."""
    training = config["training"]
    return TrainConfig(
        method=config["method"],
        params=MethodParams(config["params"]),
        seed=int(config["seed"]),
        num_threads=int(training.get("threads", 1)),
        **{k: training[k] for k in TRAINING_KEYS if k in training},
    )


#: Key of a trial's training settings: the epochs it must report at (where ASHA may cut it).
REPORT_EPOCHS = "report_epochs"
#: Seconds between a trial's reports to Tune at most (besides those at ASHA's rungs, checkpoints and its end).
REPORT_SECONDS = 2.0


class ReportToTune:
    """Learning-core callback that hands the epochs to Tune, with a resumable checkpoint now and then.

    Every ``tune.report`` waits for the driver to process it and hand the trial its next step: a round trip
    that cost ~0.1 s per report on this 2-core machine, a third of a short epoch (``bench/search_overhead.py``:
    4 trainings x 40 epochs, 59 s with a report every epoch against 45-53 s with one every fifth). So a
    trial reports at the epochs in ``report_epochs`` (where ASHA may cut it: it decides as if every epoch were
    reported), at its last epoch, with each checkpoint, and otherwise once ``REPORT_SECONDS`` have passed
    (the progress line stays live); each report carries the epochs since the previous one under
    :data:`EARLIER_EPOCHS`, so MLflow still gets every epoch.

    Checkpoints are time-based: one after the first epoch ending ``seconds`` after the previous one (or
    after the trial's start). Saving and persisting one costs ~0.25 s, about half an epoch here, so a
    fixed epoch interval would either cost several percent or leave long trials unprotected.
    """

    def __init__(self, seconds: float, report_epochs: Iterable[int] = (),
                 report_seconds: float = REPORT_SECONDS) -> None:
        self.seconds = seconds
        self.report_epochs = set(report_epochs)
        self.report_seconds = report_seconds
        self.last = self.reported = time.monotonic()
        self.earlier: list[list] = []

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        from ray import tune

        now = time.monotonic()
        checkpoint = now - self.last >= self.seconds
        if not (checkpoint or trainer.stopping or record.epoch in self.report_epochs
                or now - self.reported >= self.report_seconds):
            self.earlier.append([record.epoch, record.flat()])
            return
        # "last": the trainer stops after this epoch; ASHA must let it report its test metrics.
        report = {Metric.EPOCH: record.epoch, Metric.VALID: record.best_mean_valid_ua, "metrics": record.flat(),
                  EARLIER_EPOCHS: self.earlier, "last": trainer.stopping, "node_id": _node_id()}
        self.earlier = []
        if checkpoint:
            with tempfile.TemporaryDirectory() as folder:
                trainer.save_checkpoint(Path(folder) / File.CHECKPOINT)
                _report_checkpoint(report, folder)
            self.last = time.monotonic()
        else:
            tune.report(report)
        self.reported = time.monotonic()


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def final_report(result: TrainResult, config: dict[str, Any]) -> dict[str, Any]:
    """What the last report carries: the score, test metrics of the best epoch, final weights."""
    final: dict[str, float] = {Metric.VALID: result.best_mean_valid_ua, Metric.BEST_EPOCH: result.best_epoch}
    for corpus, test in result.tests.items():
        final[Metric.test_ua(corpus)] = test.ua
        final[Metric.test_wa(corpus)] = test.wa
    if config["fold"] is None and not math.isnan(result.test_ua):  # an outer plan's held-out corpus
        final[Metric.TEST_UA], final[Metric.TEST_WA] = result.test_ua, result.test_wa
    final.update({Metric.final_weight(c): w for c, w in result.corpus_weights.items()})
    # Leave-one-train-corpus-out scores a fold by its held-back corpus; every other trial by validation.
    score = result.test_ua if config["fold"] is not None else result.best_mean_valid_ua
    return {
        Metric.EPOCH: result.history[-1].epoch if result.history else 0,
        Metric.VALID: result.best_mean_valid_ua,
        Metric.SCORE: score,
        "final": final,
        "confusion": {corpus: test.confusion for corpus, test in result.tests.items()},
        "stop_reason": result.stop_reason,
        "finished": 1,
        "node_id": _node_id(),
    }


def restored_state(folder: Path | None) -> tuple[dict[str, Any] | None, Path | None]:
    """What a retried trial (node lost, driver resumed) restored from its last checkpoint: (final report,
    trainer state to continue from), either or both None.

    A final report: the trial had handed in its final result and model when the driver stopped (Ctrl+C, a
    killed driver) before Tune recorded its end; it hands the same ones in again instead of training anew.
    A trainer state: it continues exactly from there. Neither (a checkpoint whose upload was cut short by a
    kill): it trains from the start, which gives the same result for its seed.
    """
    if folder is None:
        return None, None
    if (folder / File.FINAL_REPORT).is_file():
        return json.loads((folder / File.FINAL_REPORT).read_text()), None
    if (folder / File.CHECKPOINT).is_file():
        return None, folder / File.CHECKPOINT
    print(f"distser: checkpoint {folder} holds neither a trainer state nor a final result "
          f"({sorted(p.name for p in folder.iterdir())}): training from the start", file=sys.stderr)
    return None, None


#: Seconds a reused trial actor waits for the previous trial's thread to end (Tune's default: 2).
THREAD_END_SECONDS = 120


class TrialActor:
    """Mixin of the trial's Tune trainable (the class Tune makes of :func:`run_trial`), for two of Tune's
    failures that are no trial's fault:

    - a checkpoint whose files are missing from storage is no checkpoint. A SIGKILL while a checkpoint is
      uploaded (or before the deletion of a superseded one reaches Tune's saved state) leaves that state
      naming a checkpoint folder that never arrived; Tune's ``Trainable.restore`` raises on every retry and
      the trial ends FAILED. Instead it trains from the start, which gives the same result for its seed.
      (A folder that arrived in part is :func:`restored_state`'s case.)
    - a reused actor waits for the previous trial's thread to end (it does at its next report) for up to
      :data:`THREAD_END_SECONDS`, not Tune's 2 s: on a busy machine the thread (freeing its memory after
      its final report) may take longer, and Tune then ends the *next* trial in ERROR before it starts.
    """

    def reset_config(self, new_config):
        os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(THREAD_END_SECONDS))  # read by Tune here
        return super().reset_config(new_config)

    def restore(self, checkpoint_path):  # Tune passes a _TrainingResult (checkpoint + its metrics)
        from pyarrow.fs import FileType

        checkpoint = getattr(checkpoint_path, "checkpoint", None)
        if checkpoint is not None and checkpoint.filesystem.get_file_info(checkpoint.path).type == FileType.NotFound:
            print(f"distser: checkpoint {checkpoint.path} is missing from storage (an upload cut short by a "
                  "kill): training from the start", file=sys.stderr)
            return None
        return super().restore(checkpoint_path)


def run_trial(config: dict[str, Any], data: SharedSets) -> None:
    """Tune function trainable. ``data`` arrives through ``tune.with_parameters`` (object store).

    A full disk is not an error Tune should retry on another node: the trial reports ``disk_full`` (its
    half-copied checkpoint removed) and waits for the search to stop it, as Ctrl+C would (:mod:`._disk`);
    resumed, it continues from its last checkpoint.
    """
    from ray import tune

    try:
        _run_trial(config, data)
    except OSError as error:
        if not is_disk_full(error):
            raise
        tune.report({DISK_FULL: _trial_folder(), "finished": 0, Metric.EPOCH: 0})
        time.sleep(DISK_FULL_WAIT)  # the driver stops the experiment (and this trial) meanwhile
        raise


def _report_checkpoint(report: dict[str, Any], folder: str | Path) -> None:
    """``tune.report`` with the checkpoint in ``folder``; a copy cut short by a full disk is removed, not left half."""
    from ray import tune
    from ray.train._internal.session import get_storage

    try:
        tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))
    except OSError as error:
        if is_disk_full(error):
            # Tune numbers the checkpoint before copying it: its current folder is the half-copied one.
            storage = get_storage()
            with contextlib.suppress(OSError):
                storage.storage_filesystem.delete_dir(storage.checkpoint_fs_path)
        raise


def _trial_folder() -> str:
    from ray.train._internal.session import get_storage

    try:
        return str(get_storage().trial_fs_path)
    except Exception:  # the storage context of a Tune session is a developer API: name the storage then
        return "the search's storage"


def _freeze_imports() -> None:
    """Once per process, at its first trial: every object alive (the imports of torch, Ray, pandas: ~275,000
    objects) leaves the garbage collector's reach (``gc.freeze``), after a collection of what is garbage among
    them. A full collection (at each trial's end, and whenever Python starts one during training) then scans only
    what the trials made: milliseconds, against 0.22-0.33 s each with those imports (measured here)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _run_trial(config: dict[str, Any], data: SharedSets) -> None:
    import torch
    from ray import tune

    _freeze_imports()
    checkpoint = tune.get_checkpoint()
    restored = Path(checkpoint.to_directory()) if checkpoint is not None else None  # a temporary copy
    try:
        finished, resume_from = restored_state(restored)
        if finished is not None:
            _report_checkpoint({**finished, "node_id": _node_id()}, restored)
            return
        try:
            task = data.task(config["plan"], normalization=config["training"].get(Param.NORMALIZATION, "global"),
                             feature_set=config.get(Param.FEATURE_SET))
            trainer = Trainer(task, train_config(config))
            reporter = ReportToTune(float(config["training"]["checkpoint_seconds"]),
                                    config["training"].get(REPORT_EPOCHS, ()))
            result = trainer.fit([reporter], resume_from=resume_from)
        except (NonFiniteLoss, ValueError) as error:
            # Deterministic: the same data and seed fail the same way on any node. Report, do not retry.
            tune.report({"error": f"{type(error).__name__}: {error}", "finished": 0, Metric.EPOCH: 0})
            return
    finally:
        if restored is not None:
            shutil.rmtree(restored, ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:
        report = final_report(result, config)
        torch.save(result.state_dict, Path(folder) / File.MODEL)
        (Path(folder) / File.FINAL_REPORT).write_text(json.dumps(report))
        _report_checkpoint(report, folder)
    # A reused actor trains trial after trial: free this one's cycles and heap before the next.
    del trainer, result
    gc.collect()
    release_freed_memory()


# Tune builds the trial's trainable class from the function, with these mixins first (kept by
# ``tune.with_parameters`` and ``tune.with_resources``).
run_trial.__mixins__ = (TrialActor,)  # type: ignore[attr-defined]
