"""One file -> one openSMILE functionals vector. Runs inside Ray Data workers; no Ray here."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Selectable openSMILE feature sets (functionals) and their dimensionality: the one list of them (each is
#: ``opensmile.FeatureSet.<name>``; extraction, the store, the search and the models read it from here).
FEATURE_SETS: dict[str, int] = {"IS10": 1582, "eGeMAPSv02": 88, "ComParE_2016": 6373, "emobase": 988}

#: All audio is resampled to this rate before extraction, so one corpus's 96 kHz file
#: yields the same features as its 16 kHz siblings would.
SAMPLING_RATE = 16000


def check_feature_set(name: str) -> str:
    """Return ``name`` if it is a known feature set, else raise a ValueError listing the valid ones."""
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)}")
    return name


def content_hash(path: str | Path) -> str:
    """Hex digest of a file's bytes: extraction is skipped for files whose content was seen before."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: About the shortest clip openSMILE computes functionals of (measured: 0.06 s for eGeMAPSv02 and
#: ComParE_2016, 0.07 s for IS10, at 16 kHz); shorter ones come back all NaN.
MIN_SECONDS = 0.07


class ExtractionError(RuntimeError):
    """A single file could not be turned into features; the message says why."""


class WorkerDied(RuntimeError):
    """An extraction worker process died (a crash or the memory monitor); what was written before stays."""


@dataclass
class Extractor:
    """Callable that maps an audio file to its functionals.

    Example:
        >>> extractor = Extractor("IS10")  # doctest: +SKIP
        >>> extractor("clip.flac").shape  # doctest: +SKIP
        (1582,)
    """

    feature_set: str = "IS10"

    def __post_init__(self) -> None:
        import opensmile  # imported lazily: only workers that extract need it

        check_feature_set(self.feature_set)
        self._smile = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, self.feature_set),
            feature_level=opensmile.FeatureLevel.Functionals,
            sampling_rate=SAMPLING_RATE,
            resample=True,
        )

    def __call__(self, path: str | Path) -> np.ndarray:
        signal, rate = read_audio(path)
        with warnings.catch_warnings():  # "Segment too short, filling with NaN": said below, with the duration
            warnings.filterwarnings("ignore", "Segment too short", UserWarning)
            values = self._smile.process_signal(signal, rate).to_numpy(dtype=np.float32).reshape(-1)
        if values.shape != (FEATURE_SETS[self.feature_set],):
            raise ExtractionError(f"openSMILE returned {values.shape[0]} values, expected "
                                  f"{FEATURE_SETS[self.feature_set]}")
        finite = np.isfinite(values)
        seconds = len(signal) / rate
        if not finite.any():  # openSMILE fills every functional with NaN for a segment shorter than its windows
            raise ExtractionError(f"clip too short for the {self.feature_set} feature set: {seconds:.3f} s of audio "
                                  f"(its functionals need at least about {MIN_SECONDS:g} s)")
        if not finite.all():
            raise ExtractionError(f"{int((~finite).sum())} non-finite feature values (clip of {seconds:.3f} s)")
        return values


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read any libsndfile format (by content, not by extension) as mono float32.

    The original TESS ships AIFF files named ``.wav``; libsndfile sniffs the header, so they load.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise ExtractionError("file not found")
    if path.stat().st_size == 0:
        raise ExtractionError("zero-length file")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile's messages are precise; keep them
        raise ExtractionError(f"unreadable audio: {error}") from error
    if data.shape[0] == 0:
        raise ExtractionError("audio has no samples")
    return data.mean(axis=1), int(rate)
