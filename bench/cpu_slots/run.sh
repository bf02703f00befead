#!/bin/bash
# Slots and threads on a CPU worker: the same 4-trial sweep (a U-Net on 64x64
# shapes) trained by one real worker in several layouts, one after the other
# in this script, so the figures compare on the same machine at the same time.
# Prints each layout's sweep wall time, images/s over the sweep and the
# ratio to the first layout (one slot with every core).
# usage: bench/cpu_slots/run.sh [EPOCHS]   (default 3; SEGTUNE_BIN: where the
# binaries are, default build/bin)
set -u
if [ "${1:-}" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
EPOCHS=${1:-3}
case $EPOCHS in '' | *[!0-9]* | 0) echo "EPOCHS must be a positive integer, got '$EPOCHS'" >&2; exit 2 ;; esac
BIN=${SEGTUNE_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
CORES=$(nproc)
TRAIN=512
TRIALS=4
D=$(mktemp -d /tmp/segtune-cpu-slots.XXXX)
trap 'rm -rf "$D"' EXIT
cat > "$D/spec.yaml" <<SPEC
name: cpu-slots-bench
objective: {metric: val_miou, mode: max}
budget: {epochs: $EPOCHS, parallelism: $TRIALS}
data: {dataset: shapes, image_size: 64, num_classes: 3, train_size: $TRAIN, val_size: 32, seed: 3}
model: {arch: unet, base_channels: 16, depth: 2}
training: {batch_size: 16, seed: 0}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: Adam, lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]}
SPEC

# Runs the sweep on one worker started with "$@" and sets SWEEP_SECONDS to its
# wall time; returns 1 (logs kept) when the sweep cannot be submitted, does not
# complete, or takes longer than 20 minutes.
sweep_seconds() {
  local port=$((20000 + RANDOM % 20000)) dir
  dir=$(mktemp -d "$D/run.XXXX")
  "$BIN/segtune-coordinator" --listen 127.0.0.1:$port --data-dir "$dir" > "$dir/coordinator.log" 2>&1 &
  local coordinator=$!
  "$BIN/segtune-worker" --coordinator 127.0.0.1:$port --device cpu "$@" > "$dir/worker.log" 2>&1 &
  local worker=$!
  local sweep="" tries=0
  while [ -z "$sweep" ] && [ $tries -lt 50 ]; do
    sweep=$("$BIN/segtune" --server 127.0.0.1:$port submit "$D/spec.yaml" 2>/dev/null)
    [ -z "$sweep" ] && sleep 0.2
    tries=$((tries + 1))
  done
  local start state="not submitted"
  start=$(date +%s.%N)
  if [ -n "$sweep" ]; then
    local deadline=$((SECONDS + 1200))
    while [ $SECONDS -lt $deadline ]; do
      state=$("$BIN/segtune" --server 127.0.0.1:$port status "$sweep" -o json 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)
      [ "$state" != "RUNNING" ] && [ -n "$state" ] && break
      sleep 0.2
    done
  fi
  SWEEP_SECONDS=$(echo "$(date +%s.%N) - $start" | bc)
  kill $worker 2>/dev/null; wait $worker 2>/dev/null
  kill $coordinator 2>/dev/null; wait $coordinator 2>/dev/null
  if [ "$state" != "COMPLETED" ]; then
    cp -r "$dir" /tmp/  # $D goes when the script exits
    echo "the sweep ended '$state' with worker flags: $*; logs kept in /tmp/$(basename "$dir")" >&2
    return 1
  fi
}

IMAGES=$((TRIALS * EPOCHS * TRAIN))
echo "cpu_slots: $TRIALS trials x $EPOCHS epochs x $TRAIN images, $CORES core(s)"
printf "%-44s %9s %10s %8s\n" layout seconds images/s ratio
first=""
run() {
  local label=$1; shift
  local seconds rate
  sweep_seconds "$@" || exit 1
  seconds=$SWEEP_SECONDS
  rate=$(echo "scale=1; $IMAGES / $seconds" | bc)
  [ -z "$first" ] && first=$rate
  printf "%-44s %9.1f %10s %8s\n" "$label" "$seconds" "$rate" "$(echo "scale=2; $rate / $first" | bc)"
}
run "1 slot x $CORES threads" --slots 1 --threads "$CORES"
run "$CORES slots x 1 thread (the default split)" --slots "$CORES"
run "$CORES slots x $CORES threads (oversubscribed)" --slots "$CORES" --threads "$CORES"
