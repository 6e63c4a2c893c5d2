"""The MLflow pyfunc model: raw audio -> emotion, and logging/registering it under a run.

Input: a DataFrame with a ``path`` column (an audio file readable where the model runs) and/or an
``audio_base64`` column (base64 of an audio file's bytes, any format libsndfile reads); each row uses
exactly one of them; an optional ``speaker`` column. Output: ``emotion``, ``p_<class>`` per class,
``statistics`` and ``error`` ("" when fine); a clip that cannot be read gets its reason in ``error``
(emotion "", probabilities null) and the others are still classified. A model trained with a per-corpus
or per-speaker normalisation treats a request as one batch of one corpus: it normalises the clips by
their own statistics (each speaker's, given a ``speaker`` column), or — fewer than
:data:`~distser.features.MIN_ADAPT_CLIPS` clips — by the training statistics; ``statistics``
says which (``corpus``, ``speaker``, ``training``). The ``adapt`` parameter overrides it.

A model of self-supervised embeddings loads its checkpoint (the one its training embeddings came from:
where extraction found it, or the folder in ``$DISTSER_SSL_MODEL``; checked by its checksum) at the
first request, and needs the ``ssl`` extra where it runs.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency; keeps the bundle usable without it
    PythonModel = object  # type: ignore[misc,assignment]

from distser.define import SSL_MODEL_VARIABLE, ModelTag

from ._bundle import ModelBundle
from ._extraction import extract_base64, extract_local
from ._predictor import EMOTION, ERROR, STATISTICS, prediction_frame, probability_columns, tracking_uri_set

PATH_COLUMN, BASE64_COLUMN, SPEAKER_COLUMN = "path", "audio_base64", "speaker"
#: Name of the bundle file among the MLflow model's artifacts.
BUNDLE_ARTIFACT = "bundle"
BUNDLE_FILE = "bundle.pt"
#: The file MLflow runs to build the model ("models from code"), copied into every logged model.
MODEL_CODE = Path(__file__).with_name("_model_code.py")


def _missing(value: Any) -> bool:
    """None, NaN, pd.NA or an empty string: how a row without this column arrives after MLflow's schema step."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or bool(pd.isna(value))


def _bad_request(frame: pd.DataFrame) -> Exception:
    """The one-line answer to input without audio columns: an MLflow BAD_REQUEST (a server sends no trace with it).

    Served, MLflow's input schema drops every other column before the model sees the request, so the
    columns named are those left; called directly, the model names the ones it was given.
    """
    got = ", ".join(map(repr, frame.columns)) or "none of them"
    message = (f"input needs a {PATH_COLUMN!r} (audio file) or {BASE64_COLUMN!r} (base64 of its bytes) column; "
               f"got {got}")
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import BAD_REQUEST
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return ValueError(message)
    return MlflowException(message, error_code=BAD_REQUEST)


class EmotionModel(PythonModel):
    """``mlflow.pyfunc`` model mapping audio clips to emotions (see the module docstring).

    Logged as "models from code" (``_model_code.py``), so nothing is pickled: :meth:`load_context`
    reads the :class:`ModelBundle` from the model's artifacts and builds the openSMILE extractor once; a
    self-supervised checkpoint is loaded at the first request (``distser predict`` loads the model
    without it, and may be told another folder).
    """

    def __init__(self) -> None:
        self.bundle: ModelBundle | None = None
        self._extractor = None
        self._lock = threading.Lock()

    def load_context(self, context) -> None:
        from distser.features import Extractor

        self.bundle = ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT])
        if self.bundle.extractor is None:
            self._extractor = Extractor(self.bundle.feature_set)

    def _features(self):
        """The extractor (under the lock): a self-supervised set's :class:`~distser.features.SSLEmbedder` is
        built at the first request, from the checkpoint its bundle names (ValueError saying what is wrong)."""
        if self._extractor is None:
            from distser.features import SSLEmbedder, find_checkpoint

            identity = self.bundle.extractor
            folder = find_checkpoint(identity, os.environ.get(SSL_MODEL_VARIABLE) or None)
            self._extractor = SSLEmbedder(folder, identity.layer)
        return self._extractor

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.bundle is None:
            raise RuntimeError("EmotionModel.predict before load_context")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        unknown = sorted(set(frame.columns) - {PATH_COLUMN, BASE64_COLUMN, SPEAKER_COLUMN})
        if unknown or not {PATH_COLUMN, BASE64_COLUMN} & set(frame.columns):
            raise _bad_request(frame)
        n = len(frame)
        paths = frame[PATH_COLUMN].tolist() if PATH_COLUMN in frame else [None] * n
        texts = frame[BASE64_COLUMN].tolist() if BASE64_COLUMN in frame else [None] * n
        features = np.full((n, self.bundle.input_dim), np.nan, dtype=np.float32)
        errors = [""] * n
        by_path, by_text = [], []
        for row, (path, text) in enumerate(zip(paths, texts, strict=True)):
            if not _missing(path) and not _missing(text):
                errors[row] = f"row {row}: give either {PATH_COLUMN} or {BASE64_COLUMN}, not both"
            elif not _missing(path):
                by_path.append(row)
            elif not _missing(text):
                by_text.append(row)
            else:
                errors[row] = f"row {row}: no audio (neither {PATH_COLUMN} nor {BASE64_COLUMN} given)"
        with self._lock:  # one extractor per loaded model: one request at a time uses it
            extractor = self._features() if by_path or by_text else None
            if by_path:
                got, why = extract_local([str(paths[r]) for r in by_path], extractor)
                features[by_path] = got
                for r, reason in zip(by_path, why, strict=True):
                    errors[r] = f"{paths[r]}: {reason}" if reason else ""
            if by_text:
                got, why = extract_base64([str(texts[r]) for r in by_text], extractor)
                features[by_text] = got
                for r, reason in zip(by_text, why, strict=True):
                    errors[r] = f"row {r}: {reason}" if reason else ""
        # A request is one batch: a model trained to adapt normalises it by its own statistics (by speaker
        # when a speaker column is given), or by the training statistics when it is too small to adapt to.
        speakers = frame[SPEAKER_COLUMN].tolist() if SPEAKER_COLUMN in frame else None
        adapt = (params or {}).get("adapt") or None
        if adapt is None and self.bundle.default_adapt == "speaker" and speakers is None:
            adapt = "corpus"
        out = prediction_frame(self.bundle, features, errors, adapt, speakers, fallback=True)
        # null (not NaN) probabilities for failed clips: the served JSON stays strict JSON.
        for column in probability_columns(self.bundle.classes):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        return out


# ---------------------------------------------------------------------------------------- signature
def model_signature(classes: tuple[str, ...]):
    """Input: optional string columns ``path``, ``audio_base64``; output: emotion, probabilities, error."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", PATH_COLUMN, required=False),
                     ColSpec("string", BASE64_COLUMN, required=False),
                     ColSpec("string", SPEAKER_COLUMN, required=False)])
    outputs = Schema([ColSpec("string", EMOTION), *[ColSpec("double", c) for c in probability_columns(classes)],
                      ColSpec("string", STATISTICS), ColSpec("string", ERROR)])
    # "adapt": none, corpus or speaker; empty: the model's own (see ModelBundle.default_adapt)
    return ModelSignature(inputs=inputs, outputs=outputs, params=ParamSchema([ParamSpec("adapt", "string", "")]))


def example_clip(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A short synthetic voiced sound as FLAC bytes (for input examples and tests; no recording needed)."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 3 * t)  # a gliding fundamental, like intonation
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.hanning(len(t)) * 0.3
    signal += np.random.default_rng(0).normal(0, 0.003, len(t))
    buffer = io.BytesIO()
    soundfile.write(buffer, signal.astype(np.float32), rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def input_example() -> pd.DataFrame:
    """One row of base64 audio (a synthetic 1 s clip): what a request sends."""
    return pd.DataFrame({BASE64_COLUMN: [base64.b64encode(example_clip()).decode("ascii")]})


def pip_requirements(bundle: ModelBundle | None = None) -> list[str]:
    """What the model needs besides distser itself (pinned to the versions it was logged with); transformers
    too for a ``bundle`` of self-supervised embeddings."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    ssl = ("transformers",) if bundle is not None and bundle.extractor is not None else ()
    for package in ("mlflow", "torch", "opensmile", "soundfile", "numpy", "pandas", *ssl):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


# ---------------------------------------------------------------------------------------- logging
def log_model(
    bundle: ModelBundle,
    *,
    run_id: str | None = None,
    name: str = "model",
    registered_model_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    description: str | None = None,
):
    """Log ``bundle`` as an ``mlflow.pyfunc`` model (audio -> emotion) under a run; optionally register it.

    The run is ``run_id`` or the active run (MLflow starts one if neither). With
    ``registered_model_name`` a new version of that registered model is created (the registry needs a
    database-backed store such as ``sqlite:///...``), tagged with the bundle's metadata, its feature
    set (and a self-supervised set's ``extractor``) and ``tags`` (e.g. held-out corpus, test UA, search
    name, method). Returns MLflow's ``ModelInfo`` (``.model_uri``; ``.registered_model_version`` when
    registered). A model of self-supervised embeddings is logged without an input example: MLflow would
    run it on the example, loading its checkpoint here (seconds to minutes for a large one, per version).

    Example:
        >>> info = log_model(bundle, run_id=run_id, registered_model_name="distser-cww",  # doctest: +SKIP
        ...                  tags={"holdout": "emodb", "test_ua": "0.61"}, tracking_uri="sqlite:///runs/mlflow.db")
    """
    import tempfile

    import mlflow
    from mlflow.models import Model

    ssl = bundle.extractor
    version_tags = {"feature_set": bundle.feature_set,
                    **({} if ssl is None else {ModelTag.EXTRACTOR: ssl.describe()}), **bundle.metadata,
                    **{str(k): str(v) for k, v in (tags or {}).items()}}
    with tempfile.TemporaryDirectory(prefix="distser-bundle-") as folder, tracking_uri_set(tracking_uri):
        client = mlflow.MlflowClient()
        if run_id is None:
            active = mlflow.active_run()
            if active is None:
                raise ValueError("log_model needs run_id= or an active MLflow run")
            run_id = active.info.run_id
        run = client.get_run(run_id)
        # Created here, in the run's experiment: Model.log given only run_id would put the model in the
        # active (else Default) experiment, with its artifacts under that experiment's location.
        logged = client.create_logged_model(
            experiment_id=run.info.experiment_id, name=name, source_run_id=run_id, tags=version_tags,
            params={k: v[:6000] for k, v in run.data.params.items()}, model_type="distser-emotion")
        try:
            path = bundle.save(Path(folder) / BUNDLE_FILE)
            # Model.log is what mlflow.pyfunc.log_model calls, plus run_id/model_id: a run that is not active.
            info = Model.log(
                artifact_path=None,
                name=name,
                flavor=mlflow.pyfunc,
                flavor_name="pyfunc.CustomPythonModel",
                run_id=run_id,
                model_id=logged.model_id,
                python_model=str(MODEL_CODE),  # models from code: nothing pickled
                artifacts={BUNDLE_ARTIFACT: str(path)},
                signature=model_signature(bundle.classes),
                input_example=input_example() if ssl is None else None,
                pip_requirements=pip_requirements(bundle),
                metadata={"distser": {"feature_set": bundle.feature_set, "classes": list(bundle.classes),
                                      **({} if ssl is None else {ModelTag.EXTRACTOR: ssl.to_dict()}),
                                      **bundle.metadata}},
                registered_model_name=registered_model_name,
                # The new version's tags, created with it in one call: a driver killed right after it was
                # registered leaves no version without them (a resumed search skips a registered version).
                tags=version_tags,
            )
        except BaseException:
            client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        client.finalize_logged_model(logged.model_id, "READY")
        if registered_model_name is not None and info.registered_model_version is not None:
            version = str(info.registered_model_version)
            if description is None:
                description = _describe(bundle, version_tags)
            client.update_model_version(registered_model_name, version, description=description)
    return info


def _describe(bundle: ModelBundle, tags: Mapping[str, str]) -> str:
    parts = [f"distser {tags.get('method', 'model')} on {bundle.feature_set} features"]
    if "holdout" in tags:
        parts.append(f"held-out corpus {tags['holdout']}")
    if "test_ua" in tags:
        parts.append(f"test UA {tags['test_ua']}")
    if "search" in tags:
        parts.append(f"search {tags['search']}")
    return "; ".join(parts) + ". Input: a DataFrame with a 'path' or 'audio_base64' column (see docs/serving.md)."
