#!/bin/bash
# How many simulated slots one `segtune-worker --simulate` sustains against one
# coordinator, and what each report costs both processes (docs/simulate.md).
# usage: bench/simulate_capacity/run.sh SLOTS EPOCH_SECONDS MEASURE_SECONDS
# (SEGTUNE_BIN: where the binaries are; default build/bin)
set -u
if [ $# -ne 3 ] || [ "$1" = "--help" ]; then
  echo "usage: $0 SLOTS EPOCH_SECONDS MEASURE_SECONDS   (e.g. $0 256 0.5 15)" >&2
  [ "${1:-}" = "--help" ] && exit 0 || exit 2
fi
SLOTS=$1; PACE=$2; WINDOW=$3
BIN=${SEGTUNE_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
D=$(mktemp -d /tmp/segtune-simulate-capacity.XXXX)
PORT=$((20000 + RANDOM % 20000)); MPORT=$((PORT+1))
cat > $D/spec.yaml <<SPEC
name: bench
objective: {metric: val_miou, mode: max}
budget: {epochs: 1000, max_trials: $SLOTS, parallelism: $SLOTS}
data: {dataset: shapes, image_size: 32, num_classes: 4, train_size: 256, val_size: 64, seed: 7}
model: {arch: unet, base_channels: 8, depth: 3}
training: {batch_size: 16, seed: 0}
search:
  algorithm: random
  space:
    optimizer:
      - {name: momentum, lr: {loguniform: [1.0e-3, 0.1]}}
      - {name: Adam, lr: {loguniform: [1.0e-4, 3.0e-3]}}
    scheduler:
      - {name: CosineAnnealingLR, T_max: epochs}
SPEC
$BIN/segtune-coordinator --listen 127.0.0.1:$PORT --metrics-listen 127.0.0.1:$MPORT --data-dir $D > $D/coord.log 2>&1 &
C=$!
$BIN/segtune-worker --coordinator 127.0.0.1:$PORT --simulate --simulate-epoch-seconds $PACE --slots $SLOTS > $D/worker.log 2>&1 &
W=$!
sleep 2
$BIN/segtune --server 127.0.0.1:$PORT submit $D/spec.yaml -o json > $D/sub.json
sleep 5   # every slot busy
rows() { /usr/bin/python3 -c "import sqlite3;print(sqlite3.connect('file:$D/segtune.db?mode=ro',uri=True).execute('select count(*) from epochs').fetchone()[0])"; }
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
r0=$(rows); w0=$(cpu $W); c0=$(cpu $C)
sleep $WINDOW
r1=$(rows); w1=$(cpu $W); c1=$(cpu $C)
TCK=$(getconf CLK_TCK)
rss_w=$(awk '/VmRSS/{print $2}' /proc/$W/status); rss_c=$(awk '/VmRSS/{print $2}' /proc/$C/status)
thr=$(ls /proc/$W/task | wc -l)
echo "slots=$SLOTS pace=$PACE window=${WINDOW}s epochs_reported=$((r1-r0)) rate=$(echo "scale=1; ($r1-$r0)/$WINDOW" | bc)/s expected=$(echo "scale=1; $SLOTS/$PACE" | bc)/s"
echo "worker: cpu=$(echo "scale=3; ($w1-$w0)/$TCK/$WINDOW" | bc) cores, cpu/report=$(echo "scale=3; 1000*($w1-$w0)/$TCK/($r1-$r0)" | bc) ms, rss=${rss_w} kB, threads=$thr"
echo "coordinator: cpu=$(echo "scale=3; ($c1-$c0)/$TCK/$WINDOW" | bc) cores, cpu/report=$(echo "scale=3; 1000*($c1-$c0)/$TCK/($r1-$r0)" | bc) ms, rss=${rss_c} kB"
kill $W; wait $W; kill $C; wait $C
grep -ciE "error|warn" $D/worker.log
rm -rf $D
