#!/usr/bin/env bash
# The representations study behind docs/results/representations: each openSMILE set extracted into one store
# (files already there are skipped), the search, then the report. Run from the repository root; CORPORA is
# the folder of the shared corpora. Prints the wall time of each step; MLflow records the commit each search
# ran on (mlflow.source.git.commit). Extraction throughput and memory per set: bench/extract_sets.py.
set -euo pipefail
DISTSER=${DISTSER:-.venv/bin/distser}
STORE=${STORE:-features}
RUNS=${RUNS:-runs}
CORPORA=${CORPORA:-../shared/corpora}
HERE=docs/results/representations
step() { local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
for set in IS10 eGeMAPSv02 ComParE_2016; do
    step "$DISTSER" extract --store "$STORE" --feature-set "$set" --corpus "ravdess=$CORPORA/ravdess" \
        --corpus "tess=$CORPORA/tess" --corpus "savee=$CORPORA/savee" --corpus "emodb=$CORPORA/emodb" \
        --corpus "csv=$CORPORA/emovo/manifest.csv"
done
step "$DISTSER" search --config "$HERE/searched.toml" --set "data.store=\"$STORE\"" --set "tracking.storage=\"$RUNS\""
step "$DISTSER" report --search repr-ce --storage "$RUNS" --out "$HERE/report" \
    --title "Representations: IS10, eGeMAPSv02 and ComParE_2016, ce with the normalisation searched; public LOCO, EMOVO tested only"
