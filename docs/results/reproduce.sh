#!/usr/bin/env bash
# The public-corpora reproduction behind docs/results: every Table 2 row (soft labels excepted: the
# public corpora carry no annotator votes), the merged baseline, the λ_W sweep of Figure 2 and the
# within-corpus row, 5 seeds each, then the report. Run from the repository root after extracting
# the features (see NOTES.md). Prints the wall time of each step and of the whole.
set -euo pipefail
PY=${PY:-.venv/bin/python}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
COMMON=(--store "$STORE" --unlabeled librispeech --seeds 5 --max-epochs 100 --storage "$RUNS" --quiet)
start=$(date +%s)
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }

# Table 2, LOCO rows at the paper's hyperparameters (λ_W = 4, λ_L = 0.001), and the merged baseline.
step "$PY" tune/search.py --name public-table2 --paper-params "${COMMON[@]}" \
    --method ce --method unsup --method ls --method unigram --method focal --method cp \
    --method pel-nl --method pel-al --method cww --method cww+unsup --method cww+unigram \
    --method cww+pel-al --method merged
# Figure 2: CWW over the paper's λ_W grid {1, ..., 5}.
step "$PY" tune/search.py --name public-lambda-w --method cww --grid "${COMMON[@]}"
# Table 2's first row: within-corpus CE (§3.2: speaker-disjoint folds, TESS word-disjoint).
step "$PY" tune/search.py --name public-within --protocol within --method ce --paper-params "${COMMON[@]}"

step "$PY" tune/report.py --search public-table2 --search public-within --sweep public-lambda-w \
    --tracking-uri "sqlite:///$RUNS/mlflow.db" --out docs/results \
    --title "Public corpora (RAVDESS, TESS, SAVEE, EmoDB; LibriSpeech unlabeled), IS10, 5 seeds"
echo "== whole reproduction: $(( $(date +%s) - start )) s"
