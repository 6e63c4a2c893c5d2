"""Command line of ``tune/search.py``: arguments -> :class:`SearchConfig` -> :func:`run_search`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ._config import DataConfig, SchedulerConfig, SearchConfig, StudyConfig, TrainingConfig

EPILOG = """examples:
  python tune/search.py --method cww+pel                    # embedded synthetic corpora, local Ray
  python tune/search.py --method ce --method cww --method cww+pel --store features \\
      --holdout emodb --unlabeled librispeech                # extracted features (distser.features)
  python tune/search.py --method cww+pel --grid             # the paper's λ grid instead of Optuna
  python tune/search.py --address auto --tracking-uri http://127.0.0.1:5000 ...   # on a Ray cluster
  python tune/search.py --resume --name search-20261124-0500 # continue an interrupted search
"""


def parse_args(argv: list[str] | None = None) -> SearchConfig:
    parser = argparse.ArgumentParser(
        prog="tune/search.py",
        description="Hyperparameter search for multi-corpus SER with corpus-wise weights: one Optuna study per "
        "(method, held-out corpus) on Ray Tune, each proposal trained for every seed, ASHA stopping weak trials "
        "on validation UA, everything logged to MLflow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("what to search")
    what.add_argument("--method", action="append", dest="methods", metavar="METHOD",
                      help="training method, e.g. ce, cww, cww+pel, cww+unigram (repeatable; default cww+pel)")
    what.add_argument("--holdout", action="append", dest="holdouts", metavar="CORPUS",
                      help="held-out (test) corpus (repeatable; default: every labelled corpus)")
    what.add_argument("--protocol", choices=["loco", "within"], default="loco",
                      help="leave-one-corpus-out (default) or within-corpus cross-validation")
    what.add_argument("--seeds", type=int, default=5, help="seeds per configuration (default 5)")
    what.add_argument("--samples", type=int, default=4,
                      help="configurations Optuna proposes per study (default 4; each is run for every seed)")
    what.add_argument("--grid", action="store_true", help="run the paper's λ grid instead of Optuna + ASHA")
    what.add_argument("--paper-params", action="store_true",
                      help="no search: train each method at the paper's best values (λ_W=4, λ_L=0.001) per seed")
    what.add_argument("--tune-lr", action="store_true", help="also search the learning rate")
    what.add_argument("--tune-dropout", action="store_true", help="also search the dropout rate")
    what.add_argument("--max-epochs", type=int, default=50, help="epoch cap per trial (default 50)")
    what.add_argument("--no-early-stopping", action="store_true",
                      help="train every trial for exactly --max-epochs (no patience-based stop)")
    what.add_argument("--no-asha", action="store_true", help="let every trial train to its own early stop")

    data = parser.add_argument_group("data")
    data.add_argument("--store", type=Path, default=None,
                      help="feature store folder (default: the embedded synthetic corpora)")
    data.add_argument("--feature-set", default="IS10", help="feature set inside the store (default IS10)")
    data.add_argument("--unlabeled", default=None,
                      help="unlabeled corpus for pseudo-emotion labels (default: the store's only one)")
    data.add_argument("--synthetic-scale", type=float, default=0.05,
                      help="size of the synthetic default relative to the paper's corpora (default 0.05)")

    where = parser.add_argument_group("where")
    where.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                       help="Ray cluster address (default: RAY_ADDRESS; else a local Ray starts)")
    where.add_argument("--storage", type=Path, default=Path("runs"),
                       help="folder of Tune results, checkpoints and the default MLflow database (default runs/); "
                       "on a multi-node cluster it must be shared by all nodes")
    where.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                       help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite in --storage)")
    where.add_argument("--experiment", default="distser", help="MLflow experiment name (default distser)")
    where.add_argument("--name", default=None, help="name of this search (default search-<timestamp>)")
    where.add_argument("--resume", action="store_true",
                       help="continue the interrupted search --name (default: the newest in --storage)")
    where.add_argument("--cpus-per-trial", type=int, default=1,
                       help="CPUs reserved per trial; its torch threads (default 1)")
    where.add_argument("--max-concurrent", type=int, default=None, help="cap on trials running at once")
    where.add_argument("--max-failures", type=int, default=3,
                       help="retries of a failed trial from its last checkpoint (default 3)")
    where.add_argument("--checkpoint-seconds", type=float, default=60.0,
                       help="a trial saves a resumable checkpoint after the first epoch ending at least this "
                       "long after its last one (default 60; 0: every epoch; a checkpoint is ~55 MB: model, "
                       "Adam, best weights)")
    where.add_argument("--quiet", action="store_true", help="no Tune status table")
    args = parser.parse_args(argv)

    if args.grid and args.paper_params:
        parser.error("--grid and --paper-params exclude each other")
    if args.checkpoint_seconds < 0:
        parser.error(f"--checkpoint-seconds must be >= 0, got {args.checkpoint_seconds}")
    if args.seeds < 1 or args.samples < 1:
        parser.error("--seeds and --samples must be at least 1")
    name = args.name
    if args.resume and name is None:
        name = _newest_search(args.storage)
        if name is None:
            parser.error(f"--resume: no earlier search under {args.storage}")
    config = SearchConfig(
        data=DataConfig(store=args.store, feature_set=args.feature_set, holdouts=args.holdouts,
                        unlabeled=args.unlabeled, protocol=args.protocol, synthetic_scale=args.synthetic_scale),
        study=StudyConfig(methods=args.methods or ["cww+pel"], seeds=args.seeds, samples=args.samples,
                          grid=args.grid, paper_params=args.paper_params, tune_lr=args.tune_lr,
                          tune_dropout=args.tune_dropout),
        training=TrainingConfig(max_epochs=args.max_epochs, checkpoint_seconds=args.checkpoint_seconds,
                                threads_per_trial=args.cpus_per_trial,
                                early_stopping=not args.no_early_stopping),
        scheduler=SchedulerConfig(asha=not args.no_asha),
        storage=args.storage, tracking_uri=args.tracking_uri, experiment=args.experiment,
        address=args.address, cpus_per_trial=args.cpus_per_trial, max_concurrent=args.max_concurrent,
        max_failures=args.max_failures, resume=args.resume, verbose=0 if args.quiet else 1,
        command=shlex.join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)]),
    )
    if name:
        config.name = name
    return config


def _newest_search(storage: Path) -> str | None:
    searches = sorted(p for p in storage.glob("search-*") if p.is_dir())
    return searches[-1].name if searches else None


def main(argv: list[str] | None = None) -> int:
    from ._run import run_search

    config = parse_args(argv)
    try:
        run_search(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: tune/search.py --resume --name {config.name} "
              f"--storage {config.storage}", file=sys.stderr)
        return 130
    return 0
