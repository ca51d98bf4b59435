#!/usr/bin/env bash
# Native unit tests: the build/tests/unit/test_* binary of every
# tests/unit/test_*.c (cmocka), run with TAP output so each cmocka test becomes
# one PASS/FAIL line. A binary that crashes or reports nothing is a failure of
# its own; a missing one too. A binary left in build/ by a test whose source
# is gone is not run (a working tree and a clean clone report the same tests).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"

srcs=("$here"/test_*.c)
failed=0
for src in "${srcs[@]}"; do
	suite=$(basename "$src" .c)
	bin=$top/build/tests/unit/$suite
	if [ ! -x "$bin" ]; then
		vxts_report FAIL "unit/$suite" "no $bin: run make"
		failed=1
		continue
	fi
	out=$(mktemp)
	# Each binary gets a private scratch directory (tmpfs when /dev/shm exists).
	scratch=$(mktemp -d "${VXTS_TEST_TMP:-/dev/shm}/vxts-unit.XXXXXX" 2>/dev/null || mktemp -d)
	CMOCKA_MESSAGE_OUTPUT=TAP VXTS_TEST_TMP=$scratch timeout 900 "$bin" > "$out" 2>&1
	rc=$?
	rm -rf "$scratch"
	n=0
	while IFS= read -r line; do
		case "$line" in
		*" # SKIP"*)
			vxts_report SKIP "unit/$suite/${line##*# SKIP }" "skipped by the test"
			n=$((n + 1)) ;;
		"ok "*)
			vxts_report PASS "unit/$suite/$(sed -E 's/^ok [0-9]+ -? ?//' <<<"$line")"
			n=$((n + 1)) ;;
		"not ok "*)
			vxts_report FAIL "unit/$suite/$(sed -E 's/^not ok [0-9]+ -? ?//' <<<"$line")"
			n=$((n + 1)); failed=1 ;;
		esac
	done < "$out"
	if [ "$n" -eq 0 ] || { [ "$rc" -ne 0 ] && ! grep -v ' # SKIP' "$out" | grep -q '^not ok '; }; then
		vxts_report FAIL "unit/$suite" "exit $rc, $n results"
		failed=1
	fi
	if [ "$rc" -ne 0 ]; then
		sed 's/^/    /' "$out" | tail -n 40
	fi
	rm -f "$out"
done
exit $failed
