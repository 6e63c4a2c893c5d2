"""Self-supervised speech embeddings as features: wav2vec 2.0, HuBERT, WavLM, Whisper's encoder.

One utterance -> the mean over time of one hidden layer (or of the mean of all of them) of a
checkpoint in a local folder or the user's Hugging Face cache; nothing is downloaded. Needs the
``ssl`` extra (``pip install -e '.[ssl]'``: transformers). Extraction spreads length-sorted batches
over Ray Data actors, each with its own copy of the model: one per GPU when the cluster has GPUs,
else ``threads`` CPU threads each. The store folder is ``ssl-<model>-L<layer>`` and carries the
extractor's identity (:mod:`._ssl_identity`).

A clip's embedding never depends on the other clips of its batch: padded frames are left out of the
mean, checkpoints whose convolutional front-end normalises over the whole clip (``feat_extract_norm
= "group"``: the base wav2vec 2.0, HuBERT and WavLM models), which padding would change, see each clip
alone, and Whisper pads every clip to its fixed 30 s window anyway (longer clips: several windows).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from distser.define import SSL_MODEL_VARIABLE

from ._audio import SAMPLING_RATE, ExtractionError, read_audio
from ._extract import ExtractReport, map_files, plan_extraction, write_batches
from ._ssl_identity import (
    IDENTITY_KEY,
    Layer,
    SSLIdentity,
    checkpoint_checksum,
    claim_folder,
    parse_layer,
    read_checkpoint_config,
)
from ._store import FeatureStore

#: Whisper's encoder sees fixed windows of 30 s; its frames are 20 ms (hop 10 ms, then stride 2).
WHISPER_SECONDS = 30
WHISPER_SAMPLES_PER_FRAME = 320

INSTALL_HINT = "self-supervised embeddings need the ssl extra: pip install -e '.[ssl]' (transformers)"


def resolve_model(model: str) -> Path:
    """The local folder of ``model``: a folder as given, else a hub id's snapshot in the user's cache."""
    if Path(model).is_dir():
        return Path(model).resolve()
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ValueError(f"model {model!r}: no such folder, and {INSTALL_HINT}") from None
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except Exception as error:  # not cached (LocalEntryNotFoundError), or not a valid repo id
        raise ValueError(
            f"model {model!r} is neither a folder nor in the Hugging Face cache ({type(error).__name__}); "
            f"with network access, fetch it once (`hf download {model}`), or give a folder holding "
            "config.json, preprocessor_config.json and the weights") from None


def require_transformers() -> None:
    """ValueError with :data:`INSTALL_HINT` unless the ssl extra is installed (said once, before any model loads)."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ValueError(INSTALL_HINT) from None


def identify(model: str, layer: Layer | str, folder: Path | None = None) -> SSLIdentity:
    """The identity of ``model``'s embeddings at ``layer`` (reads its config, checksums its files).

    ValueError for a missing model, a bad layer, or without the ssl extra (before any worker starts).
    """
    require_transformers()  # the workers need it
    layer = parse_layer(layer)
    folder = folder or resolve_model(model)
    family, layers, dim = read_checkpoint_config(folder)
    if layer != "mean" and not 0 <= layer <= layers:
        raise ValueError(f"--layer {layer}: {model} has hidden layers 0..{layers} (0: before the first "
                         "transformer layer), or give 'mean'")
    return SSLIdentity(model=model, family=family, layer=layer, layers=layers, dim=dim,
                       checksum=checkpoint_checksum(folder), folder=str(Path(folder).resolve()))


def find_checkpoint(identity: SSLIdentity, folder: str | Path | None = None) -> Path:
    """The local folder of the checkpoint that made ``identity``'s embeddings, its files checked.

    ``folder`` (``distser predict --ssl-model``) if given; else the folder the extraction found it in, else
    ``identity.model`` found again (a folder, or a hub id in the user's cache). ValueError when none is
    there (naming where it looked), when its checksum is not the identity's (naming both), or without
    the ssl extra.
    """
    require_transformers()
    if folder is not None:
        found = Path(folder).expanduser()
        if not found.is_dir():
            raise ValueError(f"--ssl-model {folder}: no such folder")
    elif identity.folder and Path(identity.folder).is_dir():
        found = Path(identity.folder)
    else:
        try:
            found = resolve_model(identity.model)
        except ValueError:
            where = f"in {identity.folder} or " if identity.folder else ""
            raise ValueError(f"the checkpoint of {identity.describe()} is not {where}at {identity.model!r} any "
                             f"more: give its folder with --ssl-model FOLDER ({SSL_MODEL_VARIABLE}=FOLDER when "
                             "served)") from None
    checksum = checkpoint_checksum(found)
    if checksum != identity.checksum:
        raise ValueError(f"model folder {found} has checksum {checksum[:12]}, but the model was trained on embeddings "
                         f"of {identity.describe()}, checksum {identity.checksum[:12]}: give the folder of that "
                         "very checkpoint")
    return found.resolve()


def _conv_frames(samples: int, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Frames out of a wav2vec-style convolutional front-end (no padding) for ``samples`` inputs."""
    for kernel, stride in zip(kernels, strides, strict=True):
        samples = (samples - kernel) // stride + 1
    return max(samples, 0)


class SSLEmbedder:
    """A checkpoint's utterance embeddings: ``embedder.embed([signal, ...])`` -> ``(n, dim)`` float32.

    ``folder`` holds ``config.json``, ``preprocessor_config.json`` and the weights; signals are mono
    float32 at 16 kHz. Runs in eval mode (no dropout) under ``torch.inference_mode``: the same clips
    give the same vectors. ``threads`` sets torch's CPU threads (None: leave them); the model runs
    on the GPU when torch sees one.

    Example:
        >>> embedder = SSLEmbedder("wavlm-base-plus", layer=6)  # doctest: +SKIP
        >>> embedder.embed([np.zeros(16000, np.float32)]).shape  # doctest: +SKIP
        (1, 768)
    """

    def __init__(self, folder: str | Path, layer: Layer | str = "mean", *, threads: int | None = None,
                 batch_size: int = 8, device: str | None = None) -> None:
        try:
            import torch
            import transformers
        except ImportError:
            raise ImportError(INSTALL_HINT) from None

        transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars, once per actor
        transformers.utils.logging.set_verbosity_error()
        if threads:
            torch.set_num_threads(threads)
        folder = Path(folder)
        self.family, self.layers, self.dim = read_checkpoint_config(folder)
        self.layer = parse_layer(layer)
        if self.layer != "mean" and not 0 <= self.layer <= self.layers:
            raise ValueError(f"layer {self.layer}: {folder} has hidden layers 0..{self.layers}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
            self.features = transformers.AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        except OSError as error:  # a file missing from the folder: transformers names it
            raise ValueError(f"model folder {folder}: {error}") from None
        config = model.config
        if self.family == "whisper":
            model = model.get_encoder()  # the decoder is never run
            self.batch_size = batch_size
        else:
            self._kernels, self._strides = list(config.conv_kernel), list(config.conv_stride)
            # A "group" front-end normalises each channel over the whole clip: padding would change it.
            self.batch_size = batch_size if config.feat_extract_norm == "layer" else 1
        self.model = model.eval().to(self.device)
        self._torch = torch

    @property
    def min_samples(self) -> int:
        """The shortest clip that yields one frame (wav2vec-style front-ends: about 25 ms)."""
        if self.family == "whisper":
            return 1
        samples = 1
        for kernel, stride in zip(reversed(self._kernels), reversed(self._strides), strict=True):
            samples = (samples - 1) * stride + kernel
        return samples

    def embed(self, signals: Sequence[np.ndarray]) -> np.ndarray:
        """One embedding per signal (16 kHz mono float32), in order; model batches are sorted by length."""
        if self.family == "whisper":
            window = WHISPER_SECONDS * SAMPLING_RATE
            pieces = [(clip, signal[start:start + window]) for clip, signal in enumerate(signals)
                      for start in range(0, max(len(signal), 1), window)]
        else:
            pieces = list(enumerate(signals))
        sums = np.zeros((len(signals), self.dim), dtype=np.float64)
        frames = np.zeros(len(signals), dtype=np.int64)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][1]))
        for start in range(0, len(order), self.batch_size):
            batch = [pieces[i] for i in order[start:start + self.batch_size]]
            batch_sums, batch_frames = self._pooled([signal for _, signal in batch])
            for (clip, _), row_sum, count in zip(batch, batch_sums, batch_frames, strict=True):
                sums[clip] += row_sum
                frames[clip] += count
        return (sums / np.maximum(frames, 1)[:, None]).astype(np.float32)

    def _pooled(self, signals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Sums over the valid frames of the chosen layer, and the frame counts, of one model batch."""
        torch = self._torch
        if self.family == "whisper":
            inputs = self.features(signals, sampling_rate=SAMPLING_RATE, return_tensors="pt")
            with torch.inference_mode():
                output = self.model(inputs["input_features"].to(self.device), output_hidden_states=True)
            valid = [min(math.ceil(len(s) / WHISPER_SAMPLES_PER_FRAME), self.model.config.max_source_positions)
                     for s in signals]
        else:
            inputs = self.features(signals, sampling_rate=SAMPLING_RATE, padding=True,
                                   return_attention_mask=True, return_tensors="pt")
            with torch.inference_mode():
                output = self.model(inputs["input_values"].to(self.device),
                                    attention_mask=inputs["attention_mask"].to(self.device),
                                    output_hidden_states=True)
            valid = [_conv_frames(len(s), self._kernels, self._strides) for s in signals]
        states = output.hidden_states  # layers + 1 tensors of (batch, frames, dim)
        with torch.inference_mode():
            hidden = torch.stack(states).mean(0) if self.layer == "mean" else states[self.layer]
            counts = torch.tensor(valid, device=hidden.device)
            mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < counts[:, None]
            sums = (hidden.double() * mask[..., None]).sum(1)
        return sums.cpu().numpy(), np.asarray(valid)

    def __call__(self, paths: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Embed audio files: ``(features, errors, seconds)``; a failed file has a NaN row and its reason."""
        features = np.full((len(paths), self.dim), np.nan, dtype=np.float32)
        errors = [""] * len(paths)
        seconds = np.zeros(len(paths))
        good, signals = [], []
        for row, path in enumerate(paths):
            try:
                signals.append(self._load(path))
                seconds[row] = len(signals[-1]) / SAMPLING_RATE
                good.append(row)
            except ExtractionError as error:
                errors[row] = str(error)
            except Exception as error:  # a bad file must never take the batch down with it
                errors[row] = f"{type(error).__name__}: {error}"
        try:
            features[good] = self.embed(signals)
        except Exception:  # one clip broke the model batch (memory, ...): isolate it
            for row, signal in zip(good, signals, strict=True):
                try:
                    features[row] = self.embed([signal])[0]
                except Exception as error:
                    errors[row] = f"{type(error).__name__}: {error}"
        for row in good:
            if not errors[row] and not np.isfinite(features[row]).all():
                errors[row] = f"{int((~np.isfinite(features[row])).sum())} non-finite embedding values"
        return features, errors, seconds

    def _load(self, path: str) -> np.ndarray:
        signal, rate = read_audio(path)
        if rate != SAMPLING_RATE:
            from scipy.signal import resample_poly

            common = math.gcd(rate, SAMPLING_RATE)
            signal = resample_poly(signal, SAMPLING_RATE // common, rate // common).astype(np.float32)
        if len(signal) < self.min_samples:
            raise ExtractionError(f"clip too short for {self.family}: {len(signal) / SAMPLING_RATE:.3f} s "
                                  f"(needs at least {self.min_samples / SAMPLING_RATE:.3f} s)")
        return signal


class _EmbedBatch:
    """Ray Data callable class: one model per actor, reused for every batch of files."""

    def __init__(self, folder: str, layer: Layer, checksum: str, threads: int | None, batch_size: int) -> None:
        # Every node loads its own copy: its folder (or hub cache) must hold the very same files.
        found = checkpoint_checksum(folder)
        if found != checksum:
            raise ValueError(f"model folder {folder} on this node has checksum {found[:12]}, the extraction "
                             f"expects {checksum[:12]}: give every node the same checkpoint")
        self.embedder = SSLEmbedder(folder, layer, threads=threads, batch_size=batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        features, errors, seconds = self.embedder(list(batch["path"]))
        return {"utterance_id": batch["utterance_id"], "features": features,
                "error": np.asarray(errors, dtype=object), "duration": seconds}


def _seconds(path: str) -> float:
    """Length from the header (sorting only: unreadable files go last and fail in the worker)."""
    import soundfile

    try:
        info = soundfile.info(path)
        return info.frames / info.samplerate
    except Exception:
        return math.inf


def embed_batches(files: pd.DataFrame, folder: str | Path, identity: SSLIdentity, *, num_workers: int | None = None,
                  threads: int | None = None, batch_size: int = 8) -> Iterator[dict[str, np.ndarray]]:
    """Embeddings of ``files`` (``utterance_id``, ``path``) by the checkpoint in ``folder`` on Ray Data actors.

    Batches as they finish, as :func:`~distser.features.extract_batches` yields them (a NaN row and its
    reason for a failed file); extraction stores them, prediction keeps them. Files are sorted by length
    first: batches of similar lengths pad little, and a too long clip fails at the end. ``num_workers``
    actors (default: one per GPU of the cluster, else one per ``threads`` CPUs, ``threads`` defaulting
    to up to 4), each loading the checkpoint after checking it against ``identity``'s checksum.
    """
    import ray

    files = files.assign(seconds=[_seconds(p) for p in files["path"]]).sort_values(
        ["seconds", "utterance_id"], kind="stable").drop(columns="seconds").reset_index(drop=True)
    resources = ray.cluster_resources() if ray.is_initialized() else {}
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", os.cpu_count() or 1))
    threads = threads or (1 if gpus else min(4, cpus))
    num_workers = num_workers or (gpus or max(1, cpus // threads))
    return map_files(files, _EmbedBatch, {"folder": str(folder), "layer": identity.layer,
                                          "checksum": identity.checksum, "threads": threads,
                                          "batch_size": batch_size},
                     batch_size=batch_size, num_workers=num_workers, num_cpus=1 if gpus else threads,
                     num_gpus=1 if gpus else 0)


def extract_ssl(
    manifest: pd.DataFrame,
    out: str | Path,
    model: str,
    layer: Layer | str = "mean",
    *,
    num_workers: int | None = None,
    threads: int | None = None,
    batch_size: int = 8,
    shard_rows: int = 1024,
    progress: Callable[[str], None] | None = None,
) -> tuple[ExtractReport, FeatureStore]:
    """Embed every manifest row not yet in ``out``'s ``ssl-<model>-L<layer>`` folder; returns the report and store.

    ``model``: a folder or a hub id already in the user's cache. Files are sorted by length and cut
    into batches of ``batch_size``; ``num_workers`` Ray Data actors embed them (default: one per GPU
    of the cluster, else one per ``threads`` CPUs, ``threads`` defaulting to up to 4). A file that
    cannot be read or embedded is listed with its reason and the rest land; a rerun skips files whose
    content is stored. A folder holding another model's embeddings is refused (ValueError naming both).

    Example:
        >>> report, store = extract_ssl(manifest, "features", "microsoft/wavlm-base-plus", 6)  # doctest: +SKIP
        >>> store.feature_set  # doctest: +SKIP
        'ssl-wavlm-base-plus-L6'
    """
    import pyarrow.parquet as pq

    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    folder = resolve_model(model)
    identity = identify(model, layer, folder)
    store = FeatureStore(out, identity.feature_set)
    shards_now = store.shard_paths() if store.corpora() else []
    claim_folder(store.path, identity, {
        shard: (pq.read_schema(shard).metadata or {}).get(IDENTITY_KEY.encode()) for shard in shards_now})
    started = time.perf_counter()
    todo, failures, skipped = plan_extraction(manifest, store)
    say(f"{identity.describe()} -> {store.path}\n{len(manifest)} files in manifest: {skipped} already "
        f"extracted, {len(todo)} to extract")

    batches: Iterable = ()
    if len(todo):
        batches = embed_batches(todo, folder, identity, num_workers=num_workers, threads=threads,
                                batch_size=batch_size)
    # shards written with the store's identity (FeatureStore.write_shard of an SSL folder)
    report = write_batches(store, todo, batches, failures=failures, skipped=skipped, started=started,
                           shard_rows=shard_rows, desc="embedding")
    say(report.summary())
    return report, store
