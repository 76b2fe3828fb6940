#!/usr/bin/env python3
"""Streaming probe for scripts/bench/proxy.sh.

Sends N sequential streamed chat-completions requests over one keep-alive HTTP/1.1
connection and measures, per request, the time from sending the request to
  - the first body byte (the first SSE event): "ttfb",
  - the end of the body: "total",
and the largest gap between two reads of the body ("gap"; an SSE proxy that buffers, or a
Nagle/delayed-ACK stall, shows up as gaps far above the upstream's --delay-ms).

Prints one line `RESULT kind=ttfb ...` (milliseconds) for scripts/bench/report.py.
Standard library only; every loop is bounded by N and the socket timeout.
"""

import argparse
import http.client
import json
import math
import sys
import time


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("-n", type=int, default=200, help="measured requests")
    ap.add_argument("--warmup", type=int, default=5, help="requests before measuring")
    ap.add_argument("--model", default="bench-model")
    ap.add_argument("--auth", default="", help="bearer key (LiteLLM)")
    ap.add_argument("--tag", default="", help="copied into the result line")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    body = json.dumps({
        "model": args.model,
        "messages": [{"role": "user", "content": "Count to twenty."}],
        "max_tokens": 64,
        "stream": True,
    }).encode()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if args.auth:
        headers["Authorization"] = "Bearer " + args.auth

    def connect():
        return http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)

    conn = connect()
    ttfb, total, gaps, events = [], [], [], []
    errors = warm_errors = non200 = no_done = reconnects = 0
    first_error = ""
    for i in range(args.warmup + args.n):
        measured = i >= args.warmup
        try:
            t0 = time.perf_counter()
            conn.request("POST", args.path, body, headers)
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read()
                if measured:
                    non200 += 1
                    first_error = first_error or f"HTTP {resp.status}"
                else:
                    warm_errors += 1
                continue
            chunk = resp.read1(65536)
            t_first = time.perf_counter()
            data = [chunk]
            last, gap = t_first, 0.0
            for _ in range(100000):  # bounded: far more reads than any answer needs
                chunk = resp.read1(65536)
                now = time.perf_counter()
                if not chunk:
                    break
                gap = max(gap, now - last)
                last = now
                data.append(chunk)
            t_end = time.perf_counter()
            whole = b"".join(data)
            if resp.will_close:
                conn.close()
                conn = connect()
                reconnects += 1
        except (OSError, http.client.HTTPException) as e:
            if measured:
                errors += 1
                first_error = first_error or f"{type(e).__name__}: {e}"
            else:
                warm_errors += 1
            conn.close()
            conn = connect()
            reconnects += 1
            continue
        if not measured:
            continue
        if b"[DONE]" not in whole:
            no_done += 1
        ttfb.append((t_first - t0) * 1e3)
        total.append((t_end - t0) * 1e3)
        gaps.append(gap * 1e3)
        events.append(whole.count(b"data:"))
    conn.close()

    fields = [f"kind=ttfb {args.tag}".strip(), f"n={len(ttfb)}", f"errors={errors}",
              f"non200={non200}", f"warmup_errors={warm_errors}", f"no_done={no_done}",
              f"reconnects={reconnects}"]
    if ttfb:
        fields += [
            f"ttfb_p50_ms={pct(ttfb, 50):.3f}", f"ttfb_p99_ms={pct(ttfb, 99):.3f}",
            f"total_p50_ms={pct(total, 50):.3f}", f"total_p99_ms={pct(total, 99):.3f}",
            f"gap_p50_ms={pct(gaps, 50):.3f}", f"gap_max_ms={max(gaps):.3f}",
            f"events_min={min(events)}", f"events_max={max(events)}",
        ]
    print("RESULT " + " ".join(fields))
    if first_error:
        print(f"ttfb.py: first error: {first_error}", file=sys.stderr)
    return 0 if ttfb else 1


if __name__ == "__main__":
    sys.exit(main())
