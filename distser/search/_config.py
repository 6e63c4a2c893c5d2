"""Configuration of a search, mirroring the objects it builds; also its TOML form (``distser search --config``).

Every field is a key of the experiment file: ``[data]``, ``[study]``, ``[training]``, ``[scheduler]``,
``[resources]``, ``[tracking]`` and the top-level ``name``. Each class checks its own values, so a bad
setting fails before Ray starts or any data is read, with a message naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from distser.config import ConfigError
from distser.define import EXPERIMENT, PAPER_FEATURE_SET, PAPER_HIDDEN
from distser.learning import HYPERPARAMETERS, MethodParams, parse_method

#: Protocols: leave-one-corpus-out over the pool, within-corpus folds, or one model on the whole pool.
PROTOCOLS = ("loco", "within", "pool")
#: How a study chooses its configurations: Optuna + ASHA, the paper's grid, or the paper's values only.
MODES = ("search", "grid", "paper")
#: Training settings a study may search besides the methods' hyperparameters, with their ranges.
TRAINING_SPACE: dict[str, tuple[float, float, bool]] = {  # name -> (low, high, log scale)
    "lr": (5e-5, 1e-3, True),
    "dropout": (0.1, 0.7, False),
    "min_steps_per_epoch": (0, 60, False),
}
#: Names of searches (and of MLflow parent runs): safe in MLflow filters, paths and URIs.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _positive(section: str, **values: float | None) -> None:
    for key, value in values.items():
        if value is not None and value < 1:
            raise ConfigError(f"{section}.{key} must be >= 1, got {value}")


def check_name(name: str, what: str = "name") -> str:
    """A search name: letters, digits, ``.``, ``_``, ``-`` (no quotes, spaces or slashes), at most 100."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"{what} {name!r} is not a valid search name: use letters, digits, '.', '_' and '-' "
                          "(starting with a letter or digit, at most 100 characters)")
    return name


#: The budget of a search on the embedded synthetic corpora (no ``data.store``): the README's main command
#: ``distser search`` with no arguments is a demo of minutes that still shows every held-out corpus, Optuna +
#: ASHA, a selection, a registered model and the summary. It lies under the user's settings (any setting
#: given wins) and applies to new searches only. One place: a setting the demo must also search goes here.
EMBEDDED_RUN: dict[str, dict[str, Any]] = {
    "study": {"seeds": 2, "samples": 3},
    "training": {"max_epochs": 20},
    "scheduler": {"grace_period": 3},
    "data": {"synthetic_scale": 0.03},
}


@dataclass
class DataConfig:
    """Where the features come from and how they are split.

    ``store`` None means the embedded synthetic default (written under the storage folder).
    ``train_corpora`` is the pool that LOCO holds out in turn (default: every labelled corpus that is
    not test-only); ``test_corpora`` are only evaluated, never trained, validated, stopped or
    selected on; ``holdouts`` restricts LOCO to some corpora of the pool.
    ``normalization``: how features are normalised (:class:`distser.features.Normalization`:
    ``global``, ``corpus``, ``speaker``, each also ``-robust``); several values make it a searched
    choice of every study, one value fixes it. ``adapt_target``: targets (held-out, test-only and
    held-back corpora) are normalised by their own features (never their labels) under ``corpus`` and
    ``speaker``; off, by the training rows' statistics. ``min_speaker_utterances``: a speaker with
    fewer is normalised with their corpus's statistics.
    ``feature_set``: the store's feature set (an openSMILE one, or an ``ssl-<model>-L<layer>`` folder of
    ``distser extract --feature-set ssl``); several (a list, or a comma list) make it a study dimension like
    the held-out corpus: one study per (method, held-out corpus, feature set), each set read once. One set is
    kept as a string, several as a list (:attr:`feature_sets` reads both).
    """

    store: str | None = None
    feature_set: str | list[str] = PAPER_FEATURE_SET
    train_corpora: list[str] = field(default_factory=list)
    test_corpora: list[str] = field(default_factory=list)
    holdouts: list[str] = field(default_factory=list)
    unlabeled: str | None = None
    protocol: str = "loco"
    synthetic_scale: float = 0.05
    normalization: list[str] = field(default_factory=lambda: ["global"])
    adapt_target: bool = True
    min_speaker_utterances: int = 10

    def __post_init__(self) -> None:
        from distser.features import FEATURE_SETS, is_ssl_feature_set, normalization_names

        given = [self.feature_set] if isinstance(self.feature_set, str) else list(self.feature_set)
        names = list(dict.fromkeys(name.strip() for text in given for name in text.split(",") if name.strip()))
        if not names:
            raise ConfigError(f"data.feature_set is empty: name at least one (e.g. {PAPER_FEATURE_SET})")
        unknown = [n for n in names if n not in FEATURE_SETS and not is_ssl_feature_set(n)]
        if unknown:
            raise ConfigError(f"data.feature_set {unknown[0]!r} is unknown; choose one of {', '.join(FEATURE_SETS)}, "
                              "or a store's ssl-<model>-L<layer> folder (distser extract --feature-set ssl)")
        self.feature_set = names[0] if len(names) == 1 else names  # one set: a string, as before there were several
        if not self.normalization:
            raise ConfigError("data.normalization is empty: name at least one (e.g. global, corpus, speaker)")
        unknown = [n for n in self.normalization if n not in normalization_names()]
        if unknown:
            raise ConfigError(f"data.normalization: unknown normalisation {unknown[0]!r} "
                              f"(choose from {', '.join(normalization_names())})")
        self.normalization = list(dict.fromkeys(self.normalization))
        _positive("data", min_speaker_utterances=self.min_speaker_utterances)
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"data.protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if not self.synthetic_scale > 0:
            raise ConfigError(f"data.synthetic_scale must be > 0, got {self.synthetic_scale}")
        both = sorted(set(self.test_corpora) & (set(self.train_corpora) | set(self.holdouts)))
        if both:
            raise ConfigError(f"corpus {both[0]!r} is a test corpus and also a training or held-out corpus")
        if self.train_corpora and set(self.holdouts) - set(self.train_corpora):
            extra = sorted(set(self.holdouts) - set(self.train_corpora))
            raise ConfigError(f"held-out corpus {extra[0]!r} is not in data.train_corpora {self.train_corpora}")
        if self.protocol == "pool" and self.holdouts:
            raise ConfigError("data.holdouts does not apply to the pool protocol (nothing is held out)")
        self.check_unlabeled(self.train_corpora)

    def check_unlabeled(self, pool: list[str]) -> None:
        """ConfigError if the unlabeled corpus is also trained or tested on: a test corpus, a held-out one, or
        one of ``pool`` (the training corpora: LOCO holds each out in turn, leave-one-train-corpus-out holds
        each back). Its labels are never read, but its audio enters every step of the unlabeled terms."""
        if self.unlabeled is None:
            return
        role = ("a test corpus (--test-corpus)" if self.unlabeled in self.test_corpora
                else "a held-out corpus (--holdout)" if self.unlabeled in self.holdouts
                else f"a training corpus of the pool {sorted(pool)}" if self.unlabeled in pool else None)
        if role:
            raise ConfigError(f"--unlabeled {self.unlabeled!r} is also {role}: its audio would enter training; "
                              "choose an unlabeled corpus that is neither trained nor tested on")

    @property
    def feature_sets(self) -> list[str]:
        """The feature sets of the search, in the order given (each its own studies)."""
        return [self.feature_set] if isinstance(self.feature_set, str) else list(self.feature_set)

    @property
    def default_normalization(self) -> str:
        """The first proposal's normalisation: the paper's (``global``) when searched, else the first given."""
        return "global" if "global" in self.normalization else self.normalization[0]

    def normalizations(self) -> list:
        """Every searched normalisation as a :class:`distser.features.Normalization`."""
        from distser.features import Normalization

        return [Normalization.parse(name, adapt_target=self.adapt_target,
                                    min_speaker_rows=self.min_speaker_utterances) for name in self.normalization]


@dataclass
class StudyConfig:
    """One study per (method, held-out corpus): its configurations, seeds and selection.

    ``mode``: ``search`` (Optuna proposes ``samples`` configurations, ASHA stops weak trials),
    ``grid`` (the paper's grid), ``paper`` (the paper's values, nothing searched). ``selection``:
    ``eval_seeds``: seeds the selected configuration is trained and reported with (default: ``seeds``;
    more than ``seeds`` makes the final comparison tighter without paying for them in every proposal).
    ``train-domain`` (mean validation UA of the training corpora) or ``leave-one-train-corpus-out``
    (each configuration is also trained without one training corpus in turn and scored on it; the
    best one is retrained on the whole pool). ``tune``: training settings searched too
    (:data:`TRAINING_SPACE`). ``params``: hyperparameter values fixed for every study (not searched);
    ``ranges``: search ranges (``[low, high]`` or a list of choices) that replace the components' own.
    ``start_at_defaults``: Optuna's first proposal is the defaults (the paper's values, where they lie in
    the searched ranges), so the published configuration is always among the candidates.
    """

    methods: list[str] = field(default_factory=lambda: ["ce", "cww+pel-al"])  # the baseline and the paper's
    seeds: int = 5
    eval_seeds: int | None = None
    samples: int = 4
    mode: str = "search"
    selection: str = "train-domain"
    tune: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    ranges: dict[str, list[Any]] = field(default_factory=dict)
    sampler_seed: int = 0
    start_at_defaults: bool = True

    def __post_init__(self) -> None:
        from ._selection import STRATEGIES

        if not self.methods:
            raise ConfigError("study.methods is empty: name at least one method (e.g. ce, cww, cww+pel-al)")
        try:
            self.methods = list(dict.fromkeys(parse_method(m).name for m in self.methods))
            MethodParams(self.params)
        except ValueError as error:
            raise ConfigError(f"study: {error}") from None
        _positive("study", seeds=self.seeds, samples=self.samples, eval_seeds=self.eval_seeds)
        if self.eval_seeds is not None and self.eval_seeds < self.seeds:
            raise ConfigError(f"study.eval_seeds ({self.eval_seeds}) must be >= study.seeds ({self.seeds})")
        if self.mode not in MODES:
            raise ConfigError(f"study.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.selection not in STRATEGIES:
            raise ConfigError(f"study.selection must be one of {', '.join(STRATEGIES)}, got {self.selection!r}")
        unknown = sorted(set(self.tune) - set(TRAINING_SPACE))
        if unknown:
            raise ConfigError(f"study.tune: {unknown[0]!r} is not a training setting a study can search "
                              f"({', '.join(TRAINING_SPACE)})")
        for name, bounds in self.ranges.items():
            self._check_range(name, bounds)

    def _check_range(self, name: str, bounds: list[Any]) -> None:
        if name in TRAINING_SPACE:
            valid = {"lr": lambda v: v > 0, "dropout": lambda v: 0 <= v < 1, "min_steps_per_epoch": lambda v: v >= 0}
            if (len(bounds) != 2 or not all(isinstance(v, int | float) for v in bounds) or not bounds[0] < bounds[1]
                    or not all(valid[name](v) for v in bounds)):
                raise ConfigError(f"study.ranges.{name} must be [low, high] with low < high and valid values "
                                  f"(lr > 0, 0 <= dropout < 1, min_steps_per_epoch >= 0), got {bounds}")
            return
        hp = HYPERPARAMETERS.get(name)
        if hp is None:
            known = ", ".join([*HYPERPARAMETERS, *TRAINING_SPACE])
            raise ConfigError(f"study.ranges: unknown hyperparameter {name!r} (known: {known})")
        try:
            values = [hp.check(v) for v in bounds]
        except ValueError as error:
            raise ConfigError(f"study.ranges.{name}: {error}") from None
        if not hp.categorical and (len(values) != 2 or not values[0] < values[1] or (hp.log and values[0] <= 0)):
            raise ConfigError(f"study.ranges.{name} must be [low, high] with low < high"
                              f"{' and low > 0 (log scale)' if hp.log else ''}, got {bounds}")


@dataclass
class TrainingConfig:
    """What every trial's trainer gets (the paper's settings by default, §3.3)."""

    max_epochs: int = 100
    patience: int = 5
    early_stopping: bool = True  # off: every trial runs exactly max_epochs (benchmarks)
    min_steps_per_epoch: int = 0  # 0: the paper's rule, the smallest corpus's number of minibatches
    batch_size: int = 32
    lr: float = 2e-4
    lr_patience: int = 2
    lr_factor: float = 0.1
    dropout: float = 0.5
    hidden: list[int] = field(default_factory=lambda: list(PAPER_HIDDEN))
    checkpoint_seconds: float = 60.0  # a checkpoint (~55 MB) costs ~0.25 s: time-based bounds it below 1 %
    threads: int = 1  # torch threads per trial

    def __post_init__(self) -> None:
        _positive("training", max_epochs=self.max_epochs, patience=self.patience, batch_size=self.batch_size,
                  threads=self.threads)
        if self.min_steps_per_epoch < 0:
            raise ConfigError(f"training.min_steps_per_epoch must be >= 0, got {self.min_steps_per_epoch}")
        if not self.lr > 0:
            raise ConfigError(f"training.lr must be > 0, got {self.lr}")
        if not 0 < self.lr_factor < 1 or self.lr_patience < 0:
            raise ConfigError(f"training.lr_factor must be in (0, 1) and lr_patience >= 0, "
                              f"got {self.lr_factor} and {self.lr_patience}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"training.dropout must be in [0, 1), got {self.dropout}")
        if len(self.hidden) < 2 or min(self.hidden) < 1:
            raise ConfigError(f"training.hidden needs >= 2 positive layer sizes, got {self.hidden}")
        if self.checkpoint_seconds < 0:
            raise ConfigError(f"training.checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}")


@dataclass
class SchedulerConfig:
    """ASHA on the running best mean validation UA of the training corpora, per study."""

    asha: bool = True
    grace_period: int = 5
    reduction_factor: float = 3.0

    def __post_init__(self) -> None:
        _positive("scheduler", grace_period=self.grace_period)
        if not self.reduction_factor > 1:
            raise ConfigError(f"scheduler.reduction_factor must be > 1, got {self.reduction_factor}")


@dataclass
class ResourcesConfig:
    """Where and how wide trials run (may change when a search is resumed)."""

    address: str | None = None  # a Ray cluster (default: RAY_ADDRESS, else a local Ray)
    cpus_per_trial: float = 1.0
    max_concurrent: int | None = None
    max_failures: int = 3  # retries of a trial whose node or process died (not of a trial whose loss diverged)

    def __post_init__(self) -> None:
        if not self.cpus_per_trial > 0:
            raise ConfigError(f"resources.cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        _positive("resources", max_concurrent=self.max_concurrent)
        if self.max_failures < 0:
            raise ConfigError(f"resources.max_failures must be >= 0, got {self.max_failures}")


@dataclass
class TrackingConfig:
    """Where results go: Tune's storage (checkpoints, the search's record) and MLflow.

    ``storage`` is a local folder or a URI (``s3://``, ``gs://``, ``file://``). ``uri`` is the MLflow
    tracking URI (default: a SQLite file in a local ``storage``). ``optuna_storage`` is Optuna's RDB
    URL (default: a SQLite file beside MLflow's, so optuna-dashboard can open the studies later).
    ``register_models``: log each selected configuration's model and register it (``distser-<method>``).
    ``keep_checkpoints``: keep every trial's last checkpoint (its best epoch's weights, ~14 MB) in Tune's
    storage after a finished search; by default they are deleted once the selected models are logged.
    """

    storage: str = "runs"
    uri: str | None = None
    experiment: str = EXPERIMENT
    optuna_storage: str | None = None
    register_models: bool = True
    keep_checkpoints: bool = False


@dataclass
class SearchConfig:
    """A whole search: what ``distser search --config FILE`` reads and ``--print-config`` writes.

    Example:
        >>> config = SearchConfig()
        >>> config.study.methods, config.training.max_epochs
        (['ce', 'cww+pel-al'], 100)
    """

    name: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name(self.name)


#: Sections that define what a search computes: a resumed search must not change them.
DEFINING_SECTIONS = ("data", "study", "training", "scheduler")
