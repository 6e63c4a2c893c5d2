"""The Parquet feature store: shards on disk <-> manifest frames and float32 arrays.

Layout::

    <root>/<feature_set>/<corpus>/part-<stamp>-<n>.parquet   one row per utterance
    <root>/<feature_set>/failures.parquet                    files the last extraction could not read

Each shard holds every manifest column, ``content_hash`` and a fixed-size ``features`` list column.
Shards are written under a temporary name and renamed, so a killed run never leaves half a shard.
When an utterance appears in several shards (its audio changed and was extracted again), the shard
whose name sorts last wins.

Integrity: every file is written with Parquet's page checksums (CRC-32 of each page) and a *seal*
in the file's key-value metadata (key :data:`SEAL_KEY`): the row count and a SHA-256 digest of each
column's decoded content. :func:`read_shard`, the one reader every path goes through, verifies
both and raises :class:`ShardError` naming the file. Shards written before seals existed still read
(their page CRCs, if any, are verified); ``python -m distser.features info`` counts them and
``compact`` rewrites them sealed. Features are also checked finite when read
(:func:`check_finite`): a sealed shard can still hold NaN if it was written with NaN in it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from distser.corpora import MANIFEST_COLUMNS
from distser.files import atomic_write

from ._audio import FEATURE_SETS, check_feature_set
from ._ssl_identity import SSLIdentity, identity_metadata, is_ssl_feature_set, stored_dim, stored_identity

#: Most rows per shard: a shard is one block in memory (~52 MB of IS10 features), read in one piece.
SHARD_ROWS = 8192
#: Most feature bytes per shard: a reading task holds its shard a few times over (Parquet pages, Arrow
#: columns, the float32 block), so wide sets get fewer rows: 8192 rows of ComParE_2016 (209 MB) made two
#: concurrent reads of a synthetic store hold 2 GB. IS10, eGeMAPSv02 and emobase keep SHARD_ROWS.
SHARD_BYTES = 64 * 2**20


def shard_rows(dim: int) -> int:
    """Rows per written shard of ``dim`` float32 features: :data:`SHARD_ROWS`, fewer if over :data:`SHARD_BYTES`."""
    return max(1, min(SHARD_ROWS, SHARD_BYTES // (4 * max(dim, 1))))

FAILURE_COLUMNS = ["utterance_id", "corpus", "path", "reason"]

#: Key of the seal in a shard's Parquet key-value metadata (JSON: format, rows, column digests).
SEAL_KEY = "distser.seal"
_SEAL_FORMAT = "sha256-128/1"

# Why both layers (measured by XOR-ing one byte at a time into a sealed 300 x 1582 shard, 2.5 MB,
# 31 pages: all 955 page-header bytes, 1,000 page-body and 1,000 footer offsets):
# - page bodies: 943 caught by the page CRC, 57 fail to decode anyway; none read through. Without
#   CRCs such damage reads as different numbers (1,133 feature values from one 4 KB overwrite).
# - page headers (not covered by the CRC): 712 fail to decode, 86 end in a CRC mismatch, 157 read back
#   identical values; none read wrong values.
# - footer (not covered by the CRC): 663 fail to decode, 98 harmless, 224 damage the seal itself
#   (refused: the file can no longer be verified), and 15 decode without any Parquet error into a
#   different table: 14 caught only by the digest (a renamed column, string -> binary), 1 by the
#   features width check. Over every footer byte (3 masks, 14,154 flips), 291 decode into a different
#   table with valid CRCs (233 renamed columns, 20 string -> binary, 38 features-type changes).
# - 200 random 4 KB overwrites: 133 CRC, 67 decode errors.
# A file rewritten by plain pyarrow after an edit gets fresh, valid CRCs but keeps the stale seal:
# only the digest notices. The digest is SHA-256 (hardware-accelerated, 2.4x faster than BLAKE2b
# here: 0.07 s per 127 MB of features) truncated to 128 bits.


class ShardError(ValueError):
    """A feature shard cannot be trusted: unreadable, truncated, checksum mismatch, wrong schema.

    The message always names the file.
    """


def shard_schema(dim: int) -> pa.Schema:
    """Arrow schema of a shard: fixed, so shards of any corpus concatenate."""
    fields = [pa.field(c, pa.float64() if c.startswith("vote_") else pa.string()) for c in MANIFEST_COLUMNS]
    fields += [pa.field("content_hash", pa.string()), pa.field("features", pa.list_(pa.float32(), dim))]
    return pa.schema(fields)


# -- content digests -------------------------------------------------------------------------------
def _column_digest(column: pa.Array | pa.ChunkedArray) -> str:
    """SHA-256 (128 bits) of a column's logical content: independent of chunking, slicing and Parquet encoding."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    digest = hashlib.sha256()
    digest.update(f"{_type_name(array.type)}|{len(array)}|{array.null_count}|".encode())
    if array.null_count:
        digest.update(np.packbits(array.is_null().to_numpy(zero_copy_only=False)).tobytes())
    _update_digest(digest, array)
    return digest.hexdigest()[:32]


def _type_name(kind: pa.DataType) -> str:
    """The type without list field names (Arrow says ``item``, Parquet readers ``element``)."""
    if pa.types.is_fixed_size_list(kind):
        return f"fixed_size_list<{_type_name(kind.value_type)}>[{kind.list_size}]"
    return str(kind)


def _update_digest(digest, array: pa.Array) -> None:
    kind = array.type
    if len(array) == 0:
        return
    if pa.types.is_fixed_size_list(kind):
        size = kind.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        digest.update(f"{values.null_count}|".encode())
        if values.null_count:
            digest.update(np.packbits(values.is_null().to_numpy(zero_copy_only=False)).tobytes())
        _update_digest(digest, values)
    elif pa.types.is_floating(kind) or pa.types.is_integer(kind):
        # Nulls are hashed by the mask above; to_numpy turns them into NaN (floats), a fixed value.
        digest.update(np.ascontiguousarray(array.to_numpy(zero_copy_only=False)).view(np.uint8))
    elif pa.types.is_string(kind) or pa.types.is_binary(kind):
        filled = array.fill_null("") if array.null_count else array
        offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32, count=len(filled) + 1,
                                offset=filled.offset * 4)
        start, end = int(offsets[0]), int(offsets[-1])
        digest.update((offsets - offsets[0]).tobytes())
        data = filled.buffers()[2]
        if data is not None and end > start:
            digest.update(memoryview(data)[start:end])
    else:  # not a shard column type; slow but canonical
        digest.update(repr(array.to_pylist()).encode())


def _seal(table: pa.Table) -> dict:
    return {"format": _SEAL_FORMAT, "rows": table.num_rows,
            "columns": {name: _column_digest(table.column(name)) for name in table.column_names}}


def _read_seal(file: pq.ParquetFile, path: Path) -> dict | None:
    """The seal of an open file, None for an unsealed (older) one; ShardError if it is damaged.

    pyarrow keeps two copies of the key: the Parquet key-value entry and the one inside the
    serialized Arrow schema. Either one makes the file sealed (a damaged key name must not turn a
    sealed shard into an "old, unverified" one); both present and different is damage.
    """
    key = SEAL_KEY.encode()
    copies = {raw for raw in ((file.metadata.metadata or {}).get(key), (file.schema_arrow.metadata or {}).get(key))
              if raw is not None}
    if not copies:
        return None
    try:
        if len(copies) > 1:
            raise ValueError("its two copies differ")
        seal = json.loads(copies.pop())
        if seal["format"] != _SEAL_FORMAT or not isinstance(seal["columns"], dict):
            raise ValueError(f"format {seal['format']!r}")
        int(seal["rows"])
    except (ValueError, KeyError, TypeError) as error:
        raise ShardError(f"feature shard {path}: its checksum record ({SEAL_KEY}) is damaged or of an "
                         f"unknown format ({error}); the file cannot be verified") from None
    return seal


def is_sealed(path: str | Path) -> bool:
    """Whether a shard carries a content checksum (reads the footer only); ShardError if unreadable."""
    path = Path(path)
    with _open(path) as file:
        return _read_seal(file, path) is not None


# -- writing -----------------------------------------------------------------------------------------
def write_table_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets Parquet page checksums and a seal (row count + per-column content digests) that
    :func:`read_shard` verifies. See :func:`~distser.files.atomic_write` (the file's permissions follow
    the umask, so a shared store stays readable to the group).
    """
    path = Path(path)
    metadata = {**(table.schema.metadata or {}), SEAL_KEY.encode(): json.dumps(_seal(table)).encode()}
    with atomic_write(path) as stream:
        pq.write_table(table.replace_schema_metadata(metadata), stream, write_page_checksum=True)
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


# -- reading -----------------------------------------------------------------------------------------
def _open(path: Path) -> pq.ParquetFile:
    try:
        file = pq.ParquetFile(path, page_checksum_verification=True)
        file.schema_arrow  # noqa: B018 - decodes the Arrow schema, which a damaged footer may break
        return file
    except FileNotFoundError:
        raise ShardError(f"feature shard {path} does not exist (removed while being read?)") from None
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a bad footer
        raise ShardError(f"feature shard {path} is not a readable Parquet file (truncated or damaged: "
                         f"{error}); delete it and extract its corpus again") from None


def read_shard(path: str | Path, columns: Sequence[str] | None = None, *, dim: int | None = None) -> pa.Table:
    """Read a shard (or any file written by :func:`write_table_atomic`), verified, or raise ShardError.

    Verifies the Parquet page checksums, the requested columns' presence (and the ``features``
    width when ``dim`` is given) and, for sealed files, the row count and the content digest of every
    column read; an unsealed (older) file is read with whatever page checksums it has. A plain
    function of the path: safe to call from any process (Ray workers included).

    Example:
        >>> table = read_shard("features/IS10/emodb/part-20250101T000000-1-00000.parquet",
        ...                    ["utterance_id", "features"], dim=1582)  # doctest: +SKIP
    """
    path = Path(path)
    with _open(path) as file:
        return _verified_read(file, path, columns, dim)


def _verified_read(file: pq.ParquetFile, path: Path, columns: Sequence[str] | None, dim: int | None) -> pa.Table:
    names = file.schema_arrow.names
    wanted = list(names) if columns is None else list(columns)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ShardError(f"feature shard {path} lacks column(s) {missing}; it has {names}")
    if dim is not None and "features" in wanted:
        kind = file.schema_arrow.field("features").type
        if kind != pa.list_(pa.float32(), dim):
            raise ShardError(f"feature shard {path}: features are {kind}, expected {dim} float32 values "
                             "per utterance (a shard of another feature set?)")
    seal = _read_seal(file, path)
    if seal is not None and int(seal["rows"]) != file.metadata.num_rows:
        raise ShardError(f"feature shard {path}: footer says {file.metadata.num_rows} rows, its checksum "
                         f"record {seal['rows']}: the file is damaged")
    try:
        table = file.read(columns=wanted)
    except Exception as error:  # CRC mismatch ("CRC checksum verification failed"), decoding errors
        raise ShardError(f"feature shard {path} is damaged: {error}; delete it and extract its corpus "
                         "again") from None
    if seal is not None:
        if table.num_rows != int(seal["rows"]):
            raise ShardError(f"feature shard {path}: read {table.num_rows} rows, written {seal['rows']}: "
                             "the file is damaged")
        for name in wanted:
            expected = seal["columns"].get(name)
            if expected is None or _column_digest(table.column(name)) != expected:
                raise ShardError(f"feature shard {path}: checksum mismatch in column {name!r} (content "
                                 "changed after it was written: damaged disk or copy, or edited outside "
                                 "distser); delete it and extract its corpus again")
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != SEAL_KEY.encode()}
    return table.replace_schema_metadata(metadata or None)


# -- rows -> arrays ----------------------------------------------------------------------------------
def latest(utterance_ids: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
    """Which rows are the utterances (a mask): the last row of each id, rows in shard order.

    The one rule of the store: a later shard supersedes an earlier one (re-extraction of changed audio,
    or a ``compact`` interrupted between writing its shards and deleting the old ones).
    """
    return ~pd.Series(utterance_ids).duplicated(keep="last").to_numpy()


def latest_rows(table: pa.Table) -> pa.Table:
    """Keep the :func:`latest` row of each utterance."""
    keep = latest(table.column("utterance_id").to_pandas())
    return table if keep.all() else table.filter(pa.array(keep))


def check_finite(frame: pd.DataFrame, features: np.ndarray,
                 where: str | Path | Callable[[str], str | Path | None] | None = None) -> None:
    """ValueError unless every feature value is finite; names corpus, first utterance, counts, file.

    ``frame`` is row-aligned with ``features`` (``utterance_id`` and ``corpus`` columns); ``where``
    is the shard file, or a function ``utterance_id -> shard file`` (only called on failure).
    The check is one pass of ``np.isfinite`` in blocks of rows; details are computed on failure only.
    """
    block = 1 << 14
    if all(np.isfinite(features[i:i + block]).all() for i in range(0, len(features), block)):
        return
    bad = ~np.isfinite(features)
    per_row = bad.sum(axis=1)
    rows = np.flatnonzero(per_row)
    ids = frame["utterance_id"].to_numpy(dtype=object)
    corpora = frame["corpus"].to_numpy(dtype=object) if "corpus" in frame else np.full(len(frame), None)
    first = int(rows[0])
    parts = []
    for corpus in dict.fromkeys(corpora[rows]):
        mine = rows[corpora[rows] == corpus]
        parts.append(f"corpus {corpus!r}: {len(mine)} utterance(s) with {int(per_row[mine].sum())} "
                     f"non-finite feature value(s) (of {len(mine) * features.shape[1]})")
    column = int(np.flatnonzero(bad[first])[0])
    shard = where(ids[first]) if callable(where) else where
    raise ValueError(
        f"non-finite features (NaN or inf): {'; '.join(parts)}; first {ids[first]!r}, feature "
        f"{column} = {features[first, column]}" + (f", in shard {shard}" if shard else "")
        + ". Extraction never writes such values: the store was edited or damaged; delete the shard "
        "and extract the corpus again"
    )


def split_features(table: pa.Table,
                   where: str | Path | Callable[[str], str | Path | None] | None = None,
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """A shard table as (manifest frame, row-aligned float32 feature matrix); non-finite -> ValueError.

    ``where`` names the shard(s) in the error, as in :func:`check_finite`.
    """
    vectors = table.column("features").combine_chunks()
    features = vectors.flatten().to_numpy(zero_copy_only=False).reshape(len(table), vectors.type.list_size)
    frame = table.drop_columns(["features"]).to_pandas().reset_index(drop=True)
    features = features.astype(np.float32, copy=False)
    check_finite(frame, features, where)
    return frame, features


def feature_sets_in(root: str | Path) -> list[str]:
    """The feature sets a store folder holds shards of: openSMILE ones in :data:`FEATURE_SETS`' order, then
    self-supervised ones (``ssl-<model>-L<layer>``) by name. Reads folder names only.

    Example:
        >>> from distser.features import write_synthetic
        >>> store = write_synthetic(str(getfixture("tmp_path")), scale=0.01, feature_set="eGeMAPSv02")
        >>> feature_sets_in(store.root)
        ['eGeMAPSv02']
    """
    root = Path(root)
    if not root.is_dir():
        return []
    names = {p.name for p in root.iterdir() if p.is_dir() and (p.name in FEATURE_SETS or is_ssl_feature_set(p.name))}
    found = [name for name in [*FEATURE_SETS, *sorted(n for n in names if n not in FEATURE_SETS)] if name in names]
    return [name for name in found if any((root / name).glob("*/part-*.parquet"))]


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
        self.feature_set = feature_set if is_ssl_feature_set(feature_set) else check_feature_set(feature_set)
        self.path = self.root / feature_set

    @property
    def dim(self) -> int:
        if is_ssl_feature_set(self.feature_set):  # the model's width, from the folder's extractor identity
            return stored_dim(self.path)
        return FEATURE_SETS[self.feature_set]

    @property
    def extractor(self) -> SSLIdentity | None:
        """Who made a self-supervised set's embeddings (its folder's ``extractor.json``); None for openSMILE sets."""
        return stored_identity(self.path) if is_ssl_feature_set(self.feature_set) else None

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

    def unverified_shards(self) -> list[Path]:
        """Shards without a content checksum (written before seals existed); ``compact`` seals them."""
        return [shard for shard in self.shard_paths() if not is_sealed(shard)]

    # -- reading -------------------------------------------------------------------------------
    def _read_shards(self, corpora: list[str] | None, columns: list[str]) -> tuple[list[Path], list[pa.Table]]:
        shards = self.shard_paths(corpora)
        if not shards:
            raise FileNotFoundError(f"no feature shards under {self.path}")
        return shards, [read_shard(shard, columns, dim=self.dim) for shard in shards]

    def _read(self, corpora: list[str] | None, columns: list[str]) -> pa.Table:
        return latest_rows(pa.concat_tables(self._read_shards(corpora, columns)[1]))

    def _read_features(self, corpora: list[str] | None) -> tuple[pd.DataFrame, np.ndarray]:
        shards, tables = self._read_shards(corpora, [*MANIFEST_COLUMNS, "content_hash", "features"])

        def shard_of(utterance: str) -> Path | None:  # the shard whose row won: the last holding it
            return next((shard for shard, table in zip(reversed(shards), reversed(tables), strict=True)
                         if pc.any(pc.equal(table.column("utterance_id"), utterance)).as_py()), None)

        return split_features(latest_rows(pa.concat_tables(tables)), where=shard_of)

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
        """Manifest rows and their float32 feature matrix (row-aligned) for ``corpora``.

        Every shard is verified (:func:`read_shard`) and the features checked finite
        (:func:`check_finite`); either failure raises a ValueError naming the file.
        """
        return self._read_features(corpora)

    def failures(self) -> pd.DataFrame:
        """Files the most recent extraction could not turn into features (path and reason)."""
        path = self.path / "failures.parquet"
        if not path.exists():
            return pd.DataFrame(columns=FAILURE_COLUMNS)
        return read_shard(path, FAILURE_COLUMNS).to_pandas()

    # -- writing -------------------------------------------------------------------------------
    def write_shard(self, corpus: str, table: pa.Table, stamp: str, number: int) -> Path:
        if is_ssl_feature_set(self.feature_set):  # every shard, compacted ones too, names its extractor
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **identity_metadata(self.path)})
        return write_table_atomic(table, self.path / corpus / f"part-{stamp}-{number:05d}.parquet")

    def compact(self) -> int:
        """Rewrite each corpus as few sealed shards of at most :func:`shard_rows` rows; returns shards removed.

        A corpus already in one sealed shard (of at most that many rows) is left alone; any other is
        read verified, checked finite and rewritten. The new shards are written (atomically, with names
        that sort last) before the old ones are deleted, so an interruption leaves duplicates that
        reading already resolves, never a loss.
        """
        removed = 0
        stamp = time.strftime("%Y%m%dT%H%M%S") + "-compact"
        rows_per_shard = shard_rows(self.dim)
        for corpus in self.corpora():
            old = self.shard_paths([corpus])
            if len(old) == 1 and is_sealed(old[0]) and pq.ParquetFile(old[0]).metadata.num_rows <= rows_per_shard:
                continue
            frame, features = self._read_features([corpus])
            new = set()
            for start in range(0, len(frame), rows_per_shard):
                part = frame.iloc[start:start + rows_per_shard].reset_index(drop=True)
                table = shard_table(part, features[start:start + rows_per_shard], part["content_hash"])
                new.add(self.write_shard(corpus, table, stamp, start // rows_per_shard))
            for shard in old:
                if shard not in new:
                    shard.unlink()
                    removed += 1
        return removed

    def write_failures(self, failures: pd.DataFrame) -> Path:
        table = pa.Table.from_pandas(failures[FAILURE_COLUMNS].reset_index(drop=True), preserve_index=False)
        return write_table_atomic(table, self.path / "failures.parquet")
