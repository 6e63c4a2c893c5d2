#!/usr/bin/env bash
# The normalisation study behind docs/results/normalisation: the searches, then one report over all of them.
# Run from the repository root after extracting the public features and EMOVO into $STORE:
#   distser extract --store $STORE --corpus ravdess=... --corpus tess=... --corpus savee=... --corpus emodb=... \
#       --corpus librispeech=... --corpus csv=../shared/corpora/emovo/manifest.csv
# Prints the wall time of each step; MLflow records the commit each search ran on (mlflow.source.git.commit).
set -euo pipefail
DISTSER=${DISTSER:-.venv/bin/distser}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
HERE=docs/results/normalisation
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
for norm in global corpus speaker; do
    step "$DISTSER" search --config "$HERE/ce-fixed.toml" --name "norm-ce-$norm" --normalization "$norm" \
        --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
done
# The robust variants (median and IQR instead of mean and standard deviation).
for norm in corpus-robust speaker-robust; do
    step "$DISTSER" search --config "$HERE/ce-fixed.toml" --name "norm-ce-$norm" --normalization "$norm" \
        --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
done
# The targets not adapted (--no-adapt-target: held-out and test-only corpora by the training statistics);
# `global` is the same either way.
for norm in corpus speaker; do
    step "$DISTSER" search --config "$HERE/ce-fixed.toml" --name "norm-ce-$norm-no-adapt" --normalization "$norm" \
        --no-adapt-target --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
done
step "$DISTSER" search --config "$HERE/searched.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
step "$DISTSER" search --config "$HERE/methods.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
step "$DISTSER" search --config "$HERE/loto.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
step "$DISTSER" search --config "$HERE/loto-pel.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
step "$DISTSER" report --search norm-ce-global --search norm-ce-corpus --search norm-ce-speaker \
    --search norm-searched --storage "$RUNS" --out "$HERE/report" \
    --title "Normalisation and target adaptation: public corpora, LOCO, EMOVO tested only"
step "$DISTSER" report --search norm-ce-corpus --search norm-ce-corpus-no-adapt --search norm-ce-speaker \
    --search norm-ce-speaker-no-adapt --storage "$RUNS" --out "$HERE/report-no-adapt" \
    --title "Normalisation with and without adapting to the target: public corpora, LOCO, EMOVO tested only"
step "$DISTSER" report --search norm-ce-global --search norm-ce-corpus --search norm-ce-speaker \
    --search norm-searched-methods --storage "$RUNS" --out "$HERE/report-methods" \
    --title "Every method with the normalisation searched: public corpora, LOCO, EMOVO tested only"
step "$DISTSER" report --search norm-ce-global --search norm-ce-corpus --search norm-ce-speaker \
    --search norm-loto --search norm-loto-pel --storage "$RUNS" --out "$HERE/report-loto" \
    --title "The normalisation selected by leave-one-train-corpus-out: public corpora, LOCO, EMOVO tested only"
step "$DISTSER" report --search norm-ce-global --search norm-ce-corpus --search norm-ce-speaker \
    --search norm-ce-corpus-robust --search norm-ce-speaker-robust --storage "$RUNS" --out "$HERE/report-robust" \
    --title "Robust normalisation (median and IQR): public corpora, LOCO, EMOVO tested only"
