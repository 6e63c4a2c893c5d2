"""The manifest table: one row per utterance, the same columns for every corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distser.arrays import EMOTIONS

#: Manifest columns and their meaning. Optional fields are None/NaN where a corpus lacks them.
MANIFEST_COLUMNS: dict[str, str] = {
    "utterance_id": "unique id '<corpus>/<corpus's own file id>'",
    "path": "absolute path of the audio file",
    "corpus": "corpus name, e.g. 'ravdess'",
    "speaker": "speaker id, prefixed with the corpus name ('ravdess/01')",
    "label": "one of EMOTIONS, or None for unlabeled speech",
    "gender": "'F', 'M' or None",
    "session": "recording session (IEMOCAP, MSP-IMPROV) or None",
    "split": "official split ('train', 'validation', 'test') or None",
    "text": "sentence / word / script id that splits may need to keep disjoint, or None",
    **{f"vote_{e}": f"fraction of annotator votes for {e} (NaN if none)" for e in EMOTIONS},
}


class CorpusError(ValueError):
    """A corpus folder, label file or manifest is missing or malformed; the message names the culprit."""


class CorpusWarning(UserWarning):
    """A file was skipped (``on_unknown="skip"``); the message names the file and the reason."""


def make_manifest(rows: list[dict], corpus: str) -> pd.DataFrame:
    """Build a manifest frame with every column of :data:`MANIFEST_COLUMNS`, in order."""
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        if column not in frame:
            frame[column] = np.nan if column.startswith("vote_") else None
    frame = frame[list(MANIFEST_COLUMNS)]
    if frame["utterance_id"].duplicated().any():
        dup = frame.loc[frame["utterance_id"].duplicated(), "utterance_id"].iloc[0]
        raise CorpusError(f"{corpus}: duplicate utterance id {dup!r}")
    return frame.sort_values("utterance_id", kind="stable").reset_index(drop=True)
