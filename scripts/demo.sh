#!/usr/bin/env bash
# The household demo (README): builds hearth, then — as root — a small home in network
# namespaces, with hearth in its router on configs/demo, and a scripted evening:
#
#   wan     the internet: a priced "cloud" LLM and a free "local" LLM (fake OpenAI-compatible
#           upstreams), a bulk-download server (iperf3), and the VPN provider's end of vpn0
#   router  hearth run --config configs/demo: wan0 (ISP), vpn0 (VPN), br-lan 10.99.0.1
#   laptop  10.99.0.12, group adults       tablet  10.99.0.11, group kids, through the VPN
#   tv      10.99.0.13, capped at 5 Mbit/s
#
# The laptop and the tablet chat with the official openai SDK until the kids' budget is used
# up and their requests go to the local model; the tv, the laptop and the tablet download at
# once; the VPN link goes down and the tablet's traffic stops instead of leaking out of the
# ISP link. A report closes it. Everything is removed at the end, on Ctrl-C and on failure.
# Without root, the parts that need none run (balancer and budgets on loopback, the planner,
# the shaping and VPN plans) and the rest is named as skipped.
#
#   scripts/demo.sh [--no-build] [--unprivileged]
#     --no-build      use the binaries already in target/release
#     --unprivileged  show what a user without root sees, even when run as root
#   DEMO_KEEP=1 keeps the work directory (logs, iperf3 and usage JSON) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

build=1
root=0
[ "$(id -u)" -eq 0 ] && root=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --unprivileged) root=0 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

say "setup: what the demo needs, by package name"
apt_ensure curl curl
if [ $root = 1 ]; then
    apt_ensure ip iproute2
    apt_ensure ping iputils-ping
    apt_ensure iperf3 iperf3
fi
py_ensure openai
py=target/tools/py/bin/python

if [ $build = 1 ]; then
    apt_ensure cc build-essential
    rust_ensure
    say "build (release profile: size-optimised, LTO, panic=abort, stripped)"
    cargo build --release --locked -p hearth
    cargo build --release --locked -p hearth-e2e --bin fake-upstream
fi
bin=$PWD/target/release/hearth
fake=$PWD/target/release/fake-upstream
echo "hearth: $(stat -c %s "$bin") bytes"
started=$SECONDS

# --- teardown: runs on every exit -------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-demo.XXXXXX")
ns_prefix="hd$$"
namespaces=()
pids=()
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    # No "Killed" job notices for what is stopped here.
    disown -a 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for n in "${namespaces[@]}"; do
        # Whatever still runs in a namespace goes with it.
        ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    [ -n "${DEMO_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
    rm -rf /tmp/hearth-demo
    if [ $rc -ne 0 ]; then
        warn "the demo stopped early (exit $rc); everything it set up has been removed"
    fi
    exit $rc
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf /tmp/hearth-demo
upstream_pids=()
stop_upstreams() { # the fake upstreams print their own count of what they served as they stop
    kill -TERM "${upstream_pids[@]}" 2>/dev/null || true
    wait "${upstream_pids[@]}" 2>/dev/null || true
}

# --- the parts that need no root ----------------------------------------------------------------
say "hearth check --config configs/demo"
$bin check --config configs/demo

say "a broken copy: every problem, with its line (and nothing is applied)"
sed -e "s/option upload '10000'/option uplaod '10000'/" \
    -e "s/option mac '02:00:00:00:00:12'/option mac '02:00:00:00:00:11'/" \
    -e "s/option group 'kids'/option group 'kid'/" \
    -e "s/option strategy 'least_connections'/option strategy 'fastest'/" \
    configs/demo > "$work/broken"
set +e
$bin check --config "$work/broken"
echo "(exit code $? — 2 means invalid config)"
set -e

say "the Wi-Fi planner on configs/demo-survey.csv"
$bin plan --config configs/demo --svg "$work/heatmap.svg" > "$work/plan.txt"
sed -n '/^Now:/q;p' "$work/plan.txt"
heatmap=target/demo/heatmap.svg
mkdir -p target/demo 2>/dev/null && [ -w target/demo ] || heatmap=${TMPDIR:-/tmp}/hearth-demo-heatmap.svg
cp "$work/heatmap.svg" "$heatmap"
echo "(heatmap: $heatmap)"

if [ $root = 0 ]; then
    say "not root: the shaping and VPN plans hearth would apply (hearth apply --dry-run)"
    $bin apply --dry-run --config configs/demo
    say "not root: the balancer and budgets on loopback"
    # The same household with the LAN moved to loopback: devices are 127.0.0.11-13, the
    # upstreams 127.0.0.1:18101/18102; no shaper or VPN (they need root).
    sed -e "/^config shaper/,/^$/d" -e "/^config vpn/,/^$/d" -e "/option vpn /d" \
        -e "s|10.99.0.1:8080|127.0.0.1:18080|" -e "s|10.99.0.1\([123]\)'|127.0.0.1\1'|" \
        -e "s|203.0.113.10:8101|127.0.0.1:18101|" -e "s|203.0.113.20:8102|127.0.0.1:18102|" \
        -e "s|/tmp/hearth-demo/|$work/|" configs/demo > "$work/hearth"
    $fake --listen 127.0.0.1:18101 --name cloud --models gpt-4o --summary > "$work/cloud.log" 2>&1 &
    pids+=($!) upstream_pids+=($!)
    $fake --listen 127.0.0.1:18102 --name local --models llama3.2:3b --summary > "$work/local.log" 2>&1 &
    pids+=($!) upstream_pids+=($!)
    $bin run --config "$work/hearth" > "$work/hearth.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        curl -sf http://127.0.0.1:18080/health >/dev/null 2>&1 && break
        sleep 0.2
    done
    base=http://127.0.0.1:18080/v1
    $py scripts/demo/household.py --base-url $base --device laptop --model gpt-4o \
        --requests 3 --stream-every 2 --local-address 127.0.0.12 | tee -a "$work/requests.log" | grep -v '^@json'
    $py scripts/demo/household.py --base-url $base --device tablet --model gpt-4o \
        --requests 10 --stream-every 3 --prompt-bytes 1600 --max-tokens 300 --until-downgraded \
        --local-address 127.0.0.11 | tee -a "$work/requests.log" | grep -v '^@json'
    $bin usage --config "$work/hearth" --json > "$work/usage.json"
    stop_upstreams
    say "the report"
    $py scripts/demo/report.py --work "$work" --config "$work/hearth" --heatmap "$heatmap"
    warn "SKIPPED (needs root): the namespaced home — shaping and VPN applied to a kernel, the bandwidth race, the kill switch"
    echo "demo (non-root part) took $((SECONDS - started)) s after the build"
    exit 0
fi

# --- the home, in network namespaces --------------------------------------------------------------
say "a home in network namespaces: wan, router, laptop, tablet, tv"
ns() { echo "$ns_prefix-$1"; }
for n in wan router laptop tablet tv; do
    ip netns add "$(ns $n)"
    namespaces+=("$(ns $n)")
    ip -n "$(ns $n)" link set lo up
done
nsx() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
R=$(ns router) W=$(ns wan)
# ISP link and VPN link, router <-> wan.
ip link add wan0 netns "$R" type veth peer name isp0 netns "$W"
ip link add vpn0 netns "$R" type veth peer name vpnend netns "$W"
ip -n "$R" link add br-lan type bridge mcast_snooping 0
ip -n "$R" addr add 10.200.0.1/30 dev wan0
ip -n "$R" addr add 10.201.0.1/30 dev vpn0
ip -n "$R" addr add 10.99.0.1/24 dev br-lan
ip -n "$W" addr add 10.200.0.2/30 dev isp0
ip -n "$W" addr add 10.201.0.2/30 dev vpnend
for a in 203.0.113.10 203.0.113.20; do ip -n "$W" addr add $a/32 dev lo; done
for l in wan0 vpn0 br-lan; do ip -n "$R" link set "$l" multicast off up; done
for l in isp0 vpnend; do ip -n "$W" link set "$l" multicast off up; done
ip -n "$R" route add default via 10.200.0.2
# The internet routes the LAN back over the ISP link; the VPN provider routes the tablet back
# through the tunnel.
ip -n "$W" route add 10.99.0.0/24 via 10.200.0.1
ip -n "$W" route add 10.99.0.11/32 via 10.201.0.1 dev vpnend
for n in router wan; do
    nsx $n sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx router sysctl -qw net.ipv4.ip_forward=1
i=0
for d in tablet laptop tv; do
    i=$((i + 1))
    addr=10.99.0.$((10 + i))
    mac=02:00:00:00:00:$((10 + i))
    ip link add "p-$d" netns "$R" type veth peer name eth0 netns "$(ns $d)"
    ip -n "$R" link set "p-$d" master br-lan multicast off up
    ip -n "$(ns $d)" link set eth0 address "$mac" multicast off up
    ip -n "$(ns $d)" addr add "$addr/24" dev eth0
    ip -n "$(ns $d)" route add default via 10.99.0.1
done
# The observer at the far end: per-link counts of what each device sends into the internet.
# u32 filters on the wan side's ingress mirror a copy of each device's packets to a sink link
# that is down; the mirror action counts them (this kernel has no gact, so no `action ok`),
# and tc reads the counts — not hearth.
ip -n "$W" link add sink0 type veth peer name sink1
ip -n "$W" link set sink0 up
for l in isp0 vpnend; do
    ip netns exec "$W" tc qdisc add dev "$l" ingress
    pr=1
    for a in 10.99.0.11 10.99.0.12 10.99.0.13; do
        ip netns exec "$W" tc filter add dev "$l" ingress protocol ip prio $pr u32 \
            match ip src $a/32 action mirred egress mirror dev sink0
        pr=$((pr + 1))
    done
done
sent() { # sent LINK ADDR: packets from ADDR seen arriving on LINK in the wan namespace
    ip netns exec "$W" tc -s -j filter show dev "$1" ingress | $py -c '
import ipaddress, json, sys
want = int(ipaddress.IPv4Address(sys.argv[1]))
n = 0
for f in json.load(sys.stdin):
    o = f.get("options") or {}
    m = o.get("match") or {}
    if m.get("value") and int(m["value"], 16) == want:
        n += sum(a.get("stats", {}).get("packets", 0) for a in o.get("actions", []))
print(n)' "$2"
}

say "the internet: two LLM upstreams and a download server"
ip netns exec "$W" "$fake" --listen 203.0.113.10:8101 --name cloud --models gpt-4o --summary > "$work/cloud.log" 2>&1 &
pids+=($!) upstream_pids+=($!)
ip netns exec "$W" "$fake" --listen 203.0.113.20:8102 --name local --models llama3.2:3b --summary > "$work/local.log" 2>&1 &
pids+=($!) upstream_pids+=($!)
for p in 5201 5202 5203; do
    ip netns exec "$W" iperf3 -s -B 203.0.113.10 -p $p > /dev/null 2>&1 &
    pids+=($!)
done
echo "cloud gpt-4o at 203.0.113.10:8101 (\$2.50/\$10.00 per 1M tokens), local llama3.2:3b at 203.0.113.20:8102 (free)"

say "hearth run --config configs/demo, in the router"
cp configs/demo "$work/hearth"
ip netns exec "$R" "$bin" run --config "$work/hearth" > "$work/hearth.log" 2>&1 &
pids+=($!)
hearth_pid=$!
up=0
for _ in $(seq 100); do
    if nsx tablet curl -sf http://10.99.0.1:8080/health >/dev/null 2>&1 &&
        nsx router ip rule show | grep -q "lookup 100"; then
        up=1; break
    fi
    kill -0 $hearth_pid 2>/dev/null || break
    sleep 0.2
done
if [ $up = 0 ]; then
    sed 's/^/  hearth| /' "$work/hearth.log"
    echo "hearth did not come up" >&2
    exit 1
fi
sed 's/^/  hearth| /' "$work/hearth.log"
echo
echo "the tree hearth built on br-lan (read back with tc, an independent observer):"
nsx router tc class show dev br-lan | sed 's/^/  /'
echo "the VPN policy (ip rule / ip route show table 100):"
nsx router ip rule show | grep -v "^0:\|32766:\|32767:" | sed 's/^/  /'
nsx router ip route show table 100 | sed 's/^/  /'

say "evening, part 1: the laptop and the tablet chat (openai SDK, streaming and not)"
base=http://10.99.0.1:8080/v1
nsx laptop $py scripts/demo/household.py --base-url $base --device laptop --model gpt-4o \
    --requests 4 --stream-every 2 | tee -a "$work/requests.log" | grep -v '^@json'
echo "the tablet does its homework with a long prompt until the kids' \$0.008 a day is spent:"
nsx tablet $py scripts/demo/household.py --base-url $base --device tablet --model gpt-4o \
    --requests 10 --stream-every 3 --prompt-bytes 1600 --max-tokens 300 --until-downgraded \
    | tee -a "$work/requests.log" | grep -v '^@json'
echo "and asks once more, now served by the local model:"
nsx tablet $py scripts/demo/household.py --base-url $base --device tablet --model gpt-4o \
    --requests 1 --stream-every 1 --prompt-bytes 1600 --max-tokens 300 \
    | tee -a "$work/requests.log" | grep -v '^@json'

say "evening, part 2: the tv, the laptop and the tablet download at once (iperf3, 6 s)"
flows=("tv:5201" "laptop:5202" "tablet:5203")
clients=()
for f in "${flows[@]}"; do
    d=${f%%:*} p=${f##*:}
    # iperf3 bounds itself (-t 6); timeout is the backstop should a server vanish.
    nsx "$d" timeout 30 iperf3 -c 203.0.113.10 -p "$p" -R -t 6 -O 1 -J > "$work/iperf-$d.json" 2>&1 &
    clients+=($!)
done
wait "${clients[@]}" || true
wait_ok=1
for f in "${flows[@]}"; do
    d=${f%%:*}
    $py - "$work/iperf-$d.json" "$d" <<'EOF' || wait_ok=0
import json, sys
r = json.load(open(sys.argv[1]))
if "error" in r:
    raise SystemExit(f"iperf3 {sys.argv[2]}: {r['error']}")
print(f"  {sys.argv[2]:<7} {r['end']['sum_received']['bits_per_second'] / 1e6:6.1f} Mbit/s")
EOF
done
[ $wait_ok = 1 ] || { echo "a download failed" >&2; exit 1; }

say "evening, part 3: the VPN link goes down"
ping_from() { # ping_from DEVICE COUNT: replies received
    { nsx "$1" ping -n -q -c "$2" -i 0.2 -W 1 203.0.113.10 2>/dev/null || true; } |
        sed -n 's/.* \([0-9]*\) received.*/\1/p'
}
log_mark=$(wc -l < "$work/hearth.log")
t_isp0=$(sent isp0 10.99.0.11) t_vpn0=$(sent vpnend 10.99.0.11)
up_replies=$(ping_from tablet 5)
t_isp1=$(sent isp0 10.99.0.11) t_vpn1=$(sent vpnend 10.99.0.11)
echo "  VPN up:   tablet ping -> $up_replies/5 replies; packets at the internet: via VPN $((t_vpn1 - t_vpn0)), via ISP $((t_isp1 - t_isp0))"
ip -n "$R" link set vpn0 down
down_replies=$(ping_from tablet 5)
t_isp2=$(sent isp0 10.99.0.11) t_vpn2=$(sent vpnend 10.99.0.11)
l_isp0=$(sent isp0 10.99.0.12)
laptop_replies=$(ping_from laptop 5)
l_isp1=$(sent isp0 10.99.0.12)
echo "  VPN down: tablet ping -> $down_replies/5 replies; packets at the internet: via VPN $((t_vpn2 - t_vpn1)), via ISP $((t_isp2 - t_isp1))"
echo "            laptop ping -> $laptop_replies/5 replies via ISP ($((l_isp1 - l_isp0)) packets), not in the VPN, unaffected"
echo "  the tablet still reaches the router's LLM gateway (the LAN stays local):"
nsx tablet $py scripts/demo/household.py --base-url $base --device tablet --model cheap \
    --requests 1 | tee -a "$work/requests.log" | grep -v '^@json'
ip -n "$R" link set vpn0 up
back=0
for _ in $(seq 50); do
    nsx router ip route show table 100 | grep -q "^default dev vpn0" && { back=1; break; }
    sleep 0.2
done
back_replies=$(ping_from tablet 5)
echo "  VPN up again: hearth re-added the route (${back/1/yes}); tablet ping -> $back_replies/5 replies"
echo "  what hearth logged meanwhile:"
tail -n +$((log_mark + 1)) "$work/hearth.log" | grep "vpn" | sed 's/^/  hearth| /' || true
cat > "$work/vpn.json" <<EOF
{"up_replies": ${up_replies:-0}, "up_via_vpn": $((t_vpn1 - t_vpn0)), "up_via_isp": $((t_isp1 - t_isp0)),
 "down_replies": ${down_replies:-0}, "down_via_vpn": $((t_vpn2 - t_vpn1)), "down_via_isp": $((t_isp2 - t_isp1)),
 "laptop_replies": ${laptop_replies:-0}, "route_back": $back, "back_replies": ${back_replies:-0}}
EOF

say "evening, part 4: a typo in the config, and a reload (SIGHUP)"
log_mark=$(wc -l < "$work/hearth.log")
sed -i "s/option rate_down '5000'/option rate_down '5 Mbit'/" "$work/hearth"
kill -HUP $hearth_pid
for _ in $(seq 50); do
    tail -n +$((log_mark + 1)) "$work/hearth.log" | grep -q "rate_down" && break
    sleep 0.1
done
tail -n +$((log_mark + 1)) "$work/hearth.log" | sed 's/^/  hearth| /'
echo "  the tv is still capped by the running config:"
nsx router tc class show dev br-lan | grep "ceil 5Mbit" | sed 's/^/  /'
nsx laptop $py scripts/demo/household.py --base-url $base --device laptop --model gpt-4o \
    --requests 1 | tee -a "$work/requests.log" | grep -v '^@json'
cp configs/demo "$work/hearth"

say "the report"
$bin usage --config "$work/hearth" --json > "$work/usage.json"
stop_upstreams
$py scripts/demo/report.py --work "$work" --config "$work/hearth" --heatmap "$heatmap"
kill -TERM $hearth_pid
wait $hearth_pid 2>/dev/null || true
echo
echo "demo took $((SECONDS - started)) s after the build; tearing the home down"
