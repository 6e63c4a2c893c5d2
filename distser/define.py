"""Names shared by several stages, in one place: MLflow tags, parameters and metrics, file names.

The search writes runs with these names and the report reads them back; nothing else spells them.
Per-epoch metrics are :meth:`distser.learning.EpochRecord.flat`'s keys, logged as they come.
"""

from __future__ import annotations

#: Hidden layer sizes of the paper's model F (the trainer's and the search's default).
PAPER_HIDDEN: tuple[int, ...] = (1024, 1024, 512, 512)

#: The paper's feature set (openSMILE's IS10 functionals): the default, and what a report row without a
#: ``{set}`` label was trained on.
PAPER_FEATURE_SET = "IS10"

#: MLflow experiment of every search unless configured otherwise.
EXPERIMENT = "distser"
#: Prefix of every distser tag.
TAG_PREFIX = "distser."


class Tag:
    """MLflow run tags (one namespace: ``distser.*``)."""

    SEARCH = "distser.search"  # the search a run belongs to
    ROLE = "distser.role"  # "search" (the parent run) or "trial"
    STUDY = "distser.study"  # method × plan
    TRIAL_ID = "distser.trial_id"  # Tune's trial id
    PHASE = "distser.phase"  # "search" (proposals) or "final" (completion / retraining)
    STOPPED_BY = "distser.stopped_by"  # "training" (ran to its end), "asha" or "error"
    STOP_REASON = "distser.stop_reason"  # early_stopping, max_epochs
    ERROR = "distser.error"  # why a trial failed
    NODES = "distser.nodes"  # Ray nodes the trial ran on (a retry may move it)
    RETRIED = "distser.retried"
    STORE = "distser.feature_store"  # fingerprint of the feature store
    COMMAND = "distser.command"
    SEARCH_DIR = "distser.search_dir"
    SELECTED = "distser.selected"  # "true" on the trial whose model was registered
    # MLflow's own tags, so the UI shows the code version and the entry point
    GIT_COMMIT = "mlflow.source.git.commit"
    SOURCE_NAME = "mlflow.source.name"
    PARENT = "mlflow.parentRunId"


class Role:
    SEARCH = "search"
    TRIAL = "trial"


class Phase:
    SEARCH = "search"
    FINAL = "final"


class Param:
    """Parameters of a trial's run (besides each method hyperparameter, logged under its own name)."""

    METHOD = "method"
    HOLDOUT = "holdout"  # the held-out corpus of the outer plan ("-" for a pool plan)
    PLAN = "plan"
    SEED = "seed"
    FOLD = "fold"  # leave-one-train-corpus-out: the training corpus held back ("-" otherwise)
    CONFIG = "config"  # the configuration's key (hyperparameters, seed excluded)
    SELECTION = "selection"
    NORMALIZATION = "normalization"  # how the trial's features were normalised (global, corpus, speaker, ...)
    FEATURE_SET = "feature_set"  # the trial's feature set (IS10, eGeMAPSv02, ssl-<model>-L<layer>, ...)


class Metric:
    """Metric names of a trial's run."""

    EPOCH = "epoch"
    VALID = "best_mean_valid_ua"  # running best mean validation UA: ASHA's and train-domain's score
    SCORE = "score"  # what the study's selection strategy ranks configurations by
    TEST_UA = "test_ua"  # the held-out corpus's UA
    TEST_WA = "test_wa"
    BEST_EPOCH = "best_epoch"
    FINAL_WEIGHT = "final_weight"  # final_weight/<corpus>

    @staticmethod
    def test_ua(corpus: str) -> str:
        return f"test_ua/{corpus}"

    @staticmethod
    def test_wa(corpus: str) -> str:
        return f"test_wa/{corpus}"

    @staticmethod
    def final_weight(corpus: str) -> str:
        return f"final_weight/{corpus}"


#: Key of a trial's report to Tune: the epochs since its previous report, as ``[epoch, metrics]`` pairs (the
#: report's own epoch and ``metrics`` are the last one); written by the trial, logged by the MLflow callback.
EARLIER_EPOCHS = "earlier_epochs"


class File:
    """Artifacts and files a search writes."""

    RECORD = "search.toml"  # the resolved configuration: what defines the search
    SELECTION = "selection.csv"
    SELECTION_JSON = "selection.json"
    SUMMARY = "summary.txt"
    FINAL_METRICS = "final_metrics.json"
    MODEL = "best_model.pt"  # a trial's best-epoch weights (in Tune's checkpoint, not in MLflow)
    CHECKPOINT = "trainer.pt"  # a trial's resumable trainer state
    FINAL_REPORT = "final_report.json"  # a finished trial's last report, beside its model


def model_name(method: str, synthetic: bool = False) -> str:
    """The Model Registry name of a method's selected models: ``distser-<method>``.

    Models trained on synthetic features (the embedded default, ``distser synthetic``) are named apart,
    ``distser-synthetic-<method>``, so that a demo model never becomes a version of a real one.
    """
    return f"distser-synthetic-{method}" if synthetic else f"distser-{method}"


#: Registry alias of the model a ``--protocol pool`` search trained on the whole pool (``models:/NAME@best``):
#: the one to deploy. Each such search moves it to its own model.
BEST_ALIAS = "best"


class ModelTag:
    """Tags of a registered model version (and metadata of its bundle): what it is and what it was trained on."""

    METHOD = "method"
    HOLDOUT = "holdout"  # the held-out corpus ("-": trained on the whole pool)
    PROTOCOL = "protocol"  # loco, within or pool
    NORMALIZATION = "normalization"
    SEARCH = "search"
    SEED = "seed"
    TEST_UA = "test_ua"
    STORE = "store"  # the feature store's folder, or "embedded synthetic"
    SYNTHETIC = "synthetic"  # "true": trained on synthetic features, not on recorded speech
    EXTRACTOR = "extractor"  # a self-supervised set's checkpoint: model (family, layer, width, checksum)


#: Environment variable of a served model of self-supervised embeddings: its checkpoint's folder, when not
#: where extraction found it (``distser predict --ssl-model`` says the same on the command line).
SSL_MODEL_VARIABLE = "DISTSER_SSL_MODEL"


def metric_safe(name: str) -> str:
    """MLflow metric names may not contain '+': ``cww+pel-al`` -> ``cww_pel-al``."""
    return name.replace("+", "_")
