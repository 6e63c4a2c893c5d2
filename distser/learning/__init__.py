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

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use so that `--help` stays fast (distser._lazy).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._losses": (
        "class_prior", "class_weights", "confidence_penalty", "corpus_weights", "cross_entropy_per_sample",
        "entropy", "focal_loss", "focal_per_sample", "multi_corpus_loss", "one_hot_targets", "pel_loss",
        "pel_target", "power_weights", "reconstruction_loss", "soft_label_targets", "uniform_smoothing_targets",
        "unigram_smoothing_targets", "weighted_cross_entropy",
    ),
    "._metrics": ("confusion_matrix", "unweighted_accuracy", "weighted_accuracy",),
    "._model": ("PAPER_HIDDEN", "EmotionClassifier", "count_linear_macs",),
    "._runtime": ("keep_freed_memory", "release_freed_memory",),
    "._synthetic": ("synthetic_task",),
    "._trainer": (
        "Callback", "CheckpointCallback", "EpochRecord", "NonFiniteLoss", "StopTraining", "TestResult",
        "TrainConfig", "Trainer", "TrainResult", "train",
    ),
    ".methods": (
        "ALIASES", "COMPONENTS", "HYPERPARAMETERS", "REGISTRY", "TABLE2_METHODS", "Hyperparameter", "Method",
        "MethodParams", "components_help", "method_order", "one_corpus_warning", "parse_method",
    ),
})
