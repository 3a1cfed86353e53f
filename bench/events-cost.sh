#!/usr/bin/env bash
# The cost of watching Raft: write throughput at 64 connections with and without an open /events
# stream on every member (as the dashboard opens them), in paired rounds (bench/lib/paired-streams.sh).
# Prints every round, each pair's difference, the mean and the spread.
# Usage: bench/events-cost.sh [PAIRS] [SECONDS]   (builds the release wraft unless WRAFT is set)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-5}
seconds=${2:-10}
name=events-cost
source bench/lib/paired-streams.sh
open_streams() {
  for i in 0 1 2; do
    curl -sN "127.0.0.1:$((base_http + i))/events" >"$dir/events-$i.txt" &
    streams+=($!)
  done
}
delivered() { cat "$dir"/events-*.txt | grep -c '^data:' || true; }
with_label() { echo "with 3 streams"; }
run_pairs
