"""Learning core: model F, the paper's losses and methods, metrics, and the Algorithm 1 trainer.

Consumes a :class:`distser.arrays.Task` or :class:`distser.arrays.IndexedTask`; the methods are
composable components (:mod:`distser.learning.methods`, one module each). Reports per-epoch
:class:`EpochRecord` objects to :class:`Callback` objects. Imports neither Ray nor MLflow
(``distser.search`` connects those).

Example:
    >>> from distser.learning import TrainConfig, synthetic_task, train
    >>> result = train(synthetic_task(seed=0), TrainConfig(method="cww+pel", max_epochs=1))
    >>> result.method, len(result.history), sorted(result.history[0].losses)
    ('cww+pel-al', 1, ['ce', 'pel', 'total'])
"""

from ._losses import (
    class_prior,
    class_weights,
    confidence_penalty,
    corpus_weights,
    cross_entropy_per_sample,
    entropy,
    focal_loss,
    focal_per_sample,
    multi_corpus_loss,
    one_hot_targets,
    pel_loss,
    pel_target,
    power_weights,
    reconstruction_loss,
    soft_label_targets,
    uniform_smoothing_targets,
    unigram_smoothing_targets,
    weighted_cross_entropy,
)
from ._metrics import confusion_matrix, unweighted_accuracy, weighted_accuracy
from ._model import PAPER_HIDDEN, EmotionClassifier, count_linear_macs
from ._runtime import keep_freed_memory, release_freed_memory
from ._synthetic import synthetic_task
from ._trainer import (
    Callback,
    CheckpointCallback,
    EpochRecord,
    NonFiniteLoss,
    StopTraining,
    TestResult,
    TrainConfig,
    Trainer,
    TrainResult,
    train,
)
from .methods import (
    ALIASES,
    COMPONENTS,
    HYPERPARAMETERS,
    REGISTRY,
    TABLE2_METHODS,
    Hyperparameter,
    Method,
    MethodParams,
    components_help,
    method_order,
    parse_method,
)

__all__ = [
    # methods
    "ALIASES",
    "COMPONENTS",
    "HYPERPARAMETERS",
    "REGISTRY",
    "TABLE2_METHODS",
    "Hyperparameter",
    "Method",
    "MethodParams",
    "components_help",
    "method_order",
    "parse_method",
    # model
    "PAPER_HIDDEN",
    "EmotionClassifier",
    "count_linear_macs",
    # losses
    "class_prior",
    "class_weights",
    "confidence_penalty",
    "corpus_weights",
    "cross_entropy_per_sample",
    "entropy",
    "focal_loss",
    "focal_per_sample",
    "multi_corpus_loss",
    "one_hot_targets",
    "pel_loss",
    "power_weights",
    "pel_target",
    "reconstruction_loss",
    "soft_label_targets",
    "uniform_smoothing_targets",
    "unigram_smoothing_targets",
    "weighted_cross_entropy",
    # metrics
    "confusion_matrix",
    "unweighted_accuracy",
    "weighted_accuracy",
    # data
    "synthetic_task",
    # runtime
    "keep_freed_memory",
    "release_freed_memory",
    # training
    "Callback",
    "CheckpointCallback",
    "EpochRecord",
    "NonFiniteLoss",
    "StopTraining",
    "TrainConfig",
    "TestResult",
    "TrainResult",
    "Trainer",
    "train",
]
