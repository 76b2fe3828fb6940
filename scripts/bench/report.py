#!/usr/bin/env python3
"""Turn the RESULT/META lines of scripts/bench/proxy.sh into Markdown tables.

usage: report.py RESULTS_FILE

Lines read:
  META key free text...
  RESULT kind=wrk target=T round=R conc=C rps=.. p50_us=.. p99_us=.. err_*=.. non2xx=..
  RESULT kind=rss proc=P phase=idle|round1|...|after|stream rss_kb=.. hwm_kb=..
  RESULT kind=ttfb target=T n=.. ttfb_p50_ms=.. ...
  RESULT kind=open_streams target=T n=.. live=.. still_live=.. dead=.. ...
Everything is informational: ratios against baselines measured in the same run.
"""

import statistics
import sys
from collections import defaultdict

NAMES = {
    "direct": "direct (one upstream)",
    "haproxy": "HAProxy 2.6 (leastconn)",
    "haproxy1": "HAProxy, 1 thread",
    "haproxy_nd": "HAProxy + `option http-no-delay`",
    "hearth": "hearth (least_connections)",
    "litellm": "LiteLLM proxy",
}
ORDER = ["direct", "haproxy", "haproxy1", "haproxy_nd", "hearth", "litellm"]
ERR_KEYS = ["err_connect", "err_read", "err_write", "err_timeout", "non2xx"]


def parse(path):
    meta, rows = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("META "):
                _, key, *rest = line.split(" ", 2)
                meta[key] = rest[0] if rest else ""
            elif line.startswith("RESULT "):
                row = {}
                for item in line.split()[1:]:
                    if "=" in item:
                        k, v = item.split("=", 1)
                        row[k] = v
                rows.append(row)
    return meta, rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def us(v):
    """Format microseconds."""
    if v is None:
        return "–"
    if abs(v) >= 10000:
        return f"{v / 1000:.1f} ms"
    if abs(v) >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.0f} µs"


def ms(v):
    return "–" if v is None else f"{v:.2f} ms"


def mib(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MiB"


def ratio(a, b):
    if a is None or b is None or a < 0 or b <= 0:
        return None  # a negative "added" value is noise: no meaningful ratio
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def main():
    meta, rows = parse(sys.argv[1])
    out = []
    w = out.append

    # wrk: median over rounds per (target, conc)
    runs = defaultdict(list)
    for r in rows:
        if r.get("kind") == "wrk":
            runs[(r["target"], r["conc"])].append(r)
    targets = [t for t in ORDER if any(k[0] == t for k in runs)]

    def med(target, conc, key):
        vals = [num(r.get(key)) for r in runs.get((target, conc), [])]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def errs(target):
        total = 0
        for (t, _), rs in runs.items():
            if t == target:
                for r in rs:
                    total += sum(int(r.get(k, 0)) for k in ERR_KEYS)
        return total

    def requests(target):
        return sum(int(r.get("requests", 0)) for (t, _), rs in runs.items() if t == target
                   for r in rs)

    tick_us = 1e6 / float(meta.get("clk_tck", "100"))

    def cpu_per_req(target, conc):
        """CPU µs per request of the serving process (median over rounds)."""
        vals = [int(r["cpu_ticks"]) * tick_us / int(r["requests"])
                for r in runs.get((target, conc), [])
                if r.get("cpu_ticks") and int(r.get("requests", 0)) > 0]
        return statistics.median(vals) if vals else None

    def added(target, conc, key):
        p, d = med(target, conc, key), med("direct", conc, key)
        return None if p is None or d is None else p - d

    rounds = meta.get("rounds", "1")
    w(f"Run {meta.get('date', '?')} on {meta.get('machine', '?')}; "
      f"hearth {meta.get('hearth_rev', '?')}, {meta.get('haproxy_version', 'HAProxy ?')}, "
      f"{meta.get('wrk_version', 'wrk ?')}.")
    w(f"wrk: {meta.get('duration', '?')} s per measurement, {rounds} round(s) "
      f"(medians), c=1 with 1 thread, c=64 with 2 threads; "
      f"added = proxy − direct at the same concurrency; req/s range = min–max over rounds; "
      f"CPU/req = user+system CPU time of the serving process (for direct: the upstream) "
      f"÷ requests.")
    if "busy_before" in meta:
        w(f"CPU busy with other work (1 s samples, all cores): {meta['busy_before']}% before the "
          f"run, {meta.get('busy_after', '?')}% after it.")
    w("")
    w("| target | p50 c=1 | p99 c=1 | added p50 c=1 | added p99 c=1 | p50 c=64 | p99 c=64 "
      "| added p50 c=64 | added p99 c=64 | req/s c=64 | CPU/req c=1 | CPU/req c=64 "
      "| errors / requests |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in targets:
        direct = t == "direct"
        rps = med(t, "64", "rps")
        rps_vals = [num(r["rps"]) for r in runs.get((t, "64"), [])]
        rps_s = "–" if rps is None else f"{rps:,.0f}"
        if len(rps_vals) > 1:
            rps_s += f" ({min(rps_vals):,.0f}–{max(rps_vals):,.0f})"
        w(f"| {NAMES[t]} | {us(med(t, '1', 'p50_us'))} | {us(med(t, '1', 'p99_us'))} "
          f"| {'—' if direct else us(added(t, '1', 'p50_us'))} "
          f"| {'—' if direct else us(added(t, '1', 'p99_us'))} "
          f"| {us(med(t, '64', 'p50_us'))} | {us(med(t, '64', 'p99_us'))} "
          f"| {'—' if direct else us(added(t, '64', 'p50_us'))} "
          f"| {'—' if direct else us(added(t, '64', 'p99_us'))} "
          f"| {rps_s} | {us(cpu_per_req(t, '1'))} | {us(cpu_per_req(t, '64'))} "
          f"| {errs(t)} / {requests(t):,} |")
    w("")

    # memory
    rss = {}
    for r in rows:
        if r.get("kind") == "rss":
            rss[(r["proc"], r["phase"])] = (num(r.get("rss_kb")), num(r.get("hwm_kb")))
    procs = [p for p in ORDER if any(k[0] == p for k in rss)]

    def rss_of(p, phase):
        v = rss.get((p, phase))
        return v[0] if v else None

    def hwm(p):
        vals = [v[1] for k, v in rss.items() if k[0] == p and v[1] is not None]
        return max(vals) if vals else None

    round_phases = sorted({k[1] for k in rss if k[1].startswith("round")},
                          key=lambda s: int(s[5:]))
    if procs:
        w("| process (VmRSS) | idle, before load | "
          + "".join(f"after {ph.replace('round', 'round ')} | " for ph in round_phases)
          + "after streaming | peak (VmHWM) |")
        w("|---|---:|" + "---:|" * len(round_phases) + "---:|---:|")
        for p in procs:
            w(f"| {NAMES[p]} | {mib(rss_of(p, 'idle'))} | "
              + "".join(f"{mib(rss_of(p, ph))} | " for ph in round_phases)
              + f"{mib(rss_of(p, 'stream'))} | {mib(hwm(p))} |")
        w("")

    # streaming
    ttfb = {r["target"]: r for r in rows if r.get("kind") == "ttfb"}
    if ttfb:
        w(f"Streaming: fakes in `--mode stream --chunks {meta.get('chunks', '?')} "
          f"--delay-ms {meta.get('delay_ms', '?')}`, {meta.get('stream_n', '?')} sequential "
          "requests on one keep-alive connection (Python probe); TTFB = request sent → first "
          "body byte; gap = largest pause between two reads of one body.")
        w("")
        w("| target | TTFB p50 | TTFB p99 | added TTFB p50 | total p50 | total p99 "
          "| gap p50 | gap max | errors / n |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        d = num(ttfb.get("direct", {}).get("ttfb_p50_ms"))
        for t in ORDER:
            r = ttfb.get(t)
            if not r:
                continue
            p = num(r.get("ttfb_p50_ms"))
            add = "—" if t == "direct" or p is None or d is None else ms(p - d)
            bad = sum(int(r.get(k, 0)) for k in ("errors", "non200", "no_done"))
            w(f"| {NAMES[t]} | {ms(num(r.get('ttfb_p50_ms')))} | {ms(num(r.get('ttfb_p99_ms')))} "
              f"| {add} | {ms(num(r.get('total_p50_ms')))} | {ms(num(r.get('total_p99_ms')))} "
              f"| {ms(num(r.get('gap_p50_ms')))} | {ms(num(r.get('gap_max_ms')))} "
              f"| {bad} / {r.get('n', '?')} |")
        w("")

    # open streams
    opened = {r["target"]: r for r in rows if r.get("kind") == "open_streams"}
    if opened:
        n_open = meta.get("open_n", "?")
        w(f"Open streams: {n_open} streamed requests held open at once through each proxy "
          "(upstreams streaming for 100 s; RSS read once every stream had delivered its first "
          "bytes). Per stream = (RSS with the streams open − RSS idle) / streams live.")
        w("")
        w("| process | RSS idle | RSS with the streams open | per open stream | live / n "
          "| still live at release |")
        w("|---|---:|---:|---:|---:|---:|")
        for t in ORDER:
            r = opened.get(t)
            if not r:
                continue
            idle, held = rss_of(t, "idle"), rss_of(t, "open")
            live = int(r.get("live", 0))
            per = (f"{(held - idle) / live:.1f} KiB" if held is not None and idle is not None
                   and live else "—")
            w(f"| {NAMES[t]} | {mib(idle)} | {mib(held)} | {per} | {live} / {r.get('n', '?')} "
              f"| {r.get('still_live', '?')} |")
        w("")

    # hearth vs HAProxy
    if "hearth" in targets and "haproxy" in targets:
        w("| hearth vs HAProxy | hearth | HAProxy | hearth / HAProxy | vs HAProxy 1 thread "
          "| target | met? |")
        w("|---|---:|---:|---:|---:|---|---|")

        def line(label, key, conc, target):
            h, a = added("hearth", conc, key), added("haproxy", conc, key)
            a1 = added("haproxy1", conc, key)
            r, r1 = ratio(h, a), ratio(h, a1)
            met = "—"
            if target:
                met = "n/a" if r is None else ("yes" if r <= target else "**no**")
            w(f"| {label} | {us(h)} | {us(a)} | {fmt_ratio(r)} | {fmt_ratio(r1)} "
              f"| {'≤ %.1f×' % target if target else 'informational'} | {met} |")

        line("added p50, c=1", "p50_us", "1", 1.5)
        line("added p99, c=1", "p99_us", "1", None)
        line("added p50, c=64", "p50_us", "64", 1.5)
        line("added p99, c=64", "p99_us", "64", None)
        h, a, a1 = med("hearth", "64", "rps"), med("haproxy", "64", "rps"), med("haproxy1", "64", "rps")
        r = ratio(h, a)
        w(f"| req/s, c=64 | {h:,.0f} | {a:,.0f} | {fmt_ratio(r)} | {fmt_ratio(ratio(h, a1))} "
          f"| ≥ 0.8× | {'n/a' if r is None else ('yes' if r >= 0.8 else '**no**')} |")
        hi, ai = rss_of("hearth", "idle"), rss_of("haproxy", "idle")
        w(f"| RSS idle | {mib(hi)} | {mib(ai)} | {fmt_ratio(ratio(hi, ai))} "
          f"| {fmt_ratio(ratio(hi, rss_of('haproxy1', 'idle')))} | ≤ 8 MiB "
          f"| {'n/a' if hi is None else ('yes' if hi <= 8 * 1024 else '**no**')} |")
        ha, aa = rss_of("hearth", "after"), rss_of("haproxy", "after")
        w(f"| RSS after load | {mib(ha)} | {mib(aa)} | {fmt_ratio(ratio(ha, aa))} "
          f"| {fmt_ratio(ratio(ha, rss_of('haproxy1', 'after')))} | informational | — |")
        ho, ao = rss_of("hearth", "open"), rss_of("haproxy", "open")
        if ho is not None or ao is not None:
            w(f"| RSS with {meta.get('open_n', '?')} open streams | {mib(ho)} | {mib(ao)} "
              f"| {fmt_ratio(ratio(ho, ao))} | — | informational | — |")
        for conc in ("1", "64"):
            hc, ac, a1c = (cpu_per_req(t, conc) for t in ("hearth", "haproxy", "haproxy1"))
            w(f"| CPU per request, c={conc} | {us(hc)} | {us(ac)} | {fmt_ratio(ratio(hc, ac))} "
              f"| {fmt_ratio(ratio(hc, a1c))} | informational | — |")
        base = "haproxy_nd" if "haproxy_nd" in ttfb else "haproxy"
        if "hearth" in ttfb and base in ttfb and "direct" in ttfb:
            d = num(ttfb["direct"]["ttfb_p50_ms"])
            h = num(ttfb["hearth"]["ttfb_p50_ms"]) - d
            a = num(ttfb[base]["ttfb_p50_ms"]) - d
            label = " with http-no-delay" if base == "haproxy_nd" else ""
            w(f"| added TTFB p50 (stream; HAProxy{label}) | {ms(h)} | {ms(a)} "
              f"| {fmt_ratio(ratio(h, a))} | — | informational | — |")
        w("")

    # anything suspicious
    notes = []
    for t in targets:
        n = errs(t)
        if n:
            notes.append(f"{NAMES[t]}: {n} wrk errors (connect/read/write/timeout/non-2xx) "
                         f"in {requests(t):,} requests")
    for t, r in ttfb.items():
        bad = {k: r.get(k) for k in ("errors", "non200", "no_done", "warmup_errors")
               if r.get(k, "0") != "0"}
        if bad:
            notes.append(f"{NAMES[t]} streaming: {bad}")
        first, whole = num(r.get("ttfb_p50_ms")), num(r.get("total_p50_ms"))
        if t != "direct" and first is not None and whole and first > whole / 2:
            notes.append(f"{NAMES[t]} streaming: the first event arrives after {first:.1f} ms "
                         f"of a {whole:.1f} ms stream — events are held back, not streamed")
        gap, delay = num(r.get("gap_max_ms")), num(meta.get("delay_ms"))
        typical = num(r.get("gap_p50_ms"))
        if typical is not None and delay is not None and typical >= 2 * delay + 5:
            notes.append(f"{NAMES[t]} streaming: the typical largest pause inside a body is "
                         f"{typical:.1f} ms (events are {delay:.0f} ms apart): events are held "
                         "back (buffering, or Nagle/delayed-ACK stalls)")
        base_gap = num(ttfb.get("direct", {}).get("gap_max_ms"))
        if t != "direct" and gap is not None and base_gap is not None and gap >= base_gap + 30:
            notes.append(f"{NAMES[t]} streaming: one pause of {gap:.1f} ms inside a body "
                         f"(direct: at most {base_gap:.1f} ms); a one-off is scheduling noise, "
                         "a repeatable one is worth a look")
    for t in targets:
        p50 = med(t, "1", "p50_us")
        if t != "litellm" and p50 is not None and p50 >= 35000:
            notes.append(f"{NAMES[t]}: p50 at c=1 is {us(p50)} — looks like a 40 ms "
                         "Nagle/delayed-ACK stall")
    for key in ("busy_before", "busy_after"):
        if (num(meta.get(key)) or 0) > 10:
            notes.append(f"other processes kept the CPUs {meta[key]}% busy "
                         f"({key.replace('_', ' ')} the run): treat every number as noisy")
    if meta.get("hearth_alive", "yes") != "yes":
        notes.append("hearth was not running at the end of the benchmark")
    if meta.get("hearth_log"):
        notes.append(f"hearth logged (warn level and above), by kind: {meta['hearth_log']}")
    if notes:
        w("Observations from this run:")
        w("")
        for n in notes:
            w(f"- {n}")
        w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
