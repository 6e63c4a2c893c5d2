"""The embedded default: a deterministic synthetic feature store shaped like the paper's corpora.

Four labelled corpora named and split like the paper's (Table 1 sizes and class counts, scaled by
``scale``) and an unlabeled, neutral-heavy LibriSpeech-like corpus, in the IS10 feature space (1582-d).

How the features are made (all from one seed):
- an emotion lives in a small latent space: each class has a mean there, shared by every corpus;
- each corpus maps the latent space to 1582 features through a shared projection plus a
  corpus-specific perturbation, adds a corpus-wide offset (recording conditions) and per-speaker
  offsets, and has its own class separation (difficulty: acted CREMA-D is easy, MSP-Podcast hard);
- the unlabeled corpus mostly draws from the neutral class, with weak emotional colouring.
So models trained on three corpora transfer imperfectly to the fourth, and corpora differ in how
well they are learned: the situation CWW was designed for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from distser.arrays import EMOTIONS
from distser.corpora import make_manifest

from ._store import FeatureStore, shard_rows, shard_table


@dataclass(frozen=True)
class SyntheticCorpus:
    name: str
    class_counts: tuple[int, int, int, int]  # neutral, happy, sad, angry (paper's Table 1)
    speakers: int
    separation: float  # distance between class means in latent units: larger = easier
    sessions: int = 0  # speakers are spread over this many sessions (two per session), 0 = none


#: Scheme of a synthetic utterance's path: ``synthetic://<corpus>/<index>`` (no audio behind it).
SYNTHETIC_SCHEME = "synthetic://"


#: Paper Table 1 (counts), difficulty ordered as Table 2's within-corpus row (CRE > IEM > IMP > POD).
PAPER_CORPORA: tuple[SyntheticCorpus, ...] = (
    SyntheticCorpus("crema-d", (1087, 1271, 1270, 1271), speakers=91, separation=2.4),
    SyntheticCorpus("iemocap", (1708, 1636, 1084, 1103), speakers=10, separation=1.7, sessions=5),
    SyntheticCorpus("msp-improv", (3477, 2644, 885, 792), speakers=12, separation=1.3, sessions=6),
    SyntheticCorpus("msp-podcast", (26009, 14285, 2649, 3218), speakers=400, separation=1.0),
)
UNLABELED_SIZE = 28539  # LibriSpeech train-clean-100 utterances used in the paper
LATENT_DIM = 16


def synthetic_manifest_and_features(
    scale: float = 0.05, seed: int = 0, dim: int = 1582
) -> tuple[pd.DataFrame, np.ndarray]:
    """Generate the manifest and the row-aligned feature matrix of the synthetic corpora.

    Example:
        >>> frame, features = synthetic_manifest_and_features(scale=0.01)
        >>> sorted(frame["corpus"].unique())
        ['crema-d', 'iemocap', 'librispeech', 'msp-improv', 'msp-podcast']
        >>> features.shape[1], features.dtype
        (1582, dtype('float32'))
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rng = np.random.default_rng(seed)
    class_means = rng.normal(size=(len(EMOTIONS), LATENT_DIM))
    class_means /= np.linalg.norm(class_means, axis=1, keepdims=True)
    projection = rng.normal(size=(LATENT_DIM, dim)) / np.sqrt(LATENT_DIM)
    frames, blocks = [], []
    for corpus in PAPER_CORPORA:
        counts = [max(4, round(count * scale)) for count in corpus.class_counts]
        frame, block = _labelled_corpus(corpus, counts, class_means, projection, rng)
        frames.append(frame)
        blocks.append(block.astype(np.float32))  # per corpus: the float64 intermediates never pile up
    frame, block = _unlabeled_corpus(max(32, round(UNLABELED_SIZE * scale)), class_means, projection, rng)
    frames.append(frame)
    blocks.append(block.astype(np.float32))
    return pd.concat(frames, ignore_index=True), np.concatenate(blocks)


def _corpus_mapping(projection: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    dim = projection.shape[1]
    mapping = projection + 0.6 * rng.normal(size=projection.shape) / np.sqrt(projection.shape[0])
    offset = rng.normal(scale=1.5, size=dim)
    return mapping, offset


def _labelled_corpus(corpus, counts, class_means, projection, rng):
    mapping, offset = _corpus_mapping(projection, rng)
    labels = np.repeat(np.arange(len(EMOTIONS)), counts)
    rng.shuffle(labels)
    n = len(labels)
    speakers = max(2, min(corpus.speakers, n // 4))
    speaker_of = rng.integers(0, speakers, size=n)
    speaker_offsets = rng.normal(scale=0.5, size=(speakers, LATENT_DIM))
    latent = (corpus.separation * class_means[labels] + speaker_offsets[speaker_of]
              + rng.normal(size=(n, LATENT_DIM)))
    features = latent @ mapping + offset + rng.normal(scale=1.0, size=(n, projection.shape[1]))
    rows = [_labelled_row(corpus, i, int(speaker_of[i]), EMOTIONS[labels[i]], speakers, rng)
            for i in range(n)]
    return make_manifest(rows, corpus.name).pipe(_align, rows), features


def _labelled_row(corpus: SyntheticCorpus, index: int, speaker: int, label: str, speakers: int, rng):
    row = {
        "utterance_id": f"{corpus.name}/{index:06d}",
        "path": f"{SYNTHETIC_SCHEME}{corpus.name}/{index:06d}",
        "corpus": corpus.name,
        "speaker": f"{corpus.name}/{speaker:04d}",
        "label": label,
        "gender": "F" if speaker % 2 else "M",
        "text": f"s{index % 12:02d}",
    }
    if corpus.sessions:
        # Two speakers per session, as in IEMOCAP and MSP-IMPROV.
        row["session"] = f"Session{speaker * corpus.sessions // speakers + 1}"
    if corpus.name == "msp-podcast":
        row["split"] = ("train", "train", "train", "train", "validation", "test", "test")[speaker % 7]
    if corpus.name == "crema-d":
        votes = rng.dirichlet(np.full(len(EMOTIONS), 0.5) + 4.0 * (np.array(EMOTIONS) == label))
        row.update({f"vote_{emotion}": float(v) for emotion, v in zip(EMOTIONS, votes, strict=True)})
    return row


def _unlabeled_corpus(n, class_means, projection, rng):
    mapping, offset = _corpus_mapping(projection, rng)
    # Read audiobooks: mostly neutral, a little emotional colouring.
    mood = rng.choice(len(EMOTIONS), size=n, p=[0.7, 0.1, 0.1, 0.1])
    latent = 0.8 * class_means[mood] + rng.normal(size=(n, LATENT_DIM))
    features = latent @ mapping + offset + rng.normal(scale=1.0, size=(n, projection.shape[1]))
    rows = [{
        "utterance_id": f"librispeech/{i:06d}",
        "path": f"{SYNTHETIC_SCHEME}librispeech/{i:06d}",
        "corpus": "librispeech",
        "speaker": f"librispeech/{i % 251:04d}",
        "label": None,
        "split": "train-clean-100",
    } for i in range(n)]
    return make_manifest(rows, "librispeech").pipe(_align, rows), features


def _align(frame: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """make_manifest sorts by id; generated ids are zero-padded in row order, so order is kept."""
    assert list(frame["utterance_id"]) == [row["utterance_id"] for row in rows]
    return frame


def synthetic_corpora(store: FeatureStore) -> list[str]:
    """The corpora of ``store`` made of synthetic utterances (as :func:`write_synthetic` writes them).

    Read from the stored paths, so a compacted or copied store still says what it holds.

    Example:
        >>> store = write_synthetic(str(getfixture("tmp_path")), scale=0.01)
        >>> synthetic_corpora(store)
        ['crema-d', 'iemocap', 'librispeech', 'msp-improv', 'msp-podcast']
    """
    manifest = store.manifest()
    synthetic = manifest["path"].astype(str).str.startswith(SYNTHETIC_SCHEME)
    return sorted(manifest.loc[synthetic, "corpus"].unique())


def write_synthetic(out: str, *, scale: float = 0.05, seed: int = 0, feature_set: str = "IS10") -> FeatureStore:
    """Write the synthetic corpora to a feature store at ``out`` (same layout as extracted audio).

    Each corpus is cut into shards of at most :func:`~distser.features._store.shard_rows` rows, so a
    reader never needs more than one shard's worth of memory at a time.
    """
    store = FeatureStore(out, feature_set)
    frame, features = synthetic_manifest_and_features(scale=scale, seed=seed, dim=store.dim)
    hashes = np.full(len(frame), f"synthetic-{seed}-{scale}", dtype=object)
    rows_per_shard = shard_rows(store.dim)
    for number, (corpus, part) in enumerate(frame.groupby("corpus", sort=True)):
        written = set()
        for start in range(0, len(part), rows_per_shard):
            chunk = part.iloc[start:start + rows_per_shard]
            rows = chunk.index.to_numpy()
            # fixed names: writing again replaces
            written.add(store.write_shard(corpus, shard_table(chunk, features[rows], hashes[rows]), "synthetic",
                                          number * 1000 + start // rows_per_shard))
        for stale in store.path.joinpath(corpus).glob("part-synthetic-*.parquet"):
            if stale not in written:  # left by an earlier, larger write into the same folder
                stale.unlink()
    return store
