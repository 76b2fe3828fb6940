#!/usr/bin/env python3
"""The demo's closing report, from what the demo collected in its work directory:

    report.py --work DIR --config FILE [--heatmap SVG]

DIR holds requests.log (household.py's `@json` lines), usage.json (`hearth usage --json`),
cloud.log / local.log (the fake upstreams' `--summary` line), and, when the namespaced home
ran, iperf-DEVICE.json (iperf3 -J), vpn.json (the kill-switch observations) and plan.txt.
Every number printed comes from one of those files; the configured limits come from FILE.
Exit status 1 when something the demo claims did not happen (a device over its cap, a leak,
counts that disagree), so the demo fails loudly instead of telling a wrong story.
"""

import argparse
import json
import os
import re
import sys
from collections import defaultdict

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
    return ok


def uci(path):
    """Minimal reading of a UCI file: {(type, name): {option: value or [values]}}."""
    sections, cur = {}, None
    for line in open(path):
        w = re.findall(r"'[^']*'|\"[^\"]*\"|\S+", line.split("#", 1)[0])
        if not w:
            continue
        w = [x.strip("'\"") for x in w]
        if w[0] == "config":
            cur = sections.setdefault((w[1], w[2] if len(w) > 2 else str(len(sections))), {})
        elif w[0] == "option" and cur is not None and len(w) > 2:
            cur[w[1]] = w[2]
        elif w[0] == "list" and cur is not None and len(w) > 2:
            cur.setdefault(w[1], []).append(w[2])
    return sections


def money(micros, cur):
    return f"{micros / 1e6:.4f} {cur}"


def rule(title):
    print(f"\n--- {title} " + "-" * max(0, 78 - len(title)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--heatmap", default="target/demo/heatmap.svg")
    a = p.parse_args()
    w = a.work
    cfg = uci(a.config)
    devices = {n: o for (t, n), o in cfg.items() if t == "device"}
    groups = {n: o for (t, n), o in cfg.items() if t == "group"}
    shaper = next((o for (t, _), o in cfg.items() if t == "shaper"), None)

    # --- bandwidth ---------------------------------------------------------------------------
    if shaper and os.path.exists(os.path.join(w, "iperf-tv.json")):
        rule("bandwidth: three downloads at once (iperf3 goodput, 6 s)")
        link = int(shaper["download"]) / 1000
        print(f"{'device':<8} {'configured':<34} {'achieved':>10}")
        total = 0.0
        for d in ("tv", "laptop", "tablet"):
            r = json.load(open(os.path.join(w, f"iperf-{d}.json")))
            got = r["end"]["sum_received"]["bits_per_second"] / 1e6
            total += got
            o = devices[d]
            g = groups.get(o.get("group", ""), {})
            if o.get("rate_down"):
                cap, why = int(o["rate_down"]) / 1000, f"device cap {int(o['rate_down']) / 1000:g} Mbit/s"
            elif g.get("rate_down"):
                cap, why = int(g["rate_down"]) / 1000, f"group {o['group']} cap {int(g['rate_down']) / 1000:g} Mbit/s"
            else:
                cap, why = link, f"no cap ({g.get('priority', 'normal')} priority)"
            # Goodput is below the rate on the wire (Ethernet/IP/TCP headers, ~4-5%); 5% over
            # would be a shaping failure.
            if cap >= link:
                verdict = "what the others leave"
            elif got >= 0.85 * cap:
                verdict = "held to its cap"
            else:
                verdict = "under its cap (sharing the link)"
            check(got <= cap * 1.05, f"{d}: {got:.1f} Mbit/s is over its {cap:g} Mbit/s")
            print(f"{d:<8} {why:<34} {got:7.1f} Mbit/s  {verdict}")
        print(f"{'all':<8} {'download link ' + format(link, 'g') + ' Mbit/s':<34} {total:7.1f} Mbit/s")
        check(total <= link * 1.05, f"the three downloads ({total:.1f}) exceed the link ({link:g})")
        tv = json.load(open(os.path.join(w, "iperf-tv.json")))["end"]["sum_received"]["bits_per_second"]
        lap = json.load(open(os.path.join(w, "iperf-laptop.json")))["end"]["sum_received"]["bits_per_second"]
        check(lap > 2 * tv, "the laptop was not faster than the capped tv")

    # --- LLM ---------------------------------------------------------------------------------
    rows = [json.loads(l[6:]) for l in open(os.path.join(w, "requests.log")) if l.startswith("@json ")]
    usage = json.load(open(os.path.join(w, "usage.json")))
    cur = usage.get("currency", "")
    acct = defaultdict(dict)  # scope -> {(metric, period): row}
    for r in usage["rows"]:
        acct[r["scope"]][(r["metric"], r["period"])] = r
    rule("LLM requests per device (openai SDK on each device -> hearth -> upstreams)")
    print(f"{'device':<8} {'requests':>8} {'tokens in/out':>14}  {'spend today':>14}  served by")
    served_client = defaultdict(int)
    for d in sorted({r["device"] for r in rows}):
        mine = [r for r in rows if r["device"] == d and "error" not in r]
        tin = sum(r["prompt_tokens"] or 0 for r in mine)
        tout = sum(r["completion_tokens"] or 0 for r in mine)
        by = defaultdict(int)
        for r in mine:
            by[r["endpoint"]] += 1
            served_client[r["endpoint"]] += 1
        down = sum(1 for r in mine if r.get("downgraded"))
        spent = acct[f"device:{d}"].get(("money", "day"), {}).get("spent", 0)
        led_tokens = acct[f"device:{d}"].get(("tokens", "day"), {}).get("spent")
        check(led_tokens in (None, tin + tout), f"{d}: ledger tokens {led_tokens} != answers' {tin + tout}")
        by_s = ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
        extra = f"; {down} downgraded" if down else ""
        print(f"{d:<8} {len(mine):>8} {f'{tin}/{tout}':>14}  {money(spent, cur):>14}  {by_s}{extra}")
    rule("budgets (hearth usage)")
    for scope, rs in sorted(acct.items()):
        for (metric, period), r in sorted(rs.items()):
            if r.get("limit") is None or metric != "money":
                continue
            left = r["remaining"]
            state = "EXHAUSTED" if r["exhausted"] else f"{money(left, cur)} left"
            print(f"{scope:<14} {r['option']:<10} {money(r['spent'], cur):>14} of {money(r['limit'], cur):<12} {state}")
            check(r["spent"] <= r["limit"], f"{scope} {r['option']} overspent")
    kids_down = [r for r in rows if r.get("downgraded")]
    if kids_down:
        print(f"the kids' budget could not cover another worst-case cloud request, so "
              f"{len(kids_down)} request(s) went to the local model instead (X-Hearth-Downgraded: "
              f"{kids_down[0]['downgraded']})")
    check(bool(kids_down), "no request was downgraded")

    rule("which upstream served what (counted on both sides)")
    total_up = 0
    for name, log in (("cloud", "cloud.log"), ("local_llm", "local.log")):
        line = [l for l in open(os.path.join(w, log)) if l.startswith("{")]
        up = json.loads(line[-1]) if line else {}
        n = up.get("requests")
        total_up += n or 0
        models = ", ".join(f"{k} x{v}" for k, v in sorted((up.get("by_model") or {}).items()))
        print(f"{name:<10} upstream's own count {n} ({models}); hearth's answers named it {served_client[name]}")
        check(n == served_client[name], f"{name}: upstream counted {n}, clients saw {served_client[name]}")
    household = acct["household"].get(("money", "day"), {})
    print(f"hearth's ledger: {household.get('requests')} requests, {money(household.get('spent', 0), cur)} spent in total")
    check(household.get("requests") == total_up, "the ledger's request count differs from the upstreams'")

    # --- VPN ---------------------------------------------------------------------------------
    vpn_path = os.path.join(w, "vpn.json")
    if os.path.exists(vpn_path):
        v = json.load(open(vpn_path))
        rule("VPN kill switch (packets counted at the internet's end of each link, by tc)")
        print(f"VPN up:    tablet {v['up_replies']}/5 replies; {v['up_via_vpn']} packets came through the VPN, {v['up_via_isp']} through the ISP")
        print(f"VPN down:  tablet {v['down_replies']}/5 replies; {v['down_via_vpn']} through the VPN, {v['down_via_isp']} through the ISP -> "
              + ("BLOCKED, NOT LEAKED" if v["down_via_isp"] == 0 and v["down_replies"] == 0 else "LEAKED"))
        print(f"           laptop (not in the VPN) {v['laptop_replies']}/5 replies")
        print(f"VPN back:  route re-added by hearth: {'yes' if v['route_back'] else 'no'}; tablet {v['back_replies']}/5 replies")
        check(v["up_via_vpn"] >= 5 and v["up_via_isp"] == 0, "with the VPN up, the tablet did not go through it")
        check(v["down_via_isp"] == 0 and v["down_replies"] == 0, "the tablet leaked while the VPN was down")
        check(v["laptop_replies"] == 5, "the laptop lost its internet while the VPN was down")
        check(v["route_back"] == 1 and v["back_replies"] == 5, "the VPN route did not come back")

    # --- planner -----------------------------------------------------------------------------
    plan = os.path.join(w, "plan.txt")
    if os.path.exists(plan):
        rule("Wi-Fi planner (configs/demo-survey.csv)")
        lines = open(plan).read().split("\n")
        start = next((i for i, l in enumerate(lines) if l.startswith("RECOMMENDATION")), None)
        check(start is not None, "the planner made no recommendation")
        for l in lines[start or 0:]:
            if not l.strip():
                break
            print(l)
        print(f"heatmap: {a.heatmap}")

    if problems:
        print("\nTHE DEMO FOUND PROBLEMS:")
        for p_ in problems:
            print(f"  - {p_}")
        return 1
    print("\nevery claim above was checked against an independent count")
    return 0


if __name__ == "__main__":
    sys.exit(main())
