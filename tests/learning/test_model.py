"""Model F (§3.3): architecture, dropout, reconstruction branch; package hygiene."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest
import torch
from torch import nn

from distser.learning import PAPER_HIDDEN, EmotionClassifier, count_linear_macs
from distser.learning._model import Dense, dropout_mask


def test_architecture_matches_paper():
    model = EmotionClassifier(1582)
    sizes = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, Dense)]
    assert PAPER_HIDDEN == (1024, 1024, 512, 512)
    assert sizes == [(1582, 1024), (1024, 1024), (1024, 512), (512, 512), (512, 4)]
    assert model.dropout == 0.5 and not model.has_reconstruction
    assert count_linear_macs(model) == 1582 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 512 + 512 * 4


def test_reconstruction_branch_on_second_layer():
    model = EmotionClassifier(1582, reconstruction=True)
    assert model.has_reconstruction
    decoder = [(m.in_features, m.out_features) for m in model.decoder.modules() if isinstance(m, Dense)]
    assert decoder == [(1024, 1024), (1024, 1582)]  # "two FC layers, 1024 and 1582"
    logits, recon = model.logits_and_reconstruction(torch.randn(5, 1582))
    assert logits.shape == (5, 4) and recon.shape == (5, 1582)
    with pytest.raises(RuntimeError):
        EmotionClassifier(10).logits_and_reconstruction(torch.zeros(1, 10))


def test_dense_is_linear_with_transposed_weight():
    torch.manual_seed(0)
    dense = Dense(7, 3)
    linear = nn.Linear(7, 3)
    with torch.no_grad():
        linear.weight.copy_(dense.weight.t())
        linear.bias.copy_(dense.bias)
    x = torch.randn(4, 7)
    torch.testing.assert_close(dense(x), linear(x))
    bound = 1 / 7**0.5
    assert dense.weight.abs().max() <= bound and dense.bias.abs().max() <= bound


def test_eval_is_deterministic_and_training_drops():
    torch.manual_seed(0)
    model = EmotionClassifier(20)
    x = torch.randn(8, 20)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    no_dropout = EmotionClassifier(20, dropout=0.0).train()
    torch.testing.assert_close(no_dropout(x), no_dropout(x))


@pytest.mark.parametrize("p", [0.5, 0.25, 0.3])
def test_dropout_mask_statistics(p):
    torch.manual_seed(0)
    mask = dropout_mask((400, 500), p)
    values = mask.unique()
    assert values[0] == 0 and len(values) == 2
    assert (mask == 0).float().mean().item() == pytest.approx(p, abs=0.01)
    assert mask.mean().item() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation
    if p == 0.5:
        assert values[1] == 2.0  # exact for p = 0.5


def test_dropout_mask_follows_torch_seed():
    torch.manual_seed(3)
    a = dropout_mask((10, 10), 0.5)
    torch.manual_seed(3)
    assert torch.equal(a, dropout_mask((10, 10), 0.5))


def test_learning_core_imports_neither_ray_nor_mlflow():
    code = (
        "import sys, distser.learning; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'mlflow')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _learning_modules() -> list[str]:
    import pkgutil

    import distser.learning

    found = pkgutil.walk_packages(distser.learning.__path__, "distser.learning.")
    return ["distser.learning", *(m.name for m in found)]


@pytest.mark.parametrize("module", _learning_modules())
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_keep_freed_memory_is_idempotent_on_linux():
    from distser.learning import keep_freed_memory

    first = keep_freed_memory()
    assert keep_freed_memory() == first
