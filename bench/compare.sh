#!/usr/bin/env bash
# Measures WRaft and etcd side by side on this machine, with the same client (wrk), the same
# value size (256 B) and the same cluster shape (3 members on loopback, fsync on):
# writes at 1 and 64 connections, and linearizable reads at 64 connections.
# Usage: bench/compare.sh [SECONDS]   (needs wrk and etcd: apt-get install -y wrk etcd-server etcd-client;
#        builds WRaft in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
swift build -c release --product wraft >/dev/null
work=$(mktemp -d)
cleanup() {
  [ -f "$work/etcd/pids" ] && kill $(cat "$work/etcd/pids") 2>/dev/null || true
  [ -n "${cluster_pid:-}" ] && kill -INT "$cluster_pid" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT

run() {  # name url script connections
  local threads=$(( $4 < 2 ? 1 : 2 ))
  local out
  out=$(wrk -t"$threads" -c"$4" -d"${seconds}s" --latency -s "bench/wrk/$3" "$2")
  printf '%-6s %-22s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$3 c=$4" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")"
}

bench/etcd-cluster.sh "$work/etcd" >/dev/null
# Both systems are driven through their leader, so neither pays a forwarding hop.
etcd_leader=$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793 \
  endpoint status -w simple | awk -F', ' '$5=="true" {print $1}')
run etcd "$etcd_leader" etcd-put.lua 1
run etcd "$etcd_leader" etcd-put.lua 64
run etcd "$etcd_leader" etcd-get.lua 64
echo "etcd RSS per member (KiB): $(ps -o rss= -p "$(paste -sd, "$work/etcd/pids")" | tr '\n' ' ')"
kill $(cat "$work/etcd/pids"); rm -f "$work/etcd/pids"

.build/release/wraft cluster --nodes 3 --base-http-port 9080 --base-raft-port 11000 --dir "$work/wraft" \
  --log-level warning > "$work/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 100); do grep -q leader "$work/cluster.log" && break; sleep 0.1; done
leader=$(curl -s localhost:9080/state | sed -n 's/.*"leader":{[^}]*"httpAddress":"\([^"]*\)".*/\1/p')
run wraft "http://$leader" wraft-put.lua 1
run wraft "http://$leader" wraft-put.lua 64
run wraft "http://$leader" wraft-get.lua 64
echo "wraft RSS per member (KiB): $(ps -o rss= -p "$(pgrep -d, -f 'wraft serve')" | tr '\n' ' ')"
