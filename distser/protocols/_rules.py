"""Per-corpus split rules: which rows validate in LOCO, which test in within-corpus folds (paper §3.2).

Every rule returns boolean masks over one corpus's manifest rows. Randomness (which speakers go where
when the paper says "randomly") comes from a fixed protocol seed, so splits are identical on every run
and machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Seed of every random speaker/word assignment in the protocols: splits must never vary.
PROTOCOL_SEED = 20220918

Masks = tuple[np.ndarray, np.ndarray]  # (train, valid)
Fold = tuple[np.ndarray, np.ndarray, np.ndarray]  # (train, valid, test)


def _permuted_groups(frame: pd.DataFrame, column: str) -> np.ndarray:
    groups = np.array(sorted(frame[column].dropna().unique()), dtype=object)
    if len(groups) == 0:
        raise ValueError(f"corpus {frame['corpus'].iloc[0]!r} has no {column} values to split by")
    return np.random.default_rng(PROTOCOL_SEED).permutation(groups)


def _in(frame: pd.DataFrame, column: str, values) -> np.ndarray:
    return frame[column].isin(list(values)).to_numpy()


@dataclass(frozen=True)
class GroupRule:
    """Split by a grouping column (speaker, or TESS's words) so that no group crosses two parts.

    LOCO: ``valid_fraction`` of the groups validate (the paper's CREMA-D split: 33 of 91 speakers).
    Within-corpus: ``folds`` folds. Without ``window``, fold k tests group chunk k and validates on
    chunk k+1. With ``window=(test, valid)`` fractions, each fold tests and validates on a window of
    that many groups rotated over the permuted groups (CREMA-D: 10 and 9 of 91 speakers).
    """

    column: str = "speaker"
    valid_fraction: float = 0.2
    folds: int = 5
    window: tuple[float, float] | None = None

    def loco(self, frame: pd.DataFrame) -> Masks:
        groups = _permuted_groups(frame, self.column)
        if len(groups) < 2:
            raise ValueError(f"corpus {frame['corpus'].iloc[0]!r} has one {self.column}: "
                             "cannot make a disjoint validation split")
        n_valid = min(len(groups) - 1, max(1, round(len(groups) * self.valid_fraction)))
        valid = _in(frame, self.column, groups[:n_valid])
        return ~valid, valid

    def within(self, frame: pd.DataFrame) -> list[Fold]:
        groups = _permuted_groups(frame, self.column)
        n = len(groups)
        if n < 3:
            raise ValueError(f"corpus {frame['corpus'].iloc[0]!r} has {n} {self.column} groups; "
                             "within-corpus folds need at least 3")
        if self.window is None:
            chunks = np.array_split(groups, min(self.folds, n))
            return [self._masks(frame, test, chunks[(k + 1) % len(chunks)]) for k, test in enumerate(chunks)]
        n_test, n_valid = (max(1, round(n * fraction)) for fraction in self.window)
        if n_test + n_valid >= n:
            raise ValueError(f"corpus {frame['corpus'].iloc[0]!r}: {n} groups are too few for folds "
                             f"testing {n_test} and validating {n_valid}")
        folds = []
        for k in range(self.folds):
            order = np.roll(groups, -k * n_test)
            folds.append(self._masks(frame, order[:n_test], order[n_test:n_test + n_valid]))
        return folds

    def _masks(self, frame: pd.DataFrame, test, valid) -> Fold:
        test_mask, valid_mask = _in(frame, self.column, test), _in(frame, self.column, valid)
        return ~(test_mask | valid_mask), valid_mask, test_mask


@dataclass(frozen=True)
class SessionRule:
    """IEMOCAP / MSP-IMPROV: LOCO validates on the last session; within-corpus is leave-one-speaker-out,
    validating on the test speaker's session partner (the other speaker of the dyad)."""

    valid_session: str

    def loco(self, frame: pd.DataFrame) -> Masks:
        if frame["session"].isna().any():
            raise ValueError(f"corpus {frame['corpus'].iloc[0]!r}: rows without a session")
        valid = (frame["session"] == self.valid_session).to_numpy()
        if not valid.any():
            raise ValueError(f"corpus {frame['corpus'].iloc[0]!r} has no {self.valid_session}")
        return ~valid, valid

    def within(self, frame: pd.DataFrame) -> list[Fold]:
        folds = []
        for speaker in sorted(frame["speaker"].unique()):
            test = (frame["speaker"] == speaker).to_numpy()
            session = frame.loc[test, "session"].iloc[0]
            valid = ((frame["session"] == session) & ~test).to_numpy()
            if not valid.any():
                raise ValueError(f"speaker {speaker!r} has no session partner in {session}")
            folds.append((~(test | valid), valid, test))
        return folds


@dataclass(frozen=True)
class OfficialSplitRule:
    """MSP-Podcast: the released Train/Development/Test1 split; its test set is used only when held out."""

    def loco(self, frame: pd.DataFrame) -> Masks:
        return (frame["split"] == "train").to_numpy(), (frame["split"] == "validation").to_numpy()

    def test(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame["split"] == "test").to_numpy()

    def within(self, frame: pd.DataFrame) -> list[Fold]:
        train, valid = self.loco(frame)
        return [(train, valid, self.test(frame))]


Rule = GroupRule | SessionRule | OfficialSplitRule

#: Split rules by corpus name; any other corpus is split by speaker with :data:`DEFAULT_RULE`.
RULES: dict[str, Rule] = {
    "crema-d": GroupRule(valid_fraction=33 / 91, folds=10, window=(10 / 91, 9 / 91)),
    "iemocap": SessionRule(valid_session="Session5"),
    "msp-improv": SessionRule(valid_session="Session6"),
    "msp-podcast": OfficialSplitRule(),
    # TESS has two speakers: hold out words instead (the 200 target words).
    "tess": GroupRule(column="text"),
}
DEFAULT_RULE = GroupRule()


def rule_for(corpus: str) -> Rule:
    return RULES.get(corpus, DEFAULT_RULE)


def group_column(corpus: str) -> str:
    """The column whose values must never cross train/validation/test for ``corpus``."""
    rule = rule_for(corpus)
    return rule.column if isinstance(rule, GroupRule) else "speaker"
