"""Algorithm 1: multi-corpus training with corpus-wise weights, early stopping and exact resume.

The trainer reports through :class:`Callback` objects only; it imports neither Ray nor MLflow.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.nn import functional as F

from distser.files import atomic_write

from ..arrays import EMOTIONS, GroupNormalizer, IndexedTask, Task, index_task
from ._data import check_task
from ._losses import class_weights, cross_entropy_per_sample, one_hot_targets
from ._metrics import confusion_matrix, unweighted_accuracy, weighted_accuracy
from ._model import PAPER_HIDDEN, EmotionClassifier
from ._runtime import keep_freed_memory, release_freed_memory
from .methods import (
    CorpusWeighting,
    EpochSignals,
    LossTerm,
    Method,
    MethodParams,
    SampleLoss,
    StepOutputs,
    TargetRule,
    one_corpus_warning,
    parse_method,
)

NUM_CLASSES = len(EMOTIONS)
_CHECKPOINT_FORMAT = 2
# Config fields that may differ between a checkpoint and the run resuming it (they change how long or
# how fast it runs, not what one epoch computes).
_RESUMABLE_CHANGES = frozenset(
    {"max_epochs", "patience", "early_stopping", "num_threads", "eval_batch_size", "tune_malloc"}
)
# bench/train_step.py measured fused Adam as the fastest optimizer step on CPU (see that script).
_ADAM_OPTIONS: dict[str, Any] = {"fused": True}


class StopTraining(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raise from :meth:`Callback.on_epoch_end` to stop after the current epoch (like ``should_stop``)."""


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite: the run cannot produce a meaningful model.

    Raised instead of training on to a model at chance. Retrying does not help (the run is
    deterministic), so callers should report it, not retry it.
    """


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run besides the data.

    ``params`` holds the method components' hyperparameters (:class:`~distser.learning.MethodParams`).
    ``lr_patience`` is passed to ``torch.optim.lr_scheduler.ReduceLROnPlateau`` as its ``patience``:
    torch reduces the rate when the number of epochs without improvement *exceeds* it (the 3rd such
    epoch for 2). ``early_stopping`` stops after ``patience`` epochs in a row without improvement; with
    ``early_stopping=False`` the run lasts ``max_epochs`` (the best epoch is still restored at the end).
    An epoch has as many steps as the smallest training corpus has minibatches (Algorithm 1, line 4),
    or ``min_steps_per_epoch`` if that is more (smaller corpora are then drawn again in fresh orders):
    with a tiny corpus (SAVEE: ~7 steps) patience otherwise counts very few updates.
    ``hidden`` are the hidden layer sizes of model F (the paper's by default; smaller ones for tests).
    ``num_threads`` sets ``torch.set_num_threads`` during :meth:`Trainer.fit` (None: leave as is).
    ``tune_malloc`` makes glibc keep freed memory (:func:`~distser.learning._runtime.keep_freed_memory`,
    process-wide), which removes ~1000 page faults per training step.

    Example:
        >>> TrainConfig(method="cww+pel", params=MethodParams(lambda_w=2)).to_dict()["params"]["lambda_w"]
        2.0
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
    min_steps_per_epoch: int = 0
    seed: int = 0
    eval_batch_size: int = 4096
    num_threads: int | None = None
    dropout: float = 0.5
    hidden: tuple[int, ...] = PAPER_HIDDEN
    tune_malloc: bool = True

    def __post_init__(self) -> None:
        parse_method(self.method)  # fail early, with the list of valid names
        if not isinstance(self.params, MethodParams):
            object.__setattr__(self, "params", MethodParams(self.params))
        # Accept a list (e.g. from JSON or a search space) but keep the frozen config hashable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if len(self.hidden) < 2 or min(self.hidden) < 1:
            raise ValueError(
                f"hidden needs >= 2 positive layer sizes (reconstruction reads layer 2), got {self.hidden}"
            )
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_steps_per_epoch < 0:
            raise ValueError(f"min_steps_per_epoch must be >= 0, got {self.min_steps_per_epoch}")
        if not (self.lr > 0 and 0 < self.lr_factor < 1 and self.lr_patience >= 0):
            raise ValueError(
                f"bad lr schedule: lr={self.lr}, lr_factor={self.lr_factor}, lr_patience={self.lr_patience}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {self.num_threads}")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (``params`` as a dict), e.g. for logging; inverse of :meth:`from_dict`."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"params": self.params.to_dict(), "hidden": list(self.hidden)}

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
        return cls(params=params if isinstance(params, MethodParams) else MethodParams(params), **data)


@dataclass
class EpochRecord:
    """What one epoch produced; the unit of reporting for callbacks.

    Attributes:
        epoch: 1-based epoch number.
        train_ua: UA on the whole training portion of each training corpus (eval mode).
        valid_ua: UA on the validation portion of each training corpus.
        mean_valid_ua: mean of ``valid_ua`` — the early-stopping / LR-schedule criterion.
        corpus_weights_used: the w_d at the start of this epoch (per-step rules such as ``dro`` move
            them during the epoch).
        corpus_weights: the w_d after this epoch, used in the next one. All ones without a weighting rule.
        losses: mean over the epoch's steps of each loss term: ``ce`` (eq. 2, including smoothing /
            focal variants), each component's term (``cp``, ``pel``, ``recon``) and ``total``.
        lr: learning rate used during this epoch.
        best_epoch: best epoch so far (highest ``mean_valid_ua``, earliest on ties).
        best_mean_valid_ua: its ``mean_valid_ua``.
        train_loss: mean over the epoch's steps of each training corpus's eq. (1) minibatch loss,
            before corpus weights (empty for ``merged``, whose minibatches mix corpora).
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
    train_loss: dict[str, float] = field(default_factory=dict)
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def flat(self) -> dict[str, float]:
        """Flat ``name -> number`` view for metric loggers (every field; dicts as ``field/key``).

        Example:
            >>> rec = EpochRecord(1, {"a": 0.5}, {"a": 0.4}, 0.4, {"a": 1.0}, {"a": 1.0},
            ...                   {"total": 1.2}, 2e-4, 1, 0.4)
            >>> sorted(rec.flat())[:4]
            ['best_epoch', 'best_mean_valid_ua', 'epoch', 'loss/total']
        """
        out: dict[str, float] = {}
        for name, value in asdict(self).items():
            if isinstance(value, dict):
                # "weight" and "loss" keep the names MLflow runs have always had.
                prefix = {"corpus_weights": "weight", "losses": "loss", "corpus_weights_used": None}.get(name, name)
                if prefix is not None:
                    out.update({f"{prefix}/{k}": v for k, v in value.items()})
            else:
                out[name] = value
        return out


@dataclass
class TestResult:
    """UA, WA and confusion matrix (rows: true class) of the best epoch's model on one test corpus."""

    __test__ = False  # not a pytest test class

    ua: float
    wa: float
    confusion: list[list[int]]


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`. ``state_dict`` (the best epoch's weights) is excluded from ``==``.

    ``tests`` holds every evaluated corpus (the held-out one first); ``test_ua``, ``test_wa`` and
    ``test_confusion`` are the held-out corpus's (NaN / empty when the task has none).
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
    tests: dict[str, TestResult] = field(default_factory=dict)
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


#: Rows normalised at once by a per-group normaliser: its gathered statistics (0.8 MB for IS10) are
#: temporaries that the trainer's heap keeps (:func:`keep_freed_memory`); with 1024 rows (6.5 MB each)
#: a trial's heap peaked ~45 MB higher while evaluating 4096-row chunks, and was no faster.
_GROUP_SLICE = 128


def _read_only_tensor(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor over ``array`` without a copy (statistics may sit in read-only shared memory).

    The trainer only reads these tensors, so torch's warning about a non-writable array does not apply.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(array, dtype=np.float32))


class _Rows:
    """Reads normalised rows of an :class:`~distser.arrays.IndexedTask`'s table as torch tensors.

    The table's blocks may be read-only shared memory: rows are gathered (copied) first, then
    z-normalised in place in torch, which gives bit for bit what normalising the whole table in
    numpy first would give (same IEEE operations, element by element).
    """

    def __init__(self, task: IndexedTask) -> None:
        self.table = task.table
        norm = task.normalizer
        self.groups = norm if isinstance(norm, GroupNormalizer) else None
        if self.groups is not None:
            self.center = _read_only_tensor(norm.center)
            self.scale = _read_only_tensor(norm.scale)
            norm = norm.final
        self.mean = None if norm is None else _read_only_tensor(norm.mean)
        self.std = None if norm is None else _read_only_tensor(norm.std)

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self.table.gather(rows))
        if self.groups is not None:  # the same float32 operations as GroupNormalizer.apply
            groups = torch.from_numpy(self.groups.group_of(rows).astype(np.int64))
            # A slice at a time: an evaluation chunk's gathered statistics would otherwise double its memory.
            for start in range(0, len(x), _GROUP_SLICE):
                part = groups[start:start + _GROUP_SLICE]
                x[start:start + _GROUP_SLICE].sub_(self.center[part]).div_(self.scale[part])
        if self.mean is not None:
            x.sub_(self.mean).div_(self.std)
        return x


class Trainer:
    """Trains model F on a task with one method (Algorithm 1).

    Each epoch draws an independent permutation of every training corpus; the number of steps is
    the number of full minibatches of the smallest training corpus (or ``min_steps_per_epoch``).
    A step takes ``batch_size`` samples from every corpus (plus ``pel_batch_size`` unlabeled ones for
    methods that need them; ``merged`` draws D × ``batch_size`` from the pooled corpora) and runs ONE
    forward pass over their concatenation. After each epoch: train/valid UA per corpus, the corpus
    weighting rule's update (``cww``: eq. 3), LR schedule and early stopping on the mean validation UA,
    then callbacks. At the end the best epoch's model is evaluated on every test corpus.

    Loss of one step: ``ce`` = eq. (2) with eq. (1)'s α per corpus minibatch, the method's targets
    (:class:`~distser.learning.methods.TargetRule`; one-hot by default) and per-row loss
    (:class:`~distser.learning.methods.SampleLoss`; cross-entropy by default), then each
    :class:`~distser.learning.methods.LossTerm` of the method in canonical order.

    Data: the task is used as an :class:`~distser.arrays.IndexedTask` (an ordinary
    :class:`~distser.arrays.Task` is turned into one). A step gathers its rows from the shared table
    and normalises them; evaluation runs in chunks of ``eval_batch_size`` rows. Nothing copies the
    table, so many trainers (trials) can share one.

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

    def __init__(self, task: Task | IndexedTask, config: TrainConfig | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        self.method: Method = parse_method(self.config.method)
        self.params: MethodParams = self.config.params
        method, cfg = self.method, self.config
        if cfg.tune_malloc:
            keep_freed_memory()
        components = method.build(self.params)
        self._weighting: CorpusWeighting | None = next((c for c in components if isinstance(c, CorpusWeighting)), None)
        self._target_rule: TargetRule | None = next((c for c in components if isinstance(c, TargetRule)), None)
        self._sample_loss: SampleLoss | None = next((c for c in components if isinstance(c, SampleLoss)), None)
        self._terms: list[LossTerm] = [c for c in components if isinstance(c, LossTerm)]
        same = one_corpus_warning(method, list(task.corpora))
        if same:
            warnings.warn(same, UserWarning, stacklevel=2)

        task = index_task(task)
        check_task(task, cfg.batch_size, method)
        self.task = task
        self.corpora: list[str] = task.corpora
        table = task.table

        # --- rows: a step's batch is a set of local positions into [training rows..., unlabeled rows].
        train_rows = [task.train[c] for c in self.corpora]
        sizes = [len(r) for r in train_rows]
        self._offsets = np.cumsum([0, *sizes])[:-1]
        self._sizes = sizes
        self._steps = max(min(sizes) // cfg.batch_size, cfg.min_steps_per_epoch)
        self._num_labeled = int(sum(sizes))
        local = list(train_rows)
        self._unlabeled_size = 0
        if method.needs_unlabeled:
            assert task.unlabeled is not None  # check_task said so
            local.append(task.unlabeled)
            self._unlabeled_size = len(task.unlabeled)
        self._local_rows = np.concatenate(local).astype(np.int64)  # local position -> table row
        self._read = _Rows(task)
        labeled_rows = self._local_rows[: self._num_labeled]
        labels = torch.from_numpy(table.labels[labeled_rows].astype(np.int64))
        self._labels = labels
        self._targets = self._build_targets(labeled_rows, labels)
        self._eval_rows = {
            "train": dict(zip(self.corpora, train_rows, strict=True)),
            "valid": {c: task.valid[c] for c in self.corpora},
        }
        self._pooled = self._weighting is not None and self._weighting.pooled
        self._per_step = self._weighting is not None and self._weighting.per_step

        # --- model, optimizer, schedule (model init drawn from the private, seeded torch RNG).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = EmotionClassifier(
                task.dim,
                NUM_CLASSES,
                hidden=cfg.hidden,
                dropout=cfg.dropout,
                reconstruction=any(t.needs_reconstruction for t in self._terms),
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
        self._weights = np.ones(len(self.corpora))  # the weighting rule's own; the loss uses _applied(them)
        self._best_score = -math.inf
        self._best_epoch = 0
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad_epochs = 0
        self._last_state: dict[str, torch.Tensor] | None = None  # set when fit() swapped in the best weights
        self.should_stop = False

    # ------------------------------------------------------------------ data
    def _build_targets(self, rows: np.ndarray, labels: torch.Tensor) -> torch.Tensor:
        """Per-row target distributions of all labeled training rows, fixed for the whole run."""
        if self._target_rule is None:
            return one_hot_targets(labels, NUM_CLASSES)
        soft = None
        table = self.task.table
        if table.soft_labels is not None:
            soft = torch.from_numpy(table.soft_labels[rows].astype(np.float32))
        if self._target_rule.name == "soft":
            without = [c for c, r in zip(self.corpora, np.split(rows, np.cumsum(self._sizes)[:-1]), strict=True)
                       if table.soft_labels is None or np.isnan(table.soft_labels[r]).any(axis=1).all()]
            if without:
                warnings.warn(f"training corpus {', '.join(map(repr, without))} has no annotator votes: "
                              "its rows use one-hot targets", stacklevel=3)
        return self._target_rule.targets(labels, soft, NUM_CLASSES)

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    @property
    def corpus_weights(self) -> dict[str, float]:
        """Current corpus-wise weights w_d (the ones the next epoch will use)."""
        return dict(zip(self.corpora, self._applied(self._weights).tolist(), strict=True))

    def _applied(self, weights):
        """The weights the loss uses, from the rule's own (``self._weights``, its state; see CorpusWeighting)."""
        return weights if self._weighting is None else self._weighting.applied(weights)

    def _draw(self, size: int, need: int) -> np.ndarray:
        """``need`` positions of ``range(size)``: a permutation, chained with fresh ones if one is too short."""
        reps = -(-need // size)
        return np.concatenate([self._rng.permutation(size) for _ in range(reps)])[:need]

    def _plan_epoch(self) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """Local positions of every step's batch, every labeled row's α, and its loss coefficient w_d·α_i/(D·M).

        α (eq. 1) is per corpus minibatch, shape (steps, D, M); pooled sampling has one minibatch of
        D·M rows per step, shape (steps, 1, D·M).
        """
        steps, batch, n_corpora = self._steps, self.config.batch_size, len(self.corpora)
        if self._pooled:
            labeled = self._draw(self._num_labeled, steps * n_corpora * batch).reshape(steps, n_corpora * batch)
            groups = 1
        else:
            labeled = np.empty((steps, n_corpora * batch), dtype=np.int64)
            for d, (offset, size) in enumerate(zip(self._offsets, self._sizes, strict=True)):
                # An independent permutation per corpus; the tail beyond the last full minibatch is unused.
                labeled[:, d * batch : (d + 1) * batch] = self._draw(size, steps * batch).reshape(steps, batch) + offset
            groups = n_corpora
        blocks = [labeled]
        if self._unlabeled_size:
            need = steps * self.params.pel_batch_size
            # The unlabeled corpus may be smaller than one epoch's need: chain fresh permutations.
            blocks.append(self._draw(self._unlabeled_size, need).reshape(steps, -1) + self._num_labeled)
        index = np.concatenate(blocks, axis=1)
        step_labels = self._labels[torch.from_numpy(labeled)].view(steps, groups, -1)
        alpha = class_weights(step_labels, NUM_CLASSES)  # eq. (1), per corpus minibatch
        applied = self._applied(self._weights)
        w = torch.as_tensor(applied if not self._pooled else applied[:1], dtype=torch.float32)
        coef = (alpha * w.view(1, groups, 1) / (n_corpora * batch)).view(steps, n_corpora * batch)  # eq. (2)
        return index, alpha, coef

    # ------------------------------------------------------------------ training
    def _train_epoch(self) -> tuple[dict[str, float], dict[str, float]]:
        """One epoch of steps; returns the mean loss terms and each corpus's mean eq. (1) loss."""
        index, alpha, coef = self._plan_epoch()
        rows = self._local_rows[index]  # table rows of every step's batch
        index = torch.from_numpy(index)
        n_corpora, batch = len(self.corpora), self.config.batch_size
        n_lab = n_corpora * batch
        names = ["ce", *(t.term_name for t in self._terms)]
        sums = torch.zeros(len(names) + 1)
        corpus_sums = torch.zeros(n_corpora)
        by_corpus = not self._pooled
        weights = torch.as_tensor(self._weights, dtype=torch.float32)  # the rule's own; the loss uses applied ones
        model, optimizer, targets = self.model, self.optimizer, self._targets
        needs_reconstruction = model.has_reconstruction
        model.train()
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._torch_rng_state)
            for t in range(self._steps):
                x = self._read(rows[t])
                y = targets.index_select(0, index[t, :n_lab])  # labeled rows come first in a batch
                reconstruction = None
                if needs_reconstruction:
                    logits, reconstruction = model.logits_and_reconstruction(x)
                else:
                    logits = model(x)
                log_probs = F.log_softmax(logits, dim=1)
                lab = log_probs[:n_lab]
                if self._sample_loss is not None:
                    per_sample = self._sample_loss.per_sample(lab, y)
                else:
                    per_sample = cross_entropy_per_sample(lab, y)
                step_coef = coef[t]
                if by_corpus:
                    with torch.no_grad():  # eq. (1) of each corpus's minibatch, for the record and per-step rules
                        corpus_losses = (per_sample.detach().view(n_corpora, batch) * alpha[t]).mean(dim=1)
                        corpus_sums += corpus_losses
                    if self._per_step:
                        assert self._weighting is not None
                        weights = self._weighting.after_step(weights, corpus_losses)
                        applied = self._weighting.applied(weights)
                        step_coef = (alpha[t] * applied.view(n_corpora, 1) / (n_corpora * batch)).view(-1)
                terms = [(per_sample * step_coef).sum()]
                if self._terms:
                    step = StepOutputs(x, log_probs, n_lab, reconstruction)
                    terms += [term.term(step) for term in self._terms]
                total = sum(terms[1:], terms[0])
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                with torch.no_grad():  # running sums for the epoch record; one .tolist() at the end
                    sums += torch.stack([*terms, total])
            self._torch_rng_state = torch.get_rng_state()
        if self._per_step:
            self._weights = weights.to(torch.float64).numpy()
        steps = max(self._steps, 1)
        means = (sums / steps).tolist()
        if not math.isfinite(means[-1]):
            raise NonFiniteLoss(
                f"the training loss became {means[-1]} in epoch {self.epoch + 1} (method {self.method.name}, "
                f"seed {self.config.seed}); check the features for NaN or huge values and the learning rate"
            )
        corpus_loss = dict(zip(self.corpora, (corpus_sums / steps).tolist(), strict=True)) if by_corpus else {}
        return dict(zip([*names, "total"], means, strict=True)), corpus_loss

    @torch.inference_mode()
    def predict(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted class indices of (already normalised) features, in batches of ``eval_batch_size``."""
        x = features if isinstance(features, torch.Tensor) else _as_float32(features)
        self.model.eval()
        bs = self.config.eval_batch_size
        preds = [self.model(x[i : i + bs]).argmax(dim=1) for i in range(0, len(x), bs)]
        return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)

    @torch.inference_mode()
    def predict_rows(self, rows: np.ndarray) -> np.ndarray:
        """Predicted class indices of table rows, read and normalised ``eval_batch_size`` rows at a time."""
        self.model.eval()
        bs = self.config.eval_batch_size
        preds = [self.model(self._read(rows[i : i + bs])).argmax(dim=1) for i in range(0, len(rows), bs)]
        return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)

    def _ua(self, rows: np.ndarray) -> float:
        return unweighted_accuracy(self.task.table.labels[rows], self.predict_rows(rows), NUM_CLASSES)

    def _run_epoch(self) -> EpochRecord:
        start = time.perf_counter()
        lr = float(self.optimizer.param_groups[0]["lr"])
        used = self.corpus_weights
        losses, corpus_loss = self._train_epoch()
        train_ua = {c: self._ua(rows) for c, rows in self._eval_rows["train"].items()}
        valid_ua = {c: self._ua(rows) for c, rows in self._eval_rows["valid"].items()}
        release_freed_memory()  # evaluation's chunk buffers: not worth keeping across the next epoch
        mean_valid = float(np.mean(list(valid_ua.values())))
        self.epoch += 1
        if mean_valid > self._best_score:
            self._best_score, self._best_epoch, self._bad_epochs = mean_valid, self.epoch, 0
            self._best_state = _clone_state(self.model.state_dict())
        else:
            self._bad_epochs += 1
        self.scheduler.step(mean_valid)
        if self._weighting is not None:  # Algorithm 1, line 8
            signals = EpochSignals(
                train_ua=np.array([train_ua[c] for c in self.corpora]),
                valid_ua=np.array([valid_ua[c] for c in self.corpora]),
                train_loss=np.array([corpus_loss.get(c, np.nan) for c in self.corpora]),
            )
            self._weights = np.asarray(self._weighting.after_epoch(self._weights, signals), dtype=np.float64)
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
            train_loss=corpus_loss,
            seconds=time.perf_counter() - start,
        )
        self.history.append(record)
        return record

    @property
    def stopping(self) -> bool:
        """Whether training ends after the epoch just finished (early stopping or the epoch cap)."""
        return self._stop_reason() is not None

    def _stop_reason(self) -> str | None:
        if self.config.early_stopping and self._bad_epochs >= self.config.patience:
            return "early_stopping"
        if self.epoch >= self.config.max_epochs:
            return "max_epochs"
        return None

    def fit(self, callbacks: Sequence[Callback] = (), resume_from: str | Path | None = None) -> TrainResult:
        """Train until early stopping, ``max_epochs`` or a callback's stop; then evaluate every test corpus.

        ``resume_from`` loads a :meth:`save_checkpoint` file first; the run then continues exactly as
        the uninterrupted one would (identical history and metrics). At the end the best epoch's
        weights are loaded into ``self.model``; calling ``fit`` again continues from the last epoch.
        Raises :class:`NonFiniteLoss` when the loss becomes NaN or infinite.
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
        tests = {}
        for name, rows in self.task.tests.items():
            truth, pred = self.task.table.labels[rows], self.predict_rows(rows)
            tests[name] = TestResult(unweighted_accuracy(truth, pred, NUM_CLASSES), weighted_accuracy(truth, pred),
                                     confusion_matrix(truth, pred, NUM_CLASSES).tolist())
        held_out = tests.get(self.task.holdout) if self.task.holdout is not None else None
        release_freed_memory()
        return TrainResult(
            method=self.method.name,
            corpora=list(self.corpora),
            best_epoch=self._best_epoch,
            best_mean_valid_ua=self._best_score,
            history=list(self.history),
            test_ua=held_out.ua if held_out else math.nan,
            test_wa=held_out.wa if held_out else math.nan,
            test_confusion=held_out.confusion if held_out else [],
            corpus_weights=self.corpus_weights,
            stopped_early=reason == "early_stopping",
            stop_reason=reason,
            tests=tests,
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
        """Write everything needed to resume to ``path``, whole or not at all (:func:`~distser.files.atomic_write`)."""
        path = Path(path)
        with atomic_write(path) as stream:
            torch.save(self._checkpoint(), stream)
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
