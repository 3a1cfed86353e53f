#!/usr/bin/env python3
"""Failover time of a 3-node WRaft cluster: kill -9 the leader under a steady write load and
report the time from the kill to the first write that succeeds after it.

Usage: bench/failover.py [ROUNDS]   (builds nothing: run `swift build -c release` first)

Each round starts a fresh `wraft cluster` (300 ms election timeout, 100 ms heartbeat), keeps one
writer per surviving node busy with PUTs of 256-byte values, kills the leader with SIGKILL, and
measures until a write *sent after the kill* is acknowledged.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRAFT = os.path.join(ROOT, ".build", "release", "wraft")
BASE_HTTP, BASE_RAFT = 9380, 11380


def get_state(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    connection.request("GET", "/state")
    return json.loads(connection.getresponse().read())


def wait_for_leader(ports, deadline):
    while time.monotonic() < deadline:
        for port in ports:
            try:
                leader = get_state(port).get("leader")
                if leader and leader.get("httpAddress"):
                    return int(leader["httpAddress"].rsplit(":", 1)[1])
            except (OSError, ValueError, http.client.HTTPException):
                pass
        time.sleep(0.05)
    raise RuntimeError("no leader")


def writer(port, stop, successes):
    value = b"v" * 256
    connection = None
    counter = 0
    while not stop.is_set():
        counter += 1
        sent = time.monotonic()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("PUT", f"/data/failover-{port}-{counter % 1000}", body=value)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                successes.append((sent, time.monotonic()))
        except (OSError, http.client.HTTPException):
            connection = None
            time.sleep(0.005)


def one_round():
    directory = tempfile.mkdtemp(prefix="wraft-failover-")
    cluster = subprocess.Popen(
        [WRAFT, "cluster", "--nodes", "3", "--base-http-port", str(BASE_HTTP), "--base-raft-port", str(BASE_RAFT),
         "--dir", directory, "--log-level", "warning", "--election-timeout-ms", "300", "--heartbeat-ms", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ports = [BASE_HTTP + i for i in range(3)]
        leader = wait_for_leader(ports, time.monotonic() + 20)
        pids = {}
        for line in subprocess.run(["pgrep", "-af", "wraft serve"], capture_output=True, text=True).stdout.splitlines():
            for port in ports:
                if f"--http-port {port} " in line and directory in line:
                    pids[port] = int(line.split()[0])
        stop = threading.Event()
        successes = []
        survivors = [port for port in ports if port != leader]
        threads = [threading.Thread(target=writer, args=(port, stop, successes)) for port in survivors]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        killed_at = time.monotonic()
        os.kill(pids[leader], signal.SIGKILL)
        deadline = killed_at + 10
        while time.monotonic() < deadline and not any(sent > killed_at for sent, _ in successes):
            time.sleep(0.005)
        stop.set()
        for thread in threads:
            thread.join()
        after = [done for sent, done in successes if sent > killed_at]
        return min(after) - killed_at if after else None
    finally:
        cluster.send_signal(signal.SIGINT)
        try:
            cluster.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cluster.kill()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = []
    for number in range(rounds):
        elapsed = one_round()
        print(f"round {number + 1}: " + (f"{elapsed:.3f} s" if elapsed is not None else "no write within 10 s"), flush=True)
        if elapsed is not None:
            times.append(elapsed)
    if times:
        times.sort()
        print(f"kill -9 of the leader to the next good write: median {times[len(times) // 2]:.3f} s, "
              f"min {times[0]:.3f} s, max {times[-1]:.3f} s over {len(times)} rounds")


if __name__ == "__main__":
    main()
