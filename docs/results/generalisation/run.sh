#!/usr/bin/env bash
# The generalisation study behind docs/results/generalisation: the searches, then one report each.
# Run from the repository root after extracting the public features (docs/results/NOTES.md) into $STORE.
# STUDIES picks which searches run (default: all three; the LOTO search trains ~4x as many trials).
# Prints the wall time of each step; MLflow records the commit each search ran on (mlflow.source.git.commit).
set -euo pipefail
DISTSER=${DISTSER:-.venv/bin/distser}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
STUDIES=${STUDIES:-paper train-domain loto}
HERE=docs/results/generalisation
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
for study in $STUDIES; do
    step "$DISTSER" search --config "$HERE/$study.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
done
# One report per search: a report's rows are methods, and each search has its own ce row.
for study in $STUDIES; do
    step "$DISTSER" report --search "gen-$study" --storage "$RUNS" --out "$HERE/$study" \
        --title "Generalisation to unseen corpora ($study): public corpora, LOCO, 10 seeds"
done
