"""All studies of a search in one Tune experiment: a searcher that interleaves their trials.

Each study (method × plan × feature set) is its own small state machine with its own Optuna study:

1. **search**: configurations — Optuna proposals (``mode = "search"``), the paper's grid, or the one
   configuration of ``mode = "paper"`` — each run as one trial per seed (× held-back training corpus
   for leave-one-train-corpus-out). When all trials of a configuration are done, Optuna is told their
   mean score (a seed is a repeat, never a dimension: Optuna never picks a lucky seed); under
   leave-one-train-corpus-out only when every held-back corpus has a score, else it is told the
   configuration failed. An Optuna proposal that repeats an earlier configuration is told that
   one's outcome and replaced by an untried configuration: configurations are distinct.
2. **final**: when the search phase is done, the study selects a configuration from its trials
   (:func:`~distser.search._selection.choose`) and trains what the selection still needs: the seeds
   ASHA cut short (train-domain), or every seed on the whole pool (leave-one-train-corpus-out).

One Tune experiment runs every study's trials side by side, so slots never wait for a study's last
round, trial actors are reused across studies, and the search pays Tune's start-up once.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from ray.tune.search import Searcher

from distser.define import PAPER_FEATURE_SET, Metric, Phase

from ._selection import STRATEGIES, choose, config_key, rank_configs
from ._space import random_point, space_size
from ._trainable import trial_config


@dataclass
class StudySpec:
    """What one study runs (built by :func:`~distser.search._plans.plan_studies`)."""

    id: str
    method: str
    plan: str  # the outer plan (its held-out corpus is ``holdout``)
    holdout: str
    seeds: list[int]  # seeds of every configuration in the search phase
    params: dict[str, Any]  # the method's hyperparameters, before the searched ones are set
    training: dict[str, Any]
    selection: str
    folds: dict[str, str] = field(default_factory=dict)  # held-back corpus -> its inner plan
    space: dict[str, Any] = field(default_factory=dict)  # Optuna distributions; empty: ``grid`` is used
    grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    samples: int = 1  # Optuna proposals (ignored with a grid)
    asha: bool = False
    eval_seeds: list[int] = field(default_factory=list)  # seeds the selected configuration reports (default: seeds)
    first: dict[str, Any] | None = None  # Optuna's first proposal (the defaults: the paper's values), if any
    feature_set: str = PAPER_FEATURE_SET  # the features its plans index (each set of a search: its own studies)

    def __post_init__(self) -> None:
        self.eval_seeds = list(self.eval_seeds) or list(self.seeds)

    @property
    def configurations(self) -> int:
        """Distinct configurations of the search phase (a finite space holds at most its size)."""
        return int(min(self.samples, space_size(self.space))) if self.space else len(self.grid)

    @property
    def members(self) -> list[tuple[int, str | None]]:
        """(seed, held-back corpus) of every trial of one configuration in the search phase."""
        folds: list[str | None] = list(self.folds) if STRATEGIES[self.selection].folds else [None]
        return [(seed, fold) for seed in self.seeds for fold in folds]

    @property
    def planned_trials(self) -> int:
        """Trials the study runs at least (the final phase may add some)."""
        extra = len(set(self.eval_seeds) - set(self.seeds))
        final = len(self.eval_seeds) if STRATEGIES[self.selection].retrains else extra
        return self.configurations * len(self.members) + final


@dataclass
class _Member:
    study: str
    proposal: int  # index into the study's proposals
    seed: int
    fold: str | None
    phase: str
    finished: bool = False
    done: bool = False
    score: float = math.nan
    error: str | None = None


@dataclass
class _Proposal:
    searched: dict[str, Any]
    key: str
    optuna_number: int | None = None
    members: list[str] = field(default_factory=list)  # trial ids of its search phase
    repeats: list[int] = field(default_factory=list)  # Optuna trials that proposed it again (never trained)
    told: bool = False  # Optuna knows its outcome
    value: float | None = None  # that outcome (None: failed)


class _Study:
    """One study's state: proposals, trials handed out, results, phase."""

    def __init__(self, spec: StudySpec, optuna_name: str, optuna_storage: str | None, sampler_seed: int) -> None:
        self.spec = spec
        self.optuna_name = optuna_name
        self.phase = Phase.SEARCH
        self.proposals: list[_Proposal] = []
        self.queue: deque[tuple[int, int, str | None, str]] = deque()  # (proposal, seed, fold, phase)
        self.selected: str | None = None
        self.failed: str | None = None  # why the study could not select anything
        self._optuna: optuna.Study | None = None
        self._storage = optuna_storage
        self._sampler_seed = sampler_seed

    # -- Optuna ------------------------------------------------------------------------------
    @property
    def optuna(self) -> optuna.Study:
        if self._optuna is None:
            self._optuna = optuna.create_study(study_name=self.optuna_name, storage=self._storage,
                                               sampler=self._sampler(len(self.proposals)), direction="maximize",
                                               load_if_exists=True)
        return self._optuna

    def _sampler(self, index: int) -> optuna.samplers.BaseSampler:
        """The sampler of proposal ``index``: its random draws depend on (sampler seed, index) only.

        A sampler's random state is not in the RDB study that a resumed search reloads, so one seeded
        once would replay the draws the search had already made. Seeded per proposal, a resumed
        search proposes what the uninterrupted one would have, given the same results.
        """
        seed = int(np.random.SeedSequence([self._sampler_seed, index]).generate_state(1)[0])
        return optuna.samplers.TPESampler(seed=seed)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._storage is not None:  # an RDB study is reloaded by name; an in-memory one travels along
            state["_optuna"] = None
        return state

    # -- handing out trials ------------------------------------------------------------------
    def _propose(self) -> bool:
        """Queue the next configuration's trials; False when the search phase has proposed them all."""
        spec = self.spec
        index = len(self.proposals)
        if index >= spec.configurations:
            return False
        number = None
        if spec.space:
            if not self.proposals and spec.first is not None:
                self.optuna.enqueue_trial(spec.first, skip_if_exists=True)
            self.optuna.sampler = self._sampler(index)
            trial = self.optuna.ask(spec.space)
            # A repeat (TPE proposes a good point again, more so in a small categorical or integer space)
            # is not trained again: Optuna learns the earlier trials' outcome for it, and a configuration
            # not tried yet, drawn at random, takes its place. So a configuration's members are its own
            # trials, and a study trains ``configurations`` distinct ones.
            rng = np.random.default_rng([self._sampler_seed, index, 1])
            while (earlier := next((p for p in self.proposals if p.key == self._key(trial.params)), None)) is not None:
                earlier.repeats.append(trial.number)
                if earlier.told:
                    self._tell(trial.number, earlier.value)
                tried = {p.key for p in self.proposals}
                while self._key(point := random_point(spec.space, rng)) in tried:
                    pass  # the space has an untried point: ``configurations`` is at most its size
                self.optuna.enqueue_trial(point)
                trial = self.optuna.ask(spec.space)
            searched, number = dict(trial.params), trial.number
        else:
            searched = dict(spec.grid[index])
        self.proposals.append(_Proposal(searched, self._key(searched), number))
        self.queue.extend((index, seed, fold, Phase.SEARCH) for seed, fold in spec.members)
        return True

    def _key(self, searched: dict[str, Any]) -> str:
        values = {**self.spec.params, **{k: v for k, v in searched.items() if k in self.spec.params}}
        training = {k: v for k, v in searched.items() if k not in self.spec.params}
        return config_key({**values, **training})

    def next_trial(self, trial_id: str, members: dict[str, _Member]) -> dict[str, Any] | None:
        if not self.queue and self.phase == Phase.SEARCH:
            self._propose()
        if not self.queue:
            return None
        index, seed, fold, phase = self.queue.popleft()
        proposal = self.proposals[index]
        if phase == Phase.SEARCH:
            proposal.members.append(trial_id)
        members[trial_id] = _Member(self.spec.id, index, seed, fold, phase)
        return self.config(proposal, seed, fold, phase)

    def config(self, proposal: _Proposal, seed: int, fold: str | None, phase: str) -> dict[str, Any]:
        spec = self.spec
        params = {**spec.params, **{k: v for k, v in proposal.searched.items() if k in spec.params}}
        training = {**spec.training, **{k: v for k, v in proposal.searched.items() if k not in spec.params}}
        return trial_config(study=spec.id, phase=phase, method=spec.method,
                            plan=spec.folds[fold] if fold is not None else spec.plan, holdout=spec.holdout,
                            fold=fold, seed=seed, params=params, training=training, config=proposal.key,
                            selection=spec.selection, searched=proposal.searched, feature_set=spec.feature_set)

    # -- results -----------------------------------------------------------------------------
    def trial_table(self, members: dict[str, _Member], trial_ids: list[str] | None = None) -> pd.DataFrame:
        """The study's trials that are done (of ``trial_ids`` only, if given), as selection takes them."""
        chosen = members if trial_ids is None else {t: members[t] for t in trial_ids}
        rows = [{"method": self.spec.method, "holdout": self.spec.holdout, "phase": m.phase, "fold": m.fold,
                 "seed": m.seed, "config": self.proposals[m.proposal].key, "score": m.score,
                 "test_ua": math.nan, "finished": m.finished}
                for trial_id, m in chosen.items() if m.study == self.spec.id and m.done]
        return pd.DataFrame(rows, columns=["method", "holdout", "phase", "fold", "seed", "config", "score", "test_ua",
                                           "finished"])

    def outcome(self, proposal: _Proposal, members: dict[str, _Member]) -> float | None:
        """What Optuna learns of a configuration whose trials are all done: its score, or None (failed).

        Train-domain: the mean over seeds, a seed ASHA cut counting with the running best it had
        reached. Leave-one-train-corpus-out: the score selection ranks it by, which needs a score on
        every held-back corpus (:func:`~distser.search._selection.rank_configs`).
        """
        if STRATEGIES[self.spec.selection].folds:
            ranked = rank_configs(self.trial_table(members, proposal.members), folds=True)
            return float(ranked.loc[proposal.key, "mean"]) if proposal.key in ranked.index else None
        finite = [s for s in (members[t].score for t in proposal.members) if math.isfinite(s)]
        return float(np.mean(finite)) if finite else None

    def completed(self, proposal: _Proposal, members: dict[str, _Member]) -> None:
        """Tell Optuna a configuration's outcome once all its trials are done."""
        if proposal.optuna_number is None:
            return
        proposal.told, proposal.value = True, self.outcome(proposal, members)
        for number in (proposal.optuna_number, *proposal.repeats):
            self._tell(number, proposal.value)

    def _tell(self, number: int, value: float | None) -> None:
        if value is not None:
            self.optuna.tell(number, value)
        else:
            self.optuna.tell(number, state=optuna.trial.TrialState.FAIL)

    def maybe_advance(self, members: dict[str, _Member]) -> None:
        """After the search phase: select, then queue what the selection needs; then done."""
        mine = [m for m in members.values() if m.study == self.spec.id]
        if self.queue or any(not m.done for m in mine):
            return
        if self.phase == Phase.SEARCH and len(self.proposals) < self.spec.configurations:
            return
        if self.phase == Phase.SEARCH:
            strategy = STRATEGIES[self.spec.selection]
            self.selected = choose(self.trial_table(members), strategy)
            if self.selected is None:
                errors = sorted({m.error for m in mine if m.error})
                reason = ("no configuration trained to its end on every held-back corpus" if strategy.folds
                          else "no trial trained to its end")
                self.failed = reason + (": " + "; ".join(errors[:3]) if errors else "")
                self.phase = "done"
                return
            index = next(i for i, p in enumerate(self.proposals) if p.key == self.selected)  # keys are distinct
            if strategy.retrains:
                seeds = self.spec.eval_seeds
            else:  # the evaluation seeds it has not trained to their end yet (ASHA cut them, or more seeds)
                finished = {m.seed for m in mine if m.proposal == index and m.finished and m.fold is None}
                seeds = [s for s in self.spec.eval_seeds if s not in finished]
            self.queue.extend((index, seed, None, Phase.FINAL) for seed in seeds)
            self.phase = Phase.FINAL
            if self.queue:
                return
        self.phase = "done"


class StudiesSearcher(Searcher):
    """A Tune searcher running many studies in one experiment (see the module docstring).

    Trials of studies in their final phase go first, then the study with the fewest trials handed
    out: every study progresses, and finished studies free their slots for the others.
    """

    def __init__(self, specs: list[StudySpec], *, search: str, optuna_storage: str | None = None,
                 sampler_seed: int = 0) -> None:
        super().__init__()  # no metric: Tune would demand it in every result; studies read theirs at the end
        # Optuna study names carry the search's name: one Optuna database serves many searches.
        self.studies = {spec.id: _Study(spec, f"{search}/{spec.id}", optuna_storage, sampler_seed) for spec in specs}
        self.members: dict[str, _Member] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        return True  # the studies bring their own spaces and metric

    @property
    def planned_trials(self) -> int:
        return sum(study.spec.planned_trials for study in self.studies.values())

    def suggest(self, trial_id: str) -> dict | None:
        active = [s for s in self.studies.values() if s.phase != "done"]
        if not active:
            return Searcher.FINISHED
        handed = {sid: 0 for sid in self.studies}
        for member in self.members.values():
            handed[member.study] += 1
        order = sorted(active, key=lambda s: (s.phase != Phase.FINAL, handed[s.spec.id], s.spec.id))
        for study in order:
            config = study.next_trial(trial_id, self.members)
            if config is not None:
                return config
        return None  # every active study waits for its running trials

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        member = self.members.get(trial_id)
        if member is None:
            return
        result = result or {}
        member.done = True
        member.finished = bool(result.get("finished")) and not error
        if error or "error" in result:
            member.error = str(result.get("error") or "the trial failed (see its Tune error file)")
        if member.finished:
            member.score = float(result.get(Metric.SCORE, math.nan))
        elif member.fold is None and Metric.VALID in result and member.error is None:
            # Cut by ASHA: the running best it had reached (what Optuna learns from; never selected).
            member.score = float(result[Metric.VALID])
        study = self.studies[member.study]
        proposal = study.proposals[member.proposal]
        if member.phase == Phase.SEARCH and all(self.members[t].done for t in proposal.members) and \
                len(proposal.members) == len(study.spec.members):
            study.completed(proposal, self.members)
        study.maybe_advance(self.members)

    def failures(self) -> dict[str, str]:
        """Studies that could not select a configuration, with the reason."""
        return {sid: s.failed for sid, s in self.studies.items() if s.failed}

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as stream:
            pickle.dump(self.__dict__, stream)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as stream:
            self.__dict__.update(pickle.load(stream))
