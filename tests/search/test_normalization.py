"""Normalisation as a searched choice: studies try each, MLflow and the summary say which, the model adapts."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from distser.define import Param, model_name
from distser.search import configure
from distser.search._plans import plan_studies


def test_normalisations_are_a_comma_list_or_repeated(tmp_path):
    config, _, _ = configure(["--method", "ce", "--normalization", "global,corpus", "--normalization", "speaker",
                              "--storage", str(tmp_path)])
    assert config.data.normalization == ["global", "corpus", "speaker"]


def test_normalisation_joins_the_optuna_space_or_the_grid(synthetic_store, tmp_path):
    from distser.features import TaskLoader
    from distser.search._plans import make_plans

    argv = ["--method", "ce", "--method", "cww", "--normalization", "corpus,speaker", "--holdout", "iemocap",
            "--store", str(synthetic_store.root), "--storage", str(tmp_path)]
    config, _, _ = configure(argv)
    manifest = TaskLoader(synthetic_store).manifest
    specs = {spec.method: spec for spec in plan_studies(config, make_plans(config, manifest))}
    assert [point[Param.NORMALIZATION] for point in specs["ce"].grid] == ["corpus", "speaker"]
    assert specs["ce"].configurations == 2 and not specs["ce"].space
    assert specs["cww"].space[Param.NORMALIZATION].choices == ("corpus", "speaker")
    assert specs["cww"].first[Param.NORMALIZATION] == "corpus"  # the first given (global is not among them)
    fixed = plan_studies(configure([*argv[:4], *argv[6:]])[0], make_plans(config, manifest))
    assert all(Param.NORMALIZATION not in spec.space and spec.training[Param.NORMALIZATION] == "global"
               for spec in fixed)


def test_an_unknown_normalisation_is_refused_naming_it(tmp_path):
    from distser.config import ConfigError

    with pytest.raises(ConfigError, match="unknown normalisation 'per-utterance'"):
        configure(["--normalization", "global,per-utterance", "--storage", str(tmp_path)])


@pytest.mark.slow  # a search of its own, registration and prediction (~10 s idle); the shared search covers the rest
def test_a_search_over_normalisations_logs_selects_and_registers_them(search_cli, ray_local, tmp_path,
                                                                       monkeypatch):
    from distser.features import FeatureStore
    from distser.inference import load_predictor
    from distser.learning import unweighted_accuracy

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    storage = tmp_path / "runs"
    config, locations, summary = search_cli([
        "--method", "ce", "--normalization", "corpus,speaker", "--holdout", "iemocap", "--seeds", "1",
        "--max-epochs", "3", "--synthetic-scale", "0.02", "--checkpoint-seconds", "0", "--name", "norm",
        "--storage", str(storage)])
    client = MlflowClient(locations.tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment)
    trials = client.search_runs([experiment.experiment_id], "tags.`distser.role` = 'trial'")
    assert sorted(t.data.params[Param.NORMALIZATION] for t in trials) == ["corpus", "speaker"]
    chosen = summary.iloc[0][Param.NORMALIZATION]
    assert chosen in ("corpus", "speaker")

    name = model_name("ce", synthetic=True)  # the embedded synthetic corpora: a demo model
    version = client.search_model_versions(f"name = '{name}'")[0]
    assert version.tags[Param.NORMALIZATION] == chosen
    predictor = load_predictor(f"models:/{name}/{version.version}", locations.tracking_uri)
    assert predictor.bundle.normalization.name == chosen and predictor.bundle.default_adapt == chosen
    # The held-out corpus, adapted to by its own statistics as the search did: the UA it logged.
    manifest, features = FeatureStore(storage / "synthetic-features-0.02").load(["iemocap"])
    table = predictor.predict_features(features, speakers=manifest["speaker"].tolist())
    assert set(table["statistics"]) == {chosen}
    classes = list(predictor.classes)
    truth = manifest["label"].map(classes.index).to_numpy()
    predicted = table["emotion"].map(classes.index).to_numpy()
    logged = client.get_run(version.run_id).data.metrics["test_ua"]
    assert unweighted_accuracy(truth, predicted) == pytest.approx(logged, abs=1e-6)
    # Not adapted (the training statistics) is another normalisation, and says so.
    assert set(predictor.predict_features(features, adapt="none")["statistics"]) == {"training"}
