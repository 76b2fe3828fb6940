#!/usr/bin/env bash
# Benchmark the Wi-Fi planner: `hearth plan` on a 10,000-point survey with the mesh placement
# search, against the same run without the search (the baseline, measured in the same run).
#
# usage: scripts/bench/planner.sh [--points N] [--runs R] [--no-build]
#
# The survey is generated with a fixed seed (a 20 x 12 m, 2-floor home, one AP in a corner, so
# that moving and mesh placement both have work to do). Each variant runs R times; the median
# wall time is printed with the ratio search/baseline. Target (issue #7): <= 0.5 s with the
# release build. Nothing is asserted: this is a benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

usage() { sed -n '5p' "$0" | sed 's/^# \{0,1\}//'; }

points=10000 runs=5 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --points) points=${2:?--points needs a count}; shift ;;
        --runs) runs=${2:?--runs needs a count}; shift ;;
        --no-build) build=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in "$points" "$runs"; do
    case $v in ''|*[!0-9]*|0) echo "--points and --runs take whole numbers > 0" >&2; exit 2 ;; esac
done
command -v python3 >/dev/null || { echo "python3 is needed to generate the survey" >&2; exit 1; }

if [ "$build" = 1 ]; then
    say "cargo build --release -p hearth"
    cargo build --release -p hearth
fi
bin=${CARGO_TARGET_DIR:-target}/release/hearth
[ -x "$bin" ] || { echo "$bin not found (build it, or drop --no-build)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/hearth" <<UCI
config planner 'home'
	option survey 'survey.csv'
	option budget '300'
	option width '20'
	option height '12'
	option floors '2'
	option resolution '0.5'
	list ap 'main:2,2,0:wifi6'
UCI
python3 - "$points" > "$work/survey.csv" <<'PY'
import math, random, sys
n = int(sys.argv[1])
rng = random.Random(7)
print("room,floor,x,y,band,rssi,ap")
for _ in range(n):
    f = rng.randrange(2)
    x, y = rng.uniform(0, 20), rng.uniform(0, 12)
    room = "R%d-%d%d" % (f, int(x // 5), int(y // 4))
    band = "5" if rng.random() < 0.7 else "2.4"
    a, k, lf = (-32.0, 3.3, 7.0) if band == "5" else (-27.0, 3.0, 5.0)
    d = max(1.0, math.sqrt((x - 2) ** 2 + (y - 2) ** 2 + (3.0 * f) ** 2))
    rssi = a - 10 * k * math.log10(d) - lf * f + rng.gauss(0, 3)
    print("%s,%d,%.2f,%.2f,%s,%d,main" % (room, f, x, y, band, round(max(rssi, -100))))
PY

# time_runs ARGS...: median wall seconds of $runs runs of `hearth plan ARGS`.
time_runs() {
    local times=()
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$bin" --config "$work/hearth" plan --json "$@" > "$work/out.json"
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

say "hearth plan on $points points, $runs runs each"
base=$(time_runs --no-search)
full=$(time_runs)
kind=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["recommendation"]["kind"], "-", d["recommendation"]["title"])' "$work/out.json")
printf '| variant | median wall time |\n|---|---|\n'
printf '| without mesh search (baseline) | %.3f s |\n' "$base"
printf '| with mesh search | %.3f s |\n' "$full"
printf '\nratio search/baseline: %.2f; target <= 0.5 s: %s\n' "$(echo "$full / $base" | bc -l)" \
    "$(echo "$full <= 0.5" | bc -l | sed 's/1/met/; s/0/NOT met/')"
echo "recommendation: $kind"
