"""Running a search: Ray, the features into the object store, one Tune experiment, selection, MLflow, models.

:func:`~distser.search._prepare.prepare` checks everything first; :func:`run_search` then makes the
plans and studies from the store's manifest (:mod:`._plans`), starts Ray, reads the shards into the object
store, runs every study's trials in one Tune experiment, selects per study (:mod:`._selection`,
:mod:`._results`), logs the summary and registers the selected models (:mod:`._models`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pandas as pd

from distser.config import ConfigError, to_dict
from distser.define import File, Tag
from distser.runtime import quiet_ray_logs, start_ray

from ._config import SearchConfig
from ._disk import DiskFull, disk_full_in, is_disk_full, watcher
from ._lock import SearchLock
from ._models import delete_checkpoints, register_models
from ._plans import plan_studies
from ._preflight import check_data, check_disk
from ._prepare import Locations, RunOptions, flat, record_text
from ._results import combine_folds, failed_studies, missing_trials, trial_table
from ._selection import format_summary, select


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _trainable(shared, cpus: float):
    from ray import tune

    from ._trainable import run_trial

    return tune.with_resources(tune.with_parameters(run_trial, data=shared), {"cpu": cpus})


def run_search(config: SearchConfig, locations: Locations, options: RunOptions | None = None) -> pd.DataFrame:
    """Run every study of ``config`` in one Tune experiment; returns the selection table (also on the parent run).

    One search per name at a time: the search's lock is taken first and released at the end.
    """
    options = options or RunOptions()
    assert config.name is not None
    lock = SearchLock(locations.storage, config.name)
    lock.acquire(options.command, say=_say)
    try:
        return _run_locked(config, locations, options)
    finally:
        lock.release()


def _run_locked(config: SearchConfig, locations: Locations, options: RunOptions) -> pd.DataFrame:
    from ._data import SharedSets, read_store
    from ._tracking import Tracker, log_summary

    _quiet_libraries(options.verbose)
    if not options.resume and not options.replace and locations.storage.exists(config.name, File.RECORD):
        raise ConfigError(f"a search named {config.name!r} exists in {locations.storage.uri} (it started meanwhile); "
                          "continue it with --resume or start it over with --replace")
    # Everything that can fail before Ray starts does: no Ray, no MLflow database, no run for a bad store.
    checked = check_data(config, locations)
    check_disk(config, checked, locations.storage, _say)
    stores = {feature_set: data.store for feature_set, data in checked.items()}
    specs = [spec for feature_set, data in checked.items() for spec in plan_studies(config, data.plans, feature_set)]

    # Opening the MLflow database (creating it, the first time: ~8 s of migrations) and starting Ray (~9 s)
    # each take seconds of mostly waiting: side by side (bench/startup.py --search).
    with ThreadPoolExecutor(1, thread_name_prefix="distser-mlflow") as pool:
        opening = pool.submit(Tracker, locations.tracking_uri, config.tracking.experiment, config.name,
                              locations.artifact_location)
        search_dir = locations.search_dir(config.name)
        if options.replace and not options.resume:
            removed = opening.result().delete_search()
            locations.storage.delete(config.name)
            _delete_optuna_studies(locations.optuna_storage, config.name)
            if removed:
                _say(f"--replace: deleted the {removed} MLflow runs and the Tune results of the earlier "
                     f"{config.name!r}")
        record = (locations.storage.read_text(config.name, File.RECORD) if options.resume
                  else record_text(config, options))

        start_ray(config.resources.address, verbose=options.verbose)
        sets = {}
        for feature_set, data in checked.items():  # each set's store once into the object store
            sets[feature_set] = read_store(data.store, data.corpora).shared(data.plans.all,
                                                                            config.data.normalizations())
        shared = SharedSets(sets)
        del checked, data  # the plans' utterance ids and the loader's index: only their rows (in shared) are needed
        fingerprint = ",".join(store.fingerprint() for store in stores.values())
        tracker = opening.result()

    parent = tracker.parent()
    if options.resume and parent is not None:
        recorded = tracker.client.get_run(parent).data.tags.get(Tag.STORE)
        if recorded and recorded != fingerprint:
            raise ConfigError(f"--resume {config.name}: the feature store changed since the search started "
                              f"(fingerprint {recorded}, now {fingerprint}); resuming would mix results")
    if not options.resume:  # recorded once its data and plans are known good: a search that never started has none
        locations.storage.write_text(record, config.name, File.RECORD)
    tracker.start_parent(
        params=flat(to_dict(config)),
        tags={Tag.COMMAND: options.command, Tag.STORE: fingerprint, Tag.SEARCH_DIR: search_dir,
              Tag.SOURCE_NAME: "distser search"},
        record=record)
    _say(f"MLflow: {locations.tracking_uri} (experiment {config.tracking.experiment!r}, run {config.name!r})")
    trials = pd.DataFrame()
    try:
        tuner = _tuner(config, locations, options, specs, shared, tracker, search_dir)
        results = tuner.fit()
        full = disk_full_in(results)
        if full:
            raise DiskFull(full)
        trials = trial_table(results, config.data.feature_sets)
        missing = missing_trials(specs, trials)
        if missing:  # Tune ends a run gracefully on Ctrl+C and returns; the search stops here too.
            raise KeyboardInterrupt(f"studies {', '.join(missing[:3])} interrupted")
        pruned = tracker.prune_orphans(set(trials["trial_id"]))
        if pruned:
            _say(f"removed {pruned} MLflow runs of trials lost when the driver was killed (re-run on resume)")
        summary = combine_folds(pd.concat([select(trials[trials["study"] == spec.id], spec.selection)
                                            for spec in specs], ignore_index=True))
        failed = failed_studies(specs, trials)
        text = format_summary(summary, config.study.eval_seeds or config.study.seeds)
        log_summary(tracker, summary, text)
        if config.tracking.register_models and not summary.empty:
            register_models(config, locations, tracker, trials, summary, shared, _say)
        tracker.close_open_runs("KILLED")  # none expected; never leave a RUNNING run behind
        tracker.finish("FAILED" if failed and summary.empty else "FINISHED")
        if not config.tracking.keep_checkpoints:
            delete_checkpoints(locations.storage, config.name)
    except BaseException as error:
        if isinstance(error, DiskFull) or is_disk_full(error):  # a search-level error: its runs end FAILED
            _end_runs(tracker, "FAILED")
            if isinstance(error, DiskFull):
                raise
            raise DiskFull(locations.storage.uri) from None
        _end_runs(tracker, "KILLED")
        raise
    _print_end_screen(config, locations, summary, text, trials, failed)
    if failed and summary.empty:
        raise ConfigError(f"every study failed: {next(iter(failed.values()))}")
    return summary


def _end_runs(tracker, status: str) -> None:
    """End the search's open runs and its parent with ``status``; with a full disk, as far as it lets us."""
    try:
        tracker.close_open_runs(status)
        tracker.finish(status)
    except Exception as error:
        if not is_disk_full(error):
            raise
        _say(f"could not mark the search's runs {status} (the disk is full): they stay RUNNING until it resumes")


def _tuner(config: SearchConfig, locations: Locations, options: RunOptions, specs: list, shared, tracker,
           search_dir: str):
    """A new Tune experiment for the search, or the interrupted one restored (``--resume``)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from ._progress import Progress
    from ._scheduler import PerStudyASHA
    from ._searcher import StudiesSearcher
    from ._tracking import MLflowTrialCallback
    from ._trainable import REPORT_EPOCHS

    trainable = _trainable(shared, config.resources.cpus_per_trial)
    storage = locations.storage
    fs = None if storage.is_local else storage.filesystem
    experiment = search_dir if fs is None else storage.fs_path(config.name)  # with a filesystem: its path, no URI
    if options.resume and tune.Tuner.can_restore(experiment, storage_filesystem=fs):
        _say(f"resuming {config.name} from {search_dir}")
        return tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=fs)
    scheduler = PerStudyASHA({s.id for s in specs if s.asha}, max_epochs=config.training.max_epochs,
                             grace_period=config.scheduler.grace_period,
                             reduction_factor=config.scheduler.reduction_factor)
    # A trial reports to Tune now and then (_trainable.ReportToTune), and at every epoch where ASHA decides.
    decisions = {REPORT_EPOCHS: scheduler.decision_epochs()}
    specs = [replace(s, training={**s.training, **decisions}) if s.asha else s for s in specs]
    searcher = StudiesSearcher(specs, search=config.name, optuna_storage=locations.optuna_storage,
                               sampler_seed=config.study.sampler_seed)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=-1,
                                    max_concurrent_trials=config.resources.max_concurrent, reuse_actors=True,
                                    trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}"),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=storage.uri if storage.is_local else storage.path,
            storage_filesystem=fs,
            callbacks=[JsonLoggerCallback(), MLflowTrialCallback(tracker),
                       Progress(searcher.planned_trials, stopped_by_asha=scheduler.stopped_by_asha), watcher()],
            failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=1 if options.verbose else 0,
        ),
    )


def _delete_optuna_studies(storage: str | None, search: str) -> None:
    if storage is None:
        return
    import optuna

    for summary in optuna.get_all_study_summaries(storage):
        if summary.study_name.startswith(f"{search}/"):
            optuna.delete_study(study_name=summary.study_name, storage=storage)


def _quiet_libraries(verbose: int) -> None:
    """Keep Ray's, Tune's and MLflow's chatter off the terminal unless asked for (``-v``)."""
    if verbose:
        return
    quiet_ray_logs()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
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

