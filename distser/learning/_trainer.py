"""Algorithm 1: multi-corpus training with corpus-wise weights, early stopping and exact resume.

The trainer reports through :class:`Callback` objects only; it imports neither Ray nor MLflow.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.nn import functional as F

from ..arrays import EMOTIONS, CorpusArrays, Task
from ._data import check_task, merge_corpora
from ._losses import (
    class_prior,
    class_weights,
    confidence_penalty,
    corpus_weights,
    cross_entropy_per_sample,
    focal_per_sample,
    one_hot_targets,
    pel_loss,
    pel_target,
    reconstruction_loss,
    soft_label_targets,
    uniform_smoothing_targets,
    unigram_smoothing_targets,
)
from ._methods import Method, MethodParams, parse_method
from ._metrics import confusion_matrix, unweighted_accuracy, weighted_accuracy
from ._model import PAPER_HIDDEN, EmotionClassifier
from ._runtime import keep_freed_memory

NUM_CLASSES = len(EMOTIONS)
_CHECKPOINT_FORMAT = 1
# Config fields that may differ between a checkpoint and the run resuming it (they change how long or
# how fast it runs, not what one epoch computes).
_RESUMABLE_CHANGES = frozenset(
    {"max_epochs", "patience", "early_stopping", "num_threads", "eval_batch_size", "tune_malloc"}
)
# bench/train_step.py measured fused Adam as the fastest optimizer step on CPU (see that script).
_ADAM_OPTIONS: dict[str, Any] = {"fused": True}


class StopTraining(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raise from :meth:`Callback.on_epoch_end` to stop after the current epoch (like ``should_stop``)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run besides the data.

    ``lr_patience`` is passed to ``torch.optim.lr_scheduler.ReduceLROnPlateau`` as its ``patience``:
    torch reduces the rate when the number of epochs without improvement *exceeds* it (the 3rd such
    epoch for 2). ``early_stopping`` stops after ``patience`` epochs in a row without improvement; with
    ``early_stopping=False`` the run lasts ``max_epochs`` (the best epoch is still restored at the end).
    ``hidden`` are the hidden layer sizes of model F (the paper's by default; smaller ones for tests).
    ``num_threads`` sets ``torch.set_num_threads`` during :meth:`Trainer.fit` (None: leave as is).
    ``tune_malloc`` makes glibc keep freed memory (:func:`~distser.learning._runtime.keep_freed_memory`,
    process-wide), which removes ~1000 page faults per training step.

    Example:
        >>> TrainConfig(method="cww+pel", params=MethodParams(lambda_w=2)).to_dict()["params"]["lambda_w"]
        2
    """

    method: str = "cww"
    params: MethodParams = field(default_factory=MethodParams)
    lr: float = 2e-4
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.1
    early_stopping: bool = True
    seed: int = 0
    eval_batch_size: int = 4096
    num_threads: int | None = None
    dropout: float = 0.5
    hidden: tuple[int, ...] = PAPER_HIDDEN
    tune_malloc: bool = True

    def __post_init__(self) -> None:
        parse_method(self.method)  # fail early, with the list of valid names
        # Accept a list (e.g. from JSON or a search space) but keep the frozen config hashable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if len(self.hidden) < 2 or min(self.hidden) < 1:
            raise ValueError(
                f"hidden needs >= 2 positive layer sizes (reconstruction reads layer 2), got {self.hidden}"
            )
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 < self.lr_factor < 1 or self.lr_patience < 0:
            raise ValueError(
                f"bad lr schedule: lr={self.lr}, lr_factor={self.lr_factor}, lr_patience={self.lr_patience}"
            )
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {self.num_threads}")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (``params`` as a dict), e.g. for logging; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output.

        Example:
            >>> cfg = TrainConfig(method="focal", seed=3)
            >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
            True
        """
        data = dict(data)
        params = data.pop("params", {})
        return cls(params=params if isinstance(params, MethodParams) else MethodParams(**params), **data)


@dataclass
class EpochRecord:
    """What one epoch produced; the unit of reporting for callbacks.

    Attributes:
        epoch: 1-based epoch number.
        train_ua: UA on the whole training portion of each training corpus (eval mode).
        valid_ua: UA on the validation portion of each training corpus.
        mean_valid_ua: mean of ``valid_ua`` — the early-stopping / LR-schedule criterion.
        corpus_weights_used: the w_d used in this epoch's loss (eq. 2).
        corpus_weights: the w_d after this epoch's update (eq. 3), used in the next epoch.
            Both are all ones for methods without ``cww``.
        losses: mean over the epoch's steps of each loss term: ``ce`` (eq. 2, including smoothing /
            focal variants), ``cp``, ``pel``, ``recon`` where used, and ``total``.
        lr: learning rate used during this epoch.
        best_epoch: best epoch so far (highest ``mean_valid_ua``, earliest on ties).
        best_mean_valid_ua: its ``mean_valid_ua``.
        seconds: wall time of the epoch; excluded from ``==`` so reruns compare equal.
    """

    epoch: int
    train_ua: dict[str, float]
    valid_ua: dict[str, float]
    mean_valid_ua: float
    corpus_weights_used: dict[str, float]
    corpus_weights: dict[str, float]
    losses: dict[str, float]
    lr: float
    best_epoch: int
    best_mean_valid_ua: float
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def flat(self) -> dict[str, float]:
        """Flat ``name -> number`` view for metric loggers.

        Example:
            >>> rec = EpochRecord(1, {"a": 0.5}, {"a": 0.4}, 0.4, {"a": 1.0}, {"a": 1.0},
            ...                   {"total": 1.2}, 2e-4, 1, 0.4)
            >>> sorted(rec.flat())[:4]
            ['best_epoch', 'best_mean_valid_ua', 'epoch', 'loss/total']
        """
        out: dict[str, float] = {
            "epoch": self.epoch,
            "mean_valid_ua": self.mean_valid_ua,
            "lr": self.lr,
            "best_epoch": self.best_epoch,
            "best_mean_valid_ua": self.best_mean_valid_ua,
            "seconds": self.seconds,
        }
        for prefix, values in (
            ("train_ua", self.train_ua),
            ("valid_ua", self.valid_ua),
            ("weight", self.corpus_weights),
            ("loss", self.losses),
        ):
            out.update({f"{prefix}/{k}": v for k, v in values.items()})
        return out


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`. ``state_dict`` (the best epoch's weights) is excluded from ``==``.

    ``stop_reason`` is ``"early_stopping"``, ``"max_epochs"`` or ``"callback"``.
    """

    method: str
    corpora: list[str]
    best_epoch: int
    best_mean_valid_ua: float
    history: list[EpochRecord]
    test_ua: float
    test_wa: float
    test_confusion: list[list[int]]
    corpus_weights: dict[str, float]
    stopped_early: bool
    stop_reason: str
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)


@runtime_checkable
class Callback(Protocol):
    """Receives every finished epoch. May call ``trainer.save_checkpoint``, set
    ``trainer.should_stop = True`` or raise :class:`StopTraining` (later callbacks are then skipped).

    Example:
        >>> class Print:
        ...     def on_epoch_end(self, trainer, record):
        ...         print(record.epoch, round(record.mean_valid_ua, 3))
        >>> isinstance(Print(), Callback)
        True
    """

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None: ...


@dataclass
class CheckpointCallback:
    """Save a resumable checkpoint to ``path`` every ``every`` epochs (overwriting it atomically)."""

    path: str | Path
    every: int = 1

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        if record.epoch % self.every == 0:
            trainer.save_checkpoint(self.path)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _as_float32(a: np.ndarray) -> torch.Tensor:
    # from_numpy shares memory when the array is already contiguous float32: no copy of big features.
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _clone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


class Trainer:
    """Trains model F on a :class:`~distser.arrays.Task` with one method (Algorithm 1).

    Each epoch draws an independent permutation of every training corpus; the number of steps is
    the number of full minibatches of the smallest training corpus. A step takes ``batch_size``
    samples from every corpus (plus ``params.pel_batch_size`` unlabeled ones for ``pel-*``/``unsup``)
    and runs ONE forward pass over their concatenation. After each epoch: train/valid UA per corpus,
    CWW update (eq. 3), LR schedule and early stopping on the mean validation UA, then callbacks.

    Loss of one step: ``ce`` = eq. (2) with eq. (1)'s α per corpus minibatch and the method's targets
    (one-hot, ``soft``, ``ls``, ``unigram``) or the focal per-sample loss; ``cp`` = confidence penalty
    over all labeled rows of the step (not corpus-weighted); ``pel`` = eq. (4) on the unlabeled rows;
    ``recon`` = ``recon_weight`` x MSE of the decoder over every row of the step (labeled and unlabeled).

    Speed (``bench/train_step.py``): one forward over the concatenated batch instead of one per corpus,
    fused Adam, :class:`~distser.learning._model.Dense` layers and bit-mask dropout; the per-epoch
    indices and loss coefficients are computed up front, vectorised, so a step runs no per-sample Python.

    Randomness: a numpy ``Generator`` (minibatch order) and a private torch CPU RNG state (model init,
    dropout), both seeded from ``config.seed``; the trainer swaps its torch RNG state in and out around
    its own work, so other torch users in the process neither disturb nor are disturbed by it.

    Example:
        >>> from distser.learning import synthetic_task
        >>> trainer = Trainer(synthetic_task(seed=0), TrainConfig(method="cww", max_epochs=1))
        >>> result = trainer.fit()
        >>> len(result.history), sorted(result.corpus_weights)
        (1, ['a', 'b', 'c'])
    """

    def __init__(self, task: Task, config: TrainConfig | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        self.method: Method = parse_method(self.config.method)
        self.params: MethodParams = self.config.params
        method, cfg = self.method, self.config
        if cfg.tune_malloc:
            keep_freed_memory()

        if method.needs_unlabeled and task.unlabeled is None:
            raise ValueError(f"method {method.name!r} needs task.unlabeled, but the task has none")
        if method.targets == "soft":
            for name, part in task.train.items():
                if part.soft_labels is None:
                    raise ValueError(f"method {method.name!r} needs soft labels, but training corpus {name!r} has none")
        check_task(task, cfg.batch_size)
        if method.merged:
            task = merge_corpora(task)
        self.task = task
        self.corpora: list[str] = task.corpora

        # --- data: converted to torch once; a step is one index_select on the concatenated features.
        train_parts = [task.train[c] for c in self.corpora]
        sizes = [len(p) for p in train_parts]
        self._offsets = np.cumsum([0, *sizes])[:-1]
        self._sizes = sizes
        self._steps = min(sizes) // cfg.batch_size
        self._num_labeled = int(sum(sizes))
        blocks = [p.features for p in train_parts]
        self._unlabeled_size = 0
        if method.needs_unlabeled:
            assert task.unlabeled is not None
            blocks.append(task.unlabeled.features)
            self._unlabeled_size = len(task.unlabeled)
        self._features = _as_float32(np.concatenate(blocks))
        labels = torch.from_numpy(np.concatenate([p.labels for p in train_parts]).astype(np.int64))
        self._labels = labels
        self._targets = self._build_targets(train_parts, labels)
        self._pel_target = pel_target(method.pel, NUM_CLASSES) if method.pel is not None else None
        # Views into the concatenated block: no second copy for the per-epoch training-set UA.
        self._train_eval = {
            c: (self._features[o : o + n], task.train[c].labels)
            for c, o, n in zip(self.corpora, self._offsets, sizes, strict=True)
        }
        self._valid_eval = {c: (_as_float32(task.valid[c].features), task.valid[c].labels) for c in self.corpora}

        # --- model, optimizer, schedule (model init drawn from the private, seeded torch RNG).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = EmotionClassifier(
                task.train[self.corpora[0]].dim,
                NUM_CLASSES,
                hidden=cfg.hidden,
                dropout=cfg.dropout,
                reconstruction=method.unsup,
            )
            self._torch_rng_state = torch.get_rng_state()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, **_ADAM_OPTIONS)
        # threshold=0: "improvement" means strictly better, the same rule as early stopping uses.
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience, threshold=0.0
        )

        # --- training state (everything here goes into checkpoints).
        self._rng = np.random.default_rng(cfg.seed)
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self._weights = np.ones(len(self.corpora))
        self._best_score = -math.inf
        self._best_epoch = 0
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad_epochs = 0
        self._last_state: dict[str, torch.Tensor] | None = None  # set when fit() swapped in the best weights
        self.should_stop = False

    # ------------------------------------------------------------------ data
    def _build_targets(self, parts: list[CorpusArrays], labels: torch.Tensor) -> torch.Tensor:
        """Per-sample target distributions of all labeled training rows, fixed for the whole run."""
        kind, eps = self.method.targets, self.params.smoothing
        if kind == "soft":
            soft = torch.from_numpy(np.concatenate([p.soft_labels for p in parts]).astype(np.float32))
            return soft_label_targets(soft, labels)
        if kind == "ls":
            return uniform_smoothing_targets(labels, NUM_CLASSES, eps)
        if kind == "unigram":
            # The unigram distribution is the class prior of the (pooled) training set, as in [17].
            return unigram_smoothing_targets(labels, class_prior(labels, NUM_CLASSES), eps)
        return one_hot_targets(labels, NUM_CLASSES)

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    @property
    def corpus_weights(self) -> dict[str, float]:
        """Current corpus-wise weights w_d (the ones the next epoch will use)."""
        return dict(zip(self.corpora, self._weights.tolist(), strict=True))

    def _plan_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices of every step's batch, and every labeled row's loss coefficient w_d·α_i/(D·M)."""
        steps, batch, n_corpora = self._steps, self.config.batch_size, len(self.corpora)
        labeled = np.empty((steps, n_corpora * batch), dtype=np.int64)
        for d, (offset, size) in enumerate(zip(self._offsets, self._sizes, strict=True)):
            # An independent permutation per corpus; the tail beyond the last full minibatch is unused.
            perm = self._rng.permutation(size)[: steps * batch]
            labeled[:, d * batch : (d + 1) * batch] = perm.reshape(steps, batch) + offset
        blocks = [labeled]
        if self._unlabeled_size:
            need = steps * self.params.pel_batch_size
            # The unlabeled corpus may be smaller than one epoch's need: chain fresh permutations.
            reps = -(-need // self._unlabeled_size)
            perm = np.concatenate([self._rng.permutation(self._unlabeled_size) for _ in range(reps)])[:need]
            blocks.append(perm.reshape(steps, -1) + self._num_labeled)
        index = torch.from_numpy(np.concatenate(blocks, axis=1))
        step_labels = self._labels[torch.from_numpy(labeled)].view(steps, n_corpora, batch)
        alpha = class_weights(step_labels, NUM_CLASSES)  # eq. (1), per corpus minibatch
        w = torch.as_tensor(self._weights, dtype=torch.float32).view(1, n_corpora, 1)
        coef = (alpha * w / (n_corpora * batch)).view(steps, n_corpora * batch)  # eq. (2)
        return index, coef

    # ------------------------------------------------------------------ training
    def _train_epoch(self) -> dict[str, float]:
        method, params = self.method, self.params
        index, coef = self._plan_epoch()
        n_lab = len(self.corpora) * self.config.batch_size
        names = ["ce"] + (["cp"] if method.cp else []) + (["pel"] if method.pel else [])
        names += ["recon"] if method.unsup else []
        sums = torch.zeros(len(names) + 1)
        model, optimizer, features, targets = self.model, self.optimizer, self._features, self._targets
        model.train()
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._torch_rng_state)
            for t in range(self._steps):
                rows = index[t]
                x = features.index_select(0, rows)
                y = targets.index_select(0, rows[:n_lab])  # labeled rows come first in `features`
                if method.unsup:
                    logits, recon = model.logits_and_reconstruction(x)
                else:
                    logits = model(x)
                log_probs = F.log_softmax(logits, dim=1)
                lab = log_probs[:n_lab]
                if method.focal:
                    per_sample = focal_per_sample(lab, y, params.focal_gamma)
                else:
                    per_sample = cross_entropy_per_sample(lab, y)
                terms = [(per_sample * coef[t]).sum()]
                if method.cp:
                    terms.append(confidence_penalty(lab, params.cp_beta))
                if self._pel_target is not None:
                    terms.append(pel_loss(log_probs[n_lab:], self._pel_target, params.lambda_l))
                if method.unsup:
                    # Reconstruct every row of the batch: labeled and unlabeled inputs alike need no label.
                    terms.append(params.recon_weight * reconstruction_loss(recon, x))
                total = sum(terms[1:], terms[0])
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                with torch.no_grad():  # running sums for the epoch record; one .tolist() at the end
                    sums += torch.stack([*terms, total])
            self._torch_rng_state = torch.get_rng_state()
        means = (sums / max(self._steps, 1)).tolist()
        return dict(zip([*names, "total"], means, strict=True))

    @torch.inference_mode()
    def predict(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted class indices (eval mode, batches of ``eval_batch_size``)."""
        x = features if isinstance(features, torch.Tensor) else _as_float32(features)
        self.model.eval()
        bs = self.config.eval_batch_size
        preds = [self.model(x[i : i + bs]).argmax(dim=1) for i in range(0, len(x), bs)]
        return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)

    def _ua(self, x: torch.Tensor, y: np.ndarray) -> float:
        return unweighted_accuracy(y, self.predict(x), NUM_CLASSES)

    def _run_epoch(self) -> EpochRecord:
        start = time.perf_counter()
        lr = float(self.optimizer.param_groups[0]["lr"])
        used = self.corpus_weights
        losses = self._train_epoch()
        train_ua = {c: self._ua(*self._train_eval[c]) for c in self.corpora}
        valid_ua = {c: self._ua(*self._valid_eval[c]) for c in self.corpora}
        mean_valid = float(np.mean(list(valid_ua.values())))
        self.epoch += 1
        if mean_valid > self._best_score:
            self._best_score, self._best_epoch, self._bad_epochs = mean_valid, self.epoch, 0
            self._best_state = _clone_state(self.model.state_dict())
        else:
            self._bad_epochs += 1
        self.scheduler.step(mean_valid)
        if self.method.cww:  # eq. (3), Algorithm 1 line 8
            source = train_ua if self.params.cww_source == "train" else valid_ua
            self._weights = corpus_weights([source[c] for c in self.corpora], self.params.lambda_w)
        record = EpochRecord(
            epoch=self.epoch,
            train_ua=train_ua,
            valid_ua=valid_ua,
            mean_valid_ua=mean_valid,
            corpus_weights_used=used,
            corpus_weights=self.corpus_weights,
            losses=losses,
            lr=lr,
            best_epoch=self._best_epoch,
            best_mean_valid_ua=self._best_score,
            seconds=time.perf_counter() - start,
        )
        self.history.append(record)
        return record

    def _stop_reason(self) -> str | None:
        if self.config.early_stopping and self._bad_epochs >= self.config.patience:
            return "early_stopping"
        if self.epoch >= self.config.max_epochs:
            return "max_epochs"
        return None

    def fit(self, callbacks: Sequence[Callback] = (), resume_from: str | Path | None = None) -> TrainResult:
        """Train until early stopping, ``max_epochs`` or a callback's stop; then evaluate on the test set.

        ``resume_from`` loads a :meth:`save_checkpoint` file first; the run then continues exactly as
        the uninterrupted one would (identical history and metrics). At the end the best epoch's
        weights are loaded into ``self.model``; calling ``fit`` again continues from the last epoch.
        """
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        if self._last_state is not None:  # a previous fit() swapped in the best weights: undo that
            self.model.load_state_dict(self._last_state)
            self._last_state = None
        self.should_stop = False
        with _torch_threads(self.config.num_threads):
            while (reason := self._stop_reason()) is None:
                record = self._run_epoch()
                try:
                    for callback in callbacks:
                        callback.on_epoch_end(self, record)
                except StopTraining:
                    self.should_stop = True
                if self.should_stop:
                    reason = "callback"
                    break
            return self._finish(reason)

    def _finish(self, reason: str) -> TrainResult:
        self._last_state = _clone_state(self.model.state_dict())
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        test = self.task.test
        pred = self.predict(test.features)
        return TrainResult(
            method=self.method.name,
            corpora=list(self.corpora),
            best_epoch=self._best_epoch,
            best_mean_valid_ua=self._best_score,
            history=list(self.history),
            test_ua=unweighted_accuracy(test.labels, pred, NUM_CLASSES),
            test_wa=weighted_accuracy(test.labels, pred),
            test_confusion=confusion_matrix(test.labels, pred, NUM_CLASSES).tolist(),
            corpus_weights=self.corpus_weights,
            stopped_early=reason == "early_stopping",
            stop_reason=reason,
            state_dict=_clone_state(self.model.state_dict()),
        )

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> dict[str, Any]:
        model_state = self._last_state if self._last_state is not None else self.model.state_dict()
        return {
            "format": _CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "method": self.method.name,
            "corpora": list(self.corpora),
            "epoch": self.epoch,
            "model": model_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "corpus_weights": self._weights.tolist(),
            "numpy_rng": self._rng.bit_generator.state,
            "torch_rng": self._torch_rng_state,
            "best_score": self._best_score,
            "best_epoch": self._best_epoch,
            "best_state": self._best_state,
            "bad_epochs": self._bad_epochs,
            "history": [r.to_dict() for r in self.history],
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write everything needed to resume to ``path``, atomically (temp file + ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(self._checkpoint(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore the state saved by :meth:`save_checkpoint` (same task and compatible config)."""
        # weights_only: the payload is tensors and plain Python values only, so no pickle code runs.
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: unsupported checkpoint format {state.get('format')!r}")
        saved, current = dict(state["config"]), self.config.to_dict()
        saved["method"], current["method"] = state["method"], self.method.name
        differing = sorted(k for k in current if k not in _RESUMABLE_CHANGES and saved.get(k) != current[k])
        if differing or state["corpora"] != self.corpora:
            raise ValueError(f"{path}: checkpoint does not match this trainer (differs in {differing or ['corpora']})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._weights = np.asarray(state["corpus_weights"], dtype=np.float64)
        self._rng.bit_generator.state = state["numpy_rng"]
        self._torch_rng_state = state["torch_rng"]
        self._best_score = float(state["best_score"])
        self._best_epoch = int(state["best_epoch"])
        self._best_state = state["best_state"]
        self._bad_epochs = int(state["bad_epochs"])
        self.epoch = int(state["epoch"])
        self.history = [EpochRecord(**r) for r in state["history"]]
        self._last_state = None


def train(
    task: Task,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callback] = (),
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit` (convenience).

    Example:
        >>> from distser.learning import synthetic_task
        >>> result = train(synthetic_task(seed=1), TrainConfig(method="ce", max_epochs=1))
        >>> 0.0 <= result.test_ua <= 1.0
        True
    """
    return Trainer(task, config).fit(callbacks=callbacks, resume_from=resume_from)
