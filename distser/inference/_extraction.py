"""Audio files -> openSMILE functionals for prediction: in this process for a few, Ray Data for many.

Unlike :func:`distser.features.extract` nothing is stored: features come back as an array (NaN rows
for files that failed) with one reason per failed file.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distser.features import FEATURE_SETS, ExtractionError, Extractor, extract_batches
from distser.runtime import start_ray

#: Above this many files, :func:`extract_features` uses Ray Data unless told otherwise.
RAY_THRESHOLD = 200


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, ExtractionError) else f"{type(error).__name__}: {error}"


def _progress(total: int, show: bool, what: str = "files"):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=what[:-1] if what.endswith("s") else what, desc="extracting",
                disable=not show, mininterval=0.5, dynamic_ncols=True, leave=False)


def extract_local(paths: Sequence[str], extractor: Extractor, *,
                  progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Features of ``paths`` with one openSMILE instance in this process: ``(features, errors)``."""
    dim = FEATURE_SETS[extractor.feature_set]
    features = np.full((len(paths), dim), np.nan, dtype=np.float32)
    errors = [""] * len(paths)
    with _progress(len(paths), progress) as bar:
        for row, path in enumerate(paths):
            try:
                features[row] = extractor(path)
            except Exception as error:  # one bad file never stops the others
                errors[row] = _reason(error)
            bar.update(1)
    return features, errors


def extract_ray(paths: Sequence[str], feature_set: str, *, num_workers: int | None = None, batch_size: int = 16,
                progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Features of ``paths`` on a Ray Data actor pool (:func:`distser.features.extract_batches`).

    Uses the running Ray instance, or starts a local one (``RAY_ADDRESS`` is honoured).
    """
    import pandas as pd

    start_ray()
    files = pd.DataFrame({"utterance_id": [str(i) for i in range(len(paths))], "path": [str(p) for p in paths]})
    batches = extract_batches(files, feature_set, num_workers=num_workers, batch_size=batch_size)
    dim = FEATURE_SETS[feature_set]
    features = np.full((len(paths), dim), np.nan, dtype=np.float32)
    errors = [""] * len(paths)
    with _progress(len(paths), progress) as bar:
        for batch in batches:
            rows = batch["utterance_id"].astype(np.int64)
            ok = batch["error"] == ""
            features[rows[ok]] = batch["features"][ok]
            for row, reason in zip(rows[~ok], batch["error"][~ok], strict=True):
                errors[row] = str(reason)
            bar.update(len(rows))
    return features, errors


def extract_base64(texts: Sequence[str], extractor: Extractor) -> tuple[np.ndarray, list[str]]:
    """Features of base64-encoded audio files (any format libsndfile reads), via temporary files."""
    dim = FEATURE_SETS[extractor.feature_set]
    features = np.full((len(texts), dim), np.nan, dtype=np.float32)
    errors = [""] * len(texts)
    with tempfile.TemporaryDirectory(prefix="distser-audio-") as folder:
        for row, text in enumerate(texts):
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                errors[row] = f"audio_base64 is not valid base64 ({error})"
                continue
            path = Path(folder) / f"clip-{row}"
            path.write_bytes(data)
            try:
                features[row] = extractor(path)
            except Exception as error:
                errors[row] = _reason(error).replace(str(path), "audio_base64")
            finally:
                path.unlink(missing_ok=True)
    return features, errors
