# Shared by bench/events-cost.sh and bench/watch-cost.sh: the cost of open streams measured as
# write throughput at 64 connections without and with them, in paired rounds (off, on, off, on,
# ...) against one `wraft cluster`, so that drift on a shared machine hits both sides.
# Odd pairs run without the streams first, even pairs with them first.
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

# prints one round's throughput (writes per second) and the whole cluster's CPU per write (µs,
# every member's process CPU over the round, from `wraft bench`'s cost lines): on a CPU-bound
# machine the second decides the first, and it moves less with the machine's other load.
round() {
  local out
  out=$("$wraft" bench "${nodes[@]}" --connections 64 --duration "${seconds}s" --warmup 1s --mode write)
  echo "$(grep -o '[0-9.]* ops/s' <<<"$out" | head -1 | cut -d' ' -f1) $(grep -o 'cluster CPU [0-9.]*' <<<"$out" | head -1 | awk '{print $3}')"
}
close_streams() {
  for pid in "${streams[@]}"; do kill "$pid" 2>/dev/null || true; done
  streams=()
}
run_pairs() {
  local offs=() ons=() off on pair off_cpu on_cpu
  if (( ${WARMUP:-0} > 0 )); then
    "$wraft" bench "${nodes[@]}" --connections 64 --duration "${WARMUP}s" --warmup 1s --mode write >/dev/null
  fi
  for pair in $(seq 1 "$pairs"); do
    # Odd pairs measure without the streams first, even pairs with them first, so a drift or an
    # order effect (a snapshot every 100,000 entries, the history's trimming) does not favour one side.
    if (( pair % 2 )); then
      read -r off off_cpu <<<"$(round)"
      open_streams
      read -r on on_cpu <<<"$(round)"
      close_streams
    else
      open_streams
      read -r on on_cpu <<<"$(round)"
      close_streams
      sleep 0.5
      read -r off off_cpu <<<"$(round)"
    fi
    offs+=("$off $off_cpu"); ons+=("$on $on_cpu")
    sleep 0.5
    awk -v p="$pair" -v off="$off" -v on="$on" -v oc="${off_cpu:-0}" -v nc="${on_cpu:-0}" -v e="$(delivered)" -v label="$(with_label)" \
      'BEGIN { printf "pair %d: without %8.0f writes/s (cluster CPU %.1f us/write), %s %8.0f writes/s (%.1f us/write): %+.1f%% writes, %+.1f%% CPU per write, %d delivered\n",
               p, off, oc, label, on, nc, 100 * (on - off) / off, (oc > 0 ? 100 * (nc - oc) / oc : 0), e }'
  done
  printf '%s\n' "${offs[@]}" >"$dir/off"; printf '%s\n' "${ons[@]}" >"$dir/on"
  paste "$dir/off" "$dir/on" | awk '
    function stats(name, sum, sumsq, n, min, max,   mean, sd) {
      mean = sum / n; sd = (n > 1) ? sqrt((sumsq - n * mean * mean) / (n - 1)) : 0
      printf "%s: per-pair change mean %+.1f%%, sd %.1f, range %+.1f%%..%+.1f%% (%d pairs)\n", name, mean, sd, min, max, n }
    { off += $1; on += $3; d = 100 * ($3 - $1) / $1; s1 += d; q1 += d * d; n++
      if (n == 1 || d < m1) m1 = d; if (n == 1 || d > x1) x1 = d
      if ($2 > 0) { c = 100 * ($4 - $2) / $2; s2 += c; q2 += c * c; k++
        if (k == 1 || c < m2) m2 = c; if (k == 1 || c > x2) x2 = c } }
    END { printf "mean without %.0f, with %.0f writes/s\n", off / n, on / n
          stats("writes/s", s1, q1, n, m1, x1)
          if (k > 0) stats("cluster CPU per write", s2, q2, k, m2, x2) }'
}
