#!/usr/bin/env python3
"""Netlink apply vs the equivalent `tc` script (scripts/bench/apply.sh runs this as root).

For a config of N devices (default 64) in 4 groups, each with its own download/upload cap,
this times, each in a fresh network namespace (wan0 veth, bridge br0 with one port):

  * the tc script: one `ip`/`tc` process per object, as SQM's shell scripts do, generated
    from hearth's own plan (`hearth apply --dry-run --json`), so both build the same tree;
  * `hearth apply` (process start, config, probe, dump, diff, apply, verify);
  * `hearth apply` again on the applied tree (the no-op re-apply).

Each is run ROUNDS times (median reported), wall-clock from the caller's side. It checks the
two trees have the same number of qdiscs, classes and filters, and prints a Markdown table with
the ratios. Nothing is asserted beyond that: a benchmark, not a test.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEARTH = os.environ.get("HEARTH_BIN", "target/release/hearth")
N = int(os.environ.get("BENCH_DEVICES", "64"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
NS = f"hearth-bench-apply-{os.getpid()}"


def sh(*args, check=True, capture=False):
    return subprocess.run(args, check=check, capture_output=capture, text=True)


def config(path):
    lines = [
        "config agent 'main'",
        f"\toption runtime_dir '{os.path.dirname(path)}/run'",
        "",
        "config shaper 'wan'",
        "\toption device 'wan0'",
        "\toption lan_device 'br0'",
        "\toption upload '50000'",
        "\toption download '200000'",
        "\toption leaf 'pfifo'",
        "",
    ]
    for g in range(4):
        lines += [f"config group 'g{g}'", f"\toption rate_down '{50000 + g * 1000}'", ""]
    for i in range(N):
        lines += [
            f"config device 'dev{i}'",
            f"\toption mac '02:00:00:00:{i // 256:02x}:{i % 256:02x}'",
            f"\tlist ip '10.77.{i // 200}.{i % 200 + 2}'",
            f"\toption group 'g{i % 4}'",
            f"\toption rate_down '{2000 + 100 * i}'",
            f"\toption rate_up '{1000 + 50 * i}'",
            "",
        ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def bits(bytes_per_s):
    return f"{int(bytes_per_s) * 8}bit"


def kbit(v):
    return f"{int(v)}kbit"


def tc_script(plan):
    """One command per object, in dependency order, as SQM's scripts do."""
    out = []
    for link in plan["links"]:
        dev = link["device"]
        if link.get("ifb_of"):
            out.append(f"ip link add name {dev} type ifb")
            out.append(f"ip link set dev {dev} up")
    for link in plan["links"]:
        dev = link["device"]
        classes = link["classes"]
        if classes:
            default = link["default_class"].split(":")[1]
            out.append(f"tc qdisc add dev {dev} root handle 1: htb default {default} r2q 10")
        for c in classes:
            out.append(
                f"tc class add dev {dev} parent {c['parent']} classid {c['classid']} htb "
                f"rate {kbit(c['rate_kbit'])} ceil {kbit(c['ceil_kbit'])} prio {c['prio']}"
            )
        for c in classes:
            if c["leaf"]:
                minor = c["classid"].split(":")[1]
                out.append(f"tc qdisc add dev {dev} parent {c['classid']} handle {minor}: pfifo limit 1000")
        for f in link["filters"]:
            m, prio, cls = f["match"], f["prio"], f["classid"]
            if "dscp" in m:
                if m["ipv6"]:
                    out.append(f"tc filter add dev {dev} parent 1: prio {prio} protocol ipv6 u32 match ip6 priority {m['dscp'] << 2:#x} 0xfc flowid {cls}")
                else:
                    out.append(f"tc filter add dev {dev} parent 1: prio {prio} protocol ip u32 match ip dsfield {m['dscp'] << 2:#x} 0xfc flowid {cls}")
            elif "mark" in m:
                out.append(f"tc filter add dev {dev} parent 1: prio {prio} protocol all handle {m['mark']}/{m['mask']} fw classid {cls}")
            else:
                field, addr = next((k, v) for k, v in m.items() if k in ("src", "dst"))
                proto, kw = ("ipv6", "ip6") if ":" in addr else ("ip", "ip")
                out.append(f"tc filter add dev {dev} parent 1: prio {prio} protocol {proto} u32 match {kw} {field} {addr} flowid {cls}")
    for link in plan["links"]:
        ifb = link.get("redirect_ingress_to")
        if ifb:
            dev = link["device"]
            out.append(f"tc qdisc add dev {dev} handle ffff: ingress")
            out.append(f"tc filter add dev {dev} parent ffff: prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev {ifb}")
    return out


def fresh_namespace():
    sh("ip", "netns", "add", NS)
    ex = ["ip", "-n", NS]
    sh(*ex, "link", "add", "wan0", "type", "veth", "peer", "name", "wanpeer")
    sh(*ex, "link", "add", "br0", "type", "bridge")
    sh(*ex, "link", "add", "lan0", "type", "veth", "peer", "name", "lanpeer")
    sh(*ex, "link", "set", "lan0", "master", "br0")
    for d in ("wan0", "wanpeer", "br0", "lan0", "lanpeer"):
        sh(*ex, "link", "set", d, "up")


def drop_namespace():
    sh("ip", "netns", "del", NS, check=False)


def count_objects():
    total = {"qdiscs": 0, "classes": 0, "filters": 0}
    for dev in ("wan0", "ifb4wan0", "br0", "ifb4br0"):
        for kind, args in (("qdiscs", ["qdisc", "show", "dev", dev]),
                           ("classes", ["class", "show", "dev", dev]),
                           ("filters", ["filter", "show", "dev", dev])):
            r = sh("ip", "netns", "exec", NS, "tc", *args, capture=True, check=False)
            lines = r.stdout.splitlines()
            if kind == "filters":
                # Count rules (lines naming a flowid/classid/action target), not headers.
                total[kind] += sum(1 for l in lines if "flowid" in l or "classid" in l or "redirect" in l)
            else:
                total[kind] += sum(1 for l in lines if l.startswith(kind[:-2] if kind == "qdiscs" else "class"))
        r = sh("ip", "netns", "exec", NS, "tc", "filter", "show", "dev", dev, "ingress", capture=True, check=False)
        total["filters"] += sum(1 for l in r.stdout.splitlines() if "redirect" in l)
    return total


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return dt, r.stdout


def main():
    if os.geteuid() != 0:
        sys.exit("apply benchmark: needs root (network namespaces)")
    work = tempfile.mkdtemp(prefix="hearth-bench-apply-")
    cfg = os.path.join(work, "hearth")
    config(cfg)
    plan = json.loads(sh(HEARTH, "apply", "--dry-run", "--json", "--config", cfg, capture=True).stdout)
    script = tc_script(plan)
    script_path = os.path.join(work, "tc.sh")
    with open(script_path, "w") as f:
        f.write("set -e\n" + "\n".join(script) + "\n")
    n_classes = sum(len(l["classes"]) for l in plan["links"])
    n_filters = sum(len(l["filters"]) for l in plan["links"])
    tc_times, apply_times, reapply_times = [], [], []
    apply_inner, reapply_inner = [], []
    shapes = {}
    try:
        for _ in range(ROUNDS):
            fresh_namespace()
            dt, _ = timed(["ip", "netns", "exec", NS, "sh", script_path])
            tc_times.append(dt)
            shapes["tc script"] = count_objects()
            drop_namespace()

            fresh_namespace()
            # The capability check is remembered in runtime_dir; warm it outside the timing.
            sh("ip", "netns", "exec", NS, HEARTH, "apply", "--dry-run", "--config", cfg, capture=True)
            dt, out = timed(["ip", "netns", "exec", NS, HEARTH, "apply", "--json", "--config", cfg])
            apply_times.append(dt)
            first = json.loads(out)
            apply_inner.append(first["elapsed_ms"])
            shapes["hearth"] = count_objects()
            dt, out = timed(["ip", "netns", "exec", NS, HEARTH, "apply", "--json", "--config", cfg])
            again = json.loads(out)
            if again["changes"] != 0:
                sys.exit(f"the re-apply made {again['changes']} changes")
            reapply_times.append(dt)
            reapply_inner.append(again["elapsed_ms"])
            drop_namespace()
    finally:
        drop_namespace()
    med = statistics.median
    tc_ms, ap_ms, re_ms = med(tc_times), med(apply_times), med(reapply_times)
    print(f"{N} devices in 4 groups: {len(plan['links'])} links, {n_classes} classes, "
          f"{n_filters} filters; tc script of {len(script)} ip/tc commands")
    print(f"trees built: {shapes}")
    if shapes.get("tc script") != shapes.get("hearth"):
        print("WARNING: the two trees differ in size; the comparison is not like for like")
    print(f"first apply by hearth: {first['changes']} changes; median of {ROUNDS} rounds\n")
    ai, ri = med(apply_inner), med(reapply_inner)
    print("| what | median ms (whole process) | vs tc script | median ms (netlink apply inside hearth) | vs tc script |")
    print("|---|---:|---:|---:|---:|")
    print(f"| tc script ({len(script)} commands) | {tc_ms:.1f} | 1.0x | | |")
    print(f"| hearth apply | {ap_ms:.1f} | {tc_ms / ap_ms:.1f}x faster | {ai:.2f} | {tc_ms / ai:.0f}x faster |")
    print(f"| hearth apply, no-op re-apply | {re_ms:.1f} | {tc_ms / re_ms:.1f}x faster | {ri:.2f} | {tc_ms / ri:.0f}x faster |")
    print("\n(whole process = fork/exec, config, capability check (cached after the first), dump, diff, "
          "apply, verify; inside hearth = what `hearth run` does on a reload: dump, diff, apply, verify)")
    print(f"\nraw ms: tc {['%.1f' % x for x in tc_times]}, apply {['%.1f' % x for x in apply_times]}, "
          f"re-apply {['%.1f' % x for x in reapply_times]}")


if __name__ == "__main__":
    main()
