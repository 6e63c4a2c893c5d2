"""ASHA per study inside one Tune experiment.

Tune has one scheduler per experiment, but studies must not compete: a trial of one held-out
corpus or method is only compared with trials of its own study (validation UAs of different
training pools are not comparable). This scheduler keeps one ASHA per study and routes each trial to
its own; final-phase trials (completion, retraining on the pool) are never stopped early, and no trial
is stopped at the epoch after which it would end anyway.

ASHA ranks a trial by the running best mean validation UA of its training corpora. Trials of
leave-one-train-corpus-out folds are never under ASHA, for three reasons. Folds train on different
pools ("without A" vs "without B"), so their validation UAs are not comparable. A fold trial's score
(the UA on its held-back corpus) exists only at its end, so ASHA would rank by something other than
what selection ranks by. And a configuration is scored only when every held-back corpus has a score
(:func:`~distser.search._selection.rank_configs`): cutting any one of its fold trials would void the
work of its others rather than save work. One ASHA per (study, fold) would still void configurations
that one fold ranks low though the rest rank them high, and leave the held-back corpora whose pool
validates lowest with the fewest scores.
"""

from __future__ import annotations

import math
import pickle
from typing import TYPE_CHECKING

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from distser.define import Metric, Phase

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


class PerStudyASHA(FIFOScheduler):
    """One :class:`~ray.tune.schedulers.ASHAScheduler` per study on ``best_mean_valid_ua`` over epochs.

    ``studies`` names the studies that use ASHA (search mode); trials of other studies, of final
    phases and of leave-one-train-corpus-out folds run to their own end.
    """

    def __init__(self, studies: set[str], *, max_epochs: int, grace_period: int, reduction_factor: float) -> None:
        super().__init__()
        self.studies = set(studies)
        # max_t past the last epoch: ASHA must not cut a trial at its final epoch, before its test report.
        self.options = {"time_attr": Metric.EPOCH, "metric": Metric.VALID, "mode": "max", "max_t": max_epochs + 1,
                        "grace_period": min(grace_period, max_epochs), "reduction_factor": reduction_factor}
        self._asha: dict[str, ASHAScheduler] = {}
        self._stopped: dict[str, str] = {}  # trial id -> study, for the progress display

    def decision_epochs(self) -> list[int]:
        """The epochs at which ASHA may cut a trial (its rungs, rounded up to a whole epoch), read off an ASHA
        built with this scheduler's options: a trial reports at least there, so that ASHA decides as if it
        reported every epoch (it records a trial at a rung with its first report at or past it)."""
        brackets = ASHAScheduler(**self.options)._brackets  # Ray keeps the rungs of each bracket privately
        return sorted({math.ceil(milestone) for bracket in brackets for milestone, _ in bracket._rungs})

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        return True  # the metric is fixed: the running best mean validation UA

    def _of(self, trial: Trial) -> ASHAScheduler | None:
        config = trial.config
        study = config.get("study")
        # A fold trial runs to its end (see the module docstring).
        if study not in self.studies or config.get("phase") != Phase.SEARCH or config.get("fold") is not None:
            return None
        if study not in self._asha:
            self._asha[study] = ASHAScheduler(**self.options)
        return self._asha[study]

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        asha = self._of(trial)
        if asha is not None:
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        asha = self._of(trial)
        # A trial at its last epoch has done all the work: cutting it would only lose its test report.
        if asha is None or result.get("finished") or result.get("last") or "error" in result:
            return TrialScheduler.CONTINUE
        action = asha.on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP:
            self._stopped[trial.trial_id] = trial.config["study"]
        return action

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        asha = self._of(trial)
        if asha is not None and trial.trial_id in asha._trial_info:
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        asha = self._of(trial)
        if asha is not None and trial.trial_id in asha._trial_info:
            asha.on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self.on_trial_remove(tune_controller, trial)

    def stopped_by_asha(self, trial_id: str) -> bool:
        return trial_id in self._stopped

    def debug_string(self) -> str:
        return f"ASHA per study: {len(self._asha)} studies, {len(self._stopped)} trials stopped"

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as stream:
            pickle.dump(self.__dict__, stream)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as stream:
            self.__dict__.update(pickle.load(stream))
