#!/usr/bin/env bash
# The cost of watching: write throughput at 64 connections with and without an open /events
# stream on every member (as the dashboard opens them), in one run against one `wraft cluster`,
# in paired rounds (off, on, off, on, ...) so that drift on a shared machine hits both sides.
# Prints every round, each pair's difference, the mean and the spread.
# Usage: bench/events-cost.sh [PAIRS] [SECONDS]   (builds the release wraft unless WRAFT is set)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-5}
seconds=${2:-10}
wraft=${WRAFT:-}
if [ -z "$wraft" ]; then
  swift build -c release --product wraft >/dev/null
  wraft=.build/release/wraft
fi
dir=$(mktemp -d /tmp/wraft-events-cost.XXXXXX)
base_http=$((20000 + RANDOM % 20000))
base_raft=$((base_http + 100))
"$wraft" cluster --nodes 3 --base-http-port "$base_http" --base-raft-port "$base_raft" --dir "$dir/cluster" --log-level warning \
  >"$dir/cluster.out" 2>&1 &
cluster_pid=$!
streams=()
cleanup() {
  for pid in "${streams[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "$cluster_pid" 2>/dev/null || true
  wait "$cluster_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do grep -q "(leader)" "$dir/cluster.out" 2>/dev/null && break; sleep 0.2; done
grep -q "(leader)" "$dir/cluster.out" || { echo "no leader: $(cat "$dir/cluster.out")" >&2; exit 1; }
nodes=()
for i in 0 1 2; do nodes+=(--node "127.0.0.1:$((base_http + i))"); done

round() {  # prints the throughput of one round, in writes per second
  "$wraft" bench "${nodes[@]}" --connections 64 --duration "${seconds}s" --warmup 1s --mode write \
    | grep -o '[0-9.]* ops/s' | head -1 | cut -d' ' -f1
}
open_streams() {
  for i in 0 1 2; do
    curl -sN "127.0.0.1:$((base_http + i))/events" >"$dir/events-$i.txt" &
    streams+=($!)
  done
}
close_streams() {
  for pid in "${streams[@]}"; do kill "$pid" 2>/dev/null || true; done
  streams=()
}
offs=(); ons=()
for pair in $(seq 1 "$pairs"); do
  off=$(round)
  open_streams
  on=$(round)
  close_streams
  offs+=("$off"); ons+=("$on")
  events=$(cat "$dir"/events-*.txt | grep -c '^data:' || true)
  awk -v p="$pair" -v off="$off" -v on="$on" -v e="$events" \
    'BEGIN { printf "pair %d: without %8.0f writes/s, with 3 streams %8.0f writes/s (%+.1f%%), %d events streamed\n", p, off, on, 100 * (on - off) / off, e }'
done
printf '%s\n' "${offs[@]}" >"$dir/off"; printf '%s\n' "${ons[@]}" >"$dir/on"
paste "$dir/off" "$dir/on" | awk '
  { off += $1; on += $2; d = 100 * ($2 - $1) / $1; sum += d; sumsq += d * d; n++
    if (n == 1 || d < min) min = d; if (n == 1 || d > max) max = d }
  END { mean = sum / n; sd = (n > 1) ? sqrt((sumsq - n * mean * mean) / (n - 1)) : 0
        printf "mean without %.0f, with %.0f writes/s; per-pair change mean %+.1f%%, sd %.1f, range %+.1f%%..%+.1f%% (%d pairs)\n",
          off / n, on / n, mean, sd, min, max, n }'
