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

from distser._lazy import lazy_exports

# Public names -> their modules, imported on first use so that `--help` stays fast (distser._lazy).
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._bundle": ("ModelBundle",),
    "._errors": ("BundleError", "ModelNotFoundError",),
    "._cli": ("build_parser", "collect_inputs", "main",),
    "._diagnostics": (
        "class_report", "confusion_figure", "log_diagnostics", "run_weights", "weights_figure", "weights_table",
    ),
    "._predictor": ("Predictor", "load_bundle", "load_predictor", "prediction_frame", "probability_columns",),
    "._pyfunc": ("EmotionModel", "example_clip", "input_example", "log_model", "model_signature",),
})
