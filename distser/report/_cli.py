"""``distser report`` (and the ``tune/report.py`` shim): MLflow runs -> tables and figures."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from distser.define import EXPERIMENT

EPILOG = """examples:
  distser report --search public-table2 --search public-within --sweep public-lambda-w
  distser report --search my-search --storage /data/runs --out reports/my-search --log
  distser report --search search-20261124-0500 --tracking-uri http://127.0.0.1:5000

The report goes to --out (default reports/<first search>): README.md (Markdown: Table 2 with test-only
corpora, the selected configurations, paired differences against ce, the oracle view, Table 3), the
tables as CSV, and figure1.png, figure2.png (λ_W sweep) and weights.png (corpus weights over epochs).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distser report",
        description="The paper's Table 2 (test UA of each study's selected configuration, test-only corpora as "
        "extra columns), Table 3 (corpus weights), Figures 1 and 2, the corpus weights over epochs, paired "
        "differences against ce with intervals over seeds and held-out corpora, and the oracle view (an upper "
        "bound), from the MLflow runs of one or more searches.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search", action="append", required=True, dest="searches", metavar="NAME",
                        help="name of a search (its parent run); repeatable")
    parser.add_argument("--sweep", action="append", default=[], dest="sweeps", metavar="NAME",
                        help="a λ_W sweep search (e.g. distser search --method cww --grid): drawn in Figure 2, "
                        "kept out of Table 2; repeatable")
    parser.add_argument("--storage", default="runs",
                        help="the searches' --storage folder, whose mlflow.db is the default tracking store "
                        "(default runs)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///<--storage>/mlflow.db)")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"MLflow experiment (default {EXPERIMENT})")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default reports/<first search>)")
    parser.add_argument("--title", default=None, help="the report's title (default: the searches' names)")
    parser.add_argument("--log", action="store_true", help="also attach the files to each search's parent run")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="report a search that is still running or was interrupted (refused by default: its "
                        "selections may still change); the report says so and marks its incomplete studies")
    return parser


def tracking_uri(given: str | None, storage: str) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the SQLite file in ``--storage``."""
    if given:
        return given
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(storage).expanduser().resolve() / 'mlflow.db')}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    uri = tracking_uri(args.tracking_uri, args.storage)
    out = args.out if args.out is not None else Path("reports") / args.searches[0]
    title = args.title or f"distser report: {', '.join(args.searches)}"

    # MLflow first: a wrong store or search name is answered before scipy and matplotlib load.
    from ._collect import collect_trials, incomplete_studies, search_states, weight_histories

    try:
        trials = collect_trials(uri, args.searches, args.experiment)
        from ._tables import table2, table2_wide, weighting_trials

        sweep = collect_trials(uri, args.sweeps, args.experiment) if args.sweeps else None
        states = search_states(uri, [*args.searches, *args.sweeps], args.experiment)
        unfinished = [state for state in states.values() if not state.finished]
        import pandas as pd  # here, not at the top: --help stays fast

        incomplete = incomplete_studies(trials if sweep is None else pd.concat([trials, sweep]), states)
        if unfinished and not args.allow_incomplete:
            raise ValueError(f"{unfinished[0].describe()}: its selections may still change"
                             + (f" (incomplete studies: {', '.join(incomplete)})" if incomplete else "")
                             + "; report it when it has finished (distser search --resume), or pass "
                             "--allow-incomplete")
        histories = weight_histories(uri, weighting_trials(trials))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from ._write import log_report, write_report

    notes = [f"{state.describe()}: a partial report" for state in unfinished]
    if incomplete:
        notes.append("incomplete studies: " + "; ".join(f"{study} ({why})" for study, why in incomplete.items()))
    for note in notes:  # first, before anything else is printed
        print(f"warning: {note}")
    files = write_report(trials, out, title=title, sweep=sweep, histories=histories, notes=notes,
                         incomplete=set(incomplete))
    if args.log:
        log_report(uri, [*args.searches, *args.sweeps], files, args.experiment)
    print(f"Test UA (%) of the selected configurations ({uri}):")
    print(table2_wide(table2(trials)).to_string())
    print(f"\nreport: {out / 'README.md'}")
    print(f"files in {out}: {', '.join(f.name for f in files)}")
    if args.log:
        print(f"attached under report/ to the parent runs of {', '.join([*args.searches, *args.sweeps])}")
    return 0
