"""Model F of §3.3: an MLP classifier with an optional reconstruction branch for ``unsup`` [12]."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..arrays import EMOTIONS
from ..define import PAPER_HIDDEN  # F's hidden sizes in the paper (§3.3); the output layer has C = 4 units


class Dense(nn.Module):
    """Fully connected layer ``y = x @ weight + bias`` with ``weight`` stored as ``(in, out)``.

    Same maths and same initial distribution as ``nn.Linear`` (U(±1/√in) for weight and bias), but the
    weight is kept transposed: with MKL on CPU, both the forward GEMM and the weight-gradient GEMM
    (``x.T @ grad``) are faster in this layout at the paper's batch of 128 (``bench/train_step.py``).

    Example:
        >>> layer = Dense(3, 2)
        >>> tuple(layer.weight.shape), tuple(layer(torch.zeros(5, 3)).shape)
        ((3, 2), (5, 2))
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float) -> Tensor:
    """Inverted-dropout multiplier (0 or 1/q, q = keep probability) drawn from the global torch RNG.

    ``F.dropout`` draws one Bernoulli per element and took ~25 % of a training step here; this draws
    64 random bits per RNG call and compares bytes (or 16-bit words) against a threshold, which is
    exact for p = 0.5 and otherwise rounds q to a multiple of 1/256 (1/65536 when that is not exact).
    The scale uses the rounded q, so the expected output equals the input exactly.

    Example:
        >>> torch.manual_seed(0) is not None
        True
        >>> m = dropout_mask((1000, 100), 0.5)
        >>> sorted(m.unique().tolist()), round(float(m.mean()), 2)
        ([0.0, 2.0], 1.0)
    """
    n = math.prod(shape)
    levels, dtype = (256, torch.uint8) if float(p * 256).is_integer() else (65536, torch.int16)
    keep_levels = max(1, round((1.0 - p) * levels))
    if keep_levels >= levels:  # p == 0 (or rounds to it): keep everything; also avoids threshold overflow
        return torch.ones(shape)
    words = -(-n * dtype.itemsize // 8)
    bits = torch.empty(words, dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(dtype)[:n].view(shape)
    threshold = keep_levels if dtype == torch.uint8 else keep_levels - 32768  # int16 is signed
    return (bits < threshold).to(torch.float32).mul_(levels / keep_levels)


class EmotionClassifier(nn.Module):
    """FC 1024-1024-512-512-C with ReLU and dropout after every hidden layer; outputs **logits**.

    The paper's softmax output is applied inside the losses (``log_softmax``), which is numerically
    safer than taking the log of a softmax. With ``reconstruction=True`` a decoder (FC ``recon_hidden``
    + ReLU, then FC ``input_dim``, linear since inputs are z-normalised) reads the ReLU output of hidden
    layer ``recon_layer`` (the paper: two FC layers, 1024 and 1582, attached on the second layer).
    The decoder reads the activation *before* dropout, so it reconstructs from the code the encoder
    actually computes; the classifier path still sees the dropped-out activation.

    Layers are :class:`Dense` (weights stored ``(in, out)``); dropout uses :func:`dropout_mask`.

    Example:
        >>> model = EmotionClassifier(20, reconstruction=True)
        >>> logits, recon = model.logits_and_reconstruction(torch.zeros(3, 20))
        >>> tuple(logits.shape), tuple(recon.shape)
        ((3, 4), (3, 20))
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int = len(EMOTIONS),
        hidden: Sequence[int] = PAPER_HIDDEN,
        dropout: float = 0.5,
        reconstruction: bool = False,
        recon_hidden: int = 1024,
        recon_layer: int = 2,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if reconstruction and not 1 <= recon_layer <= len(hidden):
            raise ValueError(f"recon_layer must be in [1, {len(hidden)}], got {recon_layer}")
        sizes = [input_dim, *hidden]
        self.hidden = nn.ModuleList(Dense(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.output = Dense(sizes[-1], num_classes)
        self.dropout = dropout
        self.recon_layer = recon_layer
        self.decoder: nn.Sequential | None = None
        if reconstruction:
            self.decoder = nn.Sequential(
                Dense(hidden[recon_layer - 1], recon_hidden), nn.ReLU(), Dense(recon_hidden, input_dim)
            )

    def _run(self, x: Tensor, want_code: bool) -> tuple[Tensor, Tensor | None]:
        code = None
        drop = self.training and self.dropout > 0
        for i, layer in enumerate(self.hidden, start=1):
            # In-place ReLU: addmm's backward does not need its output, so this saves one allocation.
            x = torch.relu_(layer(x))
            if want_code and i == self.recon_layer:
                code = x
            if drop:
                x = x * dropout_mask(x.shape, self.dropout)  # out of place, so `code` stays intact
        return self.output(x), code

    def forward(self, x: Tensor) -> Tensor:
        """Logits of shape ``(n, C)``."""
        return self._run(x, want_code=False)[0]

    def logits_and_reconstruction(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits and the decoder's reconstruction of ``x`` (needs ``reconstruction=True``)."""
        if self.decoder is None:
            raise RuntimeError("this model was built without the reconstruction branch")
        logits, code = self._run(x, want_code=True)
        assert code is not None
        return logits, self.decoder(code)

    @property
    def has_reconstruction(self) -> bool:
        return self.decoder is not None


def count_linear_macs(model: nn.Module) -> int:
    """Multiply-accumulates per sample of all fully connected layers (Σ in·out), for FLOP accounting.

    Example:
        >>> count_linear_macs(EmotionClassifier(1582))
        3457024
    """
    layers = (m for m in model.modules() if isinstance(m, (Dense, nn.Linear)))
    return sum(m.in_features * m.out_features for m in layers)
