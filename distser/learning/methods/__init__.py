"""Training methods as composable components: one module per component, found and registered on import.

A method is a ``+``-joined list of components, e.g. ``"cww+pel-al"``; plain ``ce`` (eq. 1) is the base
of every method. Each component is a class in its own module of this package, derived from one kind —
:class:`CorpusWeighting` (how much each training corpus counts), :class:`TargetRule` (targets of
labeled rows), :class:`SampleLoss` (loss per row), :class:`LossTerm` (a term added to the loss) —
and decorated with :func:`register`. It declares its hyperparameters with their search ranges; the
trainer calls its hooks, the search searches its ranges, the report and MLflow read its names.
Adding a component is adding a module here (``python -m distser search --help`` lists them).
Components import torch (and :mod:`distser.learning._losses`) inside their hooks, not at the top,
so that listing them (``--help``, configuration checks) does not load torch.

Example:
    >>> from distser.learning.methods import REGISTRY, parse_method
    >>> {"cww", "dro", "pel-al"} <= set(REGISTRY)
    True
    >>> parse_method("cww+unigram").name
    'cww+unigram'
"""

import importlib
import pkgutil

from ._base import (
    ALIASES,
    BASE,
    HYPERPARAMETERS,
    KINDS,
    REGISTRY,
    Component,
    CorpusWeighting,
    EpochSignals,
    Hyperparameter,
    LossTerm,
    MethodParams,
    SampleLoss,
    StepOutputs,
    TargetRule,
    register,
)
from ._parse import TABLE2_METHODS, Method, components_help, method_order, one_corpus_warning, parse_method

# Every other private module of this package holds one component: import them all, then keep the
# registry in canonical order (the order of names in a method and of its loss terms).
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module.startswith("_") and _module not in ("_base", "_parse"):
        importlib.import_module(f"{__name__}.{_module}")
_ordered = sorted(REGISTRY.values(), key=lambda c: (c.order, c.name))
REGISTRY.clear()
REGISTRY.update((c.name, c) for c in _ordered)

#: ``ce`` and every registered component name, in canonical order (aliases excluded).
COMPONENTS: tuple[str, ...] = (BASE, *REGISTRY)

__all__ = [
    "ALIASES",
    "BASE",
    "COMPONENTS",
    "HYPERPARAMETERS",
    "KINDS",
    "REGISTRY",
    "TABLE2_METHODS",
    "Component",
    "CorpusWeighting",
    "EpochSignals",
    "Hyperparameter",
    "LossTerm",
    "Method",
    "MethodParams",
    "SampleLoss",
    "StepOutputs",
    "TargetRule",
    "components_help",
    "method_order",
    "one_corpus_warning",
    "parse_method",
    "register",
]
