"""Running a search: data into the object store, one Tune study per (method, held-out corpus), MLflow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from distser.corpora import MANIFEST_COLUMNS
from distser.features import FeatureStore, TaskLoader, write_synthetic
from distser.features._store import latest_rows, split_features
from distser.learning import parse_method
from distser.protocols import labelled_corpora, loco, unlabeled_corpora, within_corpus

from ._config import SearchConfig
from ._selection import config_key, format_summary, select
from ._space import SEARCHABLE, hyperparameters, paper_grid, tune_space
from ._tracking import MLflowTrialCallback, Tracker, git_commit, log_summary
from ._trainable import METRIC, flat_trial_config, run_trial


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_store(config: SearchConfig) -> FeatureStore:
    """The configured feature store, or the embedded synthetic default (written once per storage)."""
    if config.data.store is not None:
        store = FeatureStore(config.data.store, config.data.feature_set)
        if not store.corpora():
            raise FileNotFoundError(f"no feature shards under {store.path}; "
                                    "run `python -m distser.features extract` first")
        return store
    folder = config.storage.resolve() / f"synthetic-features-{config.data.synthetic_scale}"
    store = FeatureStore(folder)
    if not store.corpora():
        write_synthetic(str(folder), scale=config.data.synthetic_scale)
    _say(f"no feature store given (--store): using the embedded synthetic corpora at {store.path}")
    return store


def read_with_ray_data(store: FeatureStore) -> tuple[pd.DataFrame, np.ndarray]:
    """Read every shard with Ray Data and materialize manifest + features once on the driver."""
    import ray

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # later shards supersede earlier ones
    dataset = ray.data.read_parquet([str(p) for p in store.shard_paths()],
                                    columns=[*MANIFEST_COLUMNS, "content_hash", "features"])
    table = pa.concat_tables([ray.get(ref) for ref in dataset.to_arrow_refs()])
    return split_features(latest_rows(table))


def plans(config: SearchConfig, manifest: pd.DataFrame) -> list:
    """The split plans of the search: one per held-out corpus (LOCO) or per fold (within-corpus)."""
    labelled = labelled_corpora(manifest)
    holdouts = config.data.holdouts or labelled
    unknown = [h for h in holdouts if h not in labelled]
    if unknown:
        raise ValueError(f"held-out corpus {unknown} not in the store (labelled corpora: {', '.join(labelled)})")
    unlabeled = config.data.unlabeled
    candidates = unlabeled_corpora(manifest)
    if unlabeled is None and len(candidates) == 1:
        unlabeled = candidates[0]
    needs = [m for m in config.study.methods if parse_method(m).needs_unlabeled]
    if needs and unlabeled is None:
        raise ValueError(f"method {needs[0]!r} needs an unlabeled corpus: pass --unlabeled "
                         f"(unlabeled corpora in the store: {', '.join(candidates) or 'none'})")
    if config.data.protocol == "loco":
        return [loco(manifest, h, unlabeled=unlabeled) for h in holdouts]
    if config.data.protocol == "within":
        return [p for h in holdouts for p in within_corpus(manifest, h, unlabeled=unlabeled)]
    raise ValueError(f"unknown protocol {config.data.protocol!r}; choose loco or within")


def _trial_space(config: SearchConfig, method: str, plan) -> tuple[dict, object | None, int]:
    """Param space, search algorithm and number of trials of one study."""
    from ray import tune
    from ray.tune.search import Repeater
    from ray.tune.search.optuna import OptunaSearch

    fixed = {
        "method": method, "holdout": plan.test_corpus, "plan": plan.name,
        "max_epochs": config.training.max_epochs, "patience": config.training.patience,
        "early_stopping": config.training.early_stopping,
        "threads": config.training.threads_per_trial, "checkpoint_seconds": config.training.checkpoint_seconds,
    }
    seeds = list(range(config.study.seeds))
    searched = hyperparameters(method, tune_lr=config.study.tune_lr, tune_dropout=config.study.tune_dropout)
    if config.study.grid or config.study.paper_params or not searched:
        # No optimiser: every grid point (or the method's single configuration) for every seed.
        grid = paper_grid(method) if config.study.grid else [{}]
        points = [{**point, "seed": seed} for point in grid for seed in seeds]
        return {**fixed, "point": tune.grid_search(points)}, None, 1
    # Optuna proposes; Repeater runs each proposal once per seed (its TRIAL_INDEX is the seed) and
    # tells Optuna the mean over seeds. ASHA sees each seed's curve of the running best validation UA.
    optuna = OptunaSearch(metric=METRIC, mode="max", seed=config.study.sampler_seed)
    space = {**fixed, **tune_space(method, tune_lr=config.study.tune_lr, tune_dropout=config.study.tune_dropout)}
    return space, Repeater(optuna, repeat=len(seeds), set_index=True), config.study.samples * len(seeds)


def num_samples_of(space: dict, num_samples: int) -> int:
    """How many trials a finished study has: num_samples, times the grid's size for grid searches."""
    grid = space.get("point")
    return num_samples * (len(grid["grid_search"]) if isinstance(grid, dict) and "grid_search" in grid else 1)


def _trial_dirname(trial) -> str:
    return f"trial-{trial.trial_id}"


def run_study(config: SearchConfig, method: str, plan, task, tracker: Tracker) -> pd.DataFrame:
    """One study for ``method`` on ``plan``; returns its trial table.

    When ASHA cut some seeds of the validation-selected configuration short, those seeds are then
    trained to their end (a small follow-up experiment ``<study>--completion``, no early cut), so the
    reported test UA is always a mean over every seed.
    """
    from ray import tune

    study = f"{method}--{plan.name}"
    space, search_alg, num_samples = _trial_space(config, method, plan)
    trainable = tune.with_resources(tune.with_parameters(run_trial, task=task), {"cpu": config.cpus_per_trial})
    table = _run_tuner(config, study, trainable, space, search_alg, num_samples, method, plan.test_corpus, tracker)
    best = select(table).iloc[0]
    chosen = table[table["config"] == best["config"]]
    missing = sorted(set(range(config.study.seeds)) - set(chosen.loc[chosen["finished"], "seed"]))
    if not missing:
        return table
    _say(f"[{study}] training seeds {missing} of the selected configuration to their end")
    params = chosen["params"].iloc[0]
    completion = {**{k: v for k, v in space.items() if k not in SEARCHABLE},
                  "point": tune.grid_search([{**params, "seed": seed} for seed in missing])}
    extra = _run_tuner(config, f"{study}--completion", trainable, completion, None, 1, method, plan.test_corpus,
                       tracker)
    return pd.concat([table, extra], ignore_index=True)


def _run_tuner(config: SearchConfig, study: str, trainable, space: dict, search_alg, num_samples: int,
               method: str, holdout: str, tracker: Tracker) -> pd.DataFrame:
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    path = config.search_dir / study
    if config.resume and tune.Tuner.can_restore(str(path)):
        _say(f"[{study}] resuming from {path}")
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        use_asha = config.scheduler.asha and search_alg is not None
        # max_t past the last epoch: ASHA must not cut a trial at its final epoch, before the test report.
        scheduler = (ASHAScheduler(time_attr="epoch", max_t=config.training.max_epochs + 1,
                                   grace_period=min(config.scheduler.grace_period, config.training.max_epochs),
                                   reduction_factor=config.scheduler.reduction_factor)
                     if use_asha else FIFOScheduler())
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(metric=METRIC, mode="max", search_alg=search_alg, scheduler=scheduler,
                                        num_samples=num_samples, max_concurrent_trials=config.max_concurrent,
                                        reuse_actors=True, trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(
                name=study,
                storage_path=str(config.search_dir),
                callbacks=[JsonLoggerCallback(),
                           MLflowTrialCallback(tracker, study)],
                failure_config=tune.FailureConfig(max_failures=config.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                verbose=config.verbose,
            ),
        )
    results = tuner.fit()
    statuses = [trial.status for trial in results._experiment_analysis.trials]
    unfinished = [status for status in statuses if status not in ("TERMINATED", "ERROR")]
    if unfinished or len(statuses) < num_samples_of(space, num_samples):
        # Tune ends a run gracefully on Ctrl+C and returns; the search must stop here too.
        raise KeyboardInterrupt(f"study {study} interrupted")
    return trial_table(results, method, holdout)


def trial_table(results, method: str, holdout: str) -> pd.DataFrame:
    """One row per trial of a Tune ResultGrid, in the shape :func:`select` takes."""
    rows = []
    for result in results:
        flat = flat_trial_config(result.config)
        params = {k: flat[k] for k in SEARCHABLE if k in flat}
        seed = flat["seed"]
        metrics = result.metrics or {}
        rows.append({"method": method, "holdout": holdout, "seed": seed, "config": config_key(params),
                     "params": params,
                     "valid_ua": metrics.get(METRIC, np.nan), "test_ua": metrics.get("test_ua", np.nan),
                     "finished": metrics.get("finished") == 1, "error": result.error is not None,
                     "trial_id": metrics.get("trial_id") or Path(result.path).name.removeprefix("trial-")})
    return pd.DataFrame(rows)


def run_search(config: SearchConfig) -> pd.DataFrame:
    """Run every study of ``config``; returns the selection table (also logged to the parent run)."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Keeping one checkpoint per trial forces a state snapshot per checkpoint; that is intended here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's default CSV and TensorBoard loggers write every epoch of every trial again; MLflow has it all.
    # The JSON logger stays (RunConfig callbacks below): restored experiments read their results from it.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # Canonical names (cww+pel -> cww+pel-al); an unknown method fails here, before anything starts.
    config.study.methods = [parse_method(method).name for method in config.study.methods]
    config.storage.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(address=config.address or "local", log_to_driver=False, configure_logging=False,
                 **({} if config.address else {"include_dashboard": False}))
    store = resolve_store(config)
    manifest, features = read_with_ray_data(store)
    loader = TaskLoader.from_arrays(manifest, features)
    split_plans = plans(config, manifest)

    tracker = Tracker(config.resolved_tracking_uri, config.experiment, config.name)
    tracker.log_search(
        params={"methods": ",".join(config.study.methods), "holdouts": ",".join(p.test_corpus for p in split_plans),
                "seeds": config.study.seeds, "samples": config.study.samples, "grid": config.study.grid,
                "protocol": config.data.protocol, "max_epochs": config.training.max_epochs,
                "asha": config.scheduler.asha, "store": str(store.path)},
        tags={"command": config.command, "git_commit": git_commit(), "feature_store": store.fingerprint(),
              "search_dir": str(config.search_dir)},
    )
    _say(f"MLflow: {config.resolved_tracking_uri} (experiment {config.experiment!r}, run {config.name!r})")
    tables = []
    try:
        for method in config.study.methods:
            for plan in split_plans:
                task = loader.task(plan)
                tables.append(run_study(config, method, plan, task, tracker))
        trials = pd.concat(tables, ignore_index=True)
        pruned = tracker.prune_orphans(set(trials["trial_id"]))
        if pruned:
            _say(f"removed {pruned} MLflow runs of trials lost when the driver was killed (re-run on resume)")
        summary = select(trials)
        text = format_summary(summary, config.study.seeds)
        log_summary(tracker, summary, text)
        tracker.close_open_runs("KILLED")  # none expected; never leave a RUNNING run behind
        tracker.finish("FINISHED")
    except BaseException:
        tracker.close_open_runs("KILLED")
        tracker.finish("KILLED")
        raise
    _print_end_screen(config, summary, text, trials)
    return summary


def _print_end_screen(config: SearchConfig, summary: pd.DataFrame, text: str, trials: pd.DataFrame) -> None:
    finished, failed = int(trials["finished"].sum()), int(trials["error"].sum())
    print()
    print(f"Test UA (%) of the validation-selected configuration, mean ± std over {config.study.seeds} seeds")
    print(text)
    print()
    print(f"{len(trials)} trials: {finished} trained to their end, {len(trials) - finished - failed} stopped early "
          f"by ASHA, {failed} failed")
    print(f"MLflow runs: {config.resolved_tracking_uri}  experiment {config.experiment!r}, parent run {config.name!r}")
    print(f"  open the UI: mlflow ui --backend-store-uri {config.resolved_tracking_uri}")
    print(f"Tune results: {config.search_dir}")
