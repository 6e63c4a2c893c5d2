"""The MLflow model: logged under a run, registered, loaded by every URI form, audio in, emotion out."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from distser.arrays import EMOTIONS
from distser.features import Extractor
from distser.inference import ModelNotFoundError, load_predictor, log_model
from distser.inference._predictor import tracking_uri_set

OUTPUT_COLUMNS = ["emotion", "p_neutral", "p_happy", "p_sad", "p_angry", "statistics", "error"]


def _pyfunc(uri: str, tracking_uri: str):
    with tracking_uri_set(tracking_uri):
        return mlflow.pyfunc.load_model(uri)


def _download(uri: str, tracking_uri: str, **kwargs) -> str:
    # download_artifacts(tracking_uri=) does not resolve models:/ through that store's registry
    with tracking_uri_set(tracking_uri):
        return mlflow.artifacts.download_artifacts(uri, **kwargs)


def test_registered_version_has_tags_signature_and_example(registry):
    client = mlflow.MlflowClient(registry.uri)
    version = client.get_model_version(registry.name, "1")
    assert registry.info.registered_model_version == 1
    assert {k: version.tags[k] for k in ("holdout", "test_ua", "search", "method", "feature_set")} == {
        "holdout": "emodb", "test_ua": "0.5", "search": "search-test", "method": "ce", "feature_set": "IS10"}
    assert "held-out corpus emodb" in version.description
    model = _pyfunc(f"models:/{registry.name}/1", registry.uri)
    inputs = model.metadata.get_input_schema()
    assert inputs.input_names() == ["path", "audio_base64", "speaker"] and not any(c.required for c in inputs.inputs)
    assert model.metadata.get_output_schema().input_names() == OUTPUT_COLUMNS
    # the example a user copies (a base64 FLAC) is stored with the model, and nothing is pickled
    local = _download(f"models:/{registry.name}/1", registry.uri)
    names = {p.name for p in Path(local).rglob("*")}
    assert {"serving_input_example.json", "bundle.pt", "_model_code.py", "MLmodel"} <= names
    assert not any(name.endswith(".pkl") for name in names)
    # MLflow's own check at logging time is off (log_model): the stored example is run here instead
    example = json.loads(next(Path(local).rglob("serving_input_example.json")).read_text())
    answer = model.predict(pd.DataFrame(**example["dataframe_split"]))
    assert answer["emotion"].isin(EMOTIONS).all() and (answer["error"].fillna("") == "").all(), answer


def test_log_model_leaves_the_run_and_tracking_uri_alone(registry, make_bundle, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////nonexistent/elsewhere.db")
    client = mlflow.MlflowClient(registry.uri)
    run = client.create_run(client.get_experiment_by_name("distser").experiment_id)
    client.set_terminated(run.info.run_id)
    before = client.get_run(run.info.run_id).info
    info = log_model(make_bundle("eGeMAPSv02"), run_id=run.info.run_id, tracking_uri=registry.uri)
    after = client.get_run(run.info.run_id).info
    assert (after.status, after.end_time) == (before.status, before.end_time)
    assert info.registered_model_version is None
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////nonexistent/elsewhere.db"
    # the model lives in the run's experiment, under its artifact location (not ./mlruns)
    logged = client.get_logged_model(info.model_id)
    assert logged.experiment_id == run.info.experiment_id
    assert logged.artifact_location.startswith(str(registry.root))


def test_log_model_needs_a_run(make_bundle, registry):
    with pytest.raises(ValueError, match="needs run_id= or an active MLflow run"):
        log_model(make_bundle("eGeMAPSv02"), tracking_uri=registry.uri)


def test_pyfunc_predicts_path_and_base64_rows(registry, clips, tmp_path):
    model = _pyfunc(f"runs:/{registry.run_id}/model", registry.uri)
    encoded = base64.b64encode(clips[1].read_bytes()).decode()
    frame = pd.DataFrame({
        "path": [str(clips[0]), None, str(tmp_path / "nothing.wav"), None, None],
        "audio_base64": [None, encoded, None, "not base64!", base64.b64encode(b"RIFF....WAVEjunk").decode()],
    })
    out = model.predict(frame)
    assert list(out.columns) == OUTPUT_COLUMNS and len(out) == 5
    assert out.loc[:1, "error"].tolist() == ["", ""]
    assert set(out.loc[:1, "emotion"]) <= set(EMOTIONS)
    probs = out.loc[:1, ["p_neutral", "p_happy", "p_sad", "p_angry"]].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    # the same numbers as the bundle on features openSMILE extracts from the files
    features = np.stack([Extractor("IS10")(clips[0]), Extractor("IS10")(clips[1])])
    np.testing.assert_allclose(probs, registry.bundle.predict_proba(features), atol=1e-5)
    assert "nothing.wav: file not found" in out.loc[2, "error"]
    assert "not valid base64" in out.loc[3, "error"]
    assert "unreadable audio" in out.loc[4, "error"] and "/tmp" not in out.loc[4, "error"]
    assert out.loc[2:, "emotion"].tolist() == ["", "", ""]
    assert out.loc[2:, "p_happy"].isna().all()


def test_pyfunc_rejects_rows_without_audio_and_wrong_columns(registry, clips):
    model = _pyfunc(f"models:/{registry.name}/1", registry.uri)
    both = model.predict(pd.DataFrame({"path": [str(clips[0]), None],
                                       "audio_base64": [base64.b64encode(b"x").decode(), None]}))
    assert "either path or audio_base64, not both" in both.loc[0, "error"]
    assert "no audio" in both.loc[1, "error"]
    with pytest.raises(Exception, match="audio"):
        model.predict(pd.DataFrame({"wav": ["a"]}))


@pytest.mark.corpora
def test_real_clips_through_the_registered_model(registry, real_clips):
    model = _pyfunc(f"models:/{registry.name}/1", registry.uri)
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in real_clips]
    by_path = model.predict(pd.DataFrame({"path": [str(p) for p in real_clips]}))
    by_bytes = model.predict(pd.DataFrame({"audio_base64": encoded}))
    assert (by_path["error"] == "").all() and (by_bytes["error"] == "").all()
    assert by_path["emotion"].tolist() == by_bytes["emotion"].tolist()
    columns = ["p_neutral", "p_happy", "p_sad", "p_angry"]
    np.testing.assert_allclose(by_path[columns].astype(float), by_bytes[columns].astype(float), atol=1e-5)


def test_load_predictor_by_every_uri_form(registry, tmp_path, clips):
    client = mlflow.MlflowClient(registry.uri)
    client.set_registered_model_alias(registry.name, "best", "1")
    local = _download(f"models:/{registry.name}/1", registry.uri, dst_path=str(tmp_path / "exported"))
    uris = [f"models:/{registry.name}/1", f"models:/{registry.name}@best", f"runs:/{registry.run_id}/model",
            registry.info.model_uri, local]
    expected = registry.bundle.predict_proba(Extractor("IS10")(clips[0])[None])
    for uri in uris:
        predictor = load_predictor(uri, registry.uri)
        assert predictor.feature_set == "IS10" and predictor.uri == uri
        np.testing.assert_allclose(predictor.predict_files([clips[0]])[["p_neutral", "p_happy", "p_sad", "p_angry"]],
                                   expected, atol=1e-5, err_msg=uri)


def test_missing_uris_are_named_with_what_exists(registry, tmp_path):
    cases = {
        f"models:/{registry.name}/7": rf"models:/{registry.name}/7 not found .* has versions 1",
        "models:/distser-nope/1": rf"no registered model 'distser-nope' .* \(registered models: .*{registry.name}",
        f"runs:/{registry.run_id}/other": r"run \w+ has no model at that path \(models logged by the run: model\)",
        "runs:/0123456789abcdef/model": r"no run '0123456789abcdef'",
        str(tmp_path / "nowhere"): r"model folder .*nowhere does not exist",
        str(tmp_path): r"is not an MLflow model folder \(no MLmodel file",
    }
    for uri, message in cases.items():
        with pytest.raises(ModelNotFoundError, match=message):
            load_predictor(uri, registry.uri)
    with pytest.raises(ModelNotFoundError, match=r"tracking store sqlite:///.*absent.db does not exist"):
        load_predictor("models:/x/1", f"sqlite:///{tmp_path}/absent.db")
    assert not (tmp_path / "absent.db").exists()


def test_a_request_without_audio_columns_gets_one_line_and_no_server_trace(registry):
    """What `mlflow models serve` answers (its request handler, in-process) to input without audio columns."""
    import json

    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    model = _pyfunc(f"models:/{registry.name}/1", registry.uri)
    for columns in ({"wav": "x"}, {}):
        request = json.dumps({"dataframe_records": [columns]})
        try:
            answer = scoring_server.invocations(request, "application/json", model, model.metadata.get_input_schema())
            status, body = answer.status, json.loads(answer.response)
        except MlflowException as error:  # the server's handler answers it so (_async_catch_mlflow_exception)
            status, body = error.get_http_status_code(), json.loads(error.serialize_as_json())
        assert status == 400
        assert body["error_code"] == "BAD_REQUEST" and "stack_trace" not in body, body
        reason = body["message"].splitlines()[-1]
        assert "input needs a 'path' (audio file) or 'audio_base64' (base64 of its bytes) column; got " in reason
    with pytest.raises(Exception, match="got 'wav'"):  # called directly, the model names what it was given
        model.unwrap_python_model().predict(None, pd.DataFrame({"wav": ["a"]}))


def test_a_version_holds_its_tags_from_its_creation(registry, make_bundle, monkeypatch):
    """A driver killed right after a version is registered (a resumed search skips it) leaves it tagged."""
    client = mlflow.MlflowClient(registry.uri)
    run = client.create_run(client.get_experiment_by_name("distser").experiment_id)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("the driver is killed right after registering")

    for call in ("set_model_version_tag", "update_model_version"):
        monkeypatch.setattr(mlflow.MlflowClient, call, killed)
    with pytest.raises(KeyboardInterrupt):
        log_model(make_bundle(), run_id=run.info.run_id, registered_model_name="distser-killed",
                  tags={"holdout": "emodb", "search": "s"}, tracking_uri=registry.uri)
    version = client.get_model_version("distser-killed", "1")
    assert version.tags["holdout"] == "emodb" and version.tags["search"] == "s"
    assert version.tags["feature_set"] == "IS10"
