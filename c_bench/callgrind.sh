#!/usr/bin/env bash
# Instruction counts of raft_step per kind of step, for each scaling scenario: runs
# c_bench/scaling.c under callgrind, collecting only inside the raft_step calls of one kind at a time, and reads the dumps the
# program requests after each measured loop. Appends "<scenario>.<kind>.ir_per_step N" lines.
# Then runs a few throughput configurations of c_bench/bench.c the same way, collecting only
# inside raft_step: "<config>.ir_per_entry N" is what raft_step executes, on all servers, per
# committed entry.
# Usage: callgrind.sh SCALING_BINARY RESULTS_FILE [BENCH_BINARY]
set -euo pipefail
bin=$1
out=$2
bench=${3:-}
iterations=${CALLGRIND_ITERATIONS:-10000}
if ! command -v valgrind >/dev/null; then
    echo "callgrind.sh: valgrind not found; skipping instruction counts" >&2
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for scenario in ${SCALING_SCENARIOS:-scale.leader.v3.log1e3 scale.leader.v3.log1e7 scale.leader.v9.log1e3 \
    scale.leader.v9.log1e7 scale.follower.v3.log1e3 scale.follower.v3.log1e7 scale.reads.v3.log1e3}; do
    SCALING_ITERATIONS=$iterations valgrind --quiet --tool=callgrind --collect-atstart=no \
        --callgrind-out-file="$dir/$scenario" "$bin" - "$scenario"
    for dump in "$dir/$scenario".*; do
        [ -e "$dump" ] || continue
        label=$(sed -n 's/^desc: Trigger: Client Request: //p' "$dump")
        total=$(sed -n 's/^totals: //p' "$dump")
        [ -n "$label" ] || continue
        line="${label%/*}.ir_per_step $((total / ${label##*/}))"
        echo "$line"
        echo "$line" >>"$out"
    done
done

[ -n "$bench" ] || exit 0
for config in n3.e64.b1.w64 n3.e64.b1.w4096 n3.e64.b64.w64 n3.e64.b64.w4096 n5.e1024.b1.w64 \
    n5.e1024.b1.w4096; do
    BENCH_FILTER=$config BENCH_ROUNDS=1 BENCH_ENTRIES=${CALLGRIND_ENTRIES:-20000} valgrind --quiet \
        --tool=callgrind --collect-atstart=no --toggle-collect=raft_step \
        --callgrind-out-file="$dir/$config.%p" "$bench" >/dev/null
    for dump in "$dir/$config".*.*; do
        [ -e "$dump" ] || continue
        label=$(sed -n 's/^desc: Trigger: Client Request: //p' "$dump")
        total=$(sed -n 's/^totals: //p' "$dump")
        [ -n "$label" ] || continue
        line="${label%/*}.ir_per_entry $((total / ${label##*/}))"
        echo "$line"
        echo "$line" >>"$out"
    done
done
