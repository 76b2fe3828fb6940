#!/usr/bin/env bash
# The demo household: builds hearth and runs it on configs/demo.
# Today: validate the config, print it as `uci show` would, show what a broken file reports,
# and run the daemon through start -> reload -> stop. Later issues add shaping in network
# namespaces, the LLM balancer with fake upstreams, budgets and the Wi-Fi planner.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_ensure cc build-essential
rust_ensure

say "build (release profile: size-optimised, LTO, panic=abort, stripped)"
cargo build --release --locked -p hearth
bin=target/release/hearth
echo "$bin: $(stat -c %s "$bin") bytes"

say "hearth check --config configs/demo"
$bin check --config configs/demo

say "hearth uci show configs/demo (what 'uci show' would print on the router)"
$bin uci show configs/demo

say "hearth plan --config configs/demo (the Wi-Fi planner on configs/demo-survey.csv)"
$bin plan --config configs/demo --svg "${TMPDIR:-/tmp}/hearth-demo-plan.svg" | sed -n '/^Now:/q;p'
echo "(heatmap: ${TMPDIR:-/tmp}/hearth-demo-plan.svg)"

say "a broken copy: every problem, with its line"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s/option upload '10000'/option uplaod '10000'/" \
    -e "s/option mac '02:00:00:00:00:12'/option mac '02:00:00:00:00:11'/" \
    -e "s/option group 'kids'/option group 'kid'/" \
    -e "s/option strategy 'least_connections'/option strategy 'fastest'/" \
    configs/demo > "$work/hearth"
set +e
$bin check --config "$work/hearth"
echo "(exit code $? — 2 means invalid config)"
set -e

say "the daemon: start, reload with a bad file (kept out), reload with a good one, stop"
cp configs/demo "$work/hearth"
# As root the daemon runs in a network namespace of its own that has the demo's WAN and LAN
# links, so shaping is real (and nothing on this machine's own links is touched).
ns=""
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
    ns="hearth-demo-$$"
    ip netns add "$ns"
    trap 'ip netns del "$ns" 2>/dev/null; rm -rf "$work"' EXIT
    ip -n "$ns" link add veth-wan type veth peer name wan-peer
    ip -n "$ns" link add veth-lan type veth peer name lan-peer
    for l in lo veth-wan wan-peer veth-lan lan-peer; do ip -n "$ns" link set "$l" up; done
    run=(ip netns exec "$ns")
else
    warn "not root: the daemon runs without a namespace, so shaping reports that veth-wan does not exist"
    run=()
fi
"${run[@]}" "$bin" run --config "$work/hearth" 2>&1 | sed 's/^/  daemon| /' &
sleep 2
pid=$(pgrep -n -f "$bin run --config $work/hearth")
if [ -n "$ns" ]; then
    say "hearth status (asked over the control socket) and the tree it built (tc, as an observer)"
    "$bin" status --config "$work/hearth" | sed 's/^/  /'
    ip netns exec "$ns" tc class show dev veth-lan | sed 's/^/  /'
fi
echo "config agent 'main'; option log_levle debug" >> "$work/hearth"
kill -HUP "$pid"; sleep 1
cp configs/demo "$work/hearth"
sed -i "s/option log_level 'info'/option log_level 'debug'/" "$work/hearth"
kill -HUP "$pid"; sleep 1
kill -TERM "$pid"
wait
say "demo done"
