"""Load a logged emotion model by URI and predict the emotion of audio files or stored features."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from distser.features import MIN_ADAPT_CLIPS

from ._columns import EMOTION, ERROR, PATH, STATISTICS
from ._errors import ModelNotFoundError
from ._extraction import RAY_THRESHOLD, extract_local, extract_ray

if TYPE_CHECKING:  # torch: loaded with the model, not to parse a command line
    from ._bundle import ModelBundle

#: Columns of a prediction table besides the probabilities (``p_<class>``, between them).
_TRACKING_VARIABLE = "MLFLOW_TRACKING_URI"


def probability_columns(classes: Sequence[str]) -> list[str]:
    """``p_neutral, p_happy, ...``: one probability column per class, in class order."""
    return [f"p_{c}" for c in classes]


def prediction_frame(bundle: ModelBundle, features: np.ndarray, errors: Sequence[str], adapt: str | None = None,
                     speakers: Sequence[Any] | None = None, *, fallback: bool = False) -> pd.DataFrame:
    """``emotion``, one probability column per class, ``statistics`` and ``error`` for each feature row.

    Rows with an error (or non-finite features) get an empty emotion and NaN probabilities. ``adapt``
    (default: the model's own, :attr:`ModelBundle.default_adapt`) normalises the good rows together
    by their own statistics; too few of them is a ValueError, or with ``fallback`` (a served request)
    the training statistics, which ``statistics`` then says.
    """
    errors = list(errors)
    if len(errors) != len(features):
        raise ValueError(f"{len(errors)} errors for {len(features)} feature rows")
    ok = np.array([not e for e in errors], dtype=bool) & np.isfinite(features).all(axis=1)
    for row in np.flatnonzero(~ok):
        errors[row] = errors[row] or "non-finite feature values"
    adapt = bundle.default_adapt if adapt is None else adapt
    if fallback and adapt != "none" and (ok.sum() < MIN_ADAPT_CLIPS or (adapt == "speaker" and speakers is None)):
        adapt = "none"
    probs = np.full((len(features), len(bundle.classes)), np.nan, dtype=np.float64)
    if ok.any():
        mine = None if speakers is None else np.asarray(speakers, dtype=object)[ok]
        probs[ok] = bundle.predict_proba(features[ok], adapt, mine)
    emotions = np.full(len(features), "", dtype=object)
    emotions[ok] = np.asarray(bundle.classes, dtype=object)[probs[ok].argmax(axis=1)]
    frame = pd.DataFrame(probs, columns=probability_columns(bundle.classes))
    frame.insert(0, EMOTION, emotions.astype(str))
    frame[STATISTICS] = np.where(ok, "training" if adapt == "none" else adapt, "")
    frame[ERROR] = errors
    return frame


@dataclass
class Predictor:
    """A loaded model: its :class:`ModelBundle` and the URI it came from.

    Example:
        >>> predictor = load_predictor("models:/distser-cww/3")  # doctest: +SKIP
        >>> predictor.predict_files(["clip.flac"])[["path", "emotion"]]  # doctest: +SKIP
    """

    bundle: ModelBundle
    uri: str = ""
    #: A self-supervised set's checkpoint folder, if not where the bundle's extractor says (``--ssl-model``).
    ssl_model: str | Path | None = None
    _extractor: object | None = field(default=None, init=False, repr=False)
    _checkpoint: Path | None = field(default=None, init=False, repr=False)

    @property
    def feature_set(self) -> str:
        return self.bundle.feature_set

    @property
    def classes(self) -> tuple[str, ...]:
        return self.bundle.classes

    def checkpoint(self) -> Path | None:
        """A self-supervised set's checkpoint folder, found and checked against the bundle's extractor once
        (:func:`distser.features.find_checkpoint`: ValueError naming what is wrong); None for openSMILE sets."""
        if self.bundle.extractor is not None and self._checkpoint is None:
            from distser.features import find_checkpoint

            self._checkpoint = find_checkpoint(self.bundle.extractor, self.ssl_model)
        return self._checkpoint

    def extractor(self):
        """This model's extractor, created on first use, then reused: openSMILE's for its feature set, or the
        :class:`~distser.features.SSLEmbedder` of its checkpoint and layer (the one extraction used)."""
        if self._extractor is None:
            from distser.features import Extractor, SSLEmbedder

            folder = self.checkpoint()
            self._extractor = (Extractor(self.bundle.feature_set) if folder is None
                               else SSLEmbedder(folder, self.bundle.extractor.layer))
        return self._extractor

    def predict_features(self, features: np.ndarray, errors: Sequence[str] | None = None, *,
                         adapt: str | None = None, speakers: Sequence[Any] | None = None) -> pd.DataFrame:
        """Prediction table (``emotion``, ``p_*``, ``statistics``, ``error``) of raw feature rows of this
        model's set, normalised together as ``adapt`` says (see :func:`prediction_frame`)."""
        return prediction_frame(self.bundle, np.asarray(features, dtype=np.float32),
                                errors if errors is not None else [""] * len(features), adapt, speakers)

    def predict_files(self, paths: Sequence[str | Path], *, use_ray: bool | None = None,
                      num_workers: int | None = None, progress: bool = False, adapt: str | None = None,
                      speakers: Sequence[Any] | None = None) -> pd.DataFrame:
        """Extract and classify audio files: ``path, emotion, p_*, statistics, error`` (a row per path, in order).

        A file that cannot be read gets its reason in ``error``; the others are still classified (and
        adapted to together, as ``adapt`` says). ``use_ray=None`` uses Ray Data for more than
        :data:`RAY_THRESHOLD` files, else this process.
        """
        self.bundle.check_adapt(self.bundle.default_adapt if adapt is None else adapt, len(paths), speakers)
        paths = [str(p) for p in paths]
        if use_ray is None:
            use_ray = len(paths) > RAY_THRESHOLD
        if use_ray and paths:
            features, errors = extract_ray(paths, self.bundle.feature_set, num_workers=num_workers,
                                           progress=progress, extractor=self.bundle.extractor,
                                           folder=self.checkpoint())
        else:
            features, errors = extract_local(paths, self.extractor(), progress=progress)
        frame = self.predict_features(features, errors, adapt=adapt, speakers=speakers)
        frame.insert(0, PATH, paths)
        return frame


# ---------------------------------------------------------------------------------------- loading
@contextlib.contextmanager
def tracking_uri_set(uri: str | None) -> Iterator[None]:
    """Use ``uri`` as MLflow's tracking (and default registry) URI inside the block, then restore it.

    Restores both MLflow's global and the ``MLFLOW_TRACKING_URI`` variable, which ``set_tracking_uri``
    also sets (and unsets when given None).
    """
    if uri is None:
        yield
        return
    import mlflow
    from mlflow.tracking._tracking_service import utils

    previous, variable = utils._tracking_uri, os.environ.get(_TRACKING_VARIABLE)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if variable is None:
            os.environ.pop(_TRACKING_VARIABLE, None)
        else:
            os.environ[_TRACKING_VARIABLE] = variable


def check_tracking_store(uri: str | None) -> None:
    """A ``sqlite:///`` store that does not exist is an error (MLflow would silently create an empty one)."""
    if uri and uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_file():
            raise ModelNotFoundError(f"tracking store {uri} does not exist (no file {path})")


def load_bundle(uri: str, tracking_uri: str | None = None) -> ModelBundle:
    """The :class:`ModelBundle` of the distser model at ``uri`` (see :func:`load_predictor`)."""
    model = _load_pyfunc(uri, tracking_uri)
    from ._pyfunc import EmotionModel

    python_model = model.unwrap_python_model()
    if not isinstance(python_model, EmotionModel):
        raise ModelNotFoundError(f"{uri} is an MLflow model but not a distser emotion model "
                                 f"({type(python_model).__name__})")
    return python_model.bundle


def load_predictor(uri: str, tracking_uri: str | None = None, *, ssl_model: str | Path | None = None) -> Predictor:
    """Load a model logged with :func:`distser.inference.log_model`.

    ``uri`` is ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``runs:/<run id>/<path>``,
    a logged model's ``models:/<model id>``, or a local folder holding an ``MLmodel`` file.
    ``tracking_uri`` (default: MLflow's current one, e.g. ``MLFLOW_TRACKING_URI``) resolves the first
    three. A URI that names nothing is a :class:`ModelNotFoundError` naming it and listing what exists.
    ``ssl_model``: a model of self-supervised embeddings takes its checkpoint from this folder (checked
    by its checksum), not from where its extractor was found at extraction (see :meth:`Predictor.checkpoint`).
    """
    return Predictor(load_bundle(uri, tracking_uri), uri, ssl_model)


def _load_pyfunc(uri: str, tracking_uri: str | None):
    # The cheap checks come before MLflow and torch load: a wrong URI is answered in a second.
    scheme = urlparse(uri).scheme
    if scheme in ("", "file") and not re.match(r"^[a-z][a-z0-9+.-]*:/", uri):
        folder = Path(uri).expanduser()
        if not folder.exists():
            raise ModelNotFoundError(f"model folder {uri} does not exist")
        if not (folder / "MLmodel").is_file():
            raise ModelNotFoundError(f"{uri} is not an MLflow model folder (no MLmodel file in it)")
    elif scheme in ("models", "runs"):
        if tracking_uri is None:
            import mlflow

        check_tracking_store(tracking_uri or mlflow.get_tracking_uri())
    import mlflow

    with tracking_uri_set(tracking_uri):
        try:
            return mlflow.pyfunc.load_model(uri)
        except ModelNotFoundError:
            raise
        except Exception as error:
            raise ModelNotFoundError(_explain(uri, error)) from error


def _explain(uri: str, error: Exception) -> str:
    """Why ``uri`` did not load, with the registered names/versions or run that do exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    reason = error.message if isinstance(error, MlflowException) else f"{type(error).__name__}: {error}"
    reason = reason.strip().splitlines()[0] if reason.strip() else type(error).__name__
    where = f" in tracking store {mlflow.get_tracking_uri()}"
    try:
        client = mlflow.MlflowClient()
        if uri.startswith("models:/"):
            rest = uri[len("models:/"):].strip("/")
            name = re.split(r"[/@]", rest, maxsplit=1)[0]
            if re.match(r"^m-[0-9a-f]{32}$", name):  # a logged model id
                return f"model {uri} not found{where}: {reason}"
            registered = [m.name for m in client.search_registered_models(max_results=100)]
            if name not in registered:
                known = ", ".join(sorted(registered)) or "none"
                return f"model {uri} not found: no registered model {name!r}{where} (registered models: {known})"
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
            aliases = sorted(client.get_registered_model(name).aliases)
            return (f"model {uri} not found{where}: {name!r} has versions "
                    f"{', '.join(map(str, versions)) or 'none'}" + (f" and aliases {', '.join(aliases)}" if aliases
                                                                   else "") + f" ({reason})")
        if uri.startswith("runs:/"):
            run_id = uri[len("runs:/"):].strip("/").split("/", 1)[0]
            try:
                run = client.get_run(run_id)
            except MlflowException:
                return f"model {uri} not found: no run {run_id!r}{where}"
            logged = [m.name for m in client.search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")]
            return (f"model {uri} not found: run {run_id} has no model at that path "
                    f"(models logged by the run: {', '.join(logged) or 'none'}) ({reason})")
    except Exception:  # the explanation is best effort; the original reason still says what failed
        pass
    return f"model {uri} could not be loaded: {reason}"
