#!/usr/bin/env bash
# Where a 3-node WRaft cluster spends its CPU: writes per second through the leader (wrk, 256 B
# values), and each member's CPU share and CPU microseconds per write (user + system, from
# /proc). On this machine the cluster is CPU-bound, so these numbers decide throughput.
# Usage: bench/cpu-per-write.sh [SECONDS] [CONNECTIONS]   (needs wrk; builds WRaft in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
swift build -c release --product wraft >/dev/null
work=$(mktemp -d)
.build/release/wraft cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 --dir "$work/wraft" \
  --log-level warning > "$work/cluster.log" 2>&1 &
cluster_pid=$!
trap 'kill -INT $cluster_pid 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q leader "$work/cluster.log" && break; sleep 0.1; done
leader=$(curl -s localhost:9080/state | sed -n 's/.*"leader":{[^}]*"httpAddress":"\([^"]*\)".*/\1/p')
pids=$(pgrep -f "wraft serve .*--data-dir $work/" | tr '\n' ' ')
ticks() { for pid in $pids; do awk '{print $14 + $15}' "/proc/$pid/stat"; done; }
hz=$(getconf CLK_TCK)
before=($(ticks))
threads=$(( connections < 2 ? connections : 2 ))
out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s bench/wrk/wraft-put.lua "http://$leader")
after=($(ticks))
rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
echo "writes: $rate/s at $connections connections (p50 $(awk '$1=="50%" {print $2}' <<<"$out"), p99 $(awk '$1=="99%" {print $2}' <<<"$out")); leader $leader"
position=0
for pid in $pids; do
  port=$(tr '\0' ' ' < "/proc/$pid/cmdline" | sed -n 's/.*--http-port \([0-9]*\).*/\1/p')
  used=$(( ${after[$position]} - ${before[$position]} ))
  awk -v used="$used" -v hz="$hz" -v rate="$rate" -v s="$seconds" -v port="$port" -v leader="${leader##*:}" \
    'BEGIN { printf "  node :%s%s  CPU %3.0f%%  %5.1f us per write\n", port, (port == leader ? " (leader)" : "         "),
             100 * used / hz / s, 1e6 * used / hz / (rate * s) }'
  position=$((position + 1))
done
