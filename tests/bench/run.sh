#!/usr/bin/env bash
# Bench layer: `make bench` in its short mode (BENCH_SHORT=1), then checks that
# the harness produced what it promises. No speed is asserted: this fails when
# the harness breaks (a boot that does not finish, a target that does not map,
# fio or tcrypt output that no longer parses, a missing ratio, a broken chart),
# never because something got slower.
#
#   bench/run             bench/run.sh exited 0
#   bench/vm-json         every (workload, target) measured once, sane fields,
#                         drivers, tcrypt, ratios vxts / each peer
#   bench/inplace-json    every tool and mode converted, ratios, openssl speed
#   bench/report          summary.md tables and PNG charts
#   bench/bad-args        the runner refuses an unknown target (exit 1, no boot)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"

dir=$top/build/bench/smoke
rm -rf "$dir"
mkdir -p "$dir"

check() { # <name> <jq program over the file> <file>: PASS when it prints nothing
	local why
	if [ ! -s "$3" ]; then
		vxts_report FAIL "bench/$1" "${3#$top/} missing"
		return
	fi
	why=$(jq -r "$2" "$3" 2>&1 | head -n 5 | tr '\n' ';')
	if [ -n "$why" ]; then
		vxts_report FAIL "bench/$1" "$why"
	else
		vxts_report PASS "bench/$1"
	fi
}

t0=$SECONDS
BENCH_SHORT=1 BENCH_DIR=$dir "$top/bench/run.sh" > "$dir/run.log" 2>&1
rc=$?
echo "bench: short run took $((SECONDS - t0)) s (log: ${dir#$top/}/run.log)"
if [ $rc -eq 0 ]; then
	vxts_report PASS bench/run
else
	vxts_report FAIL bench/run "bench/run.sh exited $rc: $(grep -E 'error|FAILED|did not|only' "$dir/run.log" | head -n 3 | tr '\n' ' ')"
fi

# Each check prints one line per problem.
check vm-json '
	(.params.targets | length) as $nt | (.params.workloads | length) as $nw
	| (if (.runs | length) != $nt * $nw * .params.repeat then "runs: \(.runs | length), want \($nt * $nw * .params.repeat)" else empty end),
	  (if (.accelerator | IN("KVM", "TCG")) | not then "accelerator \(.accelerator)" else empty end),
	  (.runs[] | select((.mb_s > 0 and .iops > 0 and .p50_us > 0 and .p99_us >= .p50_us
		and .cpu_s_per_gib > 0 and .io_bytes > 0 and .error == 0) | not)
		| "bad run \(.workload)/\(.target): \(tojson)"),
	  (.targets[] | select(.name != "linear" and ((.crypto_driver // "") | test("^(xts|unknown$)") | not))
		| "no crypto driver for \(.name): \(.crypto_driver)"),
	  (if ([.tcrypt.results[]? | select(.block == 4096 and .mb_s > 0)] | length) != 2 then "tcrypt: no 4096-byte results" else empty end),
	  (if (.ratios | length) != $nw * 4 then "ratios: \(.ratios | length), want \($nw * 4)" else empty end),
	  (.ratios[] | select(.mb_s == null or .mb_s <= 0) | "ratio missing: \(tojson)"),
	  (.errors[] | "guest error: \(.what): \(.message)"),
	  (if (.host.loadavg_start | length) == 0 then "no load average" else empty end)
	' "$dir/vm.json"

check inplace-json '
	(.rows[] | select(.ok | not) | "\(.tool) \(.mode): \(.error)"),
	(if (.rows | length) != 6 * .params.repeat * (.params.locations | length) then "rows: \(.rows | length)" else empty end),
	(if (.ratios | length) != 8 * (.params.locations | length) then "ratios: \(.ratios | length), want \(8 * (.params.locations | length))" else empty end),
	(if (.openssl.mb_s // 0) <= 0 then "no openssl speed" else empty end)
	' "$dir/inplace.json"

why=
for f in summary.md kernel-throughput.png kernel-cpu.png engine-inplace.png; do
	[ -s "$dir/$f" ] || why="$why $f missing;"
done
for f in "$dir"/*.png; do
	[ -e "$f" ] && [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" != '211PNG' ] && why="$why ${f##*/} is not a PNG;"
done
for h in '### Throughput' '### Completion latency' '### Guest CPU' '### In-place encryption' '### Ratios' 'tcrypt'; do
	grep -q "$h" "$dir/summary.md" 2>/dev/null || why="$why summary.md lacks '$h';"
done
# Every measured cell is a number: a dash in the vxts column means a lost result.
if grep -q '^| seq-read | .*| – |' "$dir/summary.md" 2>/dev/null; then
	why="$why summary.md has an empty cell in seq-read;"
fi
if [ -z "$why" ]; then
	vxts_report PASS bench/report
else
	vxts_report FAIL bench/report "$why"
fi

# The runner must refuse nonsense before booting anything.
if BENCH_TARGETS="linear nosuch" BENCH_OUT="$dir/bad.json" "$top/bench/vm.sh" > "$dir/bad.log" 2>&1; then
	vxts_report FAIL bench/bad-args "bench/vm.sh accepted an unknown target"
elif ! grep -q "unknown target 'nosuch'" "$dir/bad.log" || [ -e "$dir/bad.json" ]; then
	vxts_report FAIL bench/bad-args "unexpected output: $(head -n 2 "$dir/bad.log" | tr '\n' ' ')"
else
	vxts_report PASS bench/bad-args
fi
