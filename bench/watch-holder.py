#!/usr/bin/env python3
"""Holds N open GET /watch streams on one node and drains them until SIGTERM; then prints how
many revision messages it received and how many streams the node ended as too slow. Usage: watch-holder.py PORT N PREFIX"""
import selectors, signal, socket, sys

port, count, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
selector = selectors.DefaultSelector()
received = 0
ended_slow = 0
running = True

def stop(*_):
    global running
    running = False

signal.signal(signal.SIGTERM, stop)
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /watch?prefix={prefix} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ)
print("open", flush=True)
while running:
    for key, _ in selector.select(timeout=0.2):
        try:
            data = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        if not data:
            selector.unregister(key.fileobj)
            continue
        received += data.count(b"\nid: ") + data.startswith(b"id: ")
        ended_slow += data.count(b"watch_too_slow")
print(f"received {received} ended_slow {ended_slow}", flush=True)
