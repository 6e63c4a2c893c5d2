"""tune/report.py regenerates tables and figures from a real search's MLflow runs."""

import pandas as pd
import pytest

from distser.report import main


def test_report_from_mlflow(finished_search, tmp_path, capsys, mlflow_runs):
    config, summary = finished_search
    out = tmp_path / "results"
    code = main(["--search", config.name, "--tracking-uri", config.resolved_tracking_uri, "--out", str(out), "--log"])
    assert code == 0
    table = pd.read_csv(out / "table2.csv").set_index(["method", "holdout"])
    assert table.loc[("cww+pel-al", "iemocap"), "mean"] == pytest.approx(100 * summary.iloc[0]["test_ua_mean"])
    assert "cww+pel-al" in capsys.readouterr().out
    parent = mlflow_runs(config.resolved_tracking_uri, config.name, "search")[0]
    from mlflow.tracking import MlflowClient

    logged = {a.path for a in MlflowClient(config.resolved_tracking_uri).list_artifacts(parent.info.run_id, "report")}
    assert "report/table2.csv" in logged and "report/README.md" in logged


def test_unknown_search_is_a_clear_error(finished_search, tmp_path, capsys):
    config, _ = finished_search
    assert main(["--search", "nope", "--tracking-uri", config.resolved_tracking_uri, "--out", str(tmp_path)]) == 2
    assert "no trial runs of search 'nope'" in capsys.readouterr().err
