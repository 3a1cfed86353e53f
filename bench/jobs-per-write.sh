#!/usr/bin/env bash
# Counts, per committed write and per member, what does not depend on the machine's load: Swift
# jobs run (a uprobe on swift_job_run), system calls and context switches, beside CPU time.
# Jobs and syscalls per write are the steady way to see a task hop or a message added or saved.
# Usage: bench/jobs-per-write.sh [CONNECTIONS] [SECONDS]   (needs perf and wrk; run as root;
# builds WRaft in release mode)
set -uo pipefail
cd "$(dirname "$0")/.."
connections=${1:-64}
seconds=${2:-5}
swift build -c release --product wraft >/dev/null
concurrency=$(ldd .build/release/wraft | awk '/libswift_Concurrency/ {print $3}')
perf probe -q -x "$concurrency" swift_job_run 2>/dev/null || true
work=$(mktemp -d)
.build/release/wraft cluster --nodes 3 --base-http-port 9380 --base-raft-port 11300 --dir "$work/wraft" \
  --log-level warning > "$work/cluster.log" 2>&1 &
cluster_pid=$!
trap 'kill -INT $cluster_pid 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q leader "$work/cluster.log" && break; sleep 0.1; done
sleep 1
leader=$(curl -s localhost:9380/state | sed -n 's/.*"leader":{[^}]*"httpAddress":"\([^"]*\)".*/\1/p')
pids=$(pgrep -f "serve .*--data-dir $work/" | tr '\n' ' ')
stats=()
for pid in $pids; do
  port=$(tr '\0' ' ' < "/proc/$pid/cmdline" | sed -n 's/.*--http-port \([0-9]*\).*/\1/p')
  perf stat -x, -e probe_libswift_Concurrency:swift_job_run,raw_syscalls:sys_enter,context-switches,task-clock \
    -p "$pid" -o "$work/stat.$port" -- sleep "$seconds" &
  stats+=($!)
done
threads=$(( connections < 2 ? connections : 2 ))
wrk -t"$threads" -c"$connections" -d"${seconds}s" -s bench/wrk/wraft-put.lua "http://$leader" > "$work/wrk"
wait "${stats[@]}" 2>/dev/null
writes=$(awk '/requests in/ {print $1}' "$work/wrk")
echo "$writes writes at $connections connections in ${seconds}s; leader $leader"
for file in "$work"/stat.*; do
  port=${file##*.}
  role=$([ "$port" = "${leader##*:}" ] && echo leader || echo follower)
  awk -F, -v n="$writes" -v role="$role" -v port="$port" '/^[0-9]/ { v[$3] = $1 }
    END { printf "  :%s %-8s  jobs %5.1f  syscalls %5.1f  context switches %4.1f  CPU %4.0f us  (per write)\n",
          port, role, v["probe_libswift_Concurrency:swift_job_run"] / n, v["raw_syscalls:sys_enter"] / n,
          v["context-switches"] / n, v["task-clock"] * 1000 / n }' "$file"
done
