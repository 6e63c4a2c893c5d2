"""A trained model F as one self-describing file: feature set, normaliser, weights, class names.

On disk (``bundle.pt``, written with ``torch.save``, read with ``torch.load(weights_only=True)``)::

    {"format": "distser.model_bundle", "version": 1, "distser_version": "0.1.0",
     "feature_set": "IS10", "classes": ["neutral", "happy", "sad", "angry"],
     "input_dim": 1582, "hidden": [1024, 1024, 512, 512],
     "mean": float32 tensor (input_dim,), "std": float32 tensor (input_dim,),
     "normalization": {"name": "corpus", "adapt_target": True, "min_speaker_rows": 10},
     "source_center": float32 tensor (input_dim,), "source_scale": float32 tensor (input_dim,),
     "state_dict": {"0.weight": (1024, 1582), "0.bias": (1024,), "2.weight": ..., ...},
     "metadata": {"method": "cww", "holdout": "emodb", ...},
     "extractor": {"model": "microsoft/wavlm-base-plus", "family": "wavlm", "layer": 6, "dim": 768,
                   "checksum": "<sha-256 of its weights and config>", "folder": ..., ...}}  # ssl-* sets only

``mean``/``std`` are the final z-normalisation. A model trained with a per-corpus or per-speaker
normalisation (:class:`distser.features.Normalization`) first normalises its inputs by their own
statistics (``adapt``: the clips given together as one corpus, or by speaker) or, not adapted, by
the pooled training rows' (``source_center``/``source_scale``). Version 1 bundles (before
normalisations) read as ``global``.

A model of self-supervised embeddings (feature set ``ssl-<model>-L<layer>``) carries ``extractor``, the
:class:`~distser.features.SSLIdentity` of the checkpoint that made its training embeddings (the store's
``extractor.json``): prediction embeds audio with that very checkpoint (checked by its checksum). The key
is new within version 2: an older distser refuses such a bundle by its feature set, which it does not know.

``state_dict`` is in ``nn.Linear`` layout ``(out, in)`` with the keys of
``nn.Sequential(Linear, ReLU, Linear, ReLU, ..., Linear)``, so plain PyTorch loads it without distser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distser.arrays import EMOTIONS, GroupNormalizer, Normalizer
from distser.features import ADAPTS, MIN_ADAPT_CLIPS, Normalization, SSLIdentity, is_ssl_feature_set
from distser.files import atomic_write

from ._errors import BundleError

FORMAT = "distser.model_bundle"
VERSION = 2
#: Versions this distser reads (1: before normalisations; read as ``global``).
READABLE_VERSIONS = (1, 2)
#: Rows per forward pass in :meth:`ModelBundle.predict_proba`.
CHUNK_ROWS = 4096


@dataclass(eq=False)
class ModelBundle:
    """Everything needed to go from a feature vector to emotion probabilities.

    ``layers`` are ``(weight, bias)`` pairs in ``nn.Linear`` layout (weight ``(out, in)``): the hidden
    layers (each followed by ReLU) and then the output layer. Inference only: no dropout, no decoder.

    Example:
        >>> from distser.learning import EmotionClassifier
        >>> model = EmotionClassifier(88, hidden=(8, 8))
        >>> bundle = ModelBundle.from_classifier(model, np.zeros(88), np.ones(88), "eGeMAPSv02", {"method": "ce"})
        >>> bundle.hidden, bundle.predict_proba(np.zeros((2, 88), np.float32)).shape
        ((8, 8), (2, 4))
    """

    feature_set: str
    classes: tuple[str, ...]
    input_dim: int
    hidden: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    metadata: dict[str, str] = field(default_factory=dict)
    normalization: Normalization = field(default_factory=Normalization)
    source_center: np.ndarray | None = None
    source_scale: np.ndarray | None = None
    extractor: SSLIdentity | None = None  # the checkpoint of an ssl-* feature set's embeddings
    _module: nn.Sequential | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.classes = tuple(str(c) for c in self.classes)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.input_dim = int(self.input_dim)
        self.mean = np.ascontiguousarray(self.mean, dtype=np.float32)
        self.std = np.ascontiguousarray(self.std, dtype=np.float32)
        if self.normalization.grouped and (self.source_center is None or self.source_scale is None):
            raise BundleError(f"a {self.normalization.name!r} model needs its training statistics "
                              "(source_center, source_scale)")
        if self.source_center is not None:
            self.source_center = np.ascontiguousarray(self.source_center, dtype=np.float32)
            self.source_scale = np.ascontiguousarray(self.source_scale, dtype=np.float32)
        self.layers = tuple((w.detach().to(torch.float32).contiguous(), b.detach().to(torch.float32).contiguous())
                            for w, b in self.layers)
        self.metadata = {str(k): str(v) for k, v in self.metadata.items()}
        problems = _shape_problems(self)
        if problems:
            raise BundleError("inconsistent model bundle: " + "; ".join(problems))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_classifier(
        cls,
        model: nn.Module,
        mean: np.ndarray,
        std: np.ndarray,
        feature_set: str,
        metadata: Mapping[str, Any] | None = None,
        classes: Sequence[str] = EMOTIONS,
        *,
        extractor: SSLIdentity | None = None,
    ) -> ModelBundle:
        """Bundle a trained :class:`~distser.learning.EmotionClassifier` with its training normaliser.

        ``mean``/``std`` are the z-score statistics the model's inputs were normalised with
        (:class:`distser.features.Normalizer` fitted on the training portion); ``extractor`` as in
        :meth:`from_state_dict`.
        """
        return cls.from_state_dict(model.state_dict(), mean, std, feature_set, metadata, classes, extractor=extractor)

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        mean: np.ndarray,
        std: np.ndarray,
        feature_set: str,
        metadata: Mapping[str, Any] | None = None,
        classes: Sequence[str] = EMOTIONS,
        *,
        normalization: Normalization | None = None,
        source: tuple[np.ndarray, np.ndarray] | None = None,
        extractor: SSLIdentity | None = None,
    ) -> ModelBundle:
        """Bundle an ``EmotionClassifier`` state dict (e.g. ``TrainResult.state_dict``, ``best_model.pt``).

        Its :class:`~distser.learning._model.Dense` weights are stored ``(in, out)``; they are transposed
        here. The reconstruction decoder (``decoder.*``), if any, is not exported. ``normalization`` and
        ``source`` (the pooled training rows' first-stage center and scale) for a model trained with a
        grouped normalisation (see :meth:`from_normalizer`); ``extractor`` for a self-supervised feature set
        (its store's :attr:`~distser.features.FeatureStore.extractor`).
        """
        hidden_keys = sorted((k for k in state_dict if k.startswith("hidden.") and k.endswith(".weight")),
                             key=lambda k: int(k.split(".")[1]))
        if not hidden_keys or "output.weight" not in state_dict:
            raise BundleError(f"not an EmotionClassifier state dict (keys: {', '.join(list(state_dict)[:6])}, ...)")
        layers = []
        for key in [*hidden_keys, "output.weight"]:
            weight, bias = state_dict[key], state_dict[key[: -len("weight")] + "bias"]
            layers.append((weight.detach().t().contiguous().clone(), bias.detach().clone()))
        from distser.features import FEATURE_SETS

        if feature_set not in FEATURE_SETS and not is_ssl_feature_set(feature_set):
            raise BundleError(f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}, "
                              "or ssl-<model>-L<layer>")
        return cls(
            feature_set=feature_set,
            classes=tuple(classes),
            input_dim=int(layers[0][0].shape[1]),
            hidden=tuple(int(w.shape[0]) for w, _ in layers[:-1]),
            mean=np.asarray(mean),
            std=np.asarray(std),
            layers=tuple(layers),
            metadata=dict(metadata or {}),
            normalization=normalization or Normalization(),
            source_center=None if source is None else source[0],
            source_scale=None if source is None else source[1],
            extractor=extractor,
        )

    @classmethod
    def from_normalizer(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        normalizer: Normalizer | GroupNormalizer,
        normalization: Normalization,
        feature_set: str,
        metadata: Mapping[str, Any] | None = None,
        extractor: SSLIdentity | None = None,
    ) -> ModelBundle:
        """Bundle a state dict with the normaliser its trial trained with (a search's plan normaliser)."""
        if isinstance(normalizer, GroupNormalizer):
            source = (normalizer.center[normalizer.pooled], normalizer.scale[normalizer.pooled])
            final = normalizer.final
        else:
            source, final = None, normalizer
        return cls.from_state_dict(state_dict, final.mean, final.std, feature_set, metadata,
                                   normalization=normalization, source=source, extractor=extractor)

    # ------------------------------------------------------------------ inference
    def to_module(self) -> nn.Sequential:
        """A fresh plain ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` (eval mode) computing the logits."""
        modules: list[nn.Module] = []
        for i, (weight, _) in enumerate(self.layers):
            modules.append(nn.Linear(weight.shape[1], weight.shape[0]))
            if i < len(self.layers) - 1:
                modules.append(nn.ReLU())
        module = nn.Sequential(*modules)
        module.load_state_dict(self.state_dict())
        return module.eval()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights with ``nn.Sequential`` keys (``0.weight``, ``0.bias``, ``2.weight``, ...)."""
        state = {}
        for i, (weight, bias) in enumerate(self.layers):
            state[f"{2 * i}.weight"], state[f"{2 * i}.bias"] = weight, bias
        return state

    @property
    def default_adapt(self) -> str:
        """What :meth:`predict_proba` adapts to unless told: as the model's own targets were in training."""
        grouped = self.normalization.kind != "global" and self.normalization.adapt_target
        return self.normalization.kind if grouped else "none"

    def check_adapt(self, adapt: str, rows: int, speakers: Sequence[Any] | None = None) -> None:
        """ValueError, naming the way out, when ``rows`` clips cannot be adapted to as ``adapt`` says."""
        if adapt not in ADAPTS:
            raise ValueError(f"unknown adaptation {adapt!r}: choose one of {', '.join(ADAPTS)}")
        if adapt == "none":
            return
        if self.normalization.kind == "global":
            raise ValueError(f"this model was trained with {self.normalization.name!r} normalisation: it cannot "
                             f"adapt to its inputs (--adapt {adapt}); use --adapt none")
        if rows < MIN_ADAPT_CLIPS:
            raise ValueError(f"--adapt {adapt} estimates the statistics of the clips given together, and {rows} "
                             f"clip(s) are too few (at least {MIN_ADAPT_CLIPS}); give more clips of the same "
                             "corpus, or use --adapt none (the training statistics)")
        if adapt == "speaker" and speakers is None:
            raise ValueError("--adapt speaker needs each clip's speaker: a CSV manifest with a 'speaker' column "
                             "(or --store, whose manifest has one); or use --adapt corpus")

    def normalize(self, features: np.ndarray, adapt: str = "none",
                  speakers: Sequence[Any] | None = None) -> np.ndarray:
        """The model's input normalisation of raw rows: its first stage (``adapt``), then the z-score.

        ``adapt="none"`` uses the training statistics only (for a ``global`` model, exactly what
        :class:`distser.features.Normalizer` does); ``"corpus"`` normalises the rows given by their own
        statistics, ``"speaker"`` each speaker's rows by theirs (a speaker with fewer than the model's
        ``min_speaker_rows``, or none given, by the rows' statistics), as the search did with its targets.
        """
        features = np.asarray(features, dtype=np.float32)
        self.check_adapt(adapt, len(features), speakers)
        if adapt != "none":
            features = self._adapted(features, adapt, speakers)
        elif self.source_center is not None:
            features = ((features - self.source_center) / self.source_scale).astype(np.float32, copy=False)
        return ((features - self.mean) / self.std).astype(np.float32, copy=False)

    def _adapted(self, features: np.ndarray, adapt: str, speakers: Sequence[Any] | None) -> np.ndarray:
        from distser.features import normalize_target

        kind = Normalization(adapt, self.normalization.robust, True, self.normalization.min_speaker_rows)
        return normalize_target(features, kind, None if speakers is None else np.asarray(speakers, dtype=object))

    def predict_proba(self, features: np.ndarray, adapt: str = "none",
                      speakers: Sequence[Any] | None = None) -> np.ndarray:
        """Class probabilities ``(n, len(classes))`` of raw (not yet normalised) feature rows.

        ``adapt`` and ``speakers`` as in :meth:`normalize`: with an adaptation the rows are normalised
        together (the statistics of all of them), so give every clip of a corpus in one call.
        """
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.input_dim:
            raise ValueError(f"expected features of shape (n, {self.input_dim}) ({self.feature_set}), "
                             f"got {features.shape}")
        if self._module is None:
            self._module = self.to_module()
        normalized = self.normalize(features, adapt, speakers)
        out = np.empty((len(features), len(self.classes)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(features), CHUNK_ROWS):
                x = torch.from_numpy(np.ascontiguousarray(normalized[start:start + CHUNK_ROWS]))
                out[start:start + len(x)] = torch.softmax(self._module(x), dim=1).numpy()
        return out

    # ------------------------------------------------------------------ files
    def to_payload(self) -> dict[str, Any]:
        """The on-disk dict: tensors and plain values only (what ``weights_only=True`` loads)."""
        from distser import __version__

        return {
            "format": FORMAT,
            "version": VERSION,
            "distser_version": __version__,
            "feature_set": self.feature_set,
            "classes": list(self.classes),
            "input_dim": self.input_dim,
            "hidden": list(self.hidden),
            "mean": torch.from_numpy(self.mean.copy()),
            "std": torch.from_numpy(self.std.copy()),
            "normalization": {"name": self.normalization.name, "adapt_target": self.normalization.adapt_target,
                              "min_speaker_rows": self.normalization.min_speaker_rows},
            **({} if self.source_center is None else {"source_center": torch.from_numpy(self.source_center.copy()),
                                                     "source_scale": torch.from_numpy(self.source_scale.copy())}),
            "state_dict": self.state_dict(),
            "metadata": dict(self.metadata),
            **({} if self.extractor is None else {"extractor": self.extractor.to_dict()}),
        }

    def save(self, path: str | Path) -> Path:
        """Write the bundle to ``path`` atomically (temporary file in the same folder, then a rename)."""
        path = Path(path)
        with atomic_write(path) as stream:
            torch.save(self.to_payload(), stream)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """Read a bundle written by :meth:`save`; a wrong, foreign or damaged file is a BundleError naming it."""
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: model bundle not found")
        try:
            # weights_only: tensors and plain values only, so loading runs no pickled code.
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise BundleError(f"{path}: not a readable model bundle ({type(error).__name__}: {error})") from error
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise BundleError(f"{path}: not a distser model bundle (format {found!r}, expected {FORMAT!r})")
        if payload.get("version") not in READABLE_VERSIONS:
            raise BundleError(f"{path}: model bundle version {payload.get('version')!r} is not supported "
                              f"(this distser reads versions {', '.join(map(str, READABLE_VERSIONS))})")
        missing = [k for k in ("feature_set", "classes", "input_dim", "hidden", "mean", "std", "state_dict")
                   if k not in payload]
        if missing:
            raise BundleError(f"{path}: model bundle lacks {', '.join(missing)}")
        state = payload["state_dict"]
        n_layers = len(payload["hidden"]) + 1
        keys = [f"{2 * i}.{part}" for i in range(n_layers) for part in ("weight", "bias")]
        if sorted(state) != sorted(keys):
            raise BundleError(f"{path}: weights {sorted(state)} do not match hidden sizes {payload['hidden']}")
        try:
            return cls(
                feature_set=payload["feature_set"],
                classes=tuple(payload["classes"]),
                input_dim=payload["input_dim"],
                hidden=tuple(payload["hidden"]),
                mean=payload["mean"].numpy(),
                std=payload["std"].numpy(),
                layers=tuple((state[f"{2 * i}.weight"], state[f"{2 * i}.bias"]) for i in range(n_layers)),
                metadata=dict(payload.get("metadata", {})),
                normalization=_normalization(payload.get("normalization")),
                source_center=_array(payload.get("source_center")),
                source_scale=_array(payload.get("source_scale")),
                extractor=_extractor(payload.get("extractor")),
            )
        except (BundleError, ValueError) as error:
            raise BundleError(f"{path}: {error}") from None


def _normalization(recorded: Mapping[str, Any] | None) -> Normalization:
    if recorded is None:  # a version 1 bundle
        return Normalization()
    return Normalization.parse(str(recorded["name"]), adapt_target=bool(recorded["adapt_target"]),
                               min_speaker_rows=int(recorded["min_speaker_rows"]))


def _extractor(recorded: Mapping[str, Any] | None) -> SSLIdentity | None:
    """The bundle's extractor (the caller names the file in errors)."""
    if recorded is None:  # an openSMILE set's bundle (or one written before self-supervised sets)
        return None
    if not isinstance(recorded, Mapping):
        raise BundleError(f"extractor {recorded!r} is not an extractor identity")
    return SSLIdentity.from_dict(dict(recorded), "extractor")


def _array(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.numpy()


def _shape_problems(bundle: ModelBundle) -> list[str]:
    from distser.features import FEATURE_SETS

    problems = []
    extractor = bundle.extractor
    if is_ssl_feature_set(bundle.feature_set):
        if extractor is None:
            problems.append(f"{bundle.feature_set} embeddings, but no extractor identity (which checkpoint made them)")
        elif extractor.dim != bundle.input_dim:
            problems.append(f"its extractor {extractor.describe()} makes {extractor.dim} values, "
                            f"but input_dim is {bundle.input_dim}")
    elif bundle.feature_set not in FEATURE_SETS:
        problems.append(f"unknown feature set {bundle.feature_set!r}")
    elif FEATURE_SETS[bundle.feature_set] != bundle.input_dim:
        problems.append(f"{bundle.feature_set} has {FEATURE_SETS[bundle.feature_set]} features, "
                        f"but input_dim is {bundle.input_dim}")
    elif extractor is not None:
        problems.append(f"an openSMILE set ({bundle.feature_set}) with a self-supervised extractor")
    if not bundle.classes or len(set(bundle.classes)) != len(bundle.classes):
        problems.append(f"classes {bundle.classes} must be distinct and non-empty")
    stages = ("mean", "std") + (("source_center", "source_scale") if bundle.source_center is not None else ())
    for name in stages:
        value = getattr(bundle, name)
        if value.shape != (bundle.input_dim,):
            problems.append(f"{name} has shape {value.shape}, expected ({bundle.input_dim},)")
        elif not np.isfinite(value).all():
            problems.append(f"{name} has non-finite values")
    if bundle.std.shape == (bundle.input_dim,) and (bundle.std <= 0).any():
        problems.append("std has values <= 0")
    sizes = [bundle.input_dim, *bundle.hidden, len(bundle.classes)]
    if len(bundle.layers) != len(sizes) - 1:
        problems.append(f"{len(bundle.layers)} layers for hidden sizes {bundle.hidden}")
    else:
        for i, ((weight, bias), n_in, n_out) in enumerate(zip(bundle.layers, sizes[:-1], sizes[1:], strict=True)):
            if tuple(weight.shape) != (n_out, n_in) or tuple(bias.shape) != (n_out,):
                problems.append(f"layer {i}: weight {tuple(weight.shape)} and bias {tuple(bias.shape)}, "
                                f"expected ({n_out}, {n_in}) and ({n_out},)")
    return problems
