"""Audio files -> a model's features for prediction: in this process for a few, Ray Data for many.

Unlike :func:`distser.features.extract` nothing is stored: features come back as an array (NaN rows
for files that failed) with one reason per failed file. The extractor is the model's own: openSMILE's
(:class:`~distser.features.Extractor`, a file at a time) or a self-supervised checkpoint's
(:class:`~distser.features.SSLEmbedder`, batches of files), the same code as ``distser extract``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distser.features import (
    FEATURE_SETS,
    ExtractionError,
    Extractor,
    SSLEmbedder,
    SSLIdentity,
    embed_batches,
    extract_batches,
)
from distser.runtime import start_ray

#: Above this many files, :func:`extract_features` uses Ray Data unless told otherwise.
RAY_THRESHOLD = 200
#: Files an :class:`~distser.features.SSLEmbedder` gets at a time in this process (it batches them by length).
EMBED_FILES = 32


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, ExtractionError) else f"{type(error).__name__}: {error}"


def _progress(total: int, show: bool, what: str = "files"):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=what[:-1] if what.endswith("s") else what, desc="extracting",
                disable=not show, mininterval=0.5, dynamic_ncols=True, leave=False)


def width(extractor: Extractor | SSLEmbedder) -> int:
    """Values per file of ``extractor``."""
    return extractor.dim if isinstance(extractor, SSLEmbedder) else FEATURE_SETS[extractor.feature_set]


def extract_local(paths: Sequence[str], extractor: Extractor | SSLEmbedder, *,
                  progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Features of ``paths`` with one extractor in this process: ``(features, errors)``."""
    features = np.full((len(paths), width(extractor)), np.nan, dtype=np.float32)
    errors = [""] * len(paths)
    with _progress(len(paths), progress) as bar:
        if isinstance(extractor, SSLEmbedder):  # reads, embeds and names failures itself, a batch at a time
            for start in range(0, len(paths), EMBED_FILES):
                chunk = [str(p) for p in paths[start:start + EMBED_FILES]]
                features[start:start + len(chunk)], errors[start:start + len(chunk)], _ = extractor(chunk)
                bar.update(len(chunk))
            return features, errors
        for row, path in enumerate(paths):
            try:
                features[row] = extractor(path)
            except Exception as error:  # one bad file never stops the others
                errors[row] = _reason(error)
            bar.update(1)
    return features, errors


def extract_ray(paths: Sequence[str], feature_set: str, *, num_workers: int | None = None, batch_size: int = 16,
                progress: bool = False, extractor: SSLIdentity | None = None,
                folder: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """Features of ``paths`` on a Ray Data actor pool (:func:`distser.features.extract_batches`, or for a
    self-supervised set, ``extractor`` and its checkpoint's ``folder``, :func:`distser.features.embed_batches`).

    Uses the running Ray instance, or starts a local one (``RAY_ADDRESS`` is honoured).
    """
    import pandas as pd

    start_ray()
    files = pd.DataFrame({"utterance_id": [str(i) for i in range(len(paths))], "path": [str(p) for p in paths]})
    if extractor is None:
        batches = extract_batches(files, feature_set, num_workers=num_workers, batch_size=batch_size)
        dim = FEATURE_SETS[feature_set]
    else:
        if folder is None:
            raise ValueError(f"extract_ray of {feature_set} needs its checkpoint's folder")
        batches = embed_batches(files, folder, extractor, num_workers=num_workers)
        dim = extractor.dim
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


def extract_base64(texts: Sequence[str], extractor: Extractor | SSLEmbedder) -> tuple[np.ndarray, list[str]]:
    """Features of base64-encoded audio files (any format libsndfile reads), via temporary files."""
    features = np.full((len(texts), width(extractor)), np.nan, dtype=np.float32)
    errors = [""] * len(texts)
    with tempfile.TemporaryDirectory(prefix="distser-audio-") as folder:
        rows, paths = [], []
        for row, text in enumerate(texts):
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                errors[row] = f"audio_base64 is not valid base64 ({error})"
                continue
            path = Path(folder) / f"clip-{row}"
            path.write_bytes(data)
            rows.append(row)
            paths.append(str(path))
        got, why = extract_local(paths, extractor)
        features[rows] = got
        for row, path, reason in zip(rows, paths, why, strict=True):
            errors[row] = reason.replace(path, "audio_base64")
    return features, errors
