"""Running a search: checks, the record, features into the object store, one Tune experiment, selection, MLflow.

Order of work (each step fails with one line naming the culprit before the next starts):

1. :func:`prepare` — the configuration (a new search, or the record of one being resumed), the
   storage, the tracking store and the feature store are checked; nothing starts yet.
2. :func:`run_search` — Ray starts, the shards go into the object store, the plans and studies are
   made, one Tune experiment runs every study's trials, then selection, MLflow summary and models.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distser.config import ConfigError, build, dump_toml, to_dict
from distser.define import File, Metric, Phase, Tag, model_name
from distser.features import FeatureStore, write_synthetic
from distser.learning import parse_method
from distser.protocols import SplitPlan, labelled_corpora, loco, pool, unlabeled_corpora, within_corpus

from ._checks import check_store, check_tracking
from ._config import DEFINING_SECTIONS, SearchConfig, check_name
from ._selection import STRATEGIES, evaluated_trials, format_summary, select
from ._space import grid_points, method_params, search_space
from ._storage import Storage

log = logging.getLogger("distser.search")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# 1. Preparing: configuration, record, locations, checks


@dataclass
class RunOptions:
    """How this invocation runs, beside what the search is (not recorded)."""

    resume: bool = False
    replace: bool = False
    verbose: int = 0  # 0: one progress line; 1: Tune's status table too
    command: str = ""


@dataclass
class Locations:
    """Where a search's results go, resolved from its tracking section."""

    storage: Storage
    tracking_uri: str
    artifact_location: str | None
    optuna_storage: str | None

    def search_dir(self, name: str) -> str:
        return self.storage.uri_of(name)


def locate(config: SearchConfig) -> Locations:
    """Absolute locations: a local storage folder hosts MLflow's and Optuna's SQLite files by default."""
    storage = Storage.of(config.tracking.storage)
    uri = config.tracking.uri
    if uri is None:
        if not storage.is_local:
            raise ConfigError(f"--storage {storage.uri} is not a local folder: MLflow's default SQLite store cannot "
                              "live there; pass --tracking-uri (a tracking server, or sqlite:///<local path>)")
        uri = f"sqlite:///{storage.local_path / 'mlflow.db'}"
    elif uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"  # record it absolute
    # Artifacts go under the storage, never into the working directory's ./mlruns; a tracking server
    # keeps them in its own artifact store.
    served = uri.startswith(("http://", "https://"))
    artifacts = None if served else (storage.local_path / "mlartifacts").as_uri() if storage.is_local \
        else storage.uri_of("mlartifacts")
    optuna_storage = config.tracking.optuna_storage
    if optuna_storage is None:
        if storage.is_local:
            optuna_storage = f"sqlite:///{storage.local_path / 'optuna.db'}"
        elif uri.startswith("sqlite:///"):
            optuna_storage = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    return Locations(storage, uri, artifacts, optuna_storage)


def existing_searches(storage: Storage) -> list[str]:
    """Searches recorded in ``storage`` (folders holding a record)."""
    return [name for name in storage.folders() if storage.exists(name, File.RECORD)]


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key not in ("params", "ranges"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def contradictions(recorded: SearchConfig, given: dict[str, Any]) -> list[str]:
    """Settings in ``given`` that would change what a recorded search computes (or where its runs are)."""
    candidate = build(SearchConfig, [to_dict(recorded), given])
    old, new = _flat(to_dict(recorded)), _flat(to_dict(candidate))
    keys = _flat(given)
    defining = tuple(f"{s}." for s in DEFINING_SECTIONS) + ("tracking.uri", "tracking.experiment",
                                                             "tracking.optuna_storage")
    return [f"{key} = {new.get(key)!r} (recorded: {old.get(key)!r})" for key in keys
            if key.startswith(defining) and old.get(key) != new.get(key)]


def prepare(given: dict[str, Any], options: RunOptions) -> tuple[SearchConfig, Locations]:
    """The search's configuration and locations, checked, before Ray starts or any data is read.

    ``given`` is what the user set (config file, ``--set``, flags), as one nested mapping. A new
    search must have a fresh name (``--replace`` starts an existing one over); ``--resume`` restores
    the record of the named search and refuses settings that contradict it.
    """
    config = build(SearchConfig, [given])
    storage = Storage.of(config.tracking.storage)
    known = existing_searches(storage)
    if options.resume:
        name = config.name or (max(known, key=lambda n: storage.modified(n, File.RECORD)) if known else None)
        if name is None or name not in known:
            listed = ", ".join(known) or "none"
            what = f"no search named {name!r}" if name else "no search"
            raise ConfigError(f"--resume: {what} in {storage.uri} (searches there: {listed})")
        recorded = build(SearchConfig, [load_toml_text(storage.read_text(name, File.RECORD), storage.uri_of(
            name, File.RECORD))])
        clash = contradictions(recorded, {k: v for k, v in given.items() if k != "name"})
        if clash:
            raise ConfigError(f"--resume {name}: settings contradict the search's record "
                              f"({storage.uri_of(name, File.RECORD)}): " + "; ".join(clash))
        resources = build(SearchConfig, [to_dict(recorded), {"resources": given.get("resources", {})}]).resources
        config = replace(recorded, resources=resources)
    else:
        if config.name is None:
            config = replace(config, name=time.strftime("search-%Y%m%d-%H%M%S"))
        uri = config.tracking.uri
        if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):  # recorded absolute
            tracking = replace(config.tracking, uri=f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}")
            config = replace(config, tracking=tracking)
        check_name(config.name)
        if config.name in known and not options.replace:
            raise ConfigError(f"a search named {config.name!r} exists in {storage.uri}; continue it with --resume "
                              "or start it over with --replace")
    locations = locate(config)
    storage.check_writable()
    if locations.artifact_location and not storage.is_local:  # MLflow's artifacts go there through its own client
        missing = storage.artifact_client_error()
        if missing:
            raise ConfigError(missing)
        if storage.uri.startswith("s3://") and storage.endpoint:  # named in the URI's options: MLflow's too
            os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", storage.endpoint)
    check_tracking(locations.tracking_uri, config.tracking.experiment)
    if locations.optuna_storage and locations.optuna_storage.startswith("sqlite:///"):
        from ._checks import check_sqlite_uri

        check_sqlite_uri(locations.optuna_storage, "tracking.optuna_storage")
    check_store(config)
    return config, locations


def load_toml_text(text: str, where: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {error}") from None


def record_text(config: SearchConfig, options: RunOptions) -> str:
    """The search's record: its resolved configuration as an experiment file, re-runnable as it is."""
    from ._tracking import git_commit

    header = (f"distser search record: everything that defines search {config.name!r}.\n"
              f"Re-run: distser search --config <this file> --name <new name>; continue: distser search --resume "
              f"--name {config.name} --storage {shlex.quote(config.tracking.storage)}\n"
              f"created {time.strftime('%Y-%m-%d %H:%M:%S')} by: {options.command or 'distser search'}\n"
              f"commit {git_commit()}")
    return dump_toml(config, header=header)


# ---------------------------------------------------------------------------------------------------
# 2. Data, plans and studies


def resolve_store(config: SearchConfig, locations: Locations) -> FeatureStore:
    """The configured feature store, or the embedded synthetic default (written once, beside the runs)."""
    if config.data.store is not None:
        return FeatureStore(config.data.store, config.data.feature_set)
    base = locations.storage.local_path if locations.storage.is_local else Path.home() / ".cache" / "distser"
    folder = base / f"synthetic-features-{config.data.synthetic_scale:g}"
    store = FeatureStore(folder, config.data.feature_set)
    if not store.corpora():
        write_synthetic(str(folder), scale=config.data.synthetic_scale, feature_set=config.data.feature_set)
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
    return plans


def plan_studies(config: SearchConfig, plans: Plans) -> list:
    """One :class:`~distser.search._searcher.StudySpec` per (method, outer plan)."""
    from ._searcher import StudySpec

    study, training = config.study, to_dict(config.training)
    specs = []
    for method in study.methods:
        space = search_space(method, study) if study.mode == "search" else {}
        grid = [{}] if space else grid_points(method, study)
        for plan in plans.outer:
            folds = {back: inner.name for back, inner in plans.folds.get(plan.name, {}).items()}
            specs.append(StudySpec(
                id=f"{method}--{plan.name}", method=method, plan=plan.name, holdout=plan.test_corpus or "-",
                seeds=list(range(study.seeds)), eval_seeds=list(range(study.eval_seeds or study.seeds)),
                params=method_params(method, study), training=training,
                selection=study.selection, folds=folds, space=space, grid=grid, samples=study.samples,
                asha=bool(space) and config.scheduler.asha,
                first=_defaults_in(space, {**method_params(method, study), **training}) if study.start_at_defaults
                else None))
    return specs


def _defaults_in(space: dict, defaults: dict[str, Any]) -> dict[str, Any] | None:
    """The default value of every searched dimension, if each lies in its range (else no first proposal)."""
    from optuna.distributions import CategoricalDistribution

    point = {}
    for name, distribution in space.items():
        value = defaults.get(name)
        inside = (value in distribution.choices if isinstance(distribution, CategoricalDistribution)
                  else value is not None and distribution.low <= value <= distribution.high)
        if not inside:
            return None
        point[name] = value
    return point or None


# ---------------------------------------------------------------------------------------------------
# 3. Results


def trial_table(results) -> pd.DataFrame:
    """One row per trial of a Tune ResultGrid, in the shape :func:`~distser.search._selection.select` takes."""
    rows = []
    for result in results:
        config, metrics = result.config, result.metrics or {}
        final = metrics.get("final", {})
        row = {"study": config["study"], "method": config["method"], "holdout": config["holdout"],
               "plan": config["plan"], "phase": config["phase"], "fold": config["fold"], "seed": config["seed"],
               "config": config["config"], "params": config["params"], "searched": config["searched"],
               "score": metrics.get(Metric.SCORE, math.nan), "valid_ua": metrics.get(Metric.VALID, math.nan),
               "test_ua": final.get(Metric.TEST_UA, math.nan), "finished": metrics.get("finished") == 1,
               "error": metrics.get("error") or (str(result.error).splitlines()[-1] if result.error else None),
               "trial_id": metrics.get("trial_id") or Path(result.path).name.removeprefix("trial-"),
               "path": result.path, "checkpoint": result.checkpoint}
        if config["fold"] is None:  # a fold's held-back corpus is its score, not a test corpus
            row.update({k: v for k, v in final.items() if k.startswith(f"{Metric.TEST_UA}/")})
        rows.append(row)
    return pd.DataFrame(rows)


def missing_trials(specs: list, trials: pd.DataFrame) -> list[str]:
    """Studies whose trials are not all there: the search was interrupted before they ran.

    A study is complete when every configuration of its search phase ran for every member (seed,
    held-back corpus) and its selected configuration has what its strategy needs: every seed trained
    to its end (train-domain: completion runs for seeds ASHA cut) or retrained on the whole pool.
    """
    from ._selection import choose

    missing = []
    for spec in specs:
        mine = trials[trials["study"] == spec.id] if not trials.empty else trials
        if mine.empty or (mine["phase"] == Phase.SEARCH).sum() < spec.configurations * len(spec.members):
            missing.append(spec.id)
            continue
        chosen = choose(mine, spec.selection)
        if chosen is None:
            continue  # nothing trained to its end: a failed study, but a complete one
        of_chosen = mine[(mine["config"] == chosen) & mine["fold"].isna()]
        if STRATEGIES[spec.selection].retrains:
            need = set(spec.eval_seeds)
        else:
            trained = of_chosen["finished"] & (of_chosen["phase"] == Phase.SEARCH)
            need = set(spec.eval_seeds) - set(of_chosen.loc[trained, "seed"])
        if need - set(of_chosen.loc[of_chosen["phase"] == Phase.FINAL, "seed"]):
            missing.append(spec.id)
    return missing


def _trainable(shared, cpus: float):
    from ray import tune

    from ._trainable import run_trial

    return tune.with_resources(tune.with_parameters(run_trial, data=shared), {"cpu": cpus})


def run_search(config: SearchConfig, locations: Locations, options: RunOptions | None = None) -> pd.DataFrame:
    """Run every study of ``config`` in one Tune experiment; returns the selection table (also on the parent run)."""
    import ray

    from ._data import read_store
    from ._tracking import Tracker, log_summary

    options = options or RunOptions()
    _quiet_libraries(options.verbose)
    assert config.name is not None
    tracker = Tracker(locations.tracking_uri, config.tracking.experiment, config.name, locations.artifact_location)
    search_dir = locations.search_dir(config.name)
    if options.replace and not options.resume:
        removed = tracker.delete_search()
        locations.storage.delete(config.name)
        _delete_optuna_studies(locations.optuna_storage, config.name)
        if removed:
            _say(f"--replace: deleted the {removed} MLflow runs and the Tune results of the earlier {config.name!r}")
    record = locations.storage.read_text(config.name, File.RECORD) if options.resume else record_text(config, options)

    if not ray.is_initialized():
        address = config.resources.address or os.environ.get("RAY_ADDRESS")
        ray.init(address=address or "local", log_to_driver=options.verbose > 0, configure_logging=False,
                 logging_level=logging.WARNING, **({} if address else {"include_dashboard": False}))
    store = resolve_store(config, locations)
    needed = _corpora_needed(config, store)
    data = read_store(store, needed)
    plans = make_plans(config, data.manifest)
    specs = plan_studies(config, plans)
    shared = data.shared(plans.all)
    fingerprint = store.fingerprint()

    parent = tracker.parent()
    if options.resume and parent is not None:
        recorded = tracker.client.get_run(parent).data.tags.get(Tag.STORE)
        if recorded and recorded != fingerprint:
            raise ConfigError(f"--resume {config.name}: the feature store changed since the search started "
                              f"(fingerprint {recorded}, now {fingerprint}); resuming would mix results")
    if not options.resume:  # recorded once its data and plans are known good: a search that never started has none
        locations.storage.write_text(record, config.name, File.RECORD)
    tracker.start_parent(
        params=_flat(to_dict(config)),
        tags={Tag.COMMAND: options.command, Tag.STORE: fingerprint, Tag.SEARCH_DIR: search_dir,
              Tag.SOURCE_NAME: "distser search"},
        record=record)
    _say(f"MLflow: {locations.tracking_uri} (experiment {config.tracking.experiment!r}, run {config.name!r})")
    trials = pd.DataFrame()
    try:
        tuner = _tuner(config, locations, options, specs, shared, tracker, search_dir)
        results = tuner.fit()
        trials = trial_table(results)
        missing = missing_trials(specs, trials)
        if missing:  # Tune ends a run gracefully on Ctrl+C and returns; the search stops here too.
            raise KeyboardInterrupt(f"studies {', '.join(missing[:3])} interrupted")
        pruned = tracker.prune_orphans(set(trials["trial_id"]))
        if pruned:
            _say(f"removed {pruned} MLflow runs of trials lost when the driver was killed (re-run on resume)")
        summary = _combine_folds(pd.concat([select(trials[trials["study"] == spec.id], spec.selection)
                                            for spec in specs], ignore_index=True))
        failed = _failed_studies(specs, trials)
        text = format_summary(summary, config.study.eval_seeds or config.study.seeds)
        log_summary(tracker, summary, text)
        if config.tracking.register_models and not summary.empty:
            _register_models(config, locations, tracker, trials, summary, shared, store.feature_set)
        tracker.close_open_runs("KILLED")  # none expected; never leave a RUNNING run behind
        tracker.finish("FAILED" if failed and summary.empty else "FINISHED")
        if not config.tracking.keep_checkpoints:
            _delete_checkpoints(locations.storage, config.name)
    except BaseException:
        tracker.close_open_runs("KILLED")
        tracker.finish("KILLED")
        raise
    _print_end_screen(config, locations, summary, text, trials, failed)
    if failed and summary.empty:
        raise ConfigError(f"every study failed: {next(iter(failed.values()))}")
    return summary


def _tuner(config: SearchConfig, locations: Locations, options: RunOptions, specs: list, shared, tracker,
           search_dir: str):
    """A new Tune experiment for the search, or the interrupted one restored (``--resume``)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from ._progress import Progress
    from ._scheduler import PerStudyASHA
    from ._searcher import StudiesSearcher
    from ._tracking import MLflowTrialCallback

    trainable = _trainable(shared, config.resources.cpus_per_trial)
    storage = locations.storage
    fs = None if storage.is_local else storage.filesystem
    experiment = search_dir if fs is None else storage.fs_path(config.name)  # with a filesystem: its path, no URI
    if options.resume and tune.Tuner.can_restore(experiment, storage_filesystem=fs):
        _say(f"resuming {config.name} from {search_dir}")
        return tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=fs)
    searcher = StudiesSearcher(specs, search=config.name, optuna_storage=locations.optuna_storage,
                               sampler_seed=config.study.sampler_seed)
    scheduler = PerStudyASHA({s.id for s in specs if s.asha}, max_epochs=config.training.max_epochs,
                             grace_period=config.scheduler.grace_period,
                             reduction_factor=config.scheduler.reduction_factor)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=-1,
                                    max_concurrent_trials=config.resources.max_concurrent, reuse_actors=True,
                                    trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}"),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=storage.uri if storage.is_local else storage.path,
            storage_filesystem=fs,
            callbacks=[JsonLoggerCallback(), MLflowTrialCallback(tracker), Progress(searcher.planned_trials)],
            failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=1 if options.verbose else 0,
        ),
    )


def _combine_folds(summary: pd.DataFrame) -> pd.DataFrame:
    """Within-corpus folds of one corpus are separate studies: one summary row per (method, corpus).

    Means of the folds' values; the fold's selected configurations may differ ("per fold").
    """
    keys = ["method", "holdout", "selection"]
    if summary.empty or not summary.duplicated(keys).any():
        return summary
    numeric = [c for c in summary.columns if c not in keys and c != "config"]
    combined = summary.groupby(keys, sort=False)[numeric].mean().reset_index()
    combined["config"] = summary.groupby(keys, sort=False)["config"].agg(
        lambda c: c.iloc[0] if c.nunique() == 1 else "(per fold)").to_numpy()
    combined[["seeds", "configs_tried"]] = summary.groupby(keys, sort=False)[["seeds", "configs_tried"]].agg(
        {"seeds": "min", "configs_tried": "sum"}).to_numpy()
    return combined[summary.columns]


def _corpora_needed(config: SearchConfig, store: FeatureStore) -> list[str] | None:
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


def _failed_studies(specs: list, trials: pd.DataFrame) -> dict[str, str]:
    """Studies where no trial trained to its end, with their trials' errors."""
    failed = {}
    for spec in specs:
        mine = trials[trials["study"] == spec.id]
        if not mine["finished"].any():
            errors = sorted({str(e) for e in mine["error"].dropna()})
            failed[spec.id] = "; ".join(errors[:3]) or "no trial trained to its end"
    return failed


def _delete_checkpoints(storage: Storage, name: str) -> int:
    """Delete the trials' checkpoints of a finished search (needed only until its models are logged)."""
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(storage._path(name), recursive=False, allow_not_found=True)
    removed = 0
    for trial in storage.filesystem.get_file_info(selector):
        if trial.type != pafs.FileType.Directory or not trial.base_name.startswith("trial-"):
            continue
        for entry in storage.filesystem.get_file_info(pafs.FileSelector(trial.path, allow_not_found=True)):
            if entry.type == pafs.FileType.Directory and entry.base_name.startswith("checkpoint_"):
                storage.filesystem.delete_dir(entry.path)
                removed += 1
    return removed


def _delete_optuna_studies(storage: str | None, search: str) -> None:
    if storage is None:
        return
    import optuna

    for summary in optuna.get_all_study_summaries(storage):
        if summary.study_name.startswith(f"{search}/"):
            optuna.delete_study(study_name=summary.study_name, storage=storage)


def _register_models(config: SearchConfig, locations: Locations, tracker, trials: pd.DataFrame,
                     summary: pd.DataFrame, shared, feature_set: str) -> None:
    """Log each selected configuration's model (its seed with the best validation UA) and register it."""
    import torch

    from distser.inference import ModelBundle, log_diagnostics, log_model

    for row in summary.itertuples():
        study = trials[(trials["method"] == row.method) & (trials["holdout"] == row.holdout)]
        chosen = evaluated_trials(study, row.selection, row.config)
        chosen = chosen[chosen["checkpoint"].notna()]
        if chosen.empty:
            continue
        best = chosen.sort_values(["valid_ua", "seed"], ascending=[False, True]).iloc[0]
        with best["checkpoint"].as_directory() as folder:
            state = torch.load(Path(folder) / File.MODEL, map_location="cpu", weights_only=True)
        plan = shared.plans[best["plan"]]
        runs = tracker._runs(f"tags.`{Tag.TRIAL_ID}` = '{best['trial_id']}' and tags.`{Tag.SEARCH}` = "
                             f"'{config.name}'")
        if not runs:
            continue
        run_id = runs[0].info.run_id
        metadata = {"method": row.method, "holdout": row.holdout, "seed": str(best["seed"]), "search": config.name,
                    "selection": row.selection, "config": row.config, "plan": best["plan"]}
        bundle = ModelBundle.from_state_dict(state, plan.normalizer.mean, plan.normalizer.std, feature_set, metadata)
        tags = {"holdout": row.holdout, "test_ua": f"{best['test_ua']:.4f}", "search": config.name,
                "method": row.method, "seed": str(best["seed"])}
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered..." itself
            info = log_model(bundle, run_id=run_id, registered_model_name=model_name(row.method), tags=tags,
                             tracking_uri=locations.tracking_uri,
                             description=f"{row.method} selected by {row.selection}, held-out {row.holdout}, "
                                         f"search {config.name}")
        tracker.client.set_tag(run_id, Tag.SELECTED, "true")
        confusion = _confusion_of(tracker, run_id, best["holdout"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log_diagnostics(run_id, confusion=confusion, tracking_uri=locations.tracking_uri)
        version = getattr(info, "registered_model_version", None)
        _say(f"registered {model_name(row.method)} version {version} ({row.holdout} held out, seed {best['seed']})")


def _confusion_of(tracker, run_id: str, holdout: str):
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = tracker.client.download_artifacts(run_id, File.FINAL_METRICS, folder)
        confusion = json.loads(Path(path).read_text())["confusion"]
    return confusion.get(holdout) or next(iter(confusion.values()), np.zeros((4, 4), int).tolist())


def _quiet_libraries(verbose: int) -> None:
    """Keep Ray's, Tune's and MLflow's chatter off the terminal unless asked for (``-v``)."""
    if verbose:
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for name in ("ray", "ray.tune", "ray.data", "ray.train", "mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", module="ray")
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", module="optuna")


def _print_end_screen(config: SearchConfig, locations: Locations, summary: pd.DataFrame, text: str,
                      trials: pd.DataFrame, failed: dict[str, str]) -> None:
    finished = int(trials["finished"].sum())
    errors = int(trials["error"].notna().sum())
    print()
    print(f"Test UA (%) of the selected configuration ({config.study.selection}), mean ± std over "
          f"{config.study.eval_seeds or config.study.seeds} seeds")
    print(text)
    for study, reason in failed.items():
        print(f"study {study} failed: {reason}")
    print()
    print(f"{len(trials)} trials: {finished} trained to their end, {len(trials) - finished - errors} stopped early "
          f"by ASHA, {errors} failed")
    print(f"MLflow runs: {locations.tracking_uri}  experiment {config.tracking.experiment!r}, parent run "
          f"{config.name!r}")
    print(f"  open the UI: MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri "
          f"{locations.tracking_uri}")
    print(f"Tune results and the search's record: {locations.search_dir(config.name)}")

