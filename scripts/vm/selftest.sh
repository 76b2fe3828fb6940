#!/usr/bin/env bash
# Self-test of the full-kernel VM lane (docs/vm-lane.md), in one boot:
#  * every test of scripts/vm/tests.list must pass (the kernel probe, hearth --version, hearth check);
#  * one extra test that exits 3 on purpose must be reported FAIL and must make scripts/vm-test.sh fail.
# So the lane is proved to detect both success and failure. Exit 0 only if both hold.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

RESULTS=target/vm/last/results.txt
PROBE=target/vm/probe-build/x86_64-unknown-linux-musl/release/vm-probe
expected=$(grep -cv '^[[:space:]]*\(#\|$\)' scripts/vm/tests.list)
total=$((expected + 1))

say "VM lane self-test: $expected test(s) from tests.list must pass, test $total must fail (exit 3)"
rm -f "$RESULTS" # a stale file from an earlier run must not count
rc=0
# The deliberate failure is relabelled in the printed log (results.txt, checked below, is not),
# so a search of a CI log for FAIL finds real failures only.
scripts/vm-test.sh --host-bin ip --host-bin tc --host-bin ss --host-bin curl --host-bin iperf3 \
    --all -- "$PROBE" --exit-code 3 2>&1 |
    sed -u -e "s|FAIL $total/$total vm-probe --exit-code 3|EXPECTED-FAILURE $total/$total vm-probe --exit-code 3|" \
        -e "s|VM LANE FAILED: \(.*\) 1 failed|vm lane: \1 1 failed (the self-test's deliberate one)|" \
        -e "s|VM-LANE-RESULT: \(.*\), 1 failed|VM-LANE-RESULT: \1, 1 failed as intended|" || rc=$?

fail() {
    printf '\n\033[1;31mVM LANE SELF-TEST FAILED: %s\033[0m\n' "$*" >&2
    exit 1
}
[ -f "$RESULTS" ] || fail "no $RESULTS: the lane did not get as far as running tests (see above)"
npass=$(grep -c '^PASS ' "$RESULTS" || true)
nfail=$(grep -c '^FAIL ' "$RESULTS" || true)
[ "$rc" -ne 0 ] || fail "scripts/vm-test.sh exited 0 although test $total exits 3: failures are not detected"
[ "$npass" -eq "$expected" ] || fail "$npass of $expected tests.list test(s) passed (see FAIL lines above)"
if [ "$nfail" -ne 1 ] || ! grep -q "^FAIL $total/$total vm-probe --exit-code 3 (exit 3," "$RESULTS"; then
    fail "the deliberately failing test $total was not reported as 'FAIL $total/$total … (exit 3' — results: $(tr '\n' ';' <"$RESULTS")"
fi
printf '\n\033[1;32mVM LANE SELF-TEST PASSED: %d tests.list test(s) passed; the deliberate failure was caught (exit %d)\033[0m\n' \
    "$expected" "$rc"
