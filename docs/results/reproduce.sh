#!/usr/bin/env bash
# The public-corpora reproduction behind docs/results: every Table 2 row (soft labels excepted: the
# public corpora carry no annotator votes), the merged baseline, the λ_W sweep of Figure 2 and the
# within-corpus row, 5 seeds each, then the report. Each search is an experiment file beside this
# script. Run from the repository root after extracting the features (see NOTES.md). Prints the wall
# time of each step and of the whole.
set -euo pipefail
DISTSER=${DISTSER:-.venv/bin/distser}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
HERE=docs/results
start=$(date +%s)
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
search() { step "$DISTSER" search --config "$HERE/$1.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""; }

search table2      # Table 2, LOCO rows at the paper's hyperparameters, and the merged baseline
search lambda-w    # Figure 2: cww over the paper's λ_W grid
search within      # Table 2's first row: within-corpus ce

step "$DISTSER" report --search public-table2 --search public-within --sweep public-lambda-w --storage "$RUNS" \
    --out "$HERE" --title "Public corpora (RAVDESS, TESS, SAVEE, EmoDB; LibriSpeech unlabeled), IS10, 5 seeds"
echo "== whole reproduction: $(( $(date +%s) - start )) s"
