# Shared by the bench scripts that compare WRaft with etcd (compare.sh, disk-curve.sh, ab.sh,
# watch-compare.sh): wrk's latencies in milliseconds, the spread of per-round numbers, and the
# leaders of the clusters they start (etcd on bench/etcd-cluster.sh's ports, WRaft's `wraft
# cluster` on a base HTTP port).

# to_ms VALUE [DECIMALS=3]: wrk's "812.00us", "1.23ms" or "1.50s" in milliseconds.
to_ms() {
  awk -v d="${2:-3}" '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } printf "%." d "f", v }' <<<"$1"
}

# spread FORMAT VALUE...: "min X  median X  max X", each printed with FORMAT (e.g. %.2f).
spread() {
  local format=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v f="$format" '{ v[NR]=$1 } END { m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "min " f "  median " f "  max " f, v[1], m, v[NR] }'
}

# etcd_leader: the client URL of the leader of bench/etcd-cluster.sh's cluster.
etcd_leader() {
  ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793 \
    endpoint status -w simple | awk -F', ' '$5=="true" {print $1}'
}

# wraft_leader PORT: the leader's HTTP address as node PORT's /state names it, waiting up to
# 10 s; empty when none was named.
wraft_leader() {
  local leader=""
  for _ in $(seq 1 100); do
    leader=$(curl -s "localhost:$1/state" | sed -n 's/.*"leader":{[^}]*"httpAddress":"\([^"]*\)".*/\1/p' || true)
    [ -n "$leader" ] && break; sleep 0.1
  done
  echo "$leader"
}

# ports_free PORT...: exits the script (code 3) when any PORT is already listened on, naming its
# owner. The scripts use fixed ports; a cluster left over from an earlier run on them would be
# measured instead of the one the script starts.
ports_free() {
  local port busy=0
  for port in "$@"; do
    if ss -Hltnp "sport = :$port" 2>/dev/null | grep -q .; then
      echo "port $port is in use: $(ss -Hltnp "sport = :$port" | awk '{print $NF}' | head -1); stop that process first" >&2
      busy=1
    fi
  done
  (( busy == 0 )) || exit 3
}
