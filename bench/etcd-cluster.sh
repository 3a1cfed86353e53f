#!/usr/bin/env bash
# Starts a 3-member etcd cluster on loopback (fsync on, 50 ms heartbeat, 300 ms election
# timeout: etcd wants it >= 5 heartbeats), the baseline WRaft is measured against. Needs Debian's etcd-server package.
# Usage: bench/etcd-cluster.sh DIR   (prints the client URLs; stop with: kill $(cat DIR/pids))
set -euo pipefail
dir=${1:?usage: etcd-cluster.sh DIR}
command -v etcd >/dev/null || { echo "etcd not found: apt-get install -y etcd-server etcd-client" >&2; exit 1; }
mkdir -p "$dir"
: > "$dir/pids"
for port in 23791 23792 23793 23801 23802 23803; do
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then echo "port $port is in use: stop the etcd left there first" >&2; exit 3; fi
done
cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$dir/e$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token wraft-bench \
    --heartbeat-interval 50 --election-timeout 300 --log-level error > "$dir/e$i.log" 2>&1 &
  echo $! >> "$dir/pids"
done
for _ in $(seq 1 100); do
  if ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23791 endpoint health >/dev/null 2>&1; then
    echo "http://127.0.0.1:23791 http://127.0.0.1:23792 http://127.0.0.1:23793"
    exit 0
  fi
  sleep 0.1
done
echo "etcd did not become healthy; see $dir/e*.log" >&2
exit 1
