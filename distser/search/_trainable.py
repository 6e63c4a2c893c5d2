"""The Ray Tune trial: one (held-out corpus, seed, hyperparameters) training of the learning core."""

from __future__ import annotations

import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from distser.arrays import Task
from distser.learning import EpochRecord, MethodParams, TrainConfig, Trainer, TrainResult

CHECKPOINT_FILE = "trainer.pt"
MODEL_FILE = "best_model.pt"
METRIC = "best_mean_valid_ua"  # running best of the mean validation UA: monotone, so ASHA and Optuna agree
_PARAM_NAMES = {f.name for f in fields(MethodParams)}


def flat_trial_config(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config with grid points unpacked and Repeater's index turned into the seed."""
    flat = dict(config)
    flat.update(flat.pop("point", {}))
    if "__trial_index__" in flat:  # ray.tune.search.repeater.TRIAL_INDEX
        flat["seed"] = int(flat.pop("__trial_index__"))
    return flat


def train_config(config: dict[str, Any]) -> TrainConfig:
    """Turn a trial's flat config (method, seed, hyperparameters, training settings) into a TrainConfig."""
    params = MethodParams(**{k: v for k, v in config.items() if k in _PARAM_NAMES})
    extra = {k: config[k] for k in ("lr", "dropout") if k in config}
    return TrainConfig(
        method=config["method"],
        params=params,
        seed=int(config["seed"]),
        max_epochs=int(config["max_epochs"]),
        patience=int(config["patience"]),
        early_stopping=bool(config.get("early_stopping", True)),
        num_threads=int(config["threads"]),
        **extra,
    )


class _ReportEveryEpoch:
    """Learning-core callback that hands each epoch to Tune, with a resumable checkpoint now and then.

    Checkpoints are time-based: one after the first epoch ending ``seconds`` after the previous one (or
    after the trial's start). Saving and persisting one costs ~0.25 s, about half an epoch here, so a
    fixed epoch interval would either cost several percent or leave long trials unprotected.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = time.monotonic()

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        from ray import tune

        metrics = {**record.flat(), "node_id": _node_id()}
        if time.monotonic() - self.last < self.seconds:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as folder:
            trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        self.last = time.monotonic()


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def final_metrics(result: TrainResult) -> dict[str, Any]:
    """What the last report carries: test metrics of the best epoch and the final corpus weights."""
    metrics = {
        "epoch": result.history[-1].epoch if result.history else 0,
        "best_epoch": result.best_epoch,
        METRIC: result.best_mean_valid_ua,
        "test_ua": result.test_ua,
        "test_wa": result.test_wa,
        "test_confusion": result.test_confusion,
        "stop_reason": result.stop_reason,
        "finished": 1,
        "node_id": _node_id(),
    }
    metrics.update({f"final_weight/{corpus}": w for corpus, w in result.corpus_weights.items()})
    return metrics


def run_trial(config: dict[str, Any], task: Task) -> None:
    """Tune function trainable. ``task`` arrives through ``tune.with_parameters`` (object store)."""
    import torch
    from ray import tune

    trainer = Trainer(task, train_config(flat_trial_config(config)))
    resume_from = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a retried trial (node lost, driver resumed): continue exactly
        folder = checkpoint.to_directory()
        resume_from = Path(folder) / CHECKPOINT_FILE
    result = trainer.fit([_ReportEveryEpoch(float(config["checkpoint_seconds"]))], resume_from=resume_from)
    with tempfile.TemporaryDirectory() as folder:
        torch.save(result.state_dict, Path(folder) / MODEL_FILE)
        tune.report(final_metrics(result), checkpoint=tune.Checkpoint.from_directory(folder))
