"""The selected models of a finished search: logged and registered as MLflow models, checkpoints cleared."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from distser.define import File, Param, Tag, model_name

from ._config import SearchConfig
from ._selection import evaluated_trials
from ._storage import Storage

#: Artifact folder of a selected model's run: confusion matrix, per-class report, weights over epochs.
DIAGNOSTICS = "diagnostics"


def normalization_of(data, name: str):
    """The :class:`distser.features.Normalization` called ``name`` with the search's data settings."""
    return next(n for n in data.normalizations() if n.name == name)


def delete_checkpoints(storage: Storage, name: str) -> int:
    """Delete the trials' checkpoints of a finished search (needed only until its models are logged)."""
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(storage.fs_path(name), recursive=False, allow_not_found=True)
    removed = 0
    for trial in storage.filesystem.get_file_info(selector):
        if trial.type != pafs.FileType.Directory or not trial.base_name.startswith("trial-"):
            continue
        for entry in storage.filesystem.get_file_info(pafs.FileSelector(trial.path, allow_not_found=True)):
            if entry.type == pafs.FileType.Directory and entry.base_name.startswith("checkpoint_"):
                storage.filesystem.delete_dir(entry.path)
                removed += 1
    return removed


def register_models(config: SearchConfig, locations, tracker, trials: pd.DataFrame, summary: pd.DataFrame,
                    shared, feature_set: str, say) -> None:
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
        run_id = tracker.trial_run(best["trial_id"])
        if run_id is None:
            continue
        name = model_name(row.method)
        # Each step is skipped when done: a resumed search whose driver died half-way finishes the rest.
        versions = tracker.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if not versions:
            with best["checkpoint"].as_directory() as folder:
                state = torch.load(Path(folder) / File.MODEL, map_location="cpu", weights_only=True)
            normalization = best.get(Param.NORMALIZATION, "global")
            normalizer = shared.plans[best["plan"]].normalizers[normalization]
            metadata = {"method": row.method, "holdout": row.holdout, "seed": str(best["seed"]),
                        "search": config.name, "selection": row.selection, "config": row.config, "plan": best["plan"],
                        Param.NORMALIZATION: normalization}
            bundle = ModelBundle.from_normalizer(state, normalizer, normalization_of(config.data, normalization),
                                                 feature_set, metadata)
            tags = {"holdout": row.holdout, "test_ua": f"{best['test_ua']:.4f}", "search": config.name,
                    "method": row.method, "seed": str(best["seed"]), Param.NORMALIZATION: normalization}
            with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered..." itself
                info = log_model(bundle, run_id=run_id, registered_model_name=name, tags=tags,
                                 tracking_uri=locations.tracking_uri,
                                 description=f"{row.method} selected by {row.selection}, held-out {row.holdout}, "
                                             f"search {config.name}")
            say(f"registered {name} version {getattr(info, 'registered_model_version', None)} "
                f"({row.holdout} held out, seed {best['seed']})")
        tracker.client.set_tag(run_id, Tag.SELECTED, "true")
        if not tracker.client.list_artifacts(run_id, DIAGNOSTICS):
            confusion = _confusion_of(tracker, run_id, best["holdout"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                log_diagnostics(run_id, confusion=confusion, tracking_uri=locations.tracking_uri,
                                artifact_path=DIAGNOSTICS)


def _confusion_of(tracker, run_id: str, holdout: str):
    with tempfile.TemporaryDirectory() as folder:
        path = tracker.client.download_artifacts(run_id, File.FINAL_METRICS, folder)
        confusion = json.loads(Path(path).read_text())["confusion"]
    return confusion.get(holdout) or next(iter(confusion.values()), np.zeros((4, 4), int).tolist())
