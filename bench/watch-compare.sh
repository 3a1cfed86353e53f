#!/usr/bin/env bash
# Watch fan-out side by side with etcd 3.4 (issue 12): WATCHERS watches held open over etcd's
# gRPC Watch API, the same client for both systems (etcdctl's interactive watch: PROCS processes,
# each one gRPC stream carrying WATCHERS/PROCS watches), on the leader.
# MODE=prefix (default, the issue's case): every watch is on the prefix bench-, so every write
#   goes to all of them. Two numbers per system: the event latency (bench/watch-probe.py writes
#   RATE probe keys a second and times each one's event at one more watcher; p50/p99), and write
#   throughput at 64 connections without and with the watchers (wrk; at that rate no client on
#   this machine drains WATCHERS copies of every write: the number shows what a flood of slow
#   watchers costs the writers).
# MODE=keys: watch i is on key bench-i, one of the 10,000 keys the writers cycle through
#   (bench/wrk/*-put.lua), so WATCHERS/10,000 of the writes are delivered: the service-discovery
#   shape; throughput only.
# Each round: etcd, then a fresh WRaft cluster. Keeps everything in bench/results/.
# Usage: bench/watch-compare.sh [ROUNDS=3] [SECONDS=10] [WATCHERS=1000] [PROCS=10]
#        env: MODE=prefix|keys, RATE=100 (probe writes/s)
#        (needs wrk, etcd, etcdctl, curl, python3; uses WRAFT or builds the release wraft)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/common.sh
ports_free 9080 9081 9082 11000 11001 11002 12379 12380 12381 23791 23792 23793 23801 23802 23803
rounds=${1:-3}; seconds=${2:-10}; watchers=${3:-1000}; procs=${4:-10}
mode=${MODE:-prefix}; rate=${RATE:-100}
[[ $mode == prefix || $mode == keys ]] || { echo "MODE must be prefix or keys" >&2; exit 2; }
[[ $rate =~ ^[0-9]+$ ]] && (( rate >= 1 && rate <= 1000 )) || { echo "RATE must be 1-1000" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 10 )) || { echo "ROUNDS must be 1-10" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 && seconds <= 120 )) || { echo "SECONDS must be 1-120" >&2; exit 2; }
[[ $watchers =~ ^[0-9]+$ ]] && (( watchers >= 1 && watchers <= 10000 )) || { echo "WATCHERS must be 1-10000" >&2; exit 2; }
[[ $procs =~ ^[0-9]+$ ]] && (( procs >= 1 && procs <= 100 && procs <= watchers )) || { echo "PROCS must be 1-100 and at most WATCHERS" >&2; exit 2; }
for tool in wrk etcd etcdctl curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y wrk etcd-server etcd-client curl" >&2; exit 2; }
done
wraft=${WRAFT:-}
if [ -z "$wraft" ]; then swift build -c release --product wraft >/dev/null; wraft=.build/release/wraft; fi
mkdir -p bench/results
results="bench/results/watch-compare-$(date -u +%Y%m%dT%H%M%SZ).txt"
work=$(mktemp -d)
cluster_pid=""; watcher_pids=()
# Stops the watchers' etcdctl processes (their counters then print what they saw).
stop_watchers() { pkill -f "etcdctl --endpoints .* watch -i" 2>/dev/null || true; for pid in "${watcher_pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; done; watcher_pids=(); }
cleanup() {
  stop_watchers
  [ -f "$work/etcd/pids" ] && kill $(cat "$work/etcd/pids") 2>/dev/null || true
  [ -n "$cluster_pid" ] && kill -INT "$cluster_pid" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
say() { echo "$*" | tee -a "$results"; }
export ETCDCTL_API=3

writes() {  # URL SCRIPT: writes per second at 64 connections
  wrk -t2 -c64 -d"${seconds}s" -s "bench/wrk/$2" "$1" | awk '/Requests\/sec/ {print $2}'
}
# start_watchers ENDPOINT: PROCS etcdctl processes, watches on bench-0 .. bench-(WATCHERS-1).
start_watchers() {
  local per=$(( (watchers + procs - 1) / procs )) p first last
  for p in $(seq 0 $((procs - 1))); do
    first=$((p * per)); last=$(( (p + 1) * per - 1 )); (( last >= watchers )) && last=$((watchers - 1))
    (( first > last )) && break
    { for k in $(seq "$first" "$last"); do
        if [ "$mode" = prefix ]; then echo "watch bench- --prefix"; else echo "watch bench-$k"; fi
      done; sleep $((seconds * 3 + 60)); } \
      | etcdctl --endpoints "$1" watch -i 2>&1 | grep -c '^PUT$' > "$work/watch-$p.count" &
    watcher_pids+=($!)
  done
  sleep 2  # let every watch be created before the load starts
}
events() { sleep 1; cat "$work"/watch-*.count 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

with_and_without() {  # SYSTEM URL SCRIPT WATCH_ENDPOINT
  local off on delivered probe=""
  off=$(writes "$2" "$3")
  rm -f "$work"/watch-*.count
  start_watchers "$4"
  if [ "$mode" = prefix ]; then
    probe=$(python3 bench/watch-probe.py "$1" "$2" "$4" "$rate" "$seconds")
    say "  $1 event latency with $watchers watchers at $rate writes/s: $probe"
  fi
  on=$(writes "$2" "$3")
  stop_watchers
  delivered=$(events)
  say "$(awk -v s="$1" -v off="$off" -v on="$on" -v w="$watchers" -v d="$delivered" \
        'BEGIN { printf "  %-6s without %8.0f writes/s   with %d watchers %8.0f writes/s (%+.1f%%)   %d events printed\n", s, off, w, on, 100 * (on - off) / off, d }')"
  last_on=$on; last_change=$(awk -v off="$off" -v on="$on" 'BEGIN { printf "%.1f", 100 * (on - off) / off }')
  last_p99=$(sed -n 's/.*event_p99_ms \([0-9.na]*\).*/\1/p' <<<"$probe")
}

say "bench/watch-compare.sh: $rounds round(s) of ${seconds}s, $watchers watchers ($mode) over $procs streams; $(nproc) cores, $(date -u)"
declare -a ratios e_changes w_changes e_p99 w_p99
for round in $(seq 1 "$rounds"); do
  say "round $round"
  bench/etcd-cluster.sh "$work/etcd" >/dev/null
  leader=$(etcd_leader)
  with_and_without etcd "$leader" etcd-put.lua "$leader"; e_on=$last_on; e_changes+=("$last_change"); e_p99+=("${last_p99:-nan}")
  kill $(cat "$work/etcd/pids"); rm -rf "$work/etcd"; sleep 1

  "$wraft" cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 --base-etcd-port 12379 --dir "$work/wraft" \
    --log-level warning > "$work/cluster.log" 2>&1 &
  cluster_pid=$!
  leader=$(wraft_leader 9080)
  [ -n "$leader" ] || { echo "wraft elected no leader; see $work/cluster.log" >&2; exit 1; }
  # The watches go to the leader's etcd port (node i serves it on 12379 + i), as etcd's go to its leader.
  index=$(( ${leader##*:} - 9080 ))
  watch_endpoint="http://127.0.0.1:$((12379 + index))"
  with_and_without wraft "http://$leader" wraft-put.lua "$watch_endpoint"; w_on=$last_on; w_changes+=("$last_change"); w_p99+=("${last_p99:-nan}")
  kill -INT "$cluster_pid"; wait "$cluster_pid" 2>/dev/null || true; cluster_pid=""; rm -rf "$work/wraft"; sleep 1
  ratios+=("$(awk -v a="$w_on" -v b="$e_on" 'BEGIN { printf "%.2f", a/b }')")
  say "  wraft/etcd with watchers: ${ratios[-1]}x"
done
say "over $rounds round(s):"
say "  etcd's change with watchers (%)   $(spread %s "${e_changes[@]}")"
say "  wraft's change with watchers (%)  $(spread %s "${w_changes[@]}")"
say "  wraft/etcd writes with watchers   $(spread %s "${ratios[@]}")"
[ "$mode" = prefix ] && say "  event p99 ms: etcd $(spread %s "${e_p99[@]}");  wraft $(spread %s "${w_p99[@]}")"
say "kept in $results"
