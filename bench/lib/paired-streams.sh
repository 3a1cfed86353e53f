# Shared by bench/events-cost.sh and bench/watch-cost.sh: the cost of open streams measured as
# write throughput at 64 connections without and with them, in paired rounds (off, on, off, on,
# ...) against one `wraft cluster`, so that drift on a shared machine hits both sides.
# The caller sets `pairs`, `seconds` and `name`, sources this file, defines `open_streams` (which
# appends the pids it starts to `streams`), `delivered` (prints how much the streams received)
# and `with_label` (e.g. "with 3 streams"), then calls `run_pairs`.
# Uses: WRAFT (a wraft binary; default: build the release one), WARMUP (seconds of writes before
# the first pair, not counted, default 0: a fresh cluster slows down until its history reaches
# its byte bound, about 220,000 writes of 256 B, and that drift would favour whichever side
# runs first in each pair).
wraft=${WRAFT:-}
if [ -z "$wraft" ]; then
  swift build -c release --product wraft >/dev/null
  wraft=.build/release/wraft
fi
dir=$(mktemp -d "/tmp/wraft-$name.XXXXXX")
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
close_streams() {
  for pid in "${streams[@]}"; do kill "$pid" 2>/dev/null || true; done
  streams=()
}
run_pairs() {
  local offs=() ons=() off on pair
  if (( ${WARMUP:-0} > 0 )); then
    "$wraft" bench "${nodes[@]}" --connections 64 --duration "${WARMUP}s" --warmup 1s --mode write >/dev/null
  fi
  for pair in $(seq 1 "$pairs"); do
    off=$(round)
    open_streams
    on=$(round)
    close_streams
    offs+=("$off"); ons+=("$on")
    sleep 0.5
    awk -v p="$pair" -v off="$off" -v on="$on" -v e="$(delivered)" -v label="$(with_label)" \
      'BEGIN { printf "pair %d: without %8.0f writes/s, %s %8.0f writes/s (%+.1f%%), %d delivered\n", p, off, label, on, 100 * (on - off) / off, e }'
  done
  printf '%s\n' "${offs[@]}" >"$dir/off"; printf '%s\n' "${ons[@]}" >"$dir/on"
  paste "$dir/off" "$dir/on" | awk '
    { off += $1; on += $2; d = 100 * ($2 - $1) / $1; sum += d; sumsq += d * d; n++
      if (n == 1 || d < min) min = d; if (n == 1 || d > max) max = d }
    END { mean = sum / n; sd = (n > 1) ? sqrt((sumsq - n * mean * mean) / (n - 1)) : 0
          printf "mean without %.0f, with %.0f writes/s; per-pair change mean %+.1f%%, sd %.1f, range %+.1f%%..%+.1f%% (%d pairs)\n",
            off / n, on / n, mean, sd, min, max, n }'
}
