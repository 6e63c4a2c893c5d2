"""Use what a search found: a trained model as an MLflow model from raw audio to emotion.

``ModelBundle``   network (``nn.Linear`` layout) + training normaliser + feature set + class names, one file
``log_model``     the bundle as an ``mlflow.pyfunc`` model (audio in, emotion out), optionally registered
``load_predictor``  ``models:/name/version``, ``models:/name@alias``, ``runs:/<id>/model`` or a folder -> Predictor
``main``          ``distser predict``: files, folders, CSV manifests or stored features -> table + CSV
``log_diagnostics``  confusion matrix PNG, per-class report, corpus weights over epochs, on a run

Serving (``mlflow models serve -m models:/distser-cww/3 --env-manager local``): see docs/serving.md.

Example:
    >>> import numpy as np
    >>> from distser.learning import EmotionClassifier
    >>> model = EmotionClassifier(88, hidden=(16, 8))
    >>> bundle = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02", {"method": "ce"})
    >>> probs = bundle.predict_proba(np.random.default_rng(0).normal(size=(3, 88)))
    >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1))
    ((3, 4), True)
"""

from ._bundle import BundleError, ModelBundle
from ._cli import build_parser, collect_inputs, main
from ._diagnostics import (
    class_report,
    confusion_figure,
    log_diagnostics,
    run_weights,
    weights_figure,
    weights_table,
)
from ._predictor import (
    ModelNotFoundError,
    Predictor,
    load_bundle,
    load_predictor,
    prediction_frame,
    probability_columns,
)
from ._pyfunc import EmotionModel, example_clip, input_example, log_model, model_signature

__all__ = [
    # the model file
    "BundleError",
    "ModelBundle",
    # MLflow
    "EmotionModel",
    "example_clip",
    "input_example",
    "log_model",
    "model_signature",
    # loading and predicting
    "ModelNotFoundError",
    "Predictor",
    "load_bundle",
    "load_predictor",
    "prediction_frame",
    "probability_columns",
    # command line
    "build_parser",
    "collect_inputs",
    "main",
    # diagnostics
    "class_report",
    "confusion_figure",
    "log_diagnostics",
    "run_weights",
    "weights_figure",
    "weights_table",
]
