"""Train-step throughput of model F at the paper's batch, against this machine's matmul peak.

Batch: 3 corpora x 32 labeled + 32 unlabeled samples, 1582-d input, method ``cww+pel-al``.
FLOPs are counted analytically: forward 2 * sum(in * out) per sample over the Linear layers,
backward ~ 2x forward, so one step is 3 * forward (the first layer's input gradient is not
computed, so the real work is ~16 % less). The peak is a square float32 ``torch.mm`` timed in the
same run (best and median GFLOP/s).

Variants: nn.Linear + F.dropout vs the shipped model (Dense layers stored (in, out), bit-mask
dropout), one forward per corpus vs one over the concatenated batch, Adam foreach vs fused,
``torch.compile`` (``--compile``), glibc keeping freed memory or not (``--malloc``), thread count
(``--threads``), and the shipped ``Trainer`` epoch loop.

Timing: variants and the peak matmul run interleaved in rounds (the machine is shared and a VM with
steal time); "of peak" compares medians, "best/best" compares the fastest step with the fastest matmul.
The Trainer row times ``Trainer._train_epoch`` on 1-step epochs, so each timing includes the epoch's
index and loss-coefficient planning (normally amortised over an epoch's steps).

Usage:
    .venv/bin/python bench/train_step.py --steps 60 [--threads N] [--compile]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from distser.learning import (
    PAPER_HIDDEN,
    EmotionClassifier,
    TrainConfig,
    Trainer,
    class_weights,
    count_linear_macs,
    cross_entropy_per_sample,
    keep_freed_memory,
    pel_loss,
    pel_target,
    synthetic_task,
)

DIM, CORPORA, BATCH, UNLABELED, CLASSES = 1582, 3, 32, 32, 4


class PlainMLP(torch.nn.Module):
    """Model F written the textbook way (nn.Linear + F.dropout): the baseline variants."""

    def __init__(self) -> None:
        super().__init__()
        sizes = [DIM, *PAPER_HIDDEN, CLASSES]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.dropout(F.relu(layer(x)), 0.5, self.training)
        return self.layers[-1](x)


def matmul_call(n: int) -> Callable[[], None]:
    """One n x n float32 torch.mm (2 n^3 FLOP), timed like a variant so both see the same load."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return lambda: torch.mm(a, b)


def make_step(model_kind: str, concat: bool, adam: str, compiled: bool = False) -> Callable[[], None]:
    """A closure running one cww+pel-al training step on fixed random data.

    ``model_kind``: ``"plain"`` (:class:`PlainMLP`) or ``"shipped"`` (:class:`EmotionClassifier`).
    """
    torch.manual_seed(0)
    model = PlainMLP() if model_kind == "plain" else EmotionClassifier(DIM)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4, **{adam: True})
    xs = [torch.randn(BATCH, DIM) for _ in range(CORPORA)] + [torch.randn(UNLABELED, DIM)]
    ys = [torch.randint(0, CLASSES, (BATCH,)) for _ in range(CORPORA)]
    x_all = torch.cat(xs)
    targets = F.one_hot(torch.cat(ys), CLASSES).float()
    alpha = class_weights(torch.stack(ys), CLASSES)  # (D, M)
    w = torch.tensor([0.5, 1.0, 1.5]).view(CORPORA, 1)
    coef = (alpha * w / (CORPORA * BATCH)).reshape(-1)
    ybar = pel_target("al")
    n_lab = CORPORA * BATCH

    def loss_concat(m: torch.nn.Module) -> torch.Tensor:
        lp = F.log_softmax(m(x_all), dim=1)
        ce = (cross_entropy_per_sample(lp[:n_lab], targets) * coef).sum()
        return ce + pel_loss(lp[n_lab:], ybar, 1e-3)

    def loss_split(m: torch.nn.Module) -> torch.Tensor:
        lps = [F.log_softmax(m(x), dim=1) for x in xs]
        ce = (cross_entropy_per_sample(torch.cat(lps[:CORPORA]), targets) * coef).sum()
        return ce + pel_loss(lps[-1], ybar, 1e-3)

    loss_fn = loss_concat if concat else loss_split
    if compiled:
        loss_fn = torch.compile(loss_fn)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model).backward()
        opt.step()

    return step


Timed = tuple[Callable[[], None], int]  # a callable and the number of training steps one call runs


def time_variants(variants: dict[str, Timed], n: int, rounds: int = 5) -> dict[str, list[float]]:
    """Seconds per step of each variant. Variants run interleaved in ``rounds`` rounds, so that load
    from other processes (or hypervisor steal time) hits all of them alike."""
    for fn, _ in variants.values():
        for _ in range(2):  # warm-up: allocator, thread pool, lazy init
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (fn, steps_per_call) in variants.items():
            for _ in range(max(1, n // rounds // steps_per_call)):
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) / steps_per_call)
    return times


def trainer_epoch(steps: int, tune_malloc: bool = True) -> Timed:
    """The shipped ``Trainer`` training loop: one call is one epoch of ``steps`` steps."""
    task = synthetic_task(
        n_train=steps * BATCH, n_valid=BATCH, n_test=BATCH, n_unlabeled=steps * UNLABELED, dim=DIM, seed=0
    )
    trainer = Trainer(task, TrainConfig(method="cww+pel-al", tune_malloc=tune_malloc))
    return trainer._train_epoch, trainer.steps_per_epoch


def report(times: dict[str, list[float]], peak_name: str, gflop_step: float, samples: int) -> None:
    peak_t = times.pop(peak_name)
    flop_peak = 2 * int(peak_name.split()[0]) ** 3 / 1e9
    peak_med, peak_best = flop_peak / float(np.median(peak_t)), flop_peak / float(np.min(peak_t))
    print(f"matmul peak ({peak_name}): best {peak_best:.1f} GFLOP/s, median {peak_med:.1f} GFLOP/s")
    print(
        f"\n{'variant':<58} {'ms/step':>8} {'samples/s':>9} {'GFLOP/s':>8} {'of peak':>8}"
        f" {'best ms':>8} {'best/best':>9}"
    )
    for name, ts in times.items():
        med, best = float(np.median(ts)), float(np.min(ts))
        print(
            f"{name:<58} {med * 1e3:8.2f} {samples / med:9.0f} {gflop_step / med:8.1f} "
            f"{gflop_step / med / peak_med:8.1%} {best * 1e3:8.2f} {gflop_step / best / peak_best:9.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per variant (default 60)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--peak-size", type=int, default=2048, help="square matmul size for the peak")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: as is)")
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc keeps freed memory (what Trainer does, for every variant); default: glibc as is",
    )
    args = parser.parse_args()
    if args.malloc == "keep":
        print(f"glibc keeps freed memory: {keep_freed_memory()}")
    if args.threads:
        torch.set_num_threads(args.threads)

    samples = CORPORA * BATCH + UNLABELED
    gflop_step = 3 * 2 * count_linear_macs(EmotionClassifier(DIM)) * samples / 1e9
    threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {threads} threads; "
        f"batch {samples} x {DIM} = 3 corpora x 32 + 32 unlabeled (cww+pel-al)"
    )
    print(f"analytic work: {gflop_step:.3f} GFLOP per step (fwd 2*sum(in*out)/sample, bwd 2x fwd)")

    peak_name = f"{args.peak_size} x {args.peak_size} float32 torch.mm"
    variants: dict[str, Timed] = {peak_name: (matmul_call(args.peak_size), 1)}
    for kind in ("plain", "shipped"):
        for concat in (False, True):
            for adam in ("foreach", "fused"):
                label = "nn.Linear+F.dropout" if kind == "plain" else "Dense(in,out)+bit dropout"
                name = f"{label}, {'concat' if concat else 'per-corpus'} fwd, Adam {adam}"
                variants[name] = (make_step(kind, concat, adam), 1)
    if args.compile:
        try:
            step = make_step("shipped", True, "fused", compiled=True)
            t = time.perf_counter()
            step()
            name = f"shipped, concat, fused, torch.compile ({time.perf_counter() - t:.0f} s compile)"
            variants[name] = (step, 1)
        except Exception as exc:  # compile support varies by machine: report and go on
            print(f"torch.compile failed: {type(exc).__name__}: {exc}".splitlines()[0])
    variants["Trainer epoch loop, 1-step epochs (shipped)"] = trainer_epoch(1, tune_malloc=args.malloc == "keep")
    times = time_variants(variants, args.steps)
    rows = {
        "plain PyTorch (per-corpus fwd, foreach)": "nn.Linear+F.dropout, per-corpus fwd, Adam foreach",
        "plain PyTorch, best setup (concat, fused)": "nn.Linear+F.dropout, concat fwd, Adam fused",
        "shipped Trainer": list(times)[-1],
    }
    peak_t = times[peak_name]
    peak_med = 2 * args.peak_size**3 / 1e9 / float(np.median(peak_t))
    peak_best = 2 * args.peak_size**3 / 1e9 / float(np.min(peak_t))
    report(times, peak_name, gflop_step, samples)
    print("\nfraction of matmul peak (median/median, best/best):")
    for label, key in rows.items():
        med, best = float(np.median(times[key])), float(np.min(times[key]))
        print(f"  {label:<44} {gflop_step / med / peak_med:6.1%} {gflop_step / best / peak_best:6.1%}")


if __name__ == "__main__":
    main()
