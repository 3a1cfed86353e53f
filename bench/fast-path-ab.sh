#!/usr/bin/env bash
# The HTTP fast path's cost against Hummingbird's path, in paired rounds on one release binary:
# each round runs bench/jobs-per-write.sh (Swift jobs, syscalls, context switches per write: load
# does not move them) and bench/cpu-per-write.sh (throughput, latency, CPU per write) first with
# WRAFT_HTTP_FAST_PATH=off (every request through Hummingbird's per-connection task), then on.
# Compare within a round; a shared machine moves single runs.
# Usage: bench/fast-path-ab.sh [ROUNDS=3] [CONNECTIONS=1] [SECONDS=5]   (needs perf and wrk; root)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
connections=${2:-1}
seconds=${3:-5}
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 20 )) || { echo "ROUNDS must be 1-20" >&2; exit 2; }
[[ $connections =~ ^[0-9]+$ ]] && (( connections >= 1 && connections <= 1024 )) || { echo "CONNECTIONS must be 1-1024" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 && seconds <= 600 )) || { echo "SECONDS must be 1-600" >&2; exit 2; }
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    echo "== round $round, fast path $mode, $connections connections"
    WRAFT_HTTP_FAST_PATH=$mode bench/jobs-per-write.sh "$connections" "$seconds"
    WRAFT_HTTP_FAST_PATH=$mode bench/cpu-per-write.sh "$seconds" "$connections"
  done
done
