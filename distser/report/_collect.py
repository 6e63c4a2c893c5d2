"""MLflow runs of one or more searches -> one trial table (a row per trial, i.e. per configuration and seed)."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from distser.search import SEARCHABLE, config_key
from distser.search._tracking import ROLE_TAG, SEARCH_TAG


def collect_trials(tracking_uri: str, searches: list[str], experiment: str = "distser") -> pd.DataFrame:
    """Every trial run of ``searches``, with its config, validation/test UAs and final corpus weights.

    Within-corpus trials get the method ``within:<method>`` so they form their own row of Table 2.
    Per-corpus ``train_ua/<corpus>`` are those of the best epoch, whose weights the trained model keeps
    (the last epoch's where a run has no ``best_epoch``, e.g. one ASHA stopped).
    """
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"no MLflow experiment {experiment!r} at {tracking_uri}")
    rows = []
    for search in searches:
        runs = client.search_runs([found.experiment_id],
                                  f"tags.`{SEARCH_TAG}` = '{search}' and tags.`{ROLE_TAG}` = 'trial'",
                                  max_results=50000)
        if not runs:
            raise ValueError(f"no trial runs of search {search!r} in experiment {experiment!r} at {tracking_uri}")
        for run in runs:
            params, metrics = run.data.params, run.data.metrics
            hyper = {k: float(params[k]) for k in SEARCHABLE if k in params}
            within = params.get("plan", "").startswith("within-")
            row = {
                "search": search, "run_id": run.info.run_id, "status": run.info.status,
                "method": ("within:" if within else "") + params["method"],
                "holdout": params["holdout"], "plan": params.get("plan", ""), "seed": int(params["seed"]),
                "config": config_key(hyper), **hyper,
                "valid_ua": metrics.get("best_mean_valid_ua"), "test_ua": metrics.get("test_ua"),
                "test_wa": metrics.get("test_wa"),
                "finished": run.data.tags.get("distser.stopped_by") == "training",
            }
            row.update({k: v for k, v in metrics.items() if k.startswith("final_weight/")})
            row.update(_train_ua_at_best_epoch(client, run.info.run_id, metrics))
            rows.append(row)
    return pd.DataFrame(rows)


def _train_ua_at_best_epoch(client: MlflowClient, run_id: str, metrics: dict) -> dict[str, float]:
    """``train_ua/<corpus>`` of the run's best epoch, read from the metric history."""
    keys = [k for k in metrics if k.startswith("train_ua/")]
    best = metrics.get("best_epoch")
    if best is None:
        return {k: metrics[k] for k in keys}
    values = {}
    for key in keys:
        at_best = [m.value for m in client.get_metric_history(run_id, key) if m.step == int(best)]
        values[key] = at_best[-1] if at_best else metrics[key]
    return values
