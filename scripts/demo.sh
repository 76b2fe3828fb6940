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
$bin run --config "$work/hearth" 2>&1 | sed 's/^/  daemon| /' &
sleep 1
pid=$(pgrep -n -f "$bin run --config $work/hearth")
echo "config agent 'main'; option log_levle debug" >> "$work/hearth"
kill -HUP "$pid"; sleep 1
cp configs/demo "$work/hearth"
sed -i "s/option log_level 'info'/option log_level 'debug'/" "$work/hearth"
kill -HUP "$pid"; sleep 1
kill -TERM "$pid"
wait
say "demo done"
