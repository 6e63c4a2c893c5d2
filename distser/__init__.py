"""distser: multi-corpus speech emotion recognition with corpus-wise weights, searched on Ray.

Stages, each a package with a small public face (data flows one way):

``distser.corpora``   corpus folders -> one manifest table (pandas)
``distser.features``  manifest -> IS10 feature shards (Parquet, Ray Data); shards -> arrays; synthetic default
``distser.protocols`` manifest -> deterministic LOCO / within-corpus splits
``distser.learning``  arrays -> trained model and per-epoch records (imports neither Ray nor MLflow)
``distser.search``    Ray Tune + Optuna + ASHA trials, MLflow tracking
``distser.report``    MLflow runs -> the paper's tables and figures
"""

__version__ = "0.1.0"
