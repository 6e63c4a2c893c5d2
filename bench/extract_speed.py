"""Feature extraction speed on the real public corpora, and the speed-up of 2 Ray workers over 1.

    .venv/bin/python bench/extract_speed.py [--corpora ../shared/corpora] [--out features] [--subset 400]

1. Extracts every file of the five shared corpora into ``--out`` (the store later runs use) with all
   CPUs, and prints files/s and the real-time factor (processing seconds per audio second).
2. In the same run, extracts the same ``--subset`` files with 1 worker and with 2 workers into
   temporary stores and prints the wall-time ratio (target >= 1.7x).
Re-running skips step 1's files already extracted (incremental); step 2 always starts empty.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import ray

from distser.corpora import load_corpus
from distser.features import FeatureStore, extract

CORPORA = ("ravdess", "tess", "savee", "emodb", "librispeech")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
    parser.add_argument("--corpora", type=Path, default=shared)
    parser.add_argument("--out", type=Path, default=Path("features"))
    parser.add_argument("--subset", type=int, default=400, help="files in the 1-vs-2-worker comparison")
    args = parser.parse_args()

    manifest = pd.concat([load_corpus(name, args.corpora / name) for name in CORPORA], ignore_index=True)
    print(f"{len(manifest)} files in {', '.join(CORPORA)}")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    quiet = lambda message: None  # noqa: E731

    report = extract(manifest, args.out, num_workers=2, progress=quiet)
    print(report.summary().splitlines()[0])
    if report.extracted:
        print(f"full extraction: {report.extracted / report.seconds:.1f} files/s, "
              f"real-time factor {report.seconds / report.audio_seconds:.4f} "
              f"({report.audio_seconds / 60:.1f} min of audio in {report.seconds:.1f} s, 2 workers)")
    frame, features = FeatureStore(args.out).load()
    print(f"store: {len(frame)} utterances x {features.shape[1]} features, "
          f"all finite: {bool(pd.notna(features).all())}, failures: {len(FeatureStore(args.out).failures())}")

    subset = manifest.sample(n=min(args.subset, len(manifest)), random_state=0)
    extract(subset.head(8), tempfile.mkdtemp(), num_workers=2, progress=quiet)  # warm-up: imports, actor start
    seconds = {}
    for workers in (1, 2):
        started = time.perf_counter()
        result = extract(subset, tempfile.mkdtemp(), num_workers=workers, progress=quiet)
        seconds[workers] = time.perf_counter() - started
        print(f"{workers} worker(s): {len(subset)} files in {seconds[workers]:.1f} s "
              f"({result.extracted / seconds[workers]:.1f} files/s, "
              f"RTF {seconds[workers] / result.audio_seconds:.4f})")
    print(f"speed-up of 2 workers over 1: {seconds[1] / seconds[2]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
