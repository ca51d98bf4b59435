#!/usr/bin/env bash
# make bench: both halves end to end, then the summary.
#
#   1. kernel path  bench/vm.sh: dm-linear, dm-crypt default and tuned, dm-vxts
#                   on one RAM disk in one QEMU boot (fio, guest CPU, tcrypt)
#   2. engine       bench/inplace.sh: vxts encrypt vs cryptsetup reencrypt vs a
#                   raw in-place copy, in tmpfs and on the disk; openssl speed
#   3. report       bench/report.sh: summary.md and PNG charts next to the JSON
#
# Full run (the default): results in docs/benchmarks/<UTC time>/ and
# docs/benchmarks/README.md points at the newest. About 35 minutes on the
# 2-core TCG machine (see bench/README.md). BENCH_SHORT=1: the smoke run of
# tests/bench (a minute or two), results in build/bench/short-<UTC time>/.
#
# Environment: BENCH_SHORT, BENCH_PARTS (default "vm inplace"), BENCH_DIR
# (where results go; a part run earlier into the same directory joins the
# report, so the halves can be run one at a time), plus everything bench/vm.sh and bench/inplace.sh read
# (BENCH_TARGETS, BENCH_WORKLOADS, VXTS_KO, SIZE_MIB, REPEAT, LOCATIONS, ...).
# Exit status: 0 when every part produced complete results, 1 otherwise.
# Benchmarks, not tests: nothing here asserts a speed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
short=${BENCH_SHORT:-0}
parts=${BENCH_PARTS:-vm inplace}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [ "$short" = 1 ]; then
	dir=${BENCH_DIR:-$top/build/bench/short-$stamp}
	export SIZE_MIB=${SIZE_MIB:-64} REPEAT=${REPEAT:-1} LOCATIONS=${LOCATIONS:-/dev/shm}
	export OPENSSL_SECONDS=${OPENSSL_SECONDS:-1}
else
	dir=${BENCH_DIR:-$top/docs/benchmarks/$stamp}
	export SIZE_MIB=${SIZE_MIB:-4096} REPEAT=${REPEAT:-3}
fi
export BENCH_SHORT=$short
mkdir -p "$dir"
n=$(wc -w <<< "$parts")
i=0
rc=0
t0=$SECONDS
args=()

for part in $parts; do
	i=$((i + 1))
	t=$SECONDS
	case $part in
	vm)
		echo "bench: [$i/$((n + 1))] kernel path (bench/vm.sh)" >&2
		BENCH_OUT=$dir/vm.json "$here/vm.sh" || rc=1
		[ -s "$dir/vm.json" ] && args+=(--vm "$dir/vm.json")
		;;
	inplace)
		echo "bench: [$i/$((n + 1))] engine in place (bench/inplace.sh, $SIZE_MIB MiB, $REPEAT runs)" >&2
		OUT=$dir/inplace.json "$here/inplace.sh" > "$dir/inplace.txt" || rc=1
		cat "$dir/inplace.txt" >&2
		if [ -s "$dir/inplace.json" ]; then
			args+=(--inplace "$dir/inplace.json")
			[ "$(jq '[.rows[] | select(.ok | not)] | length' "$dir/inplace.json")" -eq 0 ] || rc=1
		else
			rc=1
		fi
		rm -f "$dir/inplace.txt"
		;;
	*)
		echo "bench: unknown part '$part' (vm, inplace)" >&2
		exit 2
		;;
	esac
	echo "bench: $part took $((SECONDS - t)) s" >&2
done

# A part run earlier into the same BENCH_DIR (BENCH_PARTS=vm, then
# BENCH_PARTS=inplace) joins the report.
for part in vm inplace; do
	if [[ " ${args[*]} " != *" --$part "* ]] && [ -s "$dir/$part.json" ]; then
		args+=(--$part "$dir/$part.json")
	fi
done
echo "bench: [$((n + 1))/$((n + 1))] report" >&2
if [ ${#args[@]} -gt 0 ]; then
	"$here/report.sh" "${args[@]}" --out "$dir" >&2 || rc=1
else
	rc=1
fi
if [ "$(cd "$dir/.." && pwd)" = "$top/docs/benchmarks" ] && [ -s "$dir/summary.md" ]; then
	"$here/index.sh" "$top/docs/benchmarks" >&2 || rc=1
fi
echo "bench: done in $((SECONDS - t0)) s; results in ${dir#$top/}/ (exit $rc)" >&2
exit $rc
