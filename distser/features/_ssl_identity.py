"""Who made a store's self-supervised embeddings: the checkpoint, its layer, a checksum of its files.

An SSL feature set lives in ``<root>/ssl-<model>-L<layer>/`` beside the openSMILE ones. Unlike those,
its width is the model's (768 for a base model, 1024 for a large one), so the folder carries
:data:`IDENTITY_FILE`, the :class:`SSLIdentity` of the extractor that wrote it, and every shard
repeats it in its Parquet key-value metadata (key :data:`IDENTITY_KEY`). Extraction refuses a folder
whose identity differs (another checkpoint under the same folder name, another revision in a node's
hub cache): two models' embeddings never mix. Light on purpose: no torch, no transformers, so the
store can read a folder's width without them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from distser.files import atomic_write

#: Prefix of every SSL feature set's name (and folder): ``ssl-<model>-L<layer>``.
SSL_PREFIX = "ssl-"
#: The extractor's identity, beside the corpora folders of an SSL feature set.
IDENTITY_FILE = "extractor.json"
#: Key of the same identity in each shard's Parquet key-value metadata.
IDENTITY_KEY = "distser.extractor"
#: Files of a checkpoint whose content decides its embeddings: weights, architecture, preprocessing.
CHECKSUMMED = ("*.safetensors", "*.bin", "config.json", "preprocessor_config.json")
#: Model families whose embeddings are tested: ``config.json``'s ``model_type``.
FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper")

Layer = int | str  # a hidden layer (0: the input to the first transformer layer) or "mean" of all of them


def is_ssl_feature_set(name: str) -> bool:
    return name.startswith(SSL_PREFIX)


def parse_layer(value: str | int) -> Layer:
    """``"mean"`` or a non-negative layer number; ValueError otherwise."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    if value == "mean":
        return "mean"
    raise ValueError(f"--layer {value!r}: give a hidden layer number (0, 1, ...) or 'mean'")


@dataclass(frozen=True)
class SSLIdentity:
    """What decides a store's embeddings (``model``, the name the user gave, is only a label)."""

    model: str  # hub id or folder, as given
    family: str  # config.json's model_type: wavlm, hubert, wav2vec2, whisper
    layer: Layer
    layers: int  # transformer layers of the model (hidden states 0..layers)
    dim: int
    checksum: str  # SHA-256 over CHECKSUMMED files (names and bytes)
    pooling: str = "mean over time"
    sampling_rate: int = 16000
    # Where the checkpoint was found when the embeddings were made (a hub id's snapshot in the cache, or the
    # folder given, resolved): where `distser predict` looks for it again. A location, not part of the identity.
    folder: str = ""

    @property
    def feature_set(self) -> str:
        """The folder name: ``ssl-<last part of the model name>-L<layer>``, e.g. ``ssl-wavlm-base-plus-L6``."""
        base = re.sub(r"[^a-z0-9._-]+", "-", Path(self.model.rstrip("/")).name.lower()).strip("-.") or "model"
        return f"{SSL_PREFIX}{base}-L{self.layer}"

    def same_embeddings(self, other: SSLIdentity) -> bool:
        """Whether ``other`` computes the same vectors (the name and the folder may differ)."""
        return (asdict(self) | {"model": "", "folder": ""}) == (asdict(other) | {"model": "", "folder": ""})

    def describe(self) -> str:
        return f"{self.model} ({self.family}, layer {self.layer}, {self.dim} dims, checksum {self.checksum[:12]})"

    def to_dict(self) -> dict[str, str | int]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, where: str | Path) -> SSLIdentity:
        """The identity :meth:`to_dict` wrote (one without ``folder``, from before it was recorded, too)."""
        try:
            return cls(**{**data, "layer": parse_layer(data["layer"])})
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{where}: not a readable extractor identity ({error})") from None

    @classmethod
    def from_json(cls, text: str | bytes, where: str | Path) -> SSLIdentity:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError(f"{where}: not a readable extractor identity ({error})") from None
        return cls.from_dict(data, where)


def checkpoint_checksum(folder: str | Path) -> str:
    """SHA-256 of a checkpoint's weights, config and preprocessing files (ValueError if it has no weights)."""
    folder = Path(folder)
    files = sorted({path for pattern in CHECKSUMMED for path in folder.glob(pattern) if path.is_file()})
    if not any(path.suffix in (".safetensors", ".bin") for path in files):
        raise ValueError(f"model folder {folder} has no weights (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0".encode())
        with open(path, "rb") as stream:  # hub caches link to blobs: open() follows
            for chunk in iter(lambda: stream.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint_config(folder: str | Path) -> tuple[str, int, int]:
    """``(family, layers, dim)`` from a checkpoint's ``config.json``; ValueError for other families."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ValueError(f"model folder {folder} has no config.json")
    config = json.loads(path.read_text())
    family = config.get("model_type")
    if family not in FAMILIES:
        raise ValueError(f"{path}: model_type {family!r} is not a supported speech model; "
                         f"supported: {', '.join(FAMILIES)}")
    if family == "whisper":  # the encoder of an encoder-decoder model
        return family, int(config["encoder_layers"]), int(config["d_model"])
    return family, int(config["num_hidden_layers"]), int(config["hidden_size"])


def stored_identity(folder: str | Path) -> SSLIdentity | None:
    """The identity of an SSL feature set's folder, None if it has none (a new folder)."""
    path = Path(folder) / IDENTITY_FILE
    if not path.is_file():
        return None
    return SSLIdentity.from_json(path.read_text(), path)


def stored_dim(folder: str | Path) -> int:
    """The embedding width of an SSL feature set's folder (FileNotFoundError if it has no identity)."""
    identity = stored_identity(folder)
    if identity is None:
        raise FileNotFoundError(f"{Path(folder) / IDENTITY_FILE} not found: {folder} holds no embeddings of "
                                "`distser extract --feature-set ssl`")
    return identity.dim


def identity_metadata(folder: str | Path) -> dict[bytes, bytes]:
    """The Parquet key-value metadata every shard of an SSL feature set's folder carries."""
    identity = stored_identity(folder)
    if identity is None:
        raise FileNotFoundError(f"{Path(folder) / IDENTITY_FILE} not found: a shard of {folder} would not say "
                                "which model made it")
    return {IDENTITY_KEY.encode(): identity.to_json().encode()}


def claim_folder(folder: str | Path, identity: SSLIdentity, shard_identities: dict[Path, str | None]) -> None:
    """Make ``folder`` the home of ``identity``'s embeddings, or raise ValueError naming both models.

    ``shard_identities`` maps each shard already in the folder to the identity in its metadata (None
    if absent): a folder with shards but no identity file, or shards of another model, is refused too.
    """
    folder = Path(folder)
    stored = stored_identity(folder)
    if stored is not None and not stored.same_embeddings(identity):
        raise ValueError(f"{folder} holds embeddings of {stored.describe()}; this extraction uses "
                         f"{identity.describe()}. Extract into another --store, or delete {folder}")
    for shard, text in shard_identities.items():
        theirs = SSLIdentity.from_json(text, shard) if text else None
        if theirs is None or not theirs.same_embeddings(identity):
            made_by = theirs.describe() if theirs else "an unknown extractor (no identity in its metadata)"
            raise ValueError(f"shard {shard} holds embeddings of {made_by}; this extraction uses "
                             f"{identity.describe()}. Extract into another --store, or delete {folder}")
    if stored is None:
        with atomic_write(folder / IDENTITY_FILE, "w") as stream:
            stream.write(identity.to_json() + "\n")
