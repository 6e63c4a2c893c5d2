"""The Parquet feature store: shards on disk <-> manifest frames and float32 arrays.

Layout::

    <root>/<feature_set>/<corpus>/part-<stamp>-<n>.parquet   one row per utterance
    <root>/<feature_set>/failures.parquet                    files the last extraction could not read

Each shard holds every manifest column, ``content_hash`` and a fixed-size ``features`` list column.
Shards are written under a temporary name and renamed, so a killed run never leaves half a shard.
When an utterance appears in several shards (its audio changed and was extracted again), the shard
whose name sorts last wins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from distser.corpora._schema import MANIFEST_COLUMNS

from ._audio import FEATURE_SETS, check_feature_set

FAILURE_COLUMNS = ["utterance_id", "corpus", "path", "reason"]


def shard_schema(dim: int) -> pa.Schema:
    """Arrow schema of a shard: fixed, so shards of any corpus concatenate."""
    fields = [pa.field(c, pa.float64() if c.startswith("vote_") else pa.string()) for c in MANIFEST_COLUMNS]
    fields += [pa.field("content_hash", pa.string()), pa.field("features", pa.list_(pa.float32(), dim))]
    return pa.schema(fields)


def write_table_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def shard_table(manifest: pd.DataFrame, features: np.ndarray, hashes: pd.Series | np.ndarray) -> pa.Table:
    """Build one shard: manifest columns, ``content_hash`` and a fixed-size float32 ``features`` column."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.shape[0] != len(manifest):
        raise ValueError(f"{features.shape[0]} feature rows for {len(manifest)} manifest rows")
    schema = shard_schema(features.shape[1])
    columns = manifest[list(MANIFEST_COLUMNS)].reset_index(drop=True)
    arrays = [pa.array(columns[c], type=schema.field(c).type, from_pandas=True) for c in MANIFEST_COLUMNS]
    arrays.append(pa.array(np.asarray(hashes, dtype=object), type=pa.string()))
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), features.shape[1]))
    return pa.Table.from_arrays(arrays, schema=schema)


def latest_rows(table: pa.Table) -> pa.Table:
    """Keep the last row of each utterance: later shards supersede earlier ones (re-extraction)."""
    keep = ~table.column("utterance_id").to_pandas().duplicated(keep="last").to_numpy()
    return table if keep.all() else table.filter(pa.array(keep))


def split_features(table: pa.Table) -> tuple[pd.DataFrame, np.ndarray]:
    """A shard table as (manifest frame, row-aligned float32 feature matrix)."""
    vectors = table.column("features").combine_chunks()
    features = vectors.flatten().to_numpy(zero_copy_only=False).reshape(len(table), vectors.type.list_size)
    frame = table.drop_columns(["features"]).to_pandas().reset_index(drop=True)
    return frame, features.astype(np.float32, copy=False)


class FeatureStore:
    """Read and write the feature shards of one feature set under ``root``.

    Example:
        >>> store = FeatureStore("features", "IS10")  # doctest: +SKIP
        >>> frame, features = store.load(["emodb"])  # doctest: +SKIP
        >>> features.shape  # doctest: +SKIP
        (339, 1582)
    """

    def __init__(self, root: str | Path, feature_set: str = "IS10") -> None:
        self.root = Path(root)
        self.feature_set = check_feature_set(feature_set)
        self.path = self.root / feature_set

    @property
    def dim(self) -> int:
        return FEATURE_SETS[self.feature_set]

    # -- listing -------------------------------------------------------------------------------
    def corpora(self) -> list[str]:
        """Corpora with at least one shard, sorted."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_dir() and any(p.glob("part-*.parquet")))

    def shard_paths(self, corpora: list[str] | None = None) -> list[Path]:
        names = self.corpora() if corpora is None else corpora
        missing = [c for c in names if c not in self.corpora()]
        if missing:
            raise FileNotFoundError(
                f"no feature shards for corpus {', '.join(map(repr, missing))} under {self.path} "
                f"(available: {', '.join(self.corpora()) or 'none'}); run `python -m distser.features extract`"
            )
        return sorted(p for c in names for p in (self.path / c).glob("part-*.parquet"))

    def fingerprint(self) -> str:
        """Digest of shard names and sizes: changes whenever the store's content does."""
        digest = hashlib.blake2b(digest_size=8)
        for shard in self.shard_paths():
            digest.update(f"{shard.relative_to(self.path)}:{shard.stat().st_size};".encode())
        return f"{self.feature_set}-{digest.hexdigest()}"

    # -- reading -------------------------------------------------------------------------------
    def _read(self, corpora: list[str] | None, columns: list[str]) -> pa.Table:
        shards = self.shard_paths(corpora)
        if not shards:
            raise FileNotFoundError(f"no feature shards under {self.path}")
        return latest_rows(pa.concat_tables([pq.read_table(shard, columns=columns) for shard in shards]))

    def manifest(self, corpora: list[str] | None = None) -> pd.DataFrame:
        """The manifest (plus ``content_hash``) of the stored utterances, without features."""
        table = self._read(corpora, [*MANIFEST_COLUMNS, "content_hash"])
        return table.to_pandas().reset_index(drop=True)

    def known_hashes(self) -> dict[str, str]:
        """``utterance_id -> content_hash`` of everything stored; empty for a new store."""
        if not self.corpora():
            return {}
        table = self._read(None, ["utterance_id", "content_hash"])
        ids, hashes = table.column("utterance_id").to_pylist(), table.column("content_hash").to_pylist()
        return dict(zip(ids, hashes, strict=True))

    def load(self, corpora: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
        """Manifest rows and their float32 feature matrix (row-aligned) for ``corpora``."""
        return split_features(self._read(corpora, [*MANIFEST_COLUMNS, "content_hash", "features"]))

    def failures(self) -> pd.DataFrame:
        """Files the most recent extraction could not turn into features (path and reason)."""
        path = self.path / "failures.parquet"
        if not path.exists():
            return pd.DataFrame(columns=FAILURE_COLUMNS)
        return pd.read_parquet(path)

    # -- writing -------------------------------------------------------------------------------
    def write_shard(self, corpus: str, table: pa.Table, stamp: str, number: int) -> Path:
        return write_table_atomic(table, self.path / corpus / f"part-{stamp}-{number:05d}.parquet")

    def compact(self) -> int:
        """Rewrite each corpus as one shard (superseded rows dropped); returns the number of shards removed.

        The new shard is written (atomically, with a name that sorts last) before the old ones are
        deleted, so an interruption leaves duplicates that reading already resolves, never a loss.
        """
        removed = 0
        stamp = time.strftime("%Y%m%dT%H%M%S") + "-compact"
        for corpus in self.corpora():
            old = self.shard_paths([corpus])
            if len(old) < 2:
                continue
            table = self._read([corpus], [*MANIFEST_COLUMNS, "content_hash", "features"])
            new = self.write_shard(corpus, table.cast(shard_schema(self.dim)), stamp, 0)
            for shard in old:
                if shard != new:
                    shard.unlink()
                    removed += 1
        return removed

    def write_failures(self, failures: pd.DataFrame) -> Path:
        table = pa.Table.from_pandas(failures[FAILURE_COLUMNS].reset_index(drop=True), preserve_index=False)
        return write_table_atomic(table, self.path / "failures.parquet")
