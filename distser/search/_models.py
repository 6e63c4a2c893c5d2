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

from distser.define import BEST_ALIAS, PAPER_FEATURE_SET, File, ModelTag, Param, Tag, model_name

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


def data_tags(config: SearchConfig, feature_set: str | None = None) -> dict[str, str]:
    """What a search's models (of ``feature_set``, default its first) were trained on: the store (or the embedded
    synthetic corpora), whether its features are synthetic and the protocol. Version tags and bundle metadata
    both (the bundle adds the feature set itself)."""
    from distser.features import FeatureStore, synthetic_corpora

    data = config.data
    if data.store is None:
        store, synthetic = f"embedded synthetic (scale {data.synthetic_scale:g})", True
    else:
        store = data.store
        synthetic = bool(synthetic_corpora(FeatureStore(data.store, feature_set or data.feature_sets[0])))
    # each model's own normalisation (of its selected configuration) is added where it is registered
    return {ModelTag.STORE: store, ModelTag.SYNTHETIC: str(synthetic).lower(), ModelTag.PROTOCOL: data.protocol}


def register_models(config: SearchConfig, locations, tracker, trials: pd.DataFrame, summary: pd.DataFrame,
                    shared, say) -> None:
    """Log each selected configuration's model (its seed with the best validation UA) and register it.

    Named ``distser-<method>`` (``distser-synthetic-<method>`` when trained on synthetic features), a
    version per (search, held-out corpus, feature set), tagged with what it is (:class:`~distser.define.ModelTag`,
    and the bundle's ``feature_set``); a model trained on the whole pool (``--protocol pool``) also gets the alias
    ``best``. ``shared``: the search's :class:`~distser.search._data.SharedSets` (each set's normalisers).
    A model of self-supervised embeddings (``ssl-<model>-L<layer>``) carries its store's extractor identity,
    so that ``distser predict`` embeds audio with the same checkpoint and layer.
    """
    import torch

    from distser.features import FeatureStore
    from distser.inference import ModelBundle, log_diagnostics, log_model

    default = config.data.feature_sets[0]
    several = len(config.data.feature_sets) > 1
    tags_of = {name: data_tags(config, name) for name in config.data.feature_sets}
    # None for openSMILE sets and the embedded synthetic corpora (which have no self-supervised sets)
    extractors = {name: FeatureStore(config.data.store, name).extractor if config.data.store else None
                  for name in config.data.feature_sets}
    # A pool model per set: @best goes to each method's set with the best selection score (validation data only).
    scores = summary["score_mean"].fillna(-np.inf)
    aliased = set(scores.groupby(summary["method"]).idxmax()) if several else set(summary.index)
    for row in summary.itertuples():
        feature_set = getattr(row, Param.FEATURE_SET, default)
        data = tags_of[feature_set]
        synthetic = data[ModelTag.SYNTHETIC] == "true"
        study = trials[(trials["method"] == row.method) & (trials["holdout"] == row.holdout)]
        if Param.FEATURE_SET in trials:
            study = study[study[Param.FEATURE_SET] == feature_set]
        chosen = evaluated_trials(study, row.selection, row.config)
        chosen = chosen[chosen["checkpoint"].notna()]
        if chosen.empty:
            continue
        best = chosen.sort_values(["valid_ua", "seed"], ascending=[False, True]).iloc[0]
        run_id = tracker.trial_run(best["trial_id"])
        if run_id is None:
            continue
        name = model_name(row.method, synthetic)
        # Each step is skipped when done: a resumed search whose driver died half-way finishes the rest.
        versions = tracker.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if versions:
            version = versions[0].version
        else:
            with best["checkpoint"].as_directory() as folder:
                state = torch.load(Path(folder) / File.MODEL, map_location="cpu", weights_only=True)
            normalization = best.get(Param.NORMALIZATION, "global")
            normalizer = shared.of(feature_set).plans[best["plan"]].normalizers[normalization]
            what = {ModelTag.METHOD: row.method, ModelTag.HOLDOUT: row.holdout, ModelTag.SEED: str(best["seed"]),
                    ModelTag.SEARCH: config.name, **data, ModelTag.NORMALIZATION: normalization}
            metadata = {**what, "selection": row.selection, "config": row.config, "plan": best["plan"]}
            bundle = ModelBundle.from_normalizer(state, normalizer, normalization_of(config.data, normalization),
                                                 feature_set, metadata, extractor=extractors[feature_set])
            tags = {**what, ModelTag.TEST_UA: f"{best['test_ua']:.4f}"}
            trained = ("the whole pool" if row.holdout == "-" else f"{row.holdout} held out") + (
                f", {feature_set} features" if several or feature_set != PAPER_FEATURE_SET else "")
            with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered..." itself
                info = log_model(bundle, run_id=run_id, registered_model_name=name, tags=tags,
                                 tracking_uri=locations.tracking_uri,
                                 description=f"{row.method} selected by {row.selection}, trained on {trained}, "
                                             f"search {config.name}"
                                             + (", on synthetic features (a demo, not a model of speech)"
                                                if synthetic else ""))
            version = getattr(info, "registered_model_version", None)
            say(f"registered models:/{name}/{version} ({trained}, seed {best['seed']}"
                + ("; synthetic features: a demo model" if synthetic else "") + ")")
        if config.data.protocol == "pool" and version is not None and row.Index in aliased:
            tracker.client.set_registered_model_alias(name, BEST_ALIAS, str(version))
            say(f"models:/{name}@{BEST_ALIAS} is now version {version} (trained on the whole pool"
                + (f", {feature_set} features: the best selection score of the feature sets" if several else "")
                + ")")
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
