#!/usr/bin/env python3
"""Event latency of a watch: writes bench-probe-<n> at RATE writes/s for SECONDS through a
system's HTTP API, each value the writer's CLOCK_MONOTONIC in nanoseconds just before the
request, while `etcdctl watch --prefix bench-` (etcd's gRPC Watch, the same client for every
system) runs beside it. For each probe event the watch prints, latency = the moment the line was
read minus the value: the write's commit plus the event's way to the watcher. Prints one line:
`writes N put_p50_ms .. put_p99_ms .. events N event_p50_ms .. event_p99_ms .. missing N`.
Usage: watch-probe.py etcd|wraft HTTP_BASE_URL ETCD_ENDPOINT RATE SECONDS"""
import base64, json, subprocess, sys, threading, time, urllib.request

kind, base, endpoint = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
rate, seconds = float(sys.argv[4]), float(sys.argv[5])
assert kind in ("etcd", "wraft") and 1 <= rate <= 10000 and 1 <= seconds <= 600

def put(key, value):
    if kind == "etcd":
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value.encode()).decode()})
        request = urllib.request.Request(base + "/v3/kv/put", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
    else:
        request = urllib.request.Request(base + "/data/" + key, data=value.encode(), method="PUT",
                                         headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(request, timeout=10).read()

watch = subprocess.Popen(["etcdctl", "--endpoints", endpoint, "watch", "--prefix", "bench-"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
                         env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin:/usr/local/bin"})
event_ms, seen = [], set()

def read():
    lines = []
    for line in watch.stdout:
        lines.append(line.rstrip("\n"))
        if len(lines) == 3:  # PUT, key, value
            now = time.monotonic_ns()
            kind_line, key, value = lines
            lines = []
            if kind_line == "PUT" and key.startswith("bench-probe-") and value.isdigit() and key not in seen:
                seen.add(key)
                event_ms.append((now - int(value)) / 1e6)

reader = threading.Thread(target=read, daemon=True)
reader.start()
time.sleep(1.0)  # the watch is created
put_ms, written = [], 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    due = start + written / rate
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    sent = time.monotonic_ns()
    put("bench-probe-%d" % written, str(sent))
    put_ms.append((time.monotonic_ns() - sent) / 1e6)
    written += 1
deadline = time.monotonic() + 10
while len(seen) < written and time.monotonic() < deadline:
    time.sleep(0.05)
watch.terminate()

def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]

print("writes %d put_p50_ms %.2f put_p99_ms %.2f events %d event_p50_ms %.2f event_p99_ms %.2f missing %d" % (
    written, pct(put_ms, 50), pct(put_ms, 99), len(event_ms), pct(event_ms, 50), pct(event_ms, 99), written - len(seen)))
