#!/usr/bin/env bash
# `etcdctl check perf` against etcd 3.4 (bench/etcd-cluster.sh: 3 members on loopback) and
# against WRaft (`wraft cluster`, 3 nodes, its etcd ports), one after the other in one run, and
# prints both reports. etcdctl's own load: puts of random keys from many clients for 60 s,
# then its verdict on throughput and latency. Needs Debian's etcd-server and etcd-client.
# Usage: bench/etcdctl-check-perf.sh [LOAD]   (LOAD: s, m, l or xl, etcdctl's sizes; default s)
set -euo pipefail
cd "$(dirname "$0")/.."
load=${1:-s}
command -v etcdctl >/dev/null || { echo "etcdctl not found: apt-get install -y etcd-client" >&2; exit 1; }
swift build -c release --product wraft >/dev/null
work=$(mktemp -d /tmp/etcdctl-check-perf.XXXXXX)
wraft_pid=
cleanup() {
  if [ -f "$work/etcd/pids" ]; then kill $(cat "$work/etcd/pids") 2>/dev/null || true; fi
  if [ -n "$wraft_pid" ]; then kill "$wraft_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
export ETCDCTL_API=3

echo "== etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}'), 3 members, check perf --load $load"
endpoints=$(bench/etcd-cluster.sh "$work/etcd" | tr ' ' ',')
timeout 300 etcdctl --endpoints "$endpoints" check perf --load "$load" 2>&1 | tr '\r' '\n' | grep -E '^(PASS|FAIL)' || true
kill $(cat "$work/etcd/pids") 2>/dev/null || true
rm -f "$work/etcd/pids"

echo "== WRaft ($(git rev-parse --short HEAD)), 3 nodes, check perf --load $load"
.build/release/wraft cluster --dir "$work/wraft" --log-level warning > "$work/wraft.out" 2>&1 &
wraft_pid=$!
for _ in $(seq 1 300); do
  grep -q '^ETCDCTL_API=3 ETCDCTL_ENDPOINTS=' "$work/wraft.out" && break
  sleep 0.1
done
line=$(grep '^ETCDCTL_API=3 ETCDCTL_ENDPOINTS=' "$work/wraft.out") \
  || { echo "wraft cluster did not start:"; cat "$work/wraft.out"; exit 1; }
endpoints=${line#*ETCDCTL_ENDPOINTS=}
timeout 300 etcdctl --endpoints "$endpoints" check perf --load "$load" 2>&1 | tr '\r' '\n' | grep -E '^(PASS|FAIL)' || true
