#!/usr/bin/env bash
# KUnit layer: the dm-vxts suites (tests/kunit/vxts_kunit.c) built into a
# KUnit kernel from Debian's linux-source-6.12 and run under QEMU (TCG here)
# by the kernel's own tools/testing/kunit/kunit.py. One PASS/FAIL/SKIP line
# per test case (kunit/<suite>/<case>); a build or boot failure, a missing
# suite, or zero test cases is a FAIL.
#
# Cache ($VXTS_KUNIT_CACHE, default ~/.cache/vxts):
#   src-<tarball stamp>/linux-source-6.12   the source, extracted once
#   build-<hash>/                           the build dir, keyed by the
#                                           kunitconfig and the source stamp
# Cold: ~6-10 min on 2 cores. Warm: only our files are recompiled.
# Our suites get into the tree without a Kconfig patch: drivers/vxts_kunit/
# holds symlinks to this directory and to the kmod/ sources under test, and
# drivers/Makefile gets one line, obj-$(CONFIG_KUNIT) += vxts_kunit/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"

tarball=${VXTS_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
cache=${VXTS_KUNIT_CACHE:-$HOME/.cache/vxts}
jobs=${VXTS_JOBS:-2}
log_dir=$top/build/kunit
hook='obj-$(CONFIG_KUNIT) += vxts_kunit/'

kunit_fail() { # <name> <reason> [log to show]
	vxts_report FAIL "kunit/$1" "$2"
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		tail -n 40 "$3" | sed 's/^/    /'
	fi
	exit 1
}

kunit_check_tools() {
	[ -r "$tarball" ] || kunit_fail setup "no kernel source $tarball: run 'make setup'"
	command -v qemu-system-x86_64 >/dev/null ||
		kunit_fail setup "qemu-system-x86_64 not installed: run 'make setup'"
	command -v python3 >/dev/null || kunit_fail setup "python3 not installed"
}

# Extract once, into a temporary name first so an interrupted run never
# leaves a half tree that looks complete.
kunit_extract() { # <dir>
	local dir=$1 tmp
	[ -f "$dir/linux-source-6.12/Makefile" ] && return 0
	echo "kunit: extracting $tarball (once)"
	tmp=$(mktemp -d "$cache/extract.XXXXXX") || return 1
	tar -xf "$tarball" -C "$tmp" || { rm -rf "$tmp"; return 1; }
	rm -rf "$dir" && mv "$tmp" "$dir"
}

# Symlinks, not copies: kbuild then sees our sources' own timestamps, so a
# warm run recompiles exactly what changed.
kunit_stage() { # <source tree>
	local tree=$1 stage=$1/drivers/vxts_kunit f
	rm -rf "$stage" && mkdir -p "$stage" || return 1
	ln -s "$here/Kbuild" "$stage/Makefile" || return 1
	for f in "$here"/*.c "$here"/*.h "$top"/kmod/dm-vxts.h \
		 "$top"/kmod/vxts-parse.c "$top"/kmod/vxts-crypt.c \
		 "$top"/kmod/vxts-window.c; do
		ln -s "$f" "$stage/$(basename "$f")" || return 1
	done
	grep -qxF "$hook" "$tree/drivers/Makefile" ||
		echo "$hook" >> "$tree/drivers/Makefile"
}

# kunit.py's JSON -> "<PASS|FAIL|SKIP> <suite>/<case>" lines; ERROR (a
# crashed test) counts as FAIL.
kunit_json_results() { # <json file>
	python3 - "$1" <<'EOF'
import json, sys

def walk(group, suite):
    for case in group.get("test_cases", []):
        status = case["status"] if case["status"] in ("PASS", "SKIP") else "FAIL"
        print(status, f"{suite}/{case['name']}" if suite else case["name"])
    for sub in group.get("sub_groups", []):
        walk(sub, sub["name"] if not suite else f"{suite}/{sub['name']}")

walk(json.load(open(sys.argv[1])), "")
EOF
}

# Debian's kernel has CONFIG_KUNIT unset, so the suites cannot link or load
# there; they must still compile warning-free against its headers as an
# out-of-tree module (objects only, W=1), like the target itself.
kunit_debian_compile() {
	local kver kdir stage=$log_dir/debian-headers f out
	kver=${KVER:-$(ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)}
	kdir=${KDIR:-/lib/modules/$kver/build}
	if [ -z "$kver" ] || [ ! -d "$kdir" ]; then
		vxts_report SKIP kunit/compile-debian-headers "no kernel headers at $kdir"
		return 0
	fi
	rm -rf "$stage" && mkdir -p "$stage"
	for f in "$here"/*.c "$here"/*.h "$top"/kmod/dm-vxts.h \
		 "$top"/kmod/vxts-parse.c "$top"/kmod/vxts-crypt.c \
		 "$top"/kmod/vxts-window.c; do
		ln -s "$f" "$stage/$(basename "$f")"
	done
	printf 'obj-m += vxts-kunit.o\nvxts-kunit-y := vxts_kunit.o vxts-parse.o vxts-crypt.o vxts-window.o\n' \
		> "$stage/Kbuild"
	out=$(make -C "$kdir" M="$stage" W=1 vxts_kunit.o vxts-parse.o vxts-crypt.o \
		vxts-window.o 2>&1)
	if [ $? -ne 0 ] || grep -q 'warning:' <<< "$out"; then
		vxts_report FAIL kunit/compile-debian-headers "against $kdir"
		grep -E 'warning:|error:' <<< "$out" | head -n 20 | sed 's/^/    /'
		return 1
	fi
	vxts_report PASS kunit/compile-debian-headers
}

kunit_run() { # <source tree> <build dir> <json out> <log>
	local tree=$1 bdir=$2 json=$3 log=$4
	(cd "$tree" && timeout 3600 python3 tools/testing/kunit/kunit.py run \
		--arch=x86_64 --build_dir="$bdir" --kunitconfig="$here/.kunitconfig" \
		--jobs="$jobs" --timeout=900 --qemu_args='-cpu max' \
		--json="$json" 'vxts_*') > "$log" 2>&1
}

# Every suite the source declares must show up in the results.
kunit_expected_suites() {
	sed -n 's/^[[:space:]]*\.name = "\(vxts_[a-z0-9_]*\)",$/\1/p' "$here"/vxts_kunit.c
}

main() {
	local stamp key srcdir tree bdir json log rc results n=0 failed=0 verdict name suite

	mkdir -p "$cache" "$log_dir"
	kunit_debian_compile || failed=1
	kunit_check_tools
	exec 9> "$cache/kunit.lock"
	flock 9	# one KUnit build per cache at a time

	stamp=$(stat -c '%s-%Y' "$tarball")
	srcdir=$cache/src-$stamp
	kunit_extract "$srcdir" || kunit_fail setup "cannot extract $tarball"
	tree=$srcdir/linux-source-6.12
	kunit_stage "$tree" || kunit_fail setup "cannot stage suites into $tree"
	key=$( (cat "$here/.kunitconfig"; echo "$stamp") | sha1sum | cut -c1-12)
	bdir=$cache/build-$key
	json=$log_dir/results.json
	log=$log_dir/kunit.log
	rm -f "$json"

	# Always recompile our objects: kbuild judges by mtime, and a symlink
	# re-pointed at another checkout may well point at an older file.
	rm -rf "$bdir/drivers/vxts_kunit"
	echo "kunit: building in $bdir (log: $log)"
	kunit_run "$tree" "$bdir" "$json" "$log"
	rc=$?
	if [ ! -s "$json" ]; then
		grep -q 'Elapsed time.*running' "$log" ||
			kunit_fail build "kunit.py exited $rc before running tests" "$log"
		kunit_fail boot "kunit.py exited $rc without results" "$log"
	fi

	results=$(kunit_json_results "$json") ||
		kunit_fail results "cannot read $json" "$log"
	while read -r verdict name; do
		[ -n "$verdict" ] || continue
		n=$((n + 1))
		[ "$verdict" = FAIL ] && failed=1
		vxts_report "$verdict" "kunit/$name"
	done <<< "$results"

	for suite in $(kunit_expected_suites); do
		if ! grep -q " $suite/" <<< "$results"; then
			vxts_report FAIL "kunit/$suite" "suite did not run"
			failed=1
		fi
	done
	[ "$n" -gt 0 ] || kunit_fail tests "no test cases in the results" "$log"
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		kunit_fail run "kunit.py exited $rc but no case failed" "$log"
	fi
	[ "$failed" -eq 0 ] || grep -E 'not ok|Expected|ASSERTION|FAIL' "$log" | head -n 40 | sed 's/^/    /'
	return "$failed"
}

main "$@"
