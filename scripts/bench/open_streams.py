#!/usr/bin/env python3
"""Open-streams probe for scripts/bench/proxy.sh: holds N streamed requests open at once.

Opens N connections to 127.0.0.1:PORT, sends one streamed chat-completions request on each,
and waits until every stream has delivered its first body bytes (so each is live inside the
proxy, holding its upstream connection). Then it prints `READY ...`, keeps reading (and
discarding) until the file --release-file exists or --hold seconds pass, closes everything and
prints one line `RESULT kind=open_streams ...` for scripts/bench/report.py.

Standard library only; every wait is bounded (--ready-timeout, --hold). The upstreams must
stream slowly enough to outlast the hold (proxy.sh uses --chunks 400 --delay-ms 250).
"""

import argparse
import json
import resource
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--model", default="bench-model")
    ap.add_argument("--release-file", required=True)
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    ap.add_argument("--hold", type=float, default=120.0)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n + 1024), hard))

    body = json.dumps({
        "model": a.model,
        "stream": True,
        "messages": [{"role": "user", "content": "hold this stream open"}],
    }).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    sel = selectors.DefaultSelector()
    status = {}  # socket -> "head" | "live" | "dead"
    errors = 0
    opened_at = time.monotonic()
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", a.port))
            s.sendall(request)
        except OSError:
            errors += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        status[s] = b""

    live = set()
    dead = set()
    non200 = 0

    def pump(timeout):
        nonlocal non200
        for key, _ in sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                dead.add(s)
                live.discard(s)
                continue
            if s in live:
                continue
            buf = status[s] + data
            status[s] = buf
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            if not buf.startswith(b"HTTP/1.1 200"):
                non200 += 1
                sel.unregister(s)
                s.close()
                dead.add(s)
                continue
            if len(buf) > head_end + 4:  # the first body bytes: the stream is flowing
                live.add(s)
                status[s] = b""

    deadline = time.monotonic() + a.ready_timeout
    while len(live) + len(dead) < len(status) and time.monotonic() < deadline:
        pump(0.2)
    ready_s = time.monotonic() - opened_at
    print(f"READY live={len(live)} dead={len(dead)} connect_errors={errors} "
          f"non200={non200} after={ready_s:.1f}s", flush=True)

    import os
    hold_until = time.monotonic() + a.hold
    while not os.path.exists(a.release_file) and time.monotonic() < hold_until:
        pump(0.1)
    still = len(live)
    for s in list(status):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
    tag = f" {a.tag}" if a.tag else ""
    print(f"RESULT kind=open_streams{tag} n={a.n} live={len(live)} still_live={still} "
          f"dead={len(dead)} connect_errors={errors} non200={non200} ready_s={ready_s:.1f}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
