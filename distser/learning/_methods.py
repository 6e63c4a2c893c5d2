"""Training methods named like the rows of the paper's Table 2, and their hyperparameters.

A method is a ``+``-joined list of components, e.g. ``"cww+pel-al"``. Components:

``ce``       plain class-weighted cross-entropy, eq. (1) (the base of every method; ``ce+X`` == ``X``)
``cww``      corpus-wise weights, eq. (2)-(3)
``pel-nl``   pseudo-emotion labels "neutral" on the unlabeled corpus, eq. (4)
``pel-al``   pseudo-emotion labels "all ones" on the unlabeled corpus, eq. (4) (alias ``pel``)
``unsup``    reconstruction branch on the second hidden layer, trained with MSE [12]
``soft``     annotator vote distributions as targets [16]
``ls``       uniform label smoothing [17]
``unigram``  label smoothing towards the training-set class prior [17]
``focal``    multi-class focal loss [18]
``cp``       confidence penalty (entropy bonus) [20]
``merged``   all training corpora merged into one corpus (Fig. 2, dashed line)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Every component accepted by :func:`parse_method` (aliases excluded).
COMPONENTS: tuple[str, ...] = (
    "ce",
    "cww",
    "pel-nl",
    "pel-al",
    "unsup",
    "soft",
    "ls",
    "unigram",
    "focal",
    "cp",
    "merged",
)

#: Alternative spellings, resolved per component before validation.
ALIASES: dict[str, str] = {"pel": "pel-al"}

#: The out-of-corpus rows of Table 2, in the paper's order (canonical names).
TABLE2_METHODS: tuple[str, ...] = (
    "ce",
    "unsup",
    "soft",
    "ls",
    "unigram",
    "focal",
    "cp",
    "pel-nl",
    "pel-al",
    "cww",
    "cww+unsup",
    "cww+unigram",
    "cww+pel-al",
)

# Groups of components of which at most one may be used: each group sets the same "slot" of the loss.
_EXCLUSIVE: tuple[frozenset[str], ...] = (
    frozenset({"pel-nl", "pel-al"}),  # one pseudo-label vector for the unlabeled corpus
    frozenset({"soft", "ls", "unigram"}),  # one kind of target for labeled samples
    frozenset({"merged", "cww"}),  # merging leaves one corpus: there is nothing to weight
)

Targets = Literal["hard", "soft", "ls", "unigram"]


@dataclass(frozen=True)
class Method:
    """Which loss terms and data handling one training run uses (see :func:`parse_method`).

    Example:
        >>> m = parse_method("cww+pel")
        >>> m.cww, m.pel, m.name
        (True, 'al', 'cww+pel-al')
    """

    cww: bool = False
    pel: Literal["nl", "al"] | None = None
    unsup: bool = False
    targets: Targets = "hard"
    focal: bool = False
    cp: bool = False
    merged: bool = False

    @property
    def name(self) -> str:
        """Canonical name: components in a fixed order; ``"ce"`` when nothing is added."""
        parts = []
        if self.merged:
            parts.append("merged")
        if self.cww:
            parts.append("cww")
        if self.targets != "hard":
            parts.append(self.targets)
        if self.focal:
            parts.append("focal")
        if self.cp:
            parts.append("cp")
        if self.pel is not None:
            parts.append(f"pel-{self.pel}")
        if self.unsup:
            parts.append("unsup")
        return "+".join(parts) or "ce"

    @property
    def needs_unlabeled(self) -> bool:
        """Whether every training step also draws a minibatch from ``task.unlabeled``."""
        return self.pel is not None or self.unsup

    def __str__(self) -> str:
        return self.name


def _valid_names_message() -> str:
    aliases = ", ".join(f"{a!r} = {b!r}" for a, b in ALIASES.items())
    return (
        f"valid components: {', '.join(COMPONENTS)} (aliases: {aliases}), joined with '+'; "
        f"Table 2 methods: {', '.join(TABLE2_METHODS)}"
    )


def parse_method(method: str | Method) -> Method:
    """Parse a method name such as ``"cww+pel-al"`` (case and spaces ignored).

    Raises ``ValueError`` listing the valid names for an unknown, repeated or contradictory component.

    Example:
        >>> parse_method("ce+cww") == parse_method("cww")
        True
        >>> parse_method("pel-nl+pel-al")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: contradictory method 'pel-nl+pel-al': 'pel-al' and 'pel-nl' cannot be combined; ...
    """
    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or not method.strip():
        raise ValueError(f"empty method name {method!r}; {_valid_names_message()}")
    parts = [ALIASES.get(p.strip().lower(), p.strip().lower()) for p in method.split("+")]
    unknown = [p for p in parts if p not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown method component(s) {unknown} in {method!r}; {_valid_names_message()}")
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise ValueError(f"repeated method component(s) {repeated} in {method!r}; {_valid_names_message()}")
    chosen = set(parts)
    for group in _EXCLUSIVE:
        clash = sorted(chosen & group)
        if len(clash) > 1:
            raise ValueError(
                f"contradictory method {method!r}: {' and '.join(map(repr, clash))} cannot be combined; "
                f"{_valid_names_message()}"
            )
    targets: Targets = "hard"
    for t in ("soft", "ls", "unigram"):
        if t in chosen:
            targets = t  # type: ignore[assignment]  # t is one of the Literal values
    pel = "nl" if "pel-nl" in chosen else "al" if "pel-al" in chosen else None
    return Method(
        cww="cww" in chosen,
        pel=pel,  # type: ignore[arg-type]
        unsup="unsup" in chosen,
        targets=targets,
        focal="focal" in chosen,
        cp="cp" in chosen,
        merged="merged" in chosen,
    )


@dataclass(frozen=True)
class MethodParams:
    """Hyperparameters of the method components (the paper's best values as defaults).

    Attributes:
        lambda_w: λ_W of eq. (3); 0 turns CWW into plain CE.
        lambda_l: λ_L of eq. (4), weight of the pseudo-emotion-label term.
        cww_source: ``"train"`` (the paper: UAs on the training portions) or ``"valid"``.
        smoothing: ε of uniform (``ls``) and unigram label smoothing.
        focal_gamma: γ of the focal loss (0 gives cross-entropy).
        cp_beta: β of the confidence penalty.
        recon_weight: weight of the reconstruction MSE of ``unsup``.
        pel_batch_size: minibatch size M of the unlabeled corpus (``pel-*`` and ``unsup``).

    Example:
        >>> MethodParams(lambda_w=2).lambda_w
        2
    """

    lambda_w: float = 4.0
    lambda_l: float = 0.001
    cww_source: Literal["train", "valid"] = "train"
    smoothing: float = 0.1
    focal_gamma: float = 2.0
    cp_beta: float = 0.1
    recon_weight: float = 1.0
    pel_batch_size: int = 32

    def __post_init__(self) -> None:
        if self.cww_source not in ("train", "valid"):
            raise ValueError(f"cww_source must be 'train' or 'valid', got {self.cww_source!r}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in [0, 1], got {self.smoothing}")
        for name in ("lambda_w", "lambda_l", "focal_gamma", "cp_beta", "recon_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.pel_batch_size < 1:
            raise ValueError(f"pel_batch_size must be >= 1, got {self.pel_batch_size}")
