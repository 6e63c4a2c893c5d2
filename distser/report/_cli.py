"""Command line of ``tune/report.py``: MLflow runs -> tables and figures."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EPILOG = """examples:
  python tune/report.py --search public-table2 --search public-within --sweep public-lambda-w --out docs/results
  python tune/report.py --search search-20261124-0500 --tracking-uri http://127.0.0.1:5000 --log
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tune/report.py",
        description="Regenerate the paper's Table 2 (test UA), Table 3 (corpus weights), Figures 1 and 2 and "
        "paired differences against ce from the MLflow runs of one or more searches.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search", action="append", required=True, dest="searches", metavar="NAME",
                        help="name of a search (its parent run); repeatable")
    parser.add_argument("--sweep", action="append", default=[], dest="sweeps", metavar="NAME",
                        help="a λ_W sweep search (e.g. search.py --method cww --grid): drawn in Figure 2, "
                        "kept out of Table 2; repeatable")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///runs/mlflow.db"),
                        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///runs/mlflow.db)")
    parser.add_argument("--experiment", default="distser")
    parser.add_argument("--out", type=Path, default=Path("docs/results"), help="output folder (default docs/results)")
    parser.add_argument("--title", default="distser results")
    parser.add_argument("--log", action="store_true", help="also attach the files to each search's parent run")
    args = parser.parse_args(argv)

    from ._collect import collect_trials
    from ._write import log_report, write_report

    try:
        trials = collect_trials(args.tracking_uri, args.searches, args.experiment)
        sweep = collect_trials(args.tracking_uri, args.sweeps, args.experiment) if args.sweeps else None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = write_report(trials, args.out, title=args.title, sweep=sweep)
    if args.log:
        log_report(args.tracking_uri, [*args.searches, *args.sweeps], files, args.experiment)
    print((args.out / "README.md").read_text())
    print(f"wrote {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0
