"""Command line of the feature store: ``python -m distser.features {extract,synthetic,info}``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._audio import FEATURE_SETS

EPILOG = """examples:
  # openSMILE IS10 functionals of the public corpora beside the project, on all local CPUs
  python -m distser.features extract --out features \\
      --corpus ravdess=../shared/corpora/ravdess --corpus tess=../shared/corpora/tess \\
      --corpus savee=../shared/corpora/savee --corpus emodb=../shared/corpora/emodb \\
      --corpus librispeech=../shared/corpora/librispeech

  # the embedded default: synthetic corpora shaped like the paper's, no audio needed
  python -m distser.features synthetic --out features

  # what a store holds
  python -m distser.features info --out features
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distser.features",
        description="Build and inspect distser's feature store (Parquet shards of openSMILE functionals).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{extract,synthetic,compact,info}")

    extract = commands.add_parser("extract", help="extract features of corpora on disk (Ray Data)",
                                  description="Extract openSMILE functionals for every audio file of the "
                                  "given corpora. Files already extracted with the same content are skipped; "
                                  "files that fail are listed with their reason and the rest still land.")
    extract.add_argument("--corpus", action="append", required=True, metavar="NAME=PATH",
                         help="a corpus and its folder (repeatable); NAME is one of the loaders in "
                         "distser.corpora.CORPORA, or csv=PATH for a CSV manifest")
    extract.add_argument("--out", required=True, type=Path, help="feature store folder")
    extract.add_argument("--feature-set", default="IS10", choices=list(FEATURE_SETS),
                         help="openSMILE feature set (default: IS10, 1582 functionals)")
    extract.add_argument("--workers", type=int, default=None,
                         help="parallel extraction workers (default: one per CPU of the Ray cluster)")
    extract.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                         help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray)")
    extract.add_argument("--skip-unknown-labels", action="store_true",
                         help="warn about and skip files with an unknown emotion code instead of stopping")

    synthetic = commands.add_parser("synthetic", help="write the embedded synthetic corpora",
                                    description="Write a deterministic synthetic store shaped like the "
                                    "paper's corpora (CREMA-D, IEMOCAP, MSP-IMPROV, MSP-Podcast) plus an "
                                    "unlabeled LibriSpeech-like corpus, in the IS10 feature space.")
    synthetic.add_argument("--out", required=True, type=Path, help="feature store folder")
    synthetic.add_argument("--scale", type=float, default=0.05,
                           help="fraction of the paper's corpus sizes (default 0.05, ~4.6k utterances)")
    synthetic.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")

    compact = commands.add_parser("compact", help="merge each corpus's shards into one (faster reads)",
                                  description="Merge each corpus's shards into one, dropping superseded rows; "
                                  "shards written before shards carried a checksum are rewritten with one.")
    compact.add_argument("--out", required=True, type=Path, help="feature store folder")
    compact.add_argument("--feature-set", default="IS10", choices=list(FEATURE_SETS))

    info = commands.add_parser("info", help="summarise a feature store")
    info.add_argument("--out", required=True, type=Path, help="feature store folder")
    info.add_argument("--feature-set", default="IS10", choices=list(FEATURE_SETS))

    args = parser.parse_args(argv)
    try:
        commands_by_name = {"extract": _extract, "synthetic": _synthetic, "compact": _compact, "info": _info}
        return commands_by_name[args.command](args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _extract(args: argparse.Namespace) -> int:
    import ray

    from distser.corpora import load_corpus, parse_corpus_spec

    from ._extract import extract

    frames = []
    for spec in args.corpus:
        name, root = parse_corpus_spec(spec)
        frame = load_corpus(name, root, on_unknown="skip" if args.skip_unknown_labels else "error")
        print(f"{name}: {len(frame)} files from {root}", file=sys.stderr)
        frames.append(frame)
    import pandas as pd

    manifest = pd.concat(frames, ignore_index=True)
    ray.init(address=args.address or "local", log_to_driver=False, configure_logging=False)
    report = extract(manifest, args.out, args.feature_set, num_workers=args.workers)
    print(f"store: {args.out / args.feature_set}")
    return 1 if report.failed else 0


def _synthetic(args: argparse.Namespace) -> int:
    from ._synthetic import write_synthetic

    store = write_synthetic(str(args.out), scale=args.scale, seed=args.seed)
    print(f"wrote synthetic corpora {', '.join(store.corpora())} to {store.path}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from ._store import FeatureStore

    store = FeatureStore(args.out, args.feature_set)
    removed = store.compact()
    print(f"{store.path}: merged or rewrote {removed} shards; {len(store.shard_paths())} shards left, "
          f"{len(store.unverified_shards())} without a checksum")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ._store import FeatureStore

    store = FeatureStore(args.out, args.feature_set)
    if not store.corpora():
        print(f"no feature shards under {store.path}", file=sys.stderr)
        return 1
    manifest = store.manifest()
    counts = manifest.assign(label=manifest["label"].fillna("(unlabeled)")).pivot_table(
        index="corpus", columns="label", values="utterance_id", aggfunc="count", fill_value=0)
    print(f"{store.path}  ({store.fingerprint()})")
    print(counts.to_string())
    unverified = store.unverified_shards()
    if unverified:
        print(f"{len(unverified)} of {len(store.shard_paths())} shards unverified (written before shards carried "
              f"a checksum); `python -m distser.features compact --out {args.out}` rewrites them with one")
    failures = store.failures()
    print(f"{len(failures)} failures in the last extraction")
    for row in failures.itertuples():
        print(f"  {row.path}: {row.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
