"""MLflow "models from code" entry point: MLflow runs this file to build the pyfunc model.

The model is defined by code, not pickled: loading a logged distser model executes no pickled
objects (the weights are read with ``torch.load(weights_only=True)`` in ``EmotionModel.load_context``).
"""

import mlflow

from distser.inference._pyfunc import EmotionModel

mlflow.models.set_model(EmotionModel())
