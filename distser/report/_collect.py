"""MLflow runs of one or more searches -> one trial table (a row per trial), and corpus-weight histories.

The rows follow the trial contract of :mod:`distser.search._trainable` and carry the columns that
:func:`distser.search.select` needs. Names of tags, params and metrics: :mod:`distser.define`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from distser.define import EXPERIMENT, PAPER_FEATURE_SET, Metric, Param, Phase, Role, Tag
from distser.files import sqlite_path

#: Prefixes of per-corpus metrics copied into the trial table.
TRAIN_UA = "train_ua/"
WEIGHT = "weight/"  # per-epoch corpus weights (EpochRecord.flat's "weight/<corpus>")
#: Columns of the trial table besides hyperparameters and per-corpus metrics.
COLUMNS = ["search", "study", "run_id", "method", "holdout", "plan", "phase", "fold", "seed", "config", "selection",
           "score", "valid_ua", "test_ua", "test_wa", "best_epoch", "finished", "stopped_by", "status"]
#: Methods of within-corpus plans get this prefix, so that they form their own row of Table 2.
WITHIN = "within:"
#: Added to a grouped normalisation's name in row labels when the search did not adapt to its targets.
NOT_ADAPTED = " not adapted"


def variant(method: str, normalizations: list[str], feature_set: str = PAPER_FEATURE_SET) -> str:
    """A report row's label: the method, the search's normalisations unless only the paper's ``global``, and the
    trial's feature set in braces unless the paper's IS10.

    Example:
        >>> variant("ce", ["global"]), variant("cww", ["corpus"]), variant("ce", ["global", "speaker"])
        ('ce', 'cww [corpus]', 'ce [global/speaker]')
        >>> variant("ce", ["global"], "eGeMAPSv02"), variant("cww", ["corpus"], "emobase")
        ('ce {eGeMAPSv02}', 'cww [corpus] {emobase}')
    """
    label = method if list(normalizations) in ([], ["global"]) else f"{method} [{'/'.join(normalizations)}]"
    return label if feature_set == PAPER_FEATURE_SET else f"{label} {{{feature_set}}}"


def base_method(label: str) -> str:
    """The method of a row label (:func:`variant`, within-corpus prefix kept).

    Example:
        >>> base_method("cww [corpus]"), base_method("within:ce"), base_method("ce {eGeMAPSv02}")
        ('cww', 'within:ce', 'ce')
    """
    return label.split(" [", 1)[0].split(" {", 1)[0]


def suffix(label: str) -> str:
    """What :func:`variant` added to the method: ``" [corpus]"``, ``" {eGeMAPSv02}"``, both, or "" for the paper's
    normalisation and feature set."""
    return label[len(base_method(label)):]


def feature_set_of(label: str) -> str:
    """The feature set of a row label (:func:`variant`): the one in braces, else the paper's IS10.

    Example:
        >>> feature_set_of("cww [corpus] {emobase}"), feature_set_of("ce")
        ('emobase', 'IS10')
    """
    return label.rsplit(" {", 1)[1].rstrip("}") if label.endswith("}") and " {" in label else PAPER_FEATURE_SET


def same_row_on_paper_set_adapted(label: str) -> str:
    """A row label (:func:`variant`) less its feature set and its :data:`NOT_ADAPTED` marks: the same method and
    normalisation on IS10, adapted to its targets (the row a report pairs it with).

    Example:
        >>> same_row_on_paper_set_adapted("ce [global/speaker] {eGeMAPSv02}")
        'ce [global/speaker]'
        >>> same_row_on_paper_set_adapted("cww [corpus not adapted]"), same_row_on_paper_set_adapted("ce")
        ('cww [corpus]', 'ce')
    """
    on_paper_set = label.rsplit(" {", 1)[0] if feature_set_of(label) != PAPER_FEATURE_SET else label
    return on_paper_set.replace(NOT_ADAPTED, "")


def check_tracking_uri(tracking_uri: str) -> None:
    """A SQLite tracking store must exist: MLflow would silently create an empty one (and report nothing)."""
    path = sqlite_path(tracking_uri)
    if path is not None and not path.is_file():
        raise ValueError(f"no MLflow database at {path} (tracking URI {tracking_uri}); pass the --storage of the "
                         "search or its --tracking-uri")


def _client(tracking_uri: str):
    check_tracking_uri(tracking_uri)  # before MLflow loads: a wrong store is answered in a second
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri)


def _experiment_id(client, tracking_uri: str, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ValueError(f"no MLflow experiment {experiment!r} at {tracking_uri} "
                         f"(experiments there: {', '.join(names) or 'none'})")
    return found.experiment_id


def _search_runs(client, experiment_id: str, where: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], where, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def searches_in(client, experiment_id: str) -> list[str]:
    """Names of the searches in an experiment: the ``distser.search`` tags of parent runs."""
    parents = _search_runs(client, experiment_id, f"tags.`{Tag.ROLE}` = '{Role.SEARCH}'")
    return sorted({run.data.tags[Tag.SEARCH] for run in parents if Tag.SEARCH in run.data.tags})


def hyperparameters(config: str) -> dict[str, float | str | None]:
    """A configuration key (JSON of the exact values) -> name -> value: numbers as floats, the rest as text.

    Example:
        >>> hyperparameters('{"cww_signal": "valid-ua", "lambda_w": 4.0, "min_steps_per_epoch": 3}')
        {'cww_signal': 'valid-ua', 'lambda_w': 4.0, 'min_steps_per_epoch': 3.0}
    """
    values = json.loads(config) if config else {}
    return {name: float(v) if isinstance(v, int | float) else None if v is None else str(v)
            for name, v in values.items()}


def hyperparameter_names(trials: pd.DataFrame) -> list[str]:
    """Every hyperparameter some configuration of ``trials`` sets (read off the ``config`` keys)."""
    names: set[str] = set()
    for config in trials["config"].dropna().unique():
        names.update(json.loads(config))
    return sorted(names)


def _parent_params(client, experiment_id: str, search: str) -> dict[str, str]:
    """The params of a search's parent run ({} for a search without one)."""
    parents = _search_runs(client, experiment_id,
                           f"tags.`{Tag.SEARCH}` = '{search}' and tags.`{Tag.ROLE}` = '{Role.SEARCH}'")
    return dict(parents[0].data.params) if parents else {}


def _normalizations(params: dict[str, str]) -> list[str]:
    """The normalisations a search tried (its parent run's ``data.normalization``; ``global`` before there were any),
    each but ``global`` marked :data:`NOT_ADAPTED` when its targets kept the training statistics
    (``data.adapt_target`` false): a row of its own, not merged with the adapted one."""
    recorded = params.get("data.normalization")
    if not recorded:
        return ["global"]
    names = [name.strip(" '\"") for name in recorded.strip("[]").split(",") if name.strip(" '\"")]
    if params.get("data.adapt_target", "True").lower() == "false":
        names = [name if name == "global" else name + NOT_ADAPTED for name in names]
    return names


def _feature_set(params: dict[str, str]) -> str:
    """A search's feature set for runs that do not name theirs (before it was a study dimension): its parent run's
    ``data.feature_set`` (one set), else the paper's IS10."""
    recorded = params.get("data.feature_set")
    return recorded if recorded and not recorded.startswith("[") else PAPER_FEATURE_SET


def _row(search: str, run, client, normalizations: list[str] | None = None,
         feature_set: str = PAPER_FEATURE_SET) -> dict:
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    feature_set = params.get(Param.FEATURE_SET, feature_set)
    plan = params.get(Param.PLAN, "")
    holdout = params[Param.HOLDOUT]
    fold = params.get(Param.FOLD, "-")
    fold = None if fold in ("-", "", "None") else fold
    stopped_by = tags.get(Tag.STOPPED_BY)
    finished = stopped_by == "training"
    row = {
        "search": search, "study": tags.get(Tag.STUDY, f"{params[Param.METHOD]}--{plan}"),
        "run_id": run.info.run_id,
        "method": (WITHIN if plan.startswith("within-") else "") + variant(params[Param.METHOD],
                                                                           normalizations or ["global"], feature_set),
        Param.NORMALIZATION: params.get(Param.NORMALIZATION, "global"), Param.FEATURE_SET: feature_set,
        "holdout": holdout, "plan": plan, "phase": tags.get(Tag.PHASE, params.get("phase", Phase.SEARCH)),
        "fold": fold, "seed": int(params[Param.SEED]), "config": params.get(Param.CONFIG, "{}"),
        "selection": params.get(Param.SELECTION, "train-domain"),
        "score": metrics.get(Metric.SCORE, math.nan), "valid_ua": metrics.get(Metric.VALID, math.nan),
        "test_ua": metrics.get(Metric.TEST_UA, math.nan), "test_wa": metrics.get(Metric.TEST_WA, math.nan),
        "best_epoch": metrics.get(Metric.BEST_EPOCH, math.nan),
        "finished": finished, "stopped_by": stopped_by, "status": run.info.status,
    }
    for name, value in hyperparameters(row["config"]).items():
        row[name if name not in row else f"hp:{name}"] = value
    # Test-only corpora of an outer plan (the held-out corpus's own is test_ua; a held-back fold's is its score).
    if fold is None:
        row.update({key: value for key, value in metrics.items()
                    if key.startswith(f"{Metric.TEST_UA}/") and key.split("/", 1)[1] != holdout})
    row.update({key: value for key, value in metrics.items() if key.startswith(f"{Metric.FINAL_WEIGHT}/")})
    row.update(_train_ua_at_best_epoch(client, run.info.run_id, metrics, finished))
    return row


def collect_trials(tracking_uri: str, searches: list[str], experiment: str = EXPERIMENT) -> pd.DataFrame:
    """Every trial run of ``searches``: one row per trial (see :data:`COLUMNS`).

    Besides the columns :func:`distser.search.select` needs (``method, holdout, phase, fold, seed, config,
    score, test_ua, finished``): ``test_ua/<corpus>`` of test-only corpora, every hyperparameter of the
    trial's configuration (parsed from its ``config`` key: numbers as floats, categoricals as text),
    ``final_weight/<corpus>`` and ``train_ua/<corpus>`` of the best epoch (the last logged where a
    trial did not train to its end), ``normalization`` and ``feature_set`` (the trial's). Within-corpus trials
    get the method ``within:<method>``; a search that normalised otherwise than the paper's ``global`` labels
    its methods with its normalisations (:func:`variant`: ``ce [corpus]``), and a trial of another feature set
    than the paper's IS10 with its set (``ce {eGeMAPSv02}``), so that each is a row of its own.

    Raises ValueError (with what exists instead) for a missing SQLite database, an unknown experiment or
    search, a search without trial runs, and for a study present in two of ``searches``.
    """
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, tracking_uri, experiment)
    known = None
    rows = []
    for search in searches:
        runs = _search_runs(client, experiment_id,
                            f"tags.`{Tag.SEARCH}` = '{search}' and tags.`{Tag.ROLE}` = '{Role.TRIAL}'")
        if not runs:
            known = searches_in(client, experiment_id) if known is None else known
            if search in known:
                raise ValueError(f"search {search!r} has no trial runs in experiment {experiment!r} at {tracking_uri}")
            raise ValueError(f"no search {search!r} in experiment {experiment!r} at {tracking_uri} "
                             f"(searches there: {', '.join(known) or 'none'})")
        parent = _parent_params(client, experiment_id, search)
        normalizations, feature_set = _normalizations(parent), _feature_set(parent)
        rows += [_row(search, run, client, normalizations, feature_set) for run in runs]
    trials = pd.DataFrame(rows)
    trials = trials[[*COLUMNS, *(c for c in trials.columns if c not in COLUMNS)]]
    # A row is a method label (with its search's normalisations): two searches may share a study only under
    # different labels.
    twice = trials.groupby(["method", "study"])["search"].unique()
    twice = twice[twice.map(len) > 1]
    if not twice.empty:
        study, where = twice.index[0][1], twice.iloc[0]
        raise ValueError(f"study {study!r} is in searches {', '.join(sorted(where))}: a table row would mix them; "
                         "report them separately")
    return trials.sort_values(["search", "study", "phase", "fold", "config", "seed"], na_position="first",
                              kind="stable").reset_index(drop=True)


@dataclass
class SearchState:
    """Where a search stands: its parent run's status and the settings it recorded there."""

    search: str
    status: str  # FINISHED, RUNNING (running, or its driver was killed), KILLED (interrupted) or FAILED
    params: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"

    def describe(self) -> str:
        why = {"RUNNING": "still running, or its driver was killed",
               "KILLED": "interrupted", "FAILED": "it failed"}.get(self.status, self.status)
        return f"search {self.search!r} is {self.status} ({why}), not finished"


def search_states(tracking_uri: str, searches: list[str], experiment: str = EXPERIMENT) -> dict[str, SearchState]:
    """Each search's :class:`SearchState` (a search without a parent run counts as RUNNING: it never ended)."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, tracking_uri, experiment)
    states = {}
    for search in searches:
        parents = _search_runs(client, experiment_id,
                               f"tags.`{Tag.SEARCH}` = '{search}' and tags.`{Tag.ROLE}` = '{Role.SEARCH}'")
        states[search] = (SearchState(search, parents[0].info.status, dict(parents[0].data.params)) if parents
                          else SearchState(search, "RUNNING"))
    return states


def incomplete_studies(trials: pd.DataFrame, states: dict[str, SearchState]) -> dict[str, str]:
    """Studies of unfinished searches whose trials are not all in: study -> why.

    A study is incomplete when one of its trials has not ended (RUNNING, or KILLED by an interruption) or,
    for an Optuna search of some hyperparameters, when fewer configurations than ``study.samples`` were
    trained for every seed.
    Its selection may still change; studies of an unfinished search that have no trial yet are absent.
    """
    why: dict[str, str] = {}
    for (search, study), runs in trials.groupby(["search", "study"], sort=True):
        state = states.get(search)
        if state is None or state.finished:
            continue
        open_runs = int(runs["status"].isin(["RUNNING", "KILLED", "SCHEDULED"]).sum())
        searched = runs[runs["phase"] == Phase.SEARCH]
        seeds = int(state.params.get("study.seeds", 0) or 0)
        samples = int(state.params.get("study.samples", 0) or 0)
        whole = searched.groupby("config")["seed"].nunique()
        done = int((whole >= seeds).sum()) if seeds else len(whole)
        if open_runs:
            why[study] = f"{open_runs} of its trials not ended"
        elif state.params.get("study.mode") == "search" and (runs["config"] != "{}").any() and done < samples:
            why[study] = f"{done} of {samples} configurations trained"
    return why


def _train_ua_at_best_epoch(client, run_id: str, metrics: dict, finished: bool) -> dict[str, float]:
    """``train_ua/<corpus>`` of the run's best epoch, read from the metric history (the last value otherwise)."""
    keys = [k for k in metrics if k.startswith(TRAIN_UA)]
    best = metrics.get(Metric.BEST_EPOCH)
    if best is None or not finished:
        return {k: metrics[k] for k in keys}
    values = {}
    for key in keys:
        at_best = [m.value for m in client.get_metric_history(run_id, key) if m.step == int(best)]
        values[key] = at_best[-1] if at_best else metrics[key]
    return values


def weight_histories(tracking_uri: str, trials: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch corpus weights (``weight/<corpus>``) of ``trials`` (e.g. evaluated trials of weighting methods).

    A long frame: ``run_id, method, holdout, study, seed, corpus, epoch, weight``; the corpora of a
    trial are those of its ``final_weight/<corpus>`` columns.
    """
    columns = ["run_id", "method", "holdout", "study", "seed", "corpus", "epoch", "weight"]
    if trials.empty:
        return pd.DataFrame(columns=columns)
    client = _client(tracking_uri)
    finals = [c for c in trials.columns if c.startswith(f"{Metric.FINAL_WEIGHT}/")]
    rows = []
    for trial in trials.to_dict("records"):
        for column in finals:
            value = trial.get(column)
            if value is None or value != value:  # NaN: not a training corpus of this trial
                continue
            corpus = column.split("/", 1)[1]
            for metric in client.get_metric_history(trial["run_id"], f"{WEIGHT}{corpus}"):
                rows.append({"run_id": trial["run_id"], "method": trial["method"], "holdout": trial["holdout"],
                             "study": trial.get("study"), "seed": trial["seed"], "corpus": corpus,
                             "epoch": int(metric.step), "weight": float(metric.value)})
    return pd.DataFrame(rows, columns=columns)
