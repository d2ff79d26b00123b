#!/usr/bin/env bash
# Pretrain LogBERT on HDFS -> fine-tune on OpenStack with HDFS replay -> score a second, larger
# synthetic OpenStack corpus; the threshold chosen at fine-tuning (on validation) against the
# best cut on that corpus's own labels (the oracle, labelled as such in metrics.json).
#
#   LOGAD_SHARED_DATA=../shared/data bench/transfer.sh            # the issue's sizes
#   EPOCHS=2 FT_LINES=10000 LINES=10000 bench/transfer.sh          # a quick check of the commands
#
# Writes under $OUT (default bench/work/transfer): each stage's folder, and for the scored corpus
# eval/{metrics.json,predictions.parquet,threshold_sweep.csv,plots/*.png}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LOGAD_SHARED_DATA:-../shared/data}
OUT=${OUT:-bench/work/transfer}
EPOCHS=${EPOCHS:-10}
FT_LINES=${FT_LINES:-20000}   # the OpenStack corpus the model is fine-tuned on
LINES=${LINES:-50000}         # the corpus it is scored on (~15 % anomalous instances)
REPLAY=${REPLAY:-0.2}
logad() { "${PY:-.venv/bin/python}" -m logad "$@"; }

# 1. pretrain on HDFS (normal training blocks, chronological split)
logad ingest "$DATA/hdfs_loglead_2pct/HDFS_loglead2pct_shared.log.gz" --preset HDFS \
    --labels "$DATA/hdfs_loglead_2pct/anomaly_label.csv" --out "$OUT/hdfs/events"
logad parse "$OUT/hdfs/events" --out "$OUT/hdfs/parsed"
logad sessionize "$OUT/hdfs/parsed" --by block --out "$OUT/hdfs/sessions"
logad train --model sequence_logbert --input "$OUT/hdfs/sessions" --out "$OUT/hdfs/logbert" \
    --epochs "$EPOCHS"

# 2. fine-tune on OpenStack, RATIO x (its train sessions) of HDFS sessions replayed
for corpus in finetune:"$FT_LINES":1 scored:"$LINES":2; do
    IFS=: read -r name lines seed <<<"$corpus"
    logad synth openstack --out "$OUT/$name/corpus" --seed "$seed" --lines "$lines" --anomaly-ratio 0.15
    logad ingest "$OUT/$name/corpus/*.log" --preset OpenStack \
        --labels "$OUT/$name/corpus/anomaly_labels.txt" --out "$OUT/$name/events"
    logad parse "$OUT/$name/events" --out "$OUT/$name/parsed"
    logad sessionize "$OUT/$name/parsed" --by instance --out "$OUT/$name/sessions"
done
logad train --model sequence_logbert --input "$OUT/finetune/sessions" --out "$OUT/finetune/logbert" \
    --init-from "$OUT/hdfs/logbert" --replay "$OUT/hdfs/sessions:$REPLAY" --epochs "$EPOCHS"

# 3. score every session of the other corpus; its threshold is the fine-tuned model's own
logad score --model "$OUT/finetune/logbert" --input "$OUT/scored/sessions" --out "$OUT/scored/scores"
logad evaluate --scores "$OUT/scored/scores" --split all --out "$OUT/scored/eval"
