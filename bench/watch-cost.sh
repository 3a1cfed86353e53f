#!/usr/bin/env bash
# The cost of watches (issue 12): write throughput at 64 connections with no watcher and with
# WATCHERS (default 1,000) `GET /watch?prefix=bench-` streams open on node 0 (every write
# matches them all), in paired rounds (bench/lib/paired-streams.sh). Prints every round, each
# pair's difference, the mean and the spread. Needs python3 (bench/watch-holder.py holds the streams).
# Usage: bench/watch-cost.sh [PAIRS] [SECONDS] [WATCHERS]   (builds the release wraft unless WRAFT is set)
set -euo pipefail
ulimit -n 8192 2>/dev/null || true  # WATCHERS sockets in the holder, and as many in node 0
cd "$(dirname "$0")/.."
pairs=${1:-5}
seconds=${2:-10}
watchers=${3:-1000}
name=watch-cost
source bench/lib/paired-streams.sh
open_streams() {
  python3 bench/watch-holder.py "$base_http" "$watchers" bench- >"$dir/watch.txt" &
  streams+=($!)
  for _ in $(seq 1 100); do grep -q open "$dir/watch.txt" 2>/dev/null && break; sleep 0.1; done
}
delivered() { grep -o 'received [0-9]*' "$dir/watch.txt" | cut -d' ' -f2 | tail -1 || true; }
with_label() { echo "with $watchers watchers"; }
run_pairs
