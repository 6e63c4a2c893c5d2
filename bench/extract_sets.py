"""Extraction throughput and memory of each openSMILE feature set, on the same clips, in one run.

    .venv/bin/python bench/extract_sets.py [--corpora ../shared/corpora] [--files 120]

Each feature set extracts the same ``--files`` clips (drawn evenly from the four public emotional corpora)
with distser's :class:`~distser.features.Extractor` in a child process of its own, on one core: files per
second per core, the real-time factor, the child's peak resident memory and the bytes a stored utterance
takes. The sets run one after another in one run and are compared as ratios to IS10 (the machine is
shared; a ratio measured within one run is what holds). The first clip of each set is not timed (openSMILE
loads its configuration then). Ray's actor pool adds a per-batch overhead common to all sets:
``bench/extract_speed.py`` measures it and the speed-up of more workers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from pathlib import Path

OPENSMILE_SETS = ("IS10", "eGeMAPSv02", "ComParE_2016", "emobase")
CORPORA = ("ravdess", "tess", "savee", "emodb")


def _measure(feature_set: str, paths: list[str], results) -> None:
    """In a child process: extract ``paths`` with one Extractor; put seconds, audio seconds, peak RSS."""
    import soundfile

    from distser.features import Extractor

    extractor = Extractor(feature_set)
    extractor(paths[0])  # warm-up: openSMILE reads its configuration on the first call
    audio = sum(soundfile.info(path).duration for path in paths[1:])
    started = time.perf_counter()
    for path in paths[1:]:
        extractor(path)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    results.put((seconds, audio, peak_mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
    parser.add_argument("--corpora", type=Path, default=shared, help="folder of the public corpora")
    parser.add_argument("--files", type=int, default=120, help="clips each set extracts (default 120)")
    parser.add_argument("--sets", nargs="*", default=list(OPENSMILE_SETS), help="feature sets (default: all)")
    args = parser.parse_args()

    import pandas as pd

    from distser.corpora import load_corpus
    from distser.features import FEATURE_SETS

    manifest = pd.concat([load_corpus(name, args.corpora / name) for name in CORPORA], ignore_index=True)
    per_corpus = -(-(args.files + 1) // len(CORPORA))  # ceil: --files timed clips + one warm-up
    paths = (manifest.groupby("corpus", group_keys=False).sample(n=per_corpus, random_state=0)
             ["path"].astype(str).tolist()[: args.files + 1])
    print(f"{len(paths) - 1} clips ({per_corpus} per corpus of {', '.join(CORPORA)}), one core per set")
    print(f"{'feature set':<14}{'features':>9}{'files/s/core':>14}{'RTF':>9}{'peak MiB':>10}"
          f"{'bytes/utt':>11}{'time vs IS10':>14}")
    context = multiprocessing.get_context("spawn")  # a fresh process per set: its own peak memory
    baseline = None
    for feature_set in args.sets:
        results = context.Queue()
        child = context.Process(target=_measure, args=(feature_set, paths, results))
        child.start()
        seconds, audio, peak_mib = results.get()
        child.join()
        if child.exitcode:
            raise SystemExit(f"{feature_set}: the measuring process exited with {child.exitcode}")
        baseline = baseline or seconds
        files = len(paths) - 1
        print(f"{feature_set:<14}{FEATURE_SETS[feature_set]:>9}{files / seconds:>14.1f}{seconds / audio:>9.4f}"
              f"{peak_mib:>10.0f}{4 * FEATURE_SETS[feature_set]:>11}{seconds / baseline:>13.2f}x")


if __name__ == "__main__":
    main()
