"""What a method component is: its name, its hyperparameters (with search ranges), its hooks into training.

A training *method* is a ``+``-joined set of components (``cww+pel-al``). Every component is one class
in one module of this package, derived from one of the kinds below and decorated with :func:`register`;
the package imports every module, so adding a component is adding a module. The trainer calls the
hooks of the kind; the search reads the hyperparameters' ranges; the report and MLflow read their names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

    from ._parse import Method

# ---------------------------------------------------------------------------------------------------
# Hyperparameters


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a component.

    Attributes:
        name: unique over all components (a trial's config is flat), e.g. ``"lambda_w"``.
        default: the paper's value where the paper has one (``--paper-params`` trains at defaults).
        doc: one line for ``--help`` and the docs.
        minimum, maximum: the valid values (inclusive; None: unbounded).
        choices: the valid values of a categorical hyperparameter.
        search: what a study searches: ``(low, high)`` for a number, a tuple of choices for a
            categorical one; None: not searched (fixed at its value).
        log: search on a log scale.
        integer: the value is an int.
        grid: the paper's grid (§3.3), run by ``--grid``; empty: fixed at the default there.

    Example:
        >>> h = Hyperparameter("gamma", 2.0, "focusing", minimum=0, search=(0.0, 5.0))
        >>> h.check(3), h.searched
        (3.0, True)
        >>> h.check(-1)
        Traceback (most recent call last):
        ...
        ValueError: gamma must be >= 0, got -1
    """

    name: str
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    search: tuple | None = None
    log: bool = False
    integer: bool = False
    grid: tuple = ()

    def __post_init__(self) -> None:
        self.check(self.default)
        for value in self.grid:
            self.check(value)
        if self.search is not None:
            if self.choices:
                for value in self.search:
                    self.check(value)
            else:
                low, high = self.search
                self.check(low)
                self.check(high)
                if not low < high or (self.log and low <= 0):
                    raise ValueError(f"{self.name}: bad search range {self.search}")

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    @property
    def searched(self) -> bool:
        return self.search is not None

    def check(self, value: Any) -> Any:
        """The value in canonical type (float, int or str); ValueError naming the hyperparameter if invalid."""
        if self.categorical:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if self.integer and float(value) != int(value):
            raise ValueError(f"{self.name} must be an integer, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} must be >= {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name} must be <= {self.maximum:g}, got {value!r}")
        return int(value) if self.integer else float(value)

    def describe(self) -> str:
        """``name=default`` with the search range, for help texts."""
        if self.search is None:
            where = "fixed"
        elif self.categorical:
            where = "searched over " + "|".join(self.search)
        else:
            where = f"searched in [{self.search[0]:g}, {self.search[1]:g}]" + (" (log)" if self.log else "")
        return f"{self.name}={self.default} ({where}): {self.doc}"


# ---------------------------------------------------------------------------------------------------
# Components and their kinds


@dataclass
class StepOutputs:
    """What one training step computed, for :class:`LossTerm` hooks.

    ``x`` holds the step's normalised inputs, labeled rows first (``labeled`` of them), then the
    unlabeled corpus's rows; ``log_probs`` are the model's log-softmax outputs for all of them.
    """

    x: Tensor
    log_probs: Tensor
    labeled: int
    reconstruction: Tensor | None = None

    @property
    def labeled_log_probs(self) -> Tensor:
        return self.log_probs[: self.labeled]

    @property
    def unlabeled_log_probs(self) -> Tensor:
        return self.log_probs[self.labeled:]


@dataclass
class EpochSignals:
    """Per-corpus measurements of one epoch (arrays in the trainer's corpus order) for weighting rules.

    ``train_ua``: UA on each corpus's whole training portion after the epoch (eval mode);
    ``valid_ua``: UA on its validation portion; ``train_loss``: mean over the epoch's steps of each
    corpus's eq. (1) minibatch loss (before corpus weights).
    """

    train_ua: np.ndarray
    valid_ua: np.ndarray
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Component:
    """A method component. Subclass one of the kinds below, not this class.

    Class attributes a component sets: ``name``, ``summary``, ``order`` (its place in canonical method
    names and among loss terms), optionally ``aliases``, ``hyperparameters``, ``needs_unlabeled``,
    ``slot`` (components sharing a slot exclude each other; each kind but :class:`LossTerm` is one
    slot), ``citation``.
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    order: ClassVar[int] = 0
    aliases: ClassVar[tuple[str, ...]] = ()
    slot: ClassVar[str | None] = None
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()
    needs_unlabeled: ClassVar[bool] = False

    def __init__(self, params: MethodParams) -> None:
        self.params = params


class TargetRule(Component):
    """The target distribution of every labeled training row (one-hot when a method has none)."""

    kind = "targets"
    slot = "targets"

    def targets(self, labels: Tensor, soft_labels: Tensor | None, num_classes: int) -> Tensor:
        raise NotImplementedError


class SampleLoss(Component):
    """The loss of one labeled row given its target (cross-entropy when a method has none)."""

    kind = "sample loss"
    slot = "sample loss"

    def per_sample(self, log_probs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError


class LossTerm(Component):
    """A term added to the classification loss of every step, logged as ``loss/<term_name>``."""

    kind = "loss term"
    term_name: ClassVar[str] = ""
    needs_reconstruction: ClassVar[bool] = False

    def term(self, step: StepOutputs) -> Tensor:
        raise NotImplementedError


class CorpusWeighting(Component):
    """How much each training corpus counts in the loss (eq. 2's w_d), or how minibatches are drawn.

    ``pooled``: draw each step's labeled rows from all training corpora pooled (corpus sizes then act
    as weights) instead of ``batch_size`` rows from every corpus. ``per_step``: :meth:`after_step`
    updates the weights after every step from the step's per-corpus losses.
    """

    kind = "weighting"
    slot = "weighting"
    pooled: ClassVar[bool] = False
    per_step: ClassVar[bool] = False

    def after_step(self, weights: Tensor, corpus_losses: Tensor) -> Tensor:
        """The rule's weights after this step, from its previous ones and this step's per-corpus losses."""
        return weights

    def applied(self, weights: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """The weights the loss uses, from the rule's own (identity by default).

        A rule that carries its weights from update to update (``dro``) mixes them here, so that what
        only shapes the loss (a floor) never enters the state its next update starts from.
        """
        return weights

    def after_epoch(self, weights: np.ndarray, signals: EpochSignals) -> np.ndarray:
        """Weights for the next epoch (Algorithm 1, line 8)."""
        return weights

    @classmethod
    def moves_weights(cls) -> bool:
        """Whether the rule changes the corpus weights while training (it updates them after a step or an
        epoch); ``merged`` only draws its minibatches differently, its weights stay 1."""
        return cls.after_step is not CorpusWeighting.after_step or cls.after_epoch is not CorpusWeighting.after_epoch


KINDS: tuple[type[Component], ...] = (CorpusWeighting, TargetRule, SampleLoss, LossTerm)

# ---------------------------------------------------------------------------------------------------
# The registry

#: Registered components by name, in registration order (sorted by ``order`` on import).
REGISTRY: dict[str, type[Component]] = {}
#: Every hyperparameter of every component, by name.
HYPERPARAMETERS: dict[str, Hyperparameter] = {}
#: Alternative spellings of component names.
ALIASES: dict[str, str] = {}
#: The base loss (eq. 1) is not a component: ``ce`` alone, or ``ce+X`` == ``X``.
BASE = "ce"


def register(cls: type[Component]) -> type[Component]:
    """Class decorator: make a component known by its name (checks name, kind and hyperparameter clashes)."""
    if not any(issubclass(cls, kind) for kind in KINDS):
        raise TypeError(f"{cls.__name__} must derive from one of {', '.join(k.__name__ for k in KINDS)}")
    names = (cls.name, *cls.aliases)
    taken = [n for n in names if n in REGISTRY or n in ALIASES or n == BASE or "+" in n or not n]
    if taken:
        raise ValueError(f"component name {taken[0]!r} of {cls.__name__} is empty, taken or contains '+'")
    for hp in cls.hyperparameters:
        known = HYPERPARAMETERS.get(hp.name)
        if known is not None and known != hp:
            raise ValueError(f"hyperparameter {hp.name!r} of {cls.name!r} differs from the one already declared")
    REGISTRY[cls.name] = cls
    ALIASES.update(dict.fromkeys(cls.aliases, cls.name))
    HYPERPARAMETERS.update((hp.name, hp) for hp in cls.hyperparameters)
    return cls


# ---------------------------------------------------------------------------------------------------
# Parameter values


class MethodParams(Mapping[str, Any]):
    """Values of the components' hyperparameters by name (the registry's defaults where not given).

    Immutable and hashable; iterating gives every known hyperparameter. :meth:`of` picks one method's.

    Example:
        >>> p = MethodParams(lambda_w=2)
        >>> p.lambda_w, p.lambda_l, p["lambda_w"]
        (2.0, 0.001, 2.0)
        >>> MethodParams(lamda_w=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown hyperparameter 'lamda_w'; known: ...
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        given = {**(values or {}), **kwargs}
        unknown = sorted(set(given) - set(HYPERPARAMETERS))
        if unknown:
            raise ValueError(f"unknown hyperparameter {unknown[0]!r}; known: {', '.join(sorted(HYPERPARAMETERS))}")
        values = {name: hp.check(given[name]) if name in given else hp.default for name, hp in HYPERPARAMETERS.items()}
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("MethodParams is immutable; use replace()")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MethodParams) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values.items() if v != HYPERPARAMETERS[k].default}
        return f"MethodParams({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __reduce__(self):
        return (MethodParams, (dict(self._values),))

    def replace(self, **changes: Any) -> MethodParams:
        return MethodParams({**self._values, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def of(self, method: Method | str) -> dict[str, Any]:
        """The values of ``method``'s own hyperparameters."""
        from ._parse import parse_method

        return {hp.name: self._values[hp.name] for hp in parse_method(method).hyperparameters}


# ---------------------------------------------------------------------------------------------------
# Hyperparameters shared by several components (declared once: a trial's config is flat)

#: ε of uniform (``ls``) and unigram label smoothing [17].
SMOOTHING = Hyperparameter("smoothing", 0.1, "label smoothing ε: target = (1-ε)·one-hot + ε·prior",
                           minimum=0.0, maximum=1.0, search=(0.0, 0.4))
#: Minibatch size M of the unlabeled corpus (eq. 4), for ``pel-*`` and ``unsup``.
UNLABELED_BATCH = Hyperparameter("pel_batch_size", 32, "minibatch size M of the unlabeled corpus (eq. 4)",
                                 minimum=1, integer=True)
#: Mixing corpus weights with equal weights, so that no corpus is switched off.
WEIGHT_FLOOR = Hyperparameter("weight_floor", 0.0, "mix the corpus weights with equal ones: w <- (1-ρ)·w + ρ, "
                              "so every weight stays in [ρ, D-(D-1)ρ] (0: off)",
                              minimum=0.0, maximum=1.0, search=(0.0, 0.5))


def mix_with_uniform(weights, floor: float):
    """``(1 - floor)·w + floor``: weights of mean 1 keep mean 1 and become >= ``floor`` (identity at 0).

    Example:
        >>> mix_with_uniform(np.array([0.0, 3.0, 0.0]), 0.5).tolist()
        [0.5, 2.0, 0.5]
    """
    return weights if floor == 0 else (1.0 - floor) * weights + floor
