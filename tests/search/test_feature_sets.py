"""The feature set as a study dimension: one study per (method, held-out corpus, feature set), each set read once.

One small search (``searched``) over three sets of one synthetic store — IS10, eGeMAPSv02 and a self-supervised
folder ``ssl-tiny-L1`` (as ``distser extract --feature-set ssl`` makes it: an ``extractor.json`` naming the model
and its width) — ce and cww at the paper's values, held-out iemocap and crema-d, one seed, two epochs: 12 trials.
The other tests check settings and plans only (no Ray).
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from distser.config import ConfigError
from distser.define import Param, model_name
from distser.features import IDENTITY_FILE, SSLIdentity, write_synthetic
from distser.search import configure
from distser.search._cli import main
from distser.search._plans import make_plans, plan_studies

SSL = "ssl-tiny-L1"
SSL_DIM = 24
SETS = ["IS10", "eGeMAPSv02", SSL]
WIDTHS = {"IS10": 1582, "eGeMAPSv02": 88, SSL: SSL_DIM}
HOLDOUTS = ["crema-d", "iemocap"]


#: The extractor ``_ssl_store``'s folder names (no checkpoint: its models are registered, not asked to predict audio).
SSL_IDENTITY = SSLIdentity(model="tiny", family="wavlm", layer=1, layers=2, dim=SSL_DIM, checksum="0" * 64)


def _ssl_store(root, scale: float = 0.01):
    """A self-supervised feature set's folder as extraction leaves it: its extractor's identity, then shards."""
    folder = root / SSL
    folder.mkdir(parents=True)
    (folder / IDENTITY_FILE).write_text(SSL_IDENTITY.to_json())
    return write_synthetic(str(root), scale=scale, feature_set=SSL)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


# -- settings and plans (no Ray) --------------------------------------------------------------------------


def test_feature_sets_are_a_comma_list_or_repeated_and_one_stays_a_string(tmp_path):
    config, _, _ = configure(["--feature-set", "IS10,eGeMAPSv02", "--feature-set", "emobase,IS10",
                              "--storage", str(tmp_path)])
    assert config.data.feature_set == ["IS10", "eGeMAPSv02", "emobase"]
    assert config.data.feature_sets == ["IS10", "eGeMAPSv02", "emobase"]
    one, _, _ = configure(["--feature-set", "eGeMAPSv02", "--storage", str(tmp_path)])
    assert one.data.feature_set == "eGeMAPSv02" and one.data.feature_sets == ["eGeMAPSv02"]  # its record as before
    default, _, _ = configure(["--storage", str(tmp_path)])
    assert default.data.feature_set == "IS10"
    (tmp_path / "sets.toml").write_text('[data]\nfeature_set = ["eGeMAPSv02", "emobase"]\n')  # the experiment file
    listed, _, _ = configure(["--config", str(tmp_path / "sets.toml"), "--storage", str(tmp_path)])
    assert listed.data.feature_sets == ["eGeMAPSv02", "emobase"]
    with pytest.raises(ConfigError, match="data.feature_set 'MFCC' is unknown.*emobase.*ssl-<model>-L<layer>"):
        configure(["--feature-set", "IS10,MFCC", "--storage", str(tmp_path)])


def test_each_feature_set_is_its_own_studies_and_one_set_keeps_its_ids(synthetic_store, tmp_path):
    from distser.features import TaskLoader

    manifest = TaskLoader(synthetic_store).manifest
    argv = ["--method", "ce", "--method", "cww", "--holdout", "iemocap", "--storage", str(tmp_path)]
    two, _, _ = configure([*argv, "--feature-set", "IS10,eGeMAPSv02"])
    plans = make_plans(two, manifest)
    specs = [s for name in two.data.feature_sets for s in plan_studies(two, plans, name)]
    assert [(s.id, s.feature_set) for s in specs] == [
        ("ce--loco-iemocap@IS10", "IS10"), ("cww--loco-iemocap@IS10", "IS10"),
        ("ce--loco-iemocap@eGeMAPSv02", "eGeMAPSv02"), ("cww--loco-iemocap@eGeMAPSv02", "eGeMAPSv02")]
    assert "feature_set" not in specs[1].space  # not an Optuna dimension: a study of its own
    one, _, _ = configure([*argv, "--feature-set", "eGeMAPSv02"])
    assert [(s.id, s.feature_set) for s in plan_studies(one, plans)] == [
        ("ce--loco-iemocap", "eGeMAPSv02"), ("cww--loco-iemocap", "eGeMAPSv02")]  # the ids (and Optuna studies) it had


def test_a_missing_sets_store_is_refused_before_anything_starts_naming_its_folder_and_the_command(tmp_path):
    store = write_synthetic(str(tmp_path / "features"), scale=0.01)  # IS10 only
    storage = tmp_path / "runs"
    code, err = _run(["--store", str(store.root), "--feature-set", "IS10,eGeMAPSv02", "--storage", str(storage)])
    assert code == 2 and f"no eGeMAPSv02 feature shards under {store.root / 'eGeMAPSv02'}" in err
    assert f"`distser extract --store {store.root} --feature-set eGeMAPSv02 --corpus NAME=DIR ...`" in err
    code, err = _run(["--store", str(store.root), "--feature-set", f"IS10,{SSL}", "--storage", str(storage)])
    assert code == 2 and str(store.root / SSL) in err
    assert f"`distser extract --store {store.root} --feature-set ssl --model MODEL --layer N" in err
    (store.root / SSL / "iemocap").mkdir(parents=True)  # a folder without its extractor's identity
    code, err = _run(["--store", str(store.root), "--feature-set", SSL, "--storage", str(storage)])
    assert code == 2 and f"{store.root / SSL} has no {IDENTITY_FILE}" in err
    assert not storage.exists()  # refused before the search made anything


def test_sets_whose_corpora_differ_are_refused_unless_the_corpora_are_named(tmp_path):
    import shutil

    root = tmp_path / "features"
    write_synthetic(str(root), scale=0.01)
    write_synthetic(str(root), scale=0.01, feature_set="eGeMAPSv02")
    shutil.rmtree(root / "eGeMAPSv02" / "msp-improv")
    argv = ["--store", str(root), "--feature-set", "IS10,eGeMAPSv02", "--storage", str(tmp_path / "runs")]
    code, err = _run(argv)
    assert code == 2 and "eGeMAPSv02 has no corpus 'msp-improv'" in err and str(root / "eGeMAPSv02") in err
    assert "--feature-set eGeMAPSv02 --corpus NAME=DIR" in err and "--train-corpora" in err
    config, _, _ = configure([*argv, "--train-corpora", "crema-d,iemocap"])
    assert config.data.feature_sets == ["IS10", "eGeMAPSv02"]


# -- one search over three sets (slow) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched(tmp_path_factory, ray_local, search_cli):
    root = tmp_path_factory.mktemp("feature-sets")
    store = root / "features"
    write_synthetic(str(store), scale=0.01)
    write_synthetic(str(store), scale=0.01, feature_set="eGeMAPSv02")
    _ssl_store(store)
    from distser.search import _data

    said, reads = io.StringIO(), Counter()
    read_store = _data.read_store

    def counted(store, corpora=None):  # each set's store is read into the object store once
        reads[store.feature_set] += 1
        return read_store(store, corpora)

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(said):
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setattr(_data, "read_store", counted)
        config, locations, summary = search_cli([
            "--store", str(store), "--feature-set", "IS10,eGeMAPSv02", "--feature-set", SSL,
            "--method", "ce", "--method", "cww", "--mode", "paper", "--holdout", "iemocap", "--holdout", "crema-d",
            "--seeds", "1", "--max-epochs", "2", "--checkpoint-seconds", "0", "--name", "sets",
            "--storage", str(root / "runs")])
    return SimpleNamespace(config=config, uri=locations.tracking_uri, summary=summary, said=said.getvalue(),
                           reads=reads)


def _client(searched):
    from mlflow.tracking import MlflowClient

    return MlflowClient(searched.uri)


@pytest.mark.slow  # a 12-trial search (~1.5 min idle): the slow suite
def test_each_set_runs_as_studies_of_its_own_and_its_runs_carry_it(searched, mlflow_runs):
    assert searched.reads == dict.fromkeys(SETS, 1)
    runs = mlflow_runs(searched.uri, "sets", "trial")
    assert len(runs) == 12
    assert Counter(run.data.params[Param.FEATURE_SET] for run in runs) == dict.fromkeys(SETS, 4)
    for run in runs:
        params, name = run.data.params, run.info.run_name
        feature_set = params[Param.FEATURE_SET]
        assert run.data.tags["distser.study"] == f"{params['method']}--loco-{params['holdout']}@{feature_set}"
        assert (f" · {feature_set} · " in name) == (feature_set != "IS10"), name  # the paper's set unnamed
        assert run.data.tags["distser.stopped_by"] == "training"


@pytest.mark.slow  # a 12-trial search (~1.5 min idle): the slow suite
def test_the_summary_shows_each_rows_feature_set(searched, tmp_path):
    summary = searched.summary
    assert sorted(zip(summary["method"], summary[Param.FEATURE_SET], summary["holdout"], strict=True)) == sorted(
        (m, s, h) for m in ("ce", "cww") for s in SETS for h in HOLDOUTS)
    assert summary["test_ua_mean"].notna().all()  # the SSL folder's studies trained too, on its 24 dimensions
    client = _client(searched)
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("distser").experiment_id],
                                                 "tags.`distser.search` = 'sets' and tags.`distser.role` = 'search'"))
    text = Path(client.download_artifacts(parent.info.run_id, "summary.txt", str(tmp_path))).read_text()
    rows = [line.split()[:2] for line in text.splitlines()[2:]]
    assert sorted(" ".join(row) for row in rows) == sorted(f"{m} {{{s}}}" for m in ("ce", "cww") for s in SETS)
    assert parent.data.metrics["selected/ce/iemocap/eGeMAPSv02/test_ua_mean"] == pytest.approx(
        summary.query("method == 'ce' and holdout == 'iemocap' and feature_set == 'eGeMAPSv02'")["test_ua_mean"].item())


@pytest.mark.slow  # a 12-trial search (~1.5 min idle): the slow suite
def test_each_sets_models_are_registered_with_their_width_and_ssl_ones_with_their_extractor(searched):
    from distser.inference import load_predictor

    client = _client(searched)
    versions = client.search_model_versions(f"name = '{model_name('ce', synthetic=True)}'")
    assert Counter(v.tags["feature_set"] for v in versions) == {"IS10": 2, "eGeMAPSv02": 2, SSL: 2}
    for version in {v.tags["feature_set"]: v for v in versions}.values():  # one of each set
        bundle = load_predictor(f"models:/{version.name}/{version.version}", searched.uri).bundle
        assert bundle.feature_set == version.tags["feature_set"]
        assert bundle.input_dim == WIDTHS[bundle.feature_set]  # trained on its own set's features
        assert bundle.extractor == (SSL_IDENTITY if bundle.feature_set == SSL else None)
        assert version.tags.get("extractor") == (SSL_IDENTITY.describe() if bundle.feature_set == SSL else None)
    assert "not registered" not in searched.said


@pytest.mark.slow  # a 12-trial search (~1.5 min idle): the slow suite
def test_the_report_pairs_the_sets_by_held_out_corpus_and_seed(searched, tmp_path):
    from distser.report import collect_trials, write_report

    trials = collect_trials(searched.uri, ["sets"])
    labels = {"ce", "cww", "ce {eGeMAPSv02}", "cww {eGeMAPSv02}", f"ce {{{SSL}}}", f"cww {{{SSL}}}"}
    assert set(trials["method"]) == labels
    assert (trials["method"].str.endswith("}") == (trials[Param.FEATURE_SET] != "IS10")).all()
    out = tmp_path / "report"
    write_report(trials, out, resamples=200)
    ua = trials.set_index(["method", "holdout"])["test_ua"]

    def expected(method: str, baseline: str) -> float:  # mean over held-out corpora of the one seed's difference
        return float(np.mean([100 * (ua[method, h] - ua[baseline, h]) for h in HOLDOUTS]))

    paired = pd.read_csv(out / "paired_differences.csv").query("holdout == 'Avg'").set_index("method")
    assert set(paired.index) == labels - {"ce"} and set(paired["baseline"]) == {"ce"}  # the paper's set and ce
    assert (paired["n"] == 2).all() and (paired["corpora"] == 2).all()  # pairs: (held-out corpus, seed)
    for method in paired.index:
        assert paired.loc[method, "mean_diff"] == pytest.approx(expected(method, "ce"), abs=1e-6)
    same = pd.read_csv(out / "paired_differences_same_normalisation.csv").query("holdout == 'Avg'")
    assert sorted(zip(same["method"], same["baseline"], strict=True)) == [  # ce of the same set
        ("cww {eGeMAPSv02}", "ce {eGeMAPSv02}"), (f"cww {{{SSL}}}", f"ce {{{SSL}}}")]
    for row in same.itertuples():
        assert row.mean_diff == pytest.approx(expected(row.method, row.baseline), abs=1e-6)
    readme = (out / "README.md").read_text()
    assert "| method | feature set | held out |" in readme and "## Paired differences against ce {eGeMAPSv02}" in readme


def test_a_search_of_the_default_set_names_no_set(finished_search, mlflow_runs):
    """The session's shared search (IS10 only): study ids, run names and the summary as before sets were a dimension."""
    from distser.search import format_summary

    config, locations, summary = finished_search
    runs = mlflow_runs(locations.tracking_uri, config.name, "trial")
    assert runs and all("@" not in run.data.tags["distser.study"] for run in runs)
    assert all("IS10" not in run.info.run_name and run.data.params[Param.FEATURE_SET] == "IS10" for run in runs)
    assert set(summary[Param.FEATURE_SET]) == {"IS10"} and "{" not in format_summary(summary)
    assert not any("/IS10/" in key for key in mlflow_runs(locations.tracking_uri, config.name, "search")[0]
                   .data.metrics)
