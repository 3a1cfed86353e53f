#!/usr/bin/env bash
# Measures WRaft and etcd 3.4 side by side on this machine in paired rounds, with the same client
# (wrk), the same value size (256 B) and the same cluster shape (3 members on loopback, fsync on).
# Each round starts a fresh etcd cluster, measures it, stops it, then does the same for WRaft:
# writes at 1 and 64 connections, linearizable reads at 64 connections, RSS per member.
# It prints each round's numbers and WRaft/etcd ratios, then the ratios' min / median / max
# over the rounds (a shared machine moves a single run 10-20%: only same-run ratios carry over),
# and keeps everything in bench/results/compare-<UTC time>.txt.
# Usage: bench/compare.sh [ROUNDS=3] [SECONDS=10]
#        (needs wrk and etcd: apt-get install -y wrk etcd-server etcd-client; builds WRaft in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/common.sh
ports_free 9080 9081 9082 11000 11001 11002 23791 23792 23793 23801 23802 23803
rounds=${1:-3}
seconds=${2:-10}
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 20 )) || { echo "ROUNDS must be 1-20" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 && seconds <= 600 )) || { echo "SECONDS must be 1-600" >&2; exit 2; }
for tool in wrk etcd etcdctl curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y wrk etcd-server etcd-client curl" >&2; exit 2; }
done
swift build -c release --product wraft >/dev/null
mkdir -p bench/results
results="bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ).txt"
work=$(mktemp -d)
cluster_pid=""
cleanup() {
  [ -f "$work/etcd/pids" ] && kill $(cat "$work/etcd/pids") 2>/dev/null || true
  [ -n "$cluster_pid" ] && kill -INT "$cluster_pid" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
say() { echo "$*" | tee -a "$results"; }

# wrk's latency ("850.00us", "1.23ms", "2.01s") in milliseconds.

# measure NAME URL SCRIPT CONNECTIONS -> sets rps, p50, p99
measure() {
  local threads=$(( $4 < 2 ? 1 : 2 )) out
  out=$(wrk -t"$threads" -c"$4" -d"${seconds}s" --latency -s "bench/wrk/$3" "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  say "$(printf '  %-6s %-16s %10s req/s   p50 %8s ms   p99 %8s ms' "$1" "$3 c=$4" "$rps" "$p50" "$p99")"
}

# rss PIDS(comma separated) -> mean RSS in MiB
rss_mib() { ps -o rss= -p "$1" | awk '{ s+=$1; n++ } END { printf "%.1f", s/n/1024 }'; }

declare -a r_w64 r_w1p50 r_r64 r_rss
say "bench/compare.sh: $rounds paired rounds of ${seconds}s, $(nproc) cores, $(uname -r), $(date -u)"
for round in $(seq 1 "$rounds"); do
  say "round $round"
  bench/etcd-cluster.sh "$work/etcd" >/dev/null
  # Both systems are driven through their leader, so neither pays a forwarding hop.
  leader=$(etcd_leader)
  measure etcd "$leader" etcd-put.lua 1;  e_w1p50=$p50
  measure etcd "$leader" etcd-put.lua 64; e_w64=$rps
  measure etcd "$leader" etcd-get.lua 64; e_r64=$rps
  e_rss=$(rss_mib "$(paste -sd, "$work/etcd/pids")")
  kill $(cat "$work/etcd/pids"); rm -rf "$work/etcd"; sleep 1

  .build/release/wraft cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 --dir "$work/wraft" \
    --log-level warning > "$work/cluster.log" 2>&1 &
  cluster_pid=$!
  leader=$(wraft_leader 9080)
  [ -n "$leader" ] || { echo "wraft elected no leader; see $work/cluster.log" >&2; exit 1; }
  measure wraft "http://$leader" wraft-put.lua 1;  w_w1p50=$p50
  measure wraft "http://$leader" wraft-put.lua 64; w_w64=$rps
  measure wraft "http://$leader" wraft-get.lua 64; w_r64=$rps
  w_rss=$(rss_mib "$(pgrep -d, -f "wraft serve.*$work/wraft")")
  kill -INT "$cluster_pid"; wait "$cluster_pid" 2>/dev/null || true; cluster_pid=""; rm -rf "$work/wraft"; sleep 1

  r_w64+=("$(awk -v a="$w_w64" -v b="$e_w64" 'BEGIN { printf "%.2f", a/b }')")
  r_w1p50+=("$(awk -v a="$w_w1p50" -v b="$e_w1p50" 'BEGIN { printf "%.2f", a/b }')")
  r_r64+=("$(awk -v a="$w_r64" -v b="$e_r64" 'BEGIN { printf "%.2f", a/b }')")
  r_rss+=("$(awk -v a="$w_rss" -v b="$e_rss" 'BEGIN { printf "%.2f", a/b }')")
  say "  RSS per member: etcd $e_rss MiB, wraft $w_rss MiB"
  say "  wraft/etcd: writes c=64 ${r_w64[-1]}x, write p50 c=1 ${r_w1p50[-1]}x, reads c=64 ${r_r64[-1]}x, RSS ${r_rss[-1]}x"
done

say "wraft/etcd over $rounds rounds:"
say "  writes/s c=64     $(spread %.2f "${r_w64[@]}")   (goal: median >= 2.5, every round >= 2)"
say "  write p50 c=1     $(spread %.2f "${r_w1p50[@]}")   (goal: <= 0.4)"
say "  reads/s c=64      $(spread %.2f "${r_r64[@]}")   (goal: >= 3)"
say "  RSS per member    $(spread %.2f "${r_rss[@]}")   (goal: <= 0.5)"
say "kept in $results"
