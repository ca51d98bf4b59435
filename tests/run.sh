#!/usr/bin/env bash
# Run test layers and print one closing line: "N passed, N failed, N skipped".
# Usage: tests/run.sh [unit] [kunit] [vm] ...   (no argument: every layer)
# Each layer is tests/<layer>/run.sh; it reports through tests/lib/results.sh.
# A layer that exits non-zero without reporting a failure still counts as one,
# so a crashed runner can never look like a pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/results.sh"

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(unit cli crash keys pkg fuzz kunit vm bench)

# Each run totals its own file (parallel runs must not truncate each other's);
# the last run's list is copied to build/results.txt for people to read.
build=$(cd "$here/.." && pwd)/build
mkdir -p "$build"
export VXTS_RESULTS
VXTS_RESULTS=$(mktemp "$build/results.XXXXXX")
trap 'cp "$VXTS_RESULTS" "$build/results.txt" 2>/dev/null; rm -f "$VXTS_RESULTS"' EXIT

for layer in "${layers[@]}"; do
	runner=$here/$layer/run.sh
	if [ ! -x "$runner" ]; then
		vxts_report FAIL "$layer/runner" "no executable $runner"
		continue
	fi
	echo "=== layer $layer ($(date +%T))"
	before=$(grep -c '^FAIL ' "$VXTS_RESULTS") || true
	start=$SECONDS
	"$runner"
	rc=$?
	after=$(grep -c '^FAIL ' "$VXTS_RESULTS") || true
	if [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
		vxts_report FAIL "$layer/runner" "exited $rc without reporting a failure"
	fi
	echo "=== layer $layer done in $((SECONDS - start)) s"
done

grep -E '^(FAIL|SKIP) ' "$VXTS_RESULTS" | sed 's/^/  /' || true
vxts_summary "$VXTS_RESULTS"
