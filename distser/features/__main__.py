"""Command line of the feature store: ``distser {extract,synthetic,compact,info}`` (``python -m distser.features``).

Every subcommand names the store ``--store``. ``extract`` takes corpora as ``--corpus NAME=PATH`` or
from an experiment file (``--config``), where each corpus may also carry its own label map.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ._audio import FEATURE_SETS, WorkerDied, check_feature_set
from ._ssl_identity import is_ssl_feature_set

#: `distser extract --feature-set ssl`: embeddings of a self-supervised model (--model, --layer).
SSL = "ssl"

EPILOG = """examples:
  # openSMILE IS10 functionals of the public corpora beside the project, on all local CPUs
  distser extract --store features \\
      --corpus ravdess=../shared/corpora/ravdess --corpus tess=../shared/corpora/tess \\
      --corpus savee=../shared/corpora/savee --corpus emodb=../shared/corpora/emodb \\
      --corpus librispeech=../shared/corpora/librispeech
  distser extract --config my-corpora.toml                      # the same, from an extraction file (below)

  # the embedded default: synthetic corpora shaped like the paper's, no audio needed
  distser synthetic --store features

  # what a store holds: every feature set, its corpora and counts
  distser info --store features

  # another openSMILE set beside IS10 (eGeMAPSv02, ComParE_2016, emobase), searched side by side
  distser extract --store features --feature-set eGeMAPSv02 --corpus emodb=../shared/corpora/emodb
  distser search --store features --feature-set IS10,eGeMAPSv02 --method ce

  # self-supervised embeddings (pip install -e '.[ssl]'): layer 6 of a WavLM checkpoint, a folder or a
  # hub id in the Hugging Face cache; stored as feature set ssl-wavlm-base-plus-L6
  distser extract --store features --feature-set ssl --model microsoft/wavlm-base-plus --layer 6 \
      --corpus emodb=../shared/corpora/emodb
  distser info --store features --feature-set ssl-wavlm-base-plus-L6

an extraction file (TOML):
  store = "features"
  feature_set = "IS10"
  [[corpus]]
  name = "ravdess"
  path = "../shared/corpora/ravdess"
  label_map = {{ "02" = "neutral", "07" = "" }}   # code -> emotion; "" drops the code

corpus loaders: {corpora}
"""


@dataclass
class CorpusSource:
    """One corpus to extract: its loader, its folder (or CSV), codes mapped to other emotions."""

    name: str
    path: str
    label_map: dict[str, str] = field(default_factory=dict)  # "" drops a code


@dataclass
class ExtractConfig:
    """What ``distser extract --config`` reads."""

    store: str = "features"
    feature_set: str = "IS10"
    workers: int | None = None
    address: str | None = None
    skip_unknown_labels: bool = False
    model: str | None = None  # feature_set "ssl": a folder or a hub id in the cache
    layer: int | str = "mean"  # feature_set "ssl": a hidden layer number or "mean"
    threads: int | None = None  # feature_set "ssl": CPU threads per worker
    corpus: list[CorpusSource] = field(default_factory=list)


def _store_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--store", "--out", dest="store", type=Path, required=required,
                        help="feature store folder (--out is the old name)")


def _stored_feature_set(name: str) -> str:
    """An openSMILE feature set or an SSL one's folder name (``ssl-<model>-L<layer>``)."""
    if is_ssl_feature_set(name):
        return name
    try:
        return check_feature_set(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}, or ssl-<model>-L<layer>") from None


def build_parser() -> argparse.ArgumentParser:
    from distser.corpora import CORPUS_NAMES

    parser = argparse.ArgumentParser(
        prog="distser",
        description="Build and inspect distser's feature store (Parquet shards of openSMILE functionals).",
        epilog=EPILOG.format(corpora=", ".join(CORPUS_NAMES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{extract,synthetic,compact,info}")

    extract = commands.add_parser("extract", help="extract features of corpora on disk (Ray Data)",
                                  description="Extract openSMILE functionals (or, with --feature-set ssl, "
                                  "self-supervised embeddings) for every audio file of the given corpora. Files "
                                  "already extracted with the same content are skipped; files that fail are "
                                  "listed with their reason and the rest still land.")
    extract.add_argument("--config", metavar="FILE", help="extraction file (TOML): store, corpora, label maps")
    extract.add_argument("--corpus", action="append", default=[], metavar="NAME=PATH",
                         help="a corpus and its folder (repeatable); NAME is a corpus loader, or csv=PATH for a CSV "
                         "manifest (columns path, corpus, speaker, label)")
    _store_argument(extract, required=False)
    extract.add_argument("--feature-set", choices=[*FEATURE_SETS, SSL],
                         help="openSMILE feature set (default: IS10, 1582 functionals), or ssl: embeddings of "
                         "--model (needs the ssl extra)")
    extract.add_argument("--model", help="ssl: a wav2vec 2.0, HuBERT, WavLM or Whisper checkpoint, as a folder or "
                         "a hub id already in the Hugging Face cache (nothing is downloaded)")
    extract.add_argument("--layer", help="ssl: the hidden layer to mean-pool over time (0 = before the first "
                         "transformer layer), or 'mean' of all of them (default)")
    extract.add_argument("--threads", type=int, help="ssl: CPU threads per worker (default: up to 4)")
    extract.add_argument("--workers", type=int,
                         help="parallel extraction workers (default: one per CPU of the cluster)")
    extract.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                         help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray)")
    extract.add_argument("--skip-unknown-labels", action="store_true", default=None,
                         help="warn about and skip files with an unknown emotion code instead of stopping")
    extract.add_argument("-v", "--verbose", action="count", default=0,
                         help="show Ray's own messages and its workers' output (quiet by default)")

    synthetic = commands.add_parser("synthetic", help="write the embedded synthetic corpora",
                                    description="Write a deterministic synthetic store shaped like the "
                                    "paper's corpora (CREMA-D, IEMOCAP, MSP-IMPROV, MSP-Podcast) plus an "
                                    "unlabeled LibriSpeech-like corpus, in the IS10 feature space (or another "
                                    "openSMILE set's width, --feature-set).")
    _store_argument(synthetic)
    synthetic.add_argument("--scale", type=float, default=0.05,
                           help="fraction of the paper's corpus sizes (default 0.05, ~4.6k utterances; 1.0: the "
                           "paper's 92.9k, larger for scaling tests)")
    synthetic.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    synthetic.add_argument("--feature-set", default="IS10", choices=list(FEATURE_SETS),
                           help="the openSMILE feature set whose width the synthetic features have (default IS10); "
                           "written once per set, the same utterances, for searches over several sets")

    compact = commands.add_parser("compact", help="rewrite each corpus's shards as few checksummed ones")
    _store_argument(compact)
    compact.add_argument("--feature-set", default="IS10", type=_stored_feature_set)

    info = commands.add_parser("info", help="summarise a feature store")
    _store_argument(info)
    info.add_argument("--feature-set", type=_stored_feature_set,
                      help="only this feature set: an openSMILE one or an SSL one's folder, ssl-<model>-L<layer> "
                      "(default: every feature set in the store, each with its corpora and counts)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands_by_name = {"extract": _extract, "synthetic": _synthetic, "compact": _compact, "info": _info}
        return commands_by_name[args.command](args)
    except (ValueError, FileNotFoundError, KeyError, WorkerDied) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def extract_config(args: argparse.Namespace) -> ExtractConfig:
    """The extraction to run: the file (if any), then the flags given."""
    from distser.config import build, load_toml
    from distser.corpora import parse_corpus_spec

    layers = [load_toml(args.config)] if args.config else []
    flags = {key: value for key, value in (("store", args.store and str(args.store)),
                                           ("feature_set", args.feature_set), ("workers", args.workers),
                                           ("address", args.address),
                                           ("skip_unknown_labels", args.skip_unknown_labels),
                                           ("model", args.model), ("layer", args.layer),
                                           ("threads", args.threads)) if value is not None}
    config = build(ExtractConfig, [*layers, flags])
    if config.feature_set == SSL and not config.model:
        raise ValueError("--feature-set ssl needs --model FOLDER_OR_HUB_ID (and --layer N or mean)")
    if config.feature_set != SSL and (config.model or config.threads or "layer" in flags):
        raise ValueError(f"--model, --layer and --threads are for --feature-set ssl, not {config.feature_set}")
    for spec in args.corpus:
        name, root = parse_corpus_spec(spec)
        config.corpus.append(CorpusSource(name, str(root)))
    if not config.corpus:
        raise ValueError("no corpus to extract: give --corpus NAME=PATH or a --config file with [[corpus]] tables")
    return config


def _extract(args: argparse.Namespace) -> int:
    import pandas as pd

    from distser.corpora import load_corpus
    from distser.runtime import start_ray

    from ._extract import extract

    config = extract_config(args)
    frames = []
    for source in config.corpus:
        label_map = {code: emotion or None for code, emotion in source.label_map.items()}
        frame = load_corpus(source.name, source.path, label_map=label_map or None,
                            on_unknown="skip" if config.skip_unknown_labels else "error")
        print(f"{source.name}: {len(frame)} files from {source.path}", file=sys.stderr)
        frames.append(frame)
    manifest = pd.concat(frames, ignore_index=True)
    if config.feature_set == SSL:
        from ._ssl import extract_ssl, identify

        identify(config.model, config.layer)  # a missing model or a bad layer: before Ray starts
    start_ray(config.address, verbose=args.verbose)
    if config.feature_set == SSL:
        report, store = extract_ssl(manifest, config.store, config.model, config.layer,
                                    num_workers=config.workers, threads=config.threads)
        print(f"store: {store.path}")
        return 1 if report.failed else 0
    report = extract(manifest, config.store, config.feature_set, num_workers=config.workers)
    print(f"store: {Path(config.store) / config.feature_set}")
    return 1 if report.failed else 0


def _synthetic(args: argparse.Namespace) -> int:
    from ._synthetic import write_synthetic

    store = write_synthetic(str(args.store), scale=args.scale, seed=args.seed, feature_set=args.feature_set)
    print(f"wrote synthetic corpora {', '.join(store.corpora())} to {store.path}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from ._store import FeatureStore

    store = FeatureStore(args.store, args.feature_set)
    removed = store.compact()
    unverified = len(store.unverified_shards())
    print(f"{store.path}: merged or rewrote {removed} shards; {len(store.shard_paths())} shards left, "
          f"{unverified} without a checksum")
    return 0


def _info(args: argparse.Namespace) -> int:
    """Each feature set of the store (or the one named): its corpora, their utterances per emotion, its failures."""
    import pandas as pd

    from ._store import FeatureStore, feature_sets_in

    names = [args.feature_set] if args.feature_set else feature_sets_in(args.store)
    if not names:
        print(f"no feature shards under {args.store} (make them with `distser extract --store {args.store} "
              "--corpus NAME=DIR ...`)", file=sys.stderr)
        return 1
    counts = {}
    for number, name in enumerate(names):
        store = FeatureStore(args.store, name)
        if not store.corpora():
            print(f"no feature shards under {store.path}", file=sys.stderr)
            return 1
        manifest = store.manifest()
        counts[name] = manifest.groupby("corpus")["utterance_id"].size()
        if number:
            print()
        _print_feature_set(store, manifest, args.store)
    if len(names) > 1:  # which corpora each set covers, side by side: a search over several sets pairs them
        print("\nutterances per corpus and feature set:")
        print(pd.DataFrame(counts).fillna(0).astype(int).to_string())
    return 0


def _print_feature_set(store, manifest, root) -> None:
    counts = manifest.assign(label=manifest["label"].fillna("(unlabeled)")).pivot_table(
        index="corpus", columns="label", values="utterance_id", aggfunc="count", fill_value=0)
    print(f"{store.path}  ({store.fingerprint()}, {store.dim} features per utterance)")
    print(counts.to_string())
    unverified = store.unverified_shards()
    if unverified:
        which = "" if store.feature_set == "IS10" else f" --feature-set {store.feature_set}"
        print(f"{len(unverified)} of {len(store.shard_paths())} shards unverified (written without checksums); "
              f"`distser compact --store {root}{which}` rewrites them with checksums")
    failures = store.failures()
    print(f"{len(failures)} failures in the last extraction")
    for row in failures.itertuples():
        print(f"  {row.path}: {row.reason}")


if __name__ == "__main__":
    sys.exit(main())
