#!/usr/bin/env bash
# Two builds of WRaft side by side (A = before, B = after), in paired rounds, with the same
# client and workloads as bench/compare.sh: wrk through the leader of a fresh 3-node
# `wraft cluster` (fsync on, 256 B values over 10,000 keys), writes at 64 connections, write
# p50 at 1 connection, linearizable reads at 64 connections, and the leader's CPU per write at
# 64 connections (process_cpu_seconds_total). Rounds alternate the order (A then B, B then A)
# so drift on a shared machine hits both. Prints each round and B/A's min / median / max.
# Usage: bench/ab.sh A_WRAFT B_WRAFT [ROUNDS=4] [SECONDS=8]   (needs wrk and curl)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/common.sh
ports_free 9080 9081 9082 11000 11001 11002
a=${1:?usage: bench/ab.sh A_WRAFT B_WRAFT [ROUNDS] [SECONDS]}
b=${2:?usage: bench/ab.sh A_WRAFT B_WRAFT [ROUNDS] [SECONDS]}
rounds=${3:-4}; seconds=${4:-8}
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds >= 1 && rounds <= 20 )) || { echo "ROUNDS must be 1-20" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 && seconds <= 120 )) || { echo "SECONDS must be 1-120" >&2; exit 2; }
for binary in "$a" "$b"; do [ -x "$binary" ] || { echo "$binary is not an executable" >&2; exit 2; }; done
for tool in wrk curl; do command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 2; }; done
mkdir -p bench/results
results="bench/results/ab-$(date -u +%Y%m%dT%H%M%SZ).txt"
work=$(mktemp -d)
cluster_pid=""
cleanup() { [ -n "$cluster_pid" ] && kill -INT "$cluster_pid" 2>/dev/null || true; sleep 1; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "$*" | tee -a "$results"; }
cpu() { curl -s "$1/metrics" | awk '$1 == "process_cpu_seconds_total" { print $2 }'; }

measure() {  # LABEL BINARY: sets w64 p50 r64 cpu_us
  local no_etcd=()  # builds without etcd's API have no such flag
  "$2" cluster --help 2>&1 | grep -q -- --no-etcd && no_etcd=(--no-etcd)
  "$2" cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 "${no_etcd[@]}" --dir "$work/c" \
    --log-level warning > "$work/cluster.log" 2>&1 &
  cluster_pid=$!
  local leader out c0 c1
  leader=$(wraft_leader 9080)
  [ -n "$leader" ] || { echo "$1 elected no leader; see $work/cluster.log" >&2; exit 1; }
  out=$(wrk -t1 -c1 -d"${seconds}s" --latency -s bench/wrk/wraft-put.lua "http://$leader")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  c0=$(cpu "http://$leader")
  out=$(wrk -t2 -c64 -d"${seconds}s" -s bench/wrk/wraft-put.lua "http://$leader")
  c1=$(cpu "http://$leader")
  w64=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  cpu_us=$(awk -v a="$c0" -v b="$c1" -v r="$w64" -v t="$seconds" 'BEGIN { printf "%.1f", 1e6 * (b - a) / (r * t) }')
  out=$(wrk -t2 -c64 -d"${seconds}s" -s bench/wrk/wraft-get.lua "http://$leader")
  r64=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  kill -INT "$cluster_pid"; wait "$cluster_pid" 2>/dev/null || true; cluster_pid=""; rm -rf "$work/c"; sleep 1
  say "$(printf '  %s  writes c=64 %9.0f/s  write p50 c=1 %6.3f ms  reads c=64 %9.0f/s  leader CPU %6.1f us/write' "$1" "$w64" "$p50" "$r64" "$cpu_us")"
}

declare -a q_w64 q_p50 q_r64 q_cpu
say "bench/ab.sh: A=$a B=$b, $rounds rounds of ${seconds}s, $(nproc) cores, $(date -u)"
for round in $(seq 1 "$rounds"); do
  say "round $round"
  if (( round % 2 )); then
    measure A "$a"; aw=$w64 ap=$p50 ar=$r64 ac=$cpu_us; measure B "$b"
  else
    measure B "$b"; bw=$w64 bp=$p50 br=$r64 bc=$cpu_us; measure A "$a"; aw=$w64 ap=$p50 ar=$r64 ac=$cpu_us
    w64=$bw p50=$bp r64=$br cpu_us=$bc
  fi
  q_w64+=("$(awk -v x="$w64" -v y="$aw" 'BEGIN { printf "%.3f", x/y }')")
  q_p50+=("$(awk -v x="$p50" -v y="$ap" 'BEGIN { printf "%.3f", x/y }')")
  q_r64+=("$(awk -v x="$r64" -v y="$ar" 'BEGIN { printf "%.3f", x/y }')")
  q_cpu+=("$(awk -v x="$cpu_us" -v y="$ac" 'BEGIN { printf "%.3f", x/y }')")
  say "  B/A: writes ${q_w64[-1]}, p50 ${q_p50[-1]}, reads ${q_r64[-1]}, leader CPU/write ${q_cpu[-1]}"
done
say "B/A over $rounds rounds:"
say "  writes/s c=64          $(spread %.3f "${q_w64[@]}")"
say "  write p50 c=1          $(spread %.3f "${q_p50[@]}")"
say "  reads/s c=64           $(spread %.3f "${q_r64[@]}")"
say "  leader CPU per write   $(spread %.3f "${q_cpu[@]}")"
say "kept in $results"
