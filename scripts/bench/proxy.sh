#!/usr/bin/env bash
# Benchmark hearth's LLM balancer against HAProxy (and optionally LiteLLM) on loopback.
#
# usage: scripts/bench/proxy.sh [--litellm] [--duration S] [--rounds R] [--stream-requests N]
#                               [--open-streams N] [--no-build]
#
# One run starts two fast fake OpenAI upstreams, HAProxy 2.6 (leastconn; once with its default
# threads and once with 1 thread) and hearth (least_connections) in front of them, then with
# wrk measures direct vs HAProxy vs hearth: latency p50/p99 at 1 and 64 connections, req/s and
# CPU time per request at 64 connections, RSS (VmRSS/VmHWM) idle and after load; then, with the
# upstreams streaming SSE, time to first byte and pauses inside the stream (scripts/bench/ttfb.py;
# plus a HAProxy with `option http-no-delay`, see below); and last, the memory each proxy needs
# to hold --open-streams (default 1,000) slow streams open at once (scripts/bench/open_streams.py).
# It prints Markdown tables with ratios against the baselines of the same run. Nothing is
# asserted: this is a benchmark, not a test (see docs/benchmarks.md).
#
# Everything listens on 127.0.0.1 only; every process started is stopped on exit.
# Set HEARTH_BENCH_KEEP=1 to keep the work directory (configs, logs, raw wrk output).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

usage() { sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//'; }

duration=10 rounds=1 stream_n=200 litellm=0 build=1 open_n=1000
chunks=20 delay_ms=5
while [ $# -gt 0 ]; do
    case $1 in
        --litellm) litellm=1 ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --rounds) rounds=${2:?--rounds needs a count}; shift ;;
        --stream-requests) stream_n=${2:?--stream-requests needs a count}; shift ;;
        --open-streams) open_n=${2:?--open-streams needs a count}; shift ;;
        --no-build) build=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in "$duration" "$rounds" "$stream_n" "$open_n"; do
    case $v in ''|*[!0-9]*|0) echo "--duration, --rounds, --stream-requests and --open-streams take whole numbers > 0" >&2; exit 2 ;; esac
done

# ---------------------------------------------------------------- tools and binaries
apt_ensure wrk wrk
apt_ensure haproxy haproxy
apt_ensure curl curl
apt_ensure python3 python3
tdir=${CARGO_TARGET_DIR:-target}
if [ "$build" = 1 ]; then
    apt_ensure cc build-essential
    rust_ensure
    say "build (release): hearth and fake-upstream"
    cargo build --release -p hearth -p hearth-e2e --bins
fi
hearth=$tdir/release/hearth
fake=$tdir/release/fake-upstream
for b in "$hearth" "$fake"; do
    [ -x "$b" ] || { echo "missing $b (run without --no-build)" >&2; exit 1; }
done
if [ "$litellm" = 1 ]; then
    venv=target/tools/litellm
    if [ ! -x "$venv/bin/litellm" ]; then
        say "LiteLLM: venv $venv, pip install 'litellm[proxy]'"
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q 'litellm[proxy]'
    fi
fi

# More file descriptors for 64 connections x (client + upstream) x a few processes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- process bookkeeping
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
results=$work/results.txt
: >"$results"
declare -A PID=()

# stop NAME: SIGTERM, wait up to 5 s, then SIGKILL. Only processes this script started.
stop() {
    local name=$1 pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    unset "PID[$name]"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do stop "$name"; done
    if [ -n "${HEARTH_BENCH_KEEP:-}" ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: run CMD in the background, output to $work/NAME.log.
start() {
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    PID[$name]=$!
}

# wait_for WHAT SECONDS CMD...: poll CMD every 0.1 s until it succeeds (bounded).
wait_for() {
    local what=$1 secs=$2; shift 2
    for _ in $(seq $((secs * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "timed out after ${secs}s waiting for $what" >&2
    for f in "$work"/*.log; do echo "--- $f"; tail -5 "$f"; done >&2
    return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log_has() { grep -q "$2" "$work/$1.log"; }

free_ports() {
    python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])' "$1"
}
read -r P_A P_B P_HAPROXY P_HAPROXY1 P_HAPROXY_ND P_HEARTH P_LITELLM <<<"$(free_ports 7)"
declare -A PORT=([direct]=$P_A [haproxy]=$P_HAPROXY [haproxy1]=$P_HAPROXY1
                 [haproxy_nd]=$P_HAPROXY_ND [hearth]=$P_HEARTH [litellm]=$P_LITELLM)

# rss PROC PHASE: VmRSS and VmHWM (kB) of a process (plus its children, for LiteLLM).
rss() {
    local proc=$1 phase=$2 pid=${PID[$1]:-} rss=0 hwm=0 p r h
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "RESULT kind=rss proc=$proc phase=$phase dead=1" >>"$results"
        echo "  $proc is not running!"
        return 0
    fi
    for p in $pid $(pgrep -P "$pid" || true); do
        r=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        h=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); hwm=$((hwm + ${h:-0}))
    done
    echo "RESULT kind=rss proc=$proc phase=$phase rss_kb=$rss hwm_kb=$hwm" >>"$results"
    printf '  %-9s %-7s VmRSS %6d kB  VmHWM %6d kB\n' "$proc" "$phase" "$rss" "$hwm"
}

rss_all() { # PHASE: every proxy that is running
    local p
    for p in haproxy haproxy1 hearth litellm; do
        if [ -n "${PID[$p]:-}" ]; then rss "$p" "$1"; fi
    done
}

# ---------------------------------------------------------------- upstreams and proxies
start_fakes() { # MODE
    local extra=()
    [ "$1" = stream ] && extra=(--chunks "$chunks" --delay-ms "$delay_ms")
    start fake_a "$fake" --listen "127.0.0.1:$P_A" --name a --mode "$1" --threads 2 \
        --models bench-model "${extra[@]}"
    start fake_b "$fake" --listen "127.0.0.1:$P_B" --name b --mode "$1" --threads 2 \
        --models bench-model "${extra[@]}"
    wait_for "fake upstream a" 10 log_has fake_a '^listening on'
    wait_for "fake upstream b" 10 log_has fake_b '^listening on'
}

# start_haproxy NAME NBTHREAD [OPTION]: NBTHREAD empty = HAProxy's default (one per CPU);
# OPTION: one more `option` line in `defaults` (http-no-delay).
start_haproxy() {
    local name=$1 threads=$2 option=${3:-} cfg=$work/$1.cfg
    {
        echo "global"
        echo "    maxconn 4096"
        if [ -n "$threads" ]; then echo "    nbthread $threads"; fi
        cat <<EOF
defaults
    mode http
    option http-keep-alive
EOF
        if [ -n "$option" ]; then echo "    option $option"; fi
        cat <<EOF
    http-reuse safe
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend fe
    bind 127.0.0.1:${PORT[$name]}
    maxconn 4000
    default_backend be
backend be
    balance leastconn
    server a 127.0.0.1:$P_A maxconn 1024
    server b 127.0.0.1:$P_B maxconn 1024
EOF
    } >"$cfg"
    haproxy -c -q -f "$cfg"
    start "$name" haproxy -db -f "$cfg"
    wait_for "$name" 10 port_open "${PORT[$name]}"
}

start_hearth() {
    local cfg=$work/hearth.conf
    mkdir -p "$work/run" "$work/state"
    cat >"$cfg" <<EOF
config agent 'main'
	option log_level 'warn'
	option runtime_dir '$work/run'
	option state_dir '$work/state'

config balancer 'llm'
	list listen '127.0.0.1:$P_HEARTH'
	option strategy 'least_connections'

config endpoint 'a'
	option url 'http://127.0.0.1:$P_A/v1'
	list model 'bench-model'
	option max_connections '1024'
	option health_check '0'

config endpoint 'b'
	option url 'http://127.0.0.1:$P_B/v1'
	list model 'bench-model'
	option max_connections '1024'
	option health_check '0'
EOF
    "$hearth" check --config "$cfg" >/dev/null
    start hearth "$hearth" run --config "$cfg"
    wait_for hearth 10 port_open "$P_HEARTH"
}

start_litellm() {
    local cfg=$work/litellm.yaml
    cat >"$cfg" <<EOF
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$P_A/v1
      api_key: sk-fake
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$P_B/v1
      api_key: sk-fake
router_settings:
  routing_strategy: least-busy
general_settings:
  master_key: sk-bench
EOF
    start litellm env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
        LITELLM_MASTER_KEY=sk-bench LITELLM_LOG=ERROR \
        "$venv/bin/litellm" --config "$cfg" --host 127.0.0.1 --port "$P_LITELLM" --num_workers 1
    wait_for litellm 120 curl -sf "http://127.0.0.1:$P_LITELLM/health/liveliness"
}

# check TARGET: one request must answer 200 before measuring.
check() {
    local t=$1 code
    code=$(curl -s -o "$work/check-$t.json" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' \
        -d '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}' \
        "http://127.0.0.1:${PORT[$t]}/v1/chat/completions" || true)
    if [ "$code" != 200 ]; then
        echo "$t answered HTTP $code instead of 200:" >&2; cat "$work/check-$t.json" >&2; echo >&2
        exit 1
    fi
}

# cpu_ticks NAME: user + system CPU time (clock ticks) of a process and its children.
cpu_ticks() {
    local pid=${PID[$1]:-} p total=0 t
    [ -n "$pid" ] || { echo 0; return 0; }
    for p in $pid $(pgrep -P "$pid" || true); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# run_wrk TARGET ROUND CONNECTIONS THREADS SECONDS [warmup]
# Also records the CPU time the serving process used during the run (for direct: the
# upstream's) as cpu_ticks: per request, a measure of efficiency that the scheduling noise
# of a 2-core machine distorts less than req/s does.
run_wrk() {
    local t=$1 round=$2 c=$3 th=$4 secs=$5 out=$work/wrk-$1-$2-$3.txt auth="" proc=$1 cpu0 cpu1
    [ "$t" = litellm ] && auth=sk-bench
    [ "$t" = direct ] && proc=fake_a
    cpu0=$(cpu_ticks "$proc")
    BENCH_TAG="target=$t round=$round conc=$c" BENCH_AUTH=$auth \
        timeout $((secs + 30)) wrk -t"$th" -c"$c" -d"${secs}s" --timeout 10s --latency \
        -s scripts/bench/post.lua "http://127.0.0.1:${PORT[$t]}/v1/chat/completions" >"$out" 2>&1 \
        || echo "  wrk exited with $? for $t c=$c (see below)"
    cpu1=$(cpu_ticks "$proc")
    [ "${6:-}" = warmup ] && return 0
    if grep -q '^RESULT' "$out"; then
        grep '^RESULT' "$out" | sed "s/\$/ cpu_ticks=$((cpu1 - cpu0))/" >>"$results"
        grep '^RESULT' "$out" | awk -v t="$t" -v c="$c" '{
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "  %-9s c=%-3s %8.0f req/s  p50 %7d us  p99 %7d us  errors %d/%d/%d/%d non-2xx %d\n",
                t, c, v["rps"], v["p50_us"], v["p99_us"], v["err_connect"], v["err_read"],
                v["err_write"], v["err_timeout"], v["non2xx"] }'
    else
        echo "  no result from wrk for $t c=$c:"; sed 's/^/    /' "$out"
    fi
    grep -E 'Non-2xx|Socket errors' "$out" | sed 's/^/    wrk: /' || true
}

# ---------------------------------------------------------------- the run
targets=(direct haproxy haproxy1 hearth)
[ "$litellm" = 1 ] && targets+=(litellm)

# How busy the machine is without us (1 s sample of /proc/stat): other load skews everything.
cpu_busy() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    echo "$a $b" | awk '{d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0)}'
}
busy_before=$(cpu_busy)
echo "machine busy before the run: ${busy_before}% of $(nproc) cores (load average $(cut -d' ' -f1-3 /proc/loadavg))"
[ "$busy_before" -le 10 ] || warn "the machine is already ${busy_before}% busy: results will be noisier than usual"

say "start: fake upstreams (ok mode) on :$P_A :$P_B, HAProxy on :$P_HAPROXY (1 thread: :$P_HAPROXY1), hearth on :$P_HEARTH"
start_fakes ok
start_haproxy haproxy ""
start_haproxy haproxy1 1
start_hearth
[ "$litellm" = 1 ] && start_litellm
sleep 1
say "RSS idle (before any request)"
rss_all idle
for t in "${targets[@]}"; do check "$t"; done

warm=$((duration < 2 ? duration : 2))
for round in $(seq "$rounds"); do
    say "round $round/$rounds: wrk ${duration}s each at c=1 (1 thread) and c=64 (2 threads)"
    for t in "${targets[@]}"; do
        run_wrk "$t" "$round" 64 2 "$warm" warmup
        run_wrk "$t" "$round" 1 1 "$duration"
        run_wrk "$t" "$round" 64 2 "$duration"
    done
    rss_all "round$round"
done
sleep 2
say "RSS 2 s after the load"
rss_all after

say "streaming: fakes restarted with --mode stream --chunks $chunks --delay-ms $delay_ms; $stream_n requests per target"
stop fake_a; stop fake_b
start_fakes stream
# HAProxy sends with MSG_MORE while a chunked answer is unfinished, which on Linux can hold
# small SSE events back for up to 200 ms; `option http-no-delay` is its setting for
# interactive traffic. Both are measured: HAProxy as configured above, and with that option.
start_haproxy haproxy_nd "" http-no-delay
stream_targets=(direct haproxy haproxy_nd hearth)
[ "$litellm" = 1 ] && stream_targets+=(litellm)
for t in "${stream_targets[@]}"; do
    auth=""; [ "$t" = litellm ] && auth=sk-bench
    n=$stream_n; [ "$t" = litellm ] && [ "$n" -gt 50 ] && n=50
    timeout $((n * 5 + 60)) python3 scripts/bench/ttfb.py --port "${PORT[$t]}" -n "$n" \
        --auth "$auth" --tag "target=$t" | tee -a "$results" | sed 's/^RESULT kind=ttfb /  /' \
        || echo "  streaming probe failed for $t"
done
rss_all stream

say "open streams: $open_n slow streams held open at once through each proxy"
# Upstreams that stream for 100 s (400 chunks, 250 ms apart): every stream outlasts the
# measurement. The probe waits until each stream has delivered its first bytes, then the RSS
# of the proxy is read while all of them are open; the probe then closes them.
stop fake_a; stop fake_b
saved_chunks=$chunks saved_delay=$delay_ms
chunks=400 delay_ms=250
start_fakes stream
chunks=$saved_chunks delay_ms=$saved_delay
open_targets=(haproxy hearth)
for t in "${open_targets[@]}"; do
    rel=$work/release-$t
    start "open_$t" python3 scripts/bench/open_streams.py --port "${PORT[$t]}" -n "$open_n" \
        --release-file "$rel" --ready-timeout 90 --hold 120 --tag "target=$t"
    if wait_for "$open_n open streams through $t" 100 log_has "open_$t" '^READY'; then
        sed 's/^/  /' "$work/open_$t.log"
        rss "$t" "open"
    fi
    touch "$rel"
    wait_for "the open-streams probe of $t to finish" 30 log_has "open_$t" '^RESULT' || true
    grep '^RESULT' "$work/open_$t.log" >>"$results" || true
    stop "open_$t"
    # Let the proxies and upstreams notice the closed streams before the next target.
    sleep 2
done
# ---------------------------------------------------------------- report
hearth_alive=yes
kill -0 "${PID[hearth]}" 2>/dev/null || hearth_alive=no
{
    echo "META date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "META machine $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    if [ "$build" = 1 ]; then
        echo "META hearth_rev $(git describe --always --dirty 2>/dev/null || echo unknown)"
    else
        echo "META hearth_rev binary of $(date -u -r "$hearth" '+%Y-%m-%d %H:%M UTC') (--no-build)"
    fi
    echo "META haproxy_version HAProxy $(haproxy -v | head -1 | awk '{print $3}')"
    echo "META wrk_version wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "META duration $duration"
    echo "META rounds $rounds"
    echo "META chunks $chunks"
    echo "META delay_ms $delay_ms"
    echo "META stream_n $stream_n"
    echo "META open_n $open_n"
    echo "META clk_tck $(getconf CLK_TCK)"
    echo "META hearth_alive $hearth_alive"
    echo "META busy_before $busy_before"
    echo "META busy_after $(cpu_busy)"
    # what hearth logged (warn and above), counted by its first three words
    echo "META hearth_log $(awk 'NF {print $1, $2, $3}' "$work/hearth.log" | sort | uniq -c \
        | sort -rn | head -5 | awk '{n = $1; $1 = ""; printf "%d ×%s; ", n, $0}')"
} >>"$results"
mkdir -p target/bench
report=target/bench/proxy-$(date -u +%Y%m%d-%H%M%S).md
python3 scripts/bench/report.py "$results" >"$report"
cp "$results" "${report%.md}.results.txt"
say "results (Markdown; also in $report)"
cat "$report"
