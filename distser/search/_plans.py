"""What a search trains: its feature store, its split plans and one study per (method, plan)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from optuna.distributions import CategoricalDistribution

from distser.config import ConfigError, to_dict
from distser.define import Param
from distser.features import FeatureStore, write_synthetic
from distser.files import cache_folder
from distser.learning import one_corpus_warning, parse_method
from distser.protocols import SplitPlan, labelled_corpora, loco, pool, unlabeled_corpora, within_corpus

from ._config import SearchConfig
from ._selection import STRATEGIES
from ._space import grid_points, method_params, search_space


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_store(config: SearchConfig, locations, feature_set: str | None = None) -> FeatureStore:
    """The configured store of ``feature_set`` (default: the search's first), or the embedded synthetic default
    (written once, beside the runs, in the set's width)."""
    feature_set = feature_set or config.data.feature_sets[0]
    if config.data.store is not None:
        return FeatureStore(config.data.store, feature_set)
    base = locations.storage.local_path if locations.storage.is_local else cache_folder()
    folder = base / f"synthetic-features-{config.data.synthetic_scale:g}"
    store = FeatureStore(folder, feature_set)
    if not store.corpora():
        write_synthetic(str(folder), scale=config.data.synthetic_scale, feature_set=feature_set)
    _say(f"no feature store given (--store): using the embedded synthetic corpora at {store.path}")
    return store


@dataclass
class Plans:
    """The outer plans of a search and, for leave-one-train-corpus-out, each one's inner folds."""

    outer: list[SplitPlan]
    folds: dict[str, dict[str, SplitPlan]] = field(default_factory=dict)  # outer plan -> held-back -> plan

    @property
    def all(self) -> list[SplitPlan]:
        return [*self.outer, *(p for folds in self.folds.values() for p in folds.values())]


def make_plans(config: SearchConfig, manifest: pd.DataFrame) -> Plans:
    """The split plans of the search: per held-out corpus (LOCO), per fold (within) or one (pool)."""
    data = config.data
    labelled = labelled_corpora(manifest)
    for name in [*data.train_corpora, *data.test_corpora, *data.holdouts]:
        if name not in labelled:
            raise ConfigError(f"corpus {name!r} has no emotion labels in the store (labelled: {', '.join(labelled)})")
    test_only = list(data.test_corpora)
    corpora = data.train_corpora or [c for c in labelled if c not in test_only]
    unlabeled = data.unlabeled
    candidates = unlabeled_corpora(manifest)
    if unlabeled is None and len(candidates) == 1:
        unlabeled = candidates[0]
    data.check_unlabeled(corpora)  # the pool is known now (every labelled corpus by default)
    needs = [m for m in config.study.methods if parse_method(m).needs_unlabeled]
    if needs and unlabeled is None:
        raise ConfigError(f"method {needs[0]!r} needs an unlabeled corpus: pass --unlabeled "
                          f"(unlabeled corpora in the store: {', '.join(candidates) or 'none'})")
    if data.protocol == "loco":
        if len(corpora) < 2:
            raise ConfigError(f"leave-one-corpus-out needs at least 2 training corpora, got {corpora}")
        holdouts = data.holdouts or corpora
        outer = [loco(manifest, h, train_corpora=[c for c in corpora if c != h], unlabeled=unlabeled,
                      test_only=test_only) for h in holdouts]
    elif data.protocol == "pool":
        outer = [pool(manifest, corpora, unlabeled=unlabeled, test_only=test_only)]
    else:
        outer = [p for h in (data.holdouts or corpora) for p in within_corpus(manifest, h, unlabeled=unlabeled,
                                                                               test_only=test_only)]
    plans = Plans(outer)
    if STRATEGIES[config.study.selection].folds:
        for plan in outer:
            if len(plan.corpora) < 2:
                raise ConfigError(f"leave-one-train-corpus-out needs at least 2 training corpora; {plan.name} has "
                                  f"{plan.corpora}")
            plans.folds[plan.name] = {
                back: replace(loco(manifest, back, train_corpora=[c for c in plan.corpora if c != back],
                                   unlabeled=unlabeled), name=f"{plan.name}/without-{back}")
                for back in plan.corpora}
    for method in config.study.methods:  # a weighting rule with one corpus to weight is a no-op: say so once
        same = next((note for plan in outer if (note := one_corpus_warning(method, plan.corpora))), None)
        if same:
            _say(f"warning: {same}")
    return plans


def study_id(method: str, plan: str, feature_set: str | None = None) -> str:
    """A study's id: ``<method>--<outer plan>``, and ``@<feature set>`` in a search over several sets.

    Example:
        >>> study_id("ce", "loco-emodb"), study_id("ce", "loco-emodb", "eGeMAPSv02")
        ('ce--loco-emodb', 'ce--loco-emodb@eGeMAPSv02')
    """
    return f"{method}--{plan}" + (f"@{feature_set}" if feature_set else "")


def plan_studies(config: SearchConfig, plans: Plans, feature_set: str | None = None) -> list:
    """One :class:`~distser.search._searcher.StudySpec` per (method, outer plan) of ``feature_set``'s plans
    (default: the search's first set).

    The feature set is a study dimension like the held-out corpus, not a searched value: each set's features
    have their own width, and a user wants each set's answer. A search over several sets calls this once per
    set; their studies' ids name the set (a search of one set keeps the ids it always had).
    """
    from ._searcher import StudySpec

    feature_set = feature_set or config.data.feature_sets[0]
    named = feature_set if len(config.data.feature_sets) > 1 else None
    study, training = config.study, to_dict(config.training)
    normalizations = config.data.normalization
    # A fixed normalisation is a training setting of every trial; several are a searched dimension.
    training[Param.NORMALIZATION] = config.data.default_normalization
    specs = []
    for method in study.methods:
        space = search_space(method, study) if study.mode == "search" else {}
        grid = [{}] if space else grid_points(method, study)
        if len(normalizations) > 1:
            if space:  # Optuna proposes it with the method's own hyperparameters
                space[Param.NORMALIZATION] = CategoricalDistribution(tuple(normalizations))
            else:  # nothing else to search (ce, the paper's values, a grid): every normalisation is tried
                grid = [{**point, Param.NORMALIZATION: name} for point in grid for name in normalizations]
        for plan in plans.outer:
            folds = {back: inner.name for back, inner in plans.folds.get(plan.name, {}).items()}
            specs.append(StudySpec(
                id=study_id(method, plan.name, named), method=method, plan=plan.name, holdout=plan.test_corpus or "-",
                feature_set=feature_set,
                seeds=list(range(study.seeds)), eval_seeds=list(range(study.eval_seeds or study.seeds)),
                params=method_params(method, study), training=training,
                selection=study.selection, folds=folds, space=space, grid=grid, samples=study.samples,
                asha=bool(space) and config.scheduler.asha,
                first=_defaults_in(space, {**method_params(method, study), **training}) if study.start_at_defaults
                else None))
    return specs


def _defaults_in(space: dict, defaults: dict[str, Any]) -> dict[str, Any] | None:
    """The default value of every searched dimension, if each lies in its range (else no first proposal)."""
    point = {}
    for name, distribution in space.items():
        value = defaults.get(name)
        inside = (value in distribution.choices if isinstance(distribution, CategoricalDistribution)
                  else value is not None and distribution.low <= value <= distribution.high)
        if not inside:
            return None
        point[name] = value
    return point or None


def corpora_needed(config: SearchConfig, store: FeatureStore) -> list[str] | None:
    data = config.data
    if not data.train_corpora:
        return None  # every labelled corpus (and the unlabeled one): read everything
    names = {*data.train_corpora, *data.test_corpora}
    available = store.corpora()
    if data.unlabeled:
        names.add(data.unlabeled)
    else:
        names.update(c for c in available if c not in names)  # the unlabeled candidates are found by reading
    return sorted(n for n in names if n in available)
