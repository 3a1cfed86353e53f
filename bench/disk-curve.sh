#!/usr/bin/env bash
# The disk's curve (issue 10): writes through the leader at 1, 4, 16, 64, 128 and 256
# connections, for etcd 3.4 and for WRaft, with the same client (wrk, bench/wrk/*-put.lua, 256 B
# values over 10,000 keys) on 3 members on loopback with fsync on. For every level it prints
# throughput, p50/p99, the leader's WAL fsyncs per second and entries per fsync (group commit's
# batch), read from each system's own /metrics before and after the level:
#   etcd:  etcd_disk_wal_fsync_duration_seconds_count, etcd_server_proposals_committed_total
#   WRaft: wraft_fsync_seconds_count, wraft_ready_entries_sum
# and the leader's CPU per write (process_cpu_seconds_total, both systems export it).
# A round runs every level on a fresh etcd cluster, then on a fresh WRaft cluster; ROUNDS rounds.
# At high load a system bound by its disk shows fsyncs/s near the disk's rate and entries/fsync
# growing with the load; one bound by CPU shows fsyncs/s falling while CPU per write stays put.
# Usage: bench/disk-curve.sh [ROUNDS=1] [SECONDS=8] [LEVELS="1 4 16 64 128 256"]
#        (needs wrk, etcd, etcdctl, curl; uses WRAFT or builds the release wraft)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/common.sh
ports_free 9080 9081 9082 11000 11001 11002 23791 23792 23793 23801 23802 23803
rounds=${1:-1}
seconds=${2:-8}
levels=${3:-1 4 16 64 128 256}
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 10 )) || { echo "ROUNDS must be 1-10" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 && seconds <= 120 )) || { echo "SECONDS must be 1-120" >&2; exit 2; }
for level in $levels; do
  [[ $level =~ ^[0-9]+$ ]] && (( level >= 1 && level <= 1024 )) || { echo "each level must be 1-1024 connections" >&2; exit 2; }
done
for tool in wrk etcd etcdctl curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y wrk etcd-server etcd-client curl" >&2; exit 2; }
done
wraft=${WRAFT:-}
if [ -z "$wraft" ]; then swift build -c release --product wraft >/dev/null; wraft=.build/release/wraft; fi
ulimit -n 8192 2>/dev/null || true
mkdir -p bench/results
results="bench/results/disk-curve-$(date -u +%Y%m%dT%H%M%SZ).txt"
work=$(mktemp -d)
cluster_pid=""
cleanup() {
  [ -f "$work/etcd/pids" ] && kill $(cat "$work/etcd/pids") 2>/dev/null || true
  [ -n "$cluster_pid" ] && kill -INT "$cluster_pid" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
say() { echo "$*" | tee -a "$results"; }
# metric NAME from a scrape on stdin: the sum of every sample of that name (labels ignored).
metric() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%.6f", s }'; }

# level SYSTEM BASE_URL METRICS_URL SCRIPT FSYNC_METRIC ENTRIES_METRIC CONNECTIONS
level() {
  local system=$1 url=$2 metrics=$3 script=$4 fsync_name=$5 entries_name=$6 c=$7 threads before after out
  threads=$(( c < 2 ? 1 : 2 ))
  before=$(curl -s "$metrics")
  out=$(wrk -t"$threads" -c"$c" -d"${seconds}s" --latency -s "bench/wrk/$script" "$url")
  after=$(curl -s "$metrics")
  local rps p50 p99 f0 f1 e0 e1 c0 c1
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")" 2)
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")" 2)
  f0=$(metric "$fsync_name" <<<"$before"); f1=$(metric "$fsync_name" <<<"$after")
  e0=$(metric "$entries_name" <<<"$before"); e1=$(metric "$entries_name" <<<"$after")
  c0=$(metric process_cpu_seconds_total <<<"$before"); c1=$(metric process_cpu_seconds_total <<<"$after")
  say "$(awk -v s="$system" -v c="$c" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v t="$seconds" \
        -v f="$(awk -v a="$f0" -v b="$f1" 'BEGIN{print b-a}')" -v e="$(awk -v a="$e0" -v b="$e1" 'BEGIN{print b-a}')" \
        -v cpu="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
        'BEGIN { w = rps * t; printf "  %-6s c=%-4d %9.0f writes/s  p50 %7.2f ms  p99 %7.2f ms  leader: fsyncs %6.0f/s  entries/fsync %6.1f  CPU %6.1f us/write\n",
                 s, c, rps, p50, p99, f / t, (f > 0 ? e / f : 0), (w > 0 ? 1e6 * cpu / w : 0) }')"
}

say "bench/disk-curve.sh: $rounds round(s) of ${seconds}s per level, levels: $levels; $(nproc) cores, $(uname -r), $(date -u)"
for round in $(seq 1 "$rounds"); do
  say "round $round"
  bench/etcd-cluster.sh "$work/etcd" >/dev/null
  leader=$(etcd_leader)
  for c in $levels; do
    level etcd "$leader" "$leader/metrics" etcd-put.lua etcd_disk_wal_fsync_duration_seconds_count \
      etcd_server_proposals_committed_total "$c"
  done
  kill $(cat "$work/etcd/pids"); rm -rf "$work/etcd"; sleep 1

  "$wraft" cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 --dir "$work/wraft" \
    --log-level warning > "$work/cluster.log" 2>&1 &
  cluster_pid=$!
  leader=$(wraft_leader 9080)
  [ -n "$leader" ] || { echo "wraft elected no leader; see $work/cluster.log" >&2; exit 1; }
  for c in $levels; do
    level wraft "http://$leader" "http://$leader/metrics" wraft-put.lua wraft_fsync_seconds_count wraft_ready_entries_sum "$c"
  done
  kill -INT "$cluster_pid"; wait "$cluster_pid" 2>/dev/null || true; cluster_pid=""; rm -rf "$work/wraft"; sleep 1
done
say "kept in $results"
