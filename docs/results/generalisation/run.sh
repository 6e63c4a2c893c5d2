#!/usr/bin/env bash
# The generalisation study behind docs/results/generalisation: three searches, then the report.
# Run from the repository root after extracting the public features (docs/results/NOTES.md) into $STORE.
# Prints the wall time of each step.
set -euo pipefail
DISTSER=${DISTSER:-.venv/bin/distser}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
HERE=docs/results/generalisation
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
for study in paper train-domain loto; do
    step "$DISTSER" search --config "$HERE/$study.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
done
step "$DISTSER" report --search gen-train-domain --search gen-loto --search gen-paper --storage "$RUNS" \
    --out "$HERE" --title "Generalisation to unseen corpora: public corpora, LOCO, 10 seeds"
