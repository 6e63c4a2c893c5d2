"""The studies searcher without Ray: phases, selection, Optuna's view, interleaving, failures."""

from __future__ import annotations

import math
import pickle

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from ray.tune.search import Searcher

from distser.search._scheduler import PerStudyASHA
from distser.search._searcher import StudiesSearcher, StudySpec

TRAINING = {"max_epochs": 10, "checkpoint_seconds": 60.0}


def _spec(study="cww--loco-a", selection="train-domain", seeds=(0, 1), samples=3, folds=None, grid=None, space=True):
    return StudySpec(id=study, method="cww", plan="loco-a", holdout="a", seeds=list(seeds),
                     params={"lambda_w": 4.0}, training=TRAINING, selection=selection,
                     folds=folds or {}, space={"lambda_w": FloatDistribution(0.0, 5.0)} if space else {},
                     grid=grid or [{}], samples=samples, asha=space)


class _Loop:
    """Plays Tune: asks for trials, finishes them with a result a test decides."""

    def __init__(self, searcher: StudiesSearcher) -> None:
        self.searcher = searcher
        self.configs: dict[str, dict] = {}
        self.count = 0

    def ask(self) -> tuple[str, dict] | None:
        trial_id = f"t{self.count}"
        config = self.searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return None
        self.count += 1
        self.configs[trial_id] = config
        return trial_id, config

    def finish(self, trial_id: str, score: float | None, cut: bool = False, error: str | None = None) -> None:
        if error:
            result = {"error": error, "finished": 0}
        elif cut:
            result = {"epoch": 3, "best_mean_valid_ua": score}
        else:
            result = {"finished": 1, "score": score, "best_mean_valid_ua": score}
        self.searcher.on_trial_complete(trial_id, result)

    def run(self, decide) -> list[tuple[str, dict]]:
        """Hand out and finish trials one at a time until the searcher is finished."""
        order = []
        while (got := self.ask()) is not None:
            order.append(got)
            self.finish(got[0], **decide(*got))
        assert self.searcher.suggest("last") == Searcher.FINISHED
        return order


def test_every_proposal_runs_for_every_seed_and_optuna_learns_the_mean():
    searcher = StudiesSearcher([_spec()], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": c["params"]["lambda_w"] / 10 + c["seed"] / 100})
    assert len(order) == 6  # 3 proposals x 2 seeds, no cut: nothing to complete
    study = searcher.studies["cww--loco-a"].optuna
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    for trial in study.trials:  # Optuna sees the mean over seeds, never one seed's value
        assert trial.value == pytest.approx(trial.params["lambda_w"] / 10 + 0.005)
    configs = [c for _, c in order]
    assert [c["seed"] for c in configs] == [0, 1, 0, 1, 0, 1]
    assert all(c["phase"] == "search" and c["fold"] is None and c["plan"] == "loco-a" for c in configs)
    assert configs[0]["params"]["lambda_w"] == configs[0]["searched"]["lambda_w"]


def test_seeds_cut_by_asha_of_the_selected_configuration_are_completed():
    searcher = StudiesSearcher([_spec()], search="s")
    loop = _Loop(searcher)

    def decide(trial_id, config):  # ASHA cuts every seed 1 in the search phase
        if config["phase"] == "final":
            return {"score": 0.9}
        return {"score": config["params"]["lambda_w"] / 10, "cut": config["seed"] == 1}

    order = loop.run(decide)
    search = [c for _, c in order if c["phase"] == "search"]
    finals = [c for _, c in order if c["phase"] == "final"]
    best = max(search, key=lambda c: c["params"]["lambda_w"])
    assert [(c["config"], c["seed"]) for c in finals] == [(best["config"], 1)]  # only the cut seed, once
    study = searcher.studies["cww--loco-a"]
    assert study.selected == best["config"] and study.failed is None
    # Optuna learnt from the cut seeds' running best too (their value when cut), not from test data
    for trial in study.optuna.trials:
        assert trial.value == pytest.approx(trial.params["lambda_w"] / 10)


def test_leave_one_train_corpus_out_scores_folds_then_retrains_the_winner_on_the_pool():
    folds = {"b": "loco-a/without-b", "c": "loco-a/without-c"}
    searcher = StudiesSearcher([_spec(selection="leave-one-train-corpus-out", folds=folds)], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": 1.0 - abs(c["params"]["lambda_w"] - 1.0) / 10})
    search = [c for _, c in order if c["phase"] == "search"]
    final = [c for _, c in order if c["phase"] == "final"]
    assert len(search) == 3 * 2 * 2  # configurations x seeds x held-back corpora
    assert {(c["fold"], c["plan"]) for c in search} == {("b", "loco-a/without-b"), ("c", "loco-a/without-c")}
    assert len(final) == 2 and {c["seed"] for c in final} == {0, 1}
    assert all(c["fold"] is None and c["plan"] == "loco-a" for c in final)  # retrained on the whole pool
    best = min((c for c in search), key=lambda c: abs(c["params"]["lambda_w"] - 1.0))
    assert final[0]["config"] == best["config"]


def test_a_grid_study_runs_its_points_without_optuna():
    grid = [{"lambda_w": w} for w in (1.0, 2.0, 3.0)]
    searcher = StudiesSearcher([_spec(grid=grid, space=False)], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": 0.5})
    assert sorted({c["params"]["lambda_w"] for _, c in order}) == [1.0, 2.0, 3.0]
    assert searcher.studies["cww--loco-a"]._optuna is None


def test_studies_are_interleaved_and_final_phases_go_first():
    searcher = StudiesSearcher([_spec("x"), _spec("y")], search="s")
    loop = _Loop(searcher)
    first = [loop.ask() for _ in range(4)]
    assert [c["study"] for _, c in first] == ["x", "y", "x", "y"]  # fewest trials handed out first
    for trial_id, _ in first:
        loop.finish(trial_id, 0.5)
    loop.run(lambda tid, c: {"score": 0.5})


def test_a_study_whose_trials_all_fail_says_why():
    searcher = StudiesSearcher([_spec(samples=2)], search="s")
    _Loop(searcher).run(lambda tid, c: {"score": None, "error": "NonFiniteLoss: the training loss became nan"})
    assert "NonFiniteLoss" in searcher.failures()["cww--loco-a"]
    states = {t.state for t in searcher.studies["cww--loco-a"].optuna.trials}
    assert states == {optuna.trial.TrialState.FAIL}


def test_the_searcher_survives_a_save_and_restore(tmp_path):
    searcher = StudiesSearcher([_spec()], search="s")
    loop = _Loop(searcher)
    trial_id, _ = loop.ask()
    loop.finish(trial_id, 0.4)
    loop.ask()  # one running
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    restored = StudiesSearcher([], search="s")
    restored.restore(str(path))
    assert restored.members.keys() == searcher.members.keys()
    loop.searcher = restored
    loop.finish("t1", 0.6)
    loop.run(lambda tid, c: {"score": 0.5})
    assert len(restored.studies["cww--loco-a"].optuna.trials) == 3


def test_an_rdb_optuna_study_is_stored_by_name(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    searcher = StudiesSearcher([_spec()], search="my-search", optuna_storage=storage)
    _Loop(searcher).run(lambda tid, c: {"score": 0.5})
    assert pickle.loads(pickle.dumps(searcher.studies["cww--loco-a"]))._optuna is None  # reloaded by name
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert names == ["my-search/cww--loco-a"]
    assert len(optuna.load_study(study_name=names[0], storage=storage).trials) == 3


def test_asha_compares_trials_of_one_study_only():
    scheduler = PerStudyASHA({"x", "y"}, max_epochs=10, grace_period=1, reduction_factor=2)

    class Trial:
        def __init__(self, trial_id, study, phase="search"):
            self.trial_id, self.config = trial_id, {"study": study, "phase": phase}

    trials = [Trial("x1", "x"), Trial("x2", "x"), Trial("y1", "y"), Trial("f", "x", "final")]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    assert set(scheduler._asha) == {"x", "y"}
    assert "f" not in scheduler._asha["x"]._trial_info  # a final-phase trial is never cut
    assert scheduler.on_trial_result(None, trials[0], {"epoch": 1, "best_mean_valid_ua": 0.9}) == "CONTINUE"
    # y1's low score is not compared with x's trials: it is the first of its own study
    assert scheduler.on_trial_result(None, trials[2], {"epoch": 1, "best_mean_valid_ua": 0.1}) == "CONTINUE"
    assert scheduler.on_trial_result(None, trials[1], {"epoch": 1, "best_mean_valid_ua": 0.1}) == "STOP"
    assert scheduler.on_trial_result(None, trials[3], {"epoch": 1, "best_mean_valid_ua": 0.0}) == "CONTINUE"
    assert scheduler.stopped_by_asha("x2") and not scheduler.stopped_by_asha("y1")


def test_trial_table_of_a_study_has_what_selection_needs():
    searcher = StudiesSearcher([_spec(samples=1)], search="s")
    _Loop(searcher).run(lambda tid, c: {"score": 0.5})
    table = searcher.studies["cww--loco-a"].trial_table(searcher.members)
    assert isinstance(table, pd.DataFrame) and len(table) == 2
    assert table["finished"].all() and not table["score"].map(math.isnan).any()


@pytest.mark.parametrize("selection", ["train-domain", "leave-one-train-corpus-out"])
def test_the_selected_configuration_is_reported_with_more_seeds(selection):
    folds = {"b": "loco-a/without-b", "c": "loco-a/without-c"} if selection != "train-domain" else None
    spec = _spec(selection=selection, folds=folds, seeds=(0, 1))
    spec.eval_seeds = [0, 1, 2, 3, 4]
    searcher = StudiesSearcher([spec], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": c["params"]["lambda_w"]})
    search = [c for _, c in order if c["phase"] == "search"]
    finals = [c for _, c in order if c["phase"] == "final"]
    assert {c["seed"] for c in search} == {0, 1}  # proposals pay for two seeds only
    best = max(search, key=lambda c: c["params"]["lambda_w"])["config"]
    expected = [0, 1, 2, 3, 4] if selection != "train-domain" else [2, 3, 4]
    assert [c["seed"] for c in finals] == expected and {c["config"] for c in finals} == {best}


def test_the_first_proposal_can_be_the_defaults():
    spec = _spec()
    spec.first = {"lambda_w": 4.0}
    searcher = StudiesSearcher([spec], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": 0.5})
    assert order[0][1]["params"]["lambda_w"] == 4.0 and order[1][1]["params"]["lambda_w"] == 4.0
    assert len({c["params"]["lambda_w"] for _, c in order}) == 3


def test_asha_never_cuts_a_trial_at_its_last_epoch():
    scheduler = PerStudyASHA({"x"}, max_epochs=3, grace_period=5, reduction_factor=2)

    class Trial:
        def __init__(self, trial_id):
            self.trial_id, self.config = trial_id, {"study": "x", "phase": "search"}

    good, bad = Trial("good"), Trial("bad")
    for trial in (good, bad):
        scheduler.on_trial_add(None, trial)
    for epoch in (1, 2):
        for trial, value in ((good, 0.9), (bad, 0.1)):
            assert scheduler.on_trial_result(None, trial, {"epoch": epoch, "best_mean_valid_ua": value}) == "CONTINUE"
    assert scheduler.on_trial_result(None, good, {"epoch": 3, "best_mean_valid_ua": 0.9}) == "CONTINUE"
    # the rung at epoch 3 (grace period capped at max_epochs) would cut "bad", but it has trained every epoch
    last = {"epoch": 3, "best_mean_valid_ua": 0.1, "last": True}
    assert scheduler.on_trial_result(None, bad, last) == "CONTINUE"
    assert scheduler.on_trial_result(None, bad, {**last, "last": False}) == "STOP"


class _Trial:
    """What the scheduler reads of a Tune trial."""

    def __init__(self, trial_id, study, phase="search", fold=None):
        self.trial_id, self.config = trial_id, {"study": study, "phase": phase, "fold": fold}


def test_asha_never_races_fold_trials_of_different_held_back_corpora():
    scheduler = PerStudyASHA({"x"}, max_epochs=10, grace_period=1, reduction_factor=2)
    easy, hard, plain = _Trial("easy", "x", fold="b"), _Trial("hard", "x", fold="c"), _Trial("plain", "x")
    for trial in (easy, hard, plain):
        scheduler.on_trial_add(None, trial)
    assert scheduler.on_trial_result(None, easy, {"epoch": 1, "best_mean_valid_ua": 0.9}) == "CONTINUE"
    # without c the pool validates lower: its trial is not comparable with one without b, and it is not cut
    assert scheduler.on_trial_result(None, hard, {"epoch": 1, "best_mean_valid_ua": 0.1}) == "CONTINUE"
    assert not scheduler.stopped_by_asha("hard")
    assert all(t not in scheduler._asha["x"]._trial_info for t in ("easy", "hard"))  # fold trials run to their end
    assert "plain" in scheduler._asha["x"]._trial_info  # trials without a fold keep their ASHA


def test_a_configuration_is_scored_only_when_every_held_back_corpus_has_a_score():
    folds = {"b": "loco-a/without-b", "c": "loco-a/without-c"}
    searcher = StudiesSearcher([_spec(selection="leave-one-train-corpus-out", folds=folds, samples=2)], search="s")
    first = {}

    def decide(trial_id, config):
        if config["phase"] == "final":
            return {"score": 0.5}
        first.setdefault("config", config["config"])
        if config["config"] == first["config"]:  # the first configuration: high without b, never scored without c
            return {"score": 0.9, "cut": config["fold"] == "c"}
        return {"score": 0.5}

    order = _Loop(searcher).run(decide)
    study = searcher.studies["cww--loco-a"]
    told = {t.number: t for t in study.optuna.trials}
    # Optuna learns nothing from the first configuration (no score without c), the second's mean
    assert told[0].state == optuna.trial.TrialState.FAIL
    assert told[1].value == pytest.approx(0.5)
    second = next(c["config"] for _, c in order if c["config"] != first["config"])
    assert study.selected == second  # the first never wins on the held-back corpora it has scores for


def _proposals(searcher: StudiesSearcher) -> list[float]:
    return [p.searched["lambda_w"] for p in searcher.studies["cww--loco-a"].proposals]


@pytest.mark.parametrize("interrupt_after", [2, 4])
def test_a_resumed_search_proposes_what_the_uninterrupted_one_would_have(tmp_path, interrupt_after):
    def decide(trial_id, config):
        return {"score": 1.0 - abs(config["params"]["lambda_w"] - 1.0) / 10}

    spec = _spec(samples=6)
    spec.first = {"lambda_w": 4.0}
    uninterrupted = StudiesSearcher([spec], search="s", optuna_storage=f"sqlite:///{tmp_path}/a.db", sampler_seed=3)
    _Loop(uninterrupted).run(decide)

    searcher = StudiesSearcher([spec], search="s", optuna_storage=f"sqlite:///{tmp_path}/b.db", sampler_seed=3)
    loop = _Loop(searcher)
    while len(_proposals(searcher)) < interrupt_after or searcher.studies["cww--loco-a"].queue:
        trial_id, config = loop.ask()
        loop.finish(trial_id, **decide(trial_id, config))
    searcher.save(str(tmp_path / "searcher.pkl"))  # Ctrl+C; then the driver starts again and Tune restores
    loop.searcher = StudiesSearcher([], search="s")
    loop.searcher.restore(str(tmp_path / "searcher.pkl"))
    loop.run(decide)

    assert _proposals(loop.searcher) == _proposals(uninterrupted)
    assert len(set(_proposals(uninterrupted))) == 6
    values = [t.params["lambda_w"] for t in loop.searcher.studies["cww--loco-a"].optuna.trials]
    assert values == _proposals(uninterrupted)  # Optuna's record of the resumed search: no draw made twice


SIGNALS = ("train-ua", "valid-ua", "train-loss")
SIGNAL_SCORE = {"train-ua": 0.7, "train-loss": 0.6, "valid-ua": 0.5}


def _signal_spec(samples: int, choices=SIGNALS) -> StudySpec:
    return StudySpec(id="cww--loco-a", method="cww", plan="loco-a", holdout="a", seeds=[0, 1],
                     params={"lambda_w": 4.0, "cww_signal": "train-ua"}, training=TRAINING, selection="train-domain",
                     space={"cww_signal": CategoricalDistribution(choices)}, samples=samples, eval_seeds=[0, 1, 2])


def test_a_repeated_proposal_is_not_trained_again_and_its_configuration_keeps_its_own_trials(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    ahead = optuna.create_study(study_name="s/cww--loco-a", storage=storage, direction="maximize")
    for _ in range(2):  # Optuna proposes the same configuration twice, the worst of the three
        ahead.enqueue_trial({"cww_signal": "valid-ua"})
    searcher = StudiesSearcher([_signal_spec(samples=3)], search="s", optuna_storage=storage)
    order = _Loop(searcher).run(lambda tid, c: {"score": SIGNAL_SCORE[c["params"]["cww_signal"]]})
    search = [c for _, c in order if c["phase"] == "search"]
    assert sorted(c["params"]["cww_signal"] for c in search) == sorted(SIGNALS * 2)  # 3 configurations x 2 seeds
    study = searcher.studies["cww--loco-a"]
    table = study.trial_table(searcher.members)
    assert table[table["phase"] == "search"].groupby("config").size().tolist() == [2, 2, 2]
    assert '"train-ua"' in study.selected  # by its score, not by a doubled count of trials
    finals = [(c["params"]["cww_signal"], c["seed"]) for _, c in order if c["phase"] == "final"]
    assert finals == [("train-ua", 2)]  # the seeds it trained are not trained again
    # Optuna is told the repeat's score as the configuration's: it learns the same as from the first
    told = [(t.params["cww_signal"], t.value) for t in study.optuna.trials]
    assert told[:2] == [("valid-ua", 0.5), ("valid-ua", 0.5)]
    assert all(value == SIGNAL_SCORE[signal] for signal, value in told)  # each repeat too, none left running


def test_a_finite_space_is_searched_at_most_once_per_point():
    searcher = StudiesSearcher([_signal_spec(samples=5, choices=SIGNALS[:2])], search="s")
    order = _Loop(searcher).run(lambda tid, c: {"score": SIGNAL_SCORE[c["params"]["cww_signal"]]})
    search = [c for _, c in order if c["phase"] == "search"]
    assert sorted((c["params"]["cww_signal"], c["seed"]) for c in search) == [
        ("train-ua", 0), ("train-ua", 1), ("valid-ua", 0), ("valid-ua", 1)]
    assert searcher.studies["cww--loco-a"].spec.configurations == 2
    assert searcher.planned_trials == 2 * 2 + 1  # and seed 2 of the selected one
