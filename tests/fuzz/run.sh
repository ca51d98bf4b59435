#!/usr/bin/env bash
# Fuzz layer: libFuzzer (ASan + UBSan) on the header and keyslot parsers.
#
# Builds build/fuzz/fuzz_header with clang from tests/fuzz/fuzz_header.c and
# the library sources it needs, then runs it for VXTS_FUZZ_SECONDS (default
# 60; `make fuzz` runs 600) on a working copy of the seed corpus in
# tests/fuzz/corpus (the repository's seeds are never rewritten). Any crash,
# sanitizer report or leak is a FAIL; its reproducer is kept in build/fuzz/.
# Reports execs/s and total execs from libFuzzer's final stats.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
out=$top/build/fuzz
lib=$top/userspace/lib
secs=${VXTS_FUZZ_SECONDS:-60}
mkdir -p "$out"

if ! command -v clang > /dev/null; then
	vxts_report SKIP fuzz/header "clang not installed (scripts/setup.sh installs it)"
	exit 0
fi
srcs=()
for f in header keyslot kdf secmem kms p11 error dev; do srcs+=("$lib/$f.c"); done
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-std=gnu11 -D_GNU_SOURCE -I"$lib" $(pkg-config --cflags p11-kit-1) \
	"$here/fuzz_header.c" "${srcs[@]}" \
	-o "$out/fuzz_header.new" -lcrypto -largon2 $(pkg-config --libs p11-kit-1) \
	> "$out/build.log" 2>&1; then
	vxts_report FAIL fuzz/build "clang: $(grep -m1 error "$out/build.log")"
	exit 1
fi
mv "$out/fuzz_header.new" "$out/fuzz_header"

rm -rf "$out/corpus"
cp -r "$here/corpus" "$out/corpus"
n_seeds=$(ls "$out/corpus" | wc -l)
cd "$out" || exit 1
rm -f crash-* leak-* timeout-* oom-*
# -rss_limit_mb: a parser must never need much; -timeout: nor take long
./fuzz_header -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=1024 -timeout=10 \
	-max_len=6144 "$out/corpus" > "$out/fuzz.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/fuzz.log")
found=$(ls crash-* leak-* timeout-* oom-* 2> /dev/null | head -1)
echo "# fuzz_header: ${secs} s, ${execs:-?} execs, ${rate:-?} execs/s, corpus $n_seeds seeds -> $(ls corpus | wc -l) inputs"
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
	vxts_report FAIL fuzz/header "libFuzzer exit $rc, ${found:-no reproducer}: $(grep -m1 -E 'ERROR|SUMMARY|deadly' "$out/fuzz.log")"
	exit 1
fi
if [ -z "$execs" ] || [ "$execs" -lt 1000 ]; then
	vxts_report FAIL fuzz/header "only ${execs:-0} executions: the fuzzer did not really run"
	exit 1
fi
vxts_report PASS fuzz/header
