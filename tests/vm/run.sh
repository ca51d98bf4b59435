#!/usr/bin/env bash
# VM integration tests: boot Debian's kernel in QEMU with a small initramfs,
# load dm-vxts.ko and run the scenario scripts in tests/vm/scenarios/.
#
# Usage: tests/vm/run.sh [scenario-glob...]     e.g. tests/vm/run.sh '01-*' 07-malformed
# Environment: KVER (6.12 kernel), KVER_61 (6.1 kernel, for the smoke boot),
#              VXTS_VM_61=0 to skip the 6.1 boot, VXTS_VM_TIMEOUT (s, per boot),
#              VXTS_VM_TARGET=crypt to run the scenarios against dm-crypt
#              (checks the scenarios themselves; vxts-only checks then fail).
# Each scenario is one reported test "vm/<name>"; the 6.1 boot reports
# "vm/6.1/<name>". See docs/VM-TESTS.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
. "$here/initramfs.sh"

out=$top/build/vm
failed=0
bad_re='BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Call Trace|possible circular locking|INFO: possible|lockdep|blocked for more than|Kernel panic|detected stalls'

vm_fail() { # <name> <reason>
	vxts_report FAIL "$1" "$2"
	failed=1
}

vm_kver() { # <series, e.g. 6.12>: newest installed kernel of that series
	ls /lib/modules 2>/dev/null | grep "^${1//./\\.}\\." | sort -V | tail -n 1
}

vm_scenarios() { # <glob...>: matching scenario scripts, sorted
	local g f
	if [ $# -eq 0 ]; then
		set -- '*'
	fi
	for g in "$@"; do
		for f in "$here"/scenarios/$g "$here"/scenarios/$g.sh "$here"/scenarios/$g*.sh; do
			case "$f" in
			*.sh) [ -f "$f" ] && echo "$f" ;;
			esac
		done
	done | sort -u
}

vm_accel() {
	if [ -w /dev/kvm ]; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg -cpu max"
	fi
}

# Boot <kver> with <initrd>; the console goes to <log>, results to <res>.
# Besides the RAM disks the guest gets one 64 MiB NVMe namespace with a poll
# queue (nvme.poll_queues=1), for polled-IO scenarios; its image is a sparse
# file on tmpfs, removed after the boot.
vm_boot() { # <kver> <initrd> <log> <res>
	local kver=$1 accel name img r
	accel=$(vm_accel)
	name=TCG
	[[ $accel == *kvm* ]] && name=KVM
	echo "vm: booting $kver under $name (console: ${3#$top/})"
	: > "$3"
	: > "$4"
	img=$(mktemp /dev/shm/vxts-vm-nvme.XXXXXX 2>/dev/null || mktemp "$out/nvme.XXXXXX")
	truncate -s 64M "$img"
	# panic=-1 with -no-reboot turns any panic (oops=panic) into a QEMU exit.
	# In the background so that the EXIT trap can stop it if we are killed
	# (timeout puts itself in its own process group).
	timeout "${VXTS_VM_TIMEOUT:-2400}" qemu-system-x86_64 $accel -m 2G -smp 2 \
		-nographic -no-reboot -monitor none \
		-kernel "/boot/vmlinuz-$kver" -initrd "$2" \
		-drive "file=$img,if=none,id=nv0,format=raw" -device nvme,serial=vxts0,drive=nv0 \
		-append "console=ttyS0,115200 panic=-1 oops=panic softlockup_panic=1 nvme.poll_queues=1 vxts.accel=$name vxts.target=${VXTS_VM_TARGET:-vxts}" \
		-serial "file:$3" -serial "file:$4" < /dev/null > "$3.qemu" 2>&1 &
	vm_pid=$!
	wait "$vm_pid"
	r=$?
	vm_pid=
	rm -f "$img"
	return $r
}

vm_stop() {
	if [ -n "${vm_pid:-}" ]; then
		kill "$vm_pid" 2>/dev/null
	fi
}

# Turn the guest's result markers into reports; missing ones are failures.
vm_collect() { # <prefix> <results file> <console log> <scenario>...
	local prefix=$1 res=$2 log=$3 name verdict reason line hit
	shift 3
	grep -a '^VXTS-INFO ' "$res" | sed 's/^VXTS-INFO /vm: /'
	for name in load-module $(for s in "$@"; do basename "$s" .sh; done) unload-module; do
		line=$(grep -a "^VXTS-RESULT [A-Z]* $name\\b" "$res" | tail -n 1 | tr -d '\r')
		if [ -z "$line" ]; then
			vm_fail "vm/$prefix$name" "guest never reported (hang or panic? see ${log#$top/})"
			continue
		fi
		verdict=$(cut -d' ' -f2 <<< "$line")
		reason=$(cut -d' ' -f4- <<< "$line")
		[ "$verdict" = FAIL ] && failed=1
		vxts_report "$verdict" "vm/$prefix$name" "$reason"
	done
	grep -a '^VXTS-TIME ' "$res" | awk '{printf "vm: %s took %s s\n", $2, $3}'
	hit=$(grep -a -v '^VXTS-' "$log" | grep -a -E "$bad_re" | head -n 3 | tr -d '\r')
	if [ -n "$hit" ]; then
		vm_fail "vm/${prefix}kernel-log" "$(tr '\n' ' ' <<< "$hit")"
	fi
	if ! grep -aq '^VXTS-END' "$res"; then
		vm_fail "vm/${prefix}boot" "the guest did not finish (see ${log#$top/})"
	fi
}

# The guest's --json samples against docs/schema/ (tests/lib/schemacheck.py):
# one test, vm/json-schemas, when a selected scenario sends samples
# (json_sample, "VXTS-JSON <schema> <name> <base64>" lines). The online
# verbs' schemas must each get a sample and every property of theirs must
# be needed by one; the other schemas are covered by the image-file runs
# (cli/guide_schemas) and only validated here.
vm_json_online="online.json status-mapping.json open.json mapping-result.json"
vm_json() { # <results file> <scenario>...
	local res=$1 dir=$out/json s f senders= schema name b64 why
	shift
	for s in "$@"; do
		grep -q '^[^#]*json_sample ' "$s" && senders="$senders $(basename "$s" .sh)"
	done
	[ -n "$senders" ] || return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	: > "$dir/samples.txt"
	while read -r _ schema name b64; do
		base64 -d <<< "$b64" > "$dir/$name.json" 2> /dev/null ||
			{ vm_fail vm/json-schemas "sample $name: not base64 (a cut line?)"; return; }
		printf '%s\t%s\n' "$schema" "$dir/$name.json" >> "$dir/samples.txt"
	done < <(grep -a '^VXTS-JSON ' "$res" | tr -d '\r')
	if [ ! -s "$dir/samples.txt" ]; then
		for s in $senders; do
			grep -aq "^VXTS-RESULT SKIP $s\\b" "$res" && continue
			vm_fail vm/json-schemas "no sample from$senders"
			return
		done
		vxts_report SKIP vm/json-schemas "${senders# } skipped"
		return
	fi
	/usr/bin/python3 -c 'import jsonschema' 2> /dev/null ||
		{ vm_fail vm/json-schemas "no python3-jsonschema (scripts/setup.sh)"; return; }
	for f in "$top"/docs/schema/*.json; do
		f=${f##*/}
		case " $vm_json_online " in
		*" $f "*) ;;
		*) echo "$f:* covered by cli/guide_schemas" ;;
		esac
	done > "$dir/allow.txt"
	if /usr/bin/python3 "$top/tests/lib/schemacheck.py" "$top/docs/schema" \
		"$dir/samples.txt" "$dir/allow.txt" > "$dir/check.out" 2>&1; then
		echo "vm: json: $(tail -n 1 "$dir/check.out")"
		vxts_report PASS vm/json-schemas
	else
		why=$(grep -v '^[0-9]* samples;' "$dir/check.out" | awk '!seen[$0]++' | head -n 3 |
			tr '\n' ' ')
		vm_fail vm/json-schemas "$why(all: ${dir#$top/}/check.out)"
	fi
}

# One boot: build the initramfs for <kver> with <ko>, run <scenario>...
vm_run() { # <prefix> <kver> <ko|-> <scenario>...
	local prefix=$1 kver=$2 ko=$3 tag t0
	shift 3
	tag=${prefix%/}
	tag=${tag:-main}
	mkdir -p "$out"
	t0=$SECONDS
	if ! initrd_build "$kver" "$ko" "$out/initrd-$tag.cpio" "$@"; then
		vm_fail "vm/${prefix}initramfs" "could not build the initramfs for $kver"
		return
	fi
	echo "vm: initramfs $(du -h "$out/initrd-$tag.cpio" | cut -f1) in $((SECONDS - t0)) s"
	t0=$SECONDS
	vm_boot "$kver" "$out/initrd-$tag.cpio" "$out/console-$tag.log" "$out/results-$tag.log"
	echo "vm: qemu exited $? after $((SECONDS - t0)) s"
	vm_collect "$prefix" "$out/results-$tag.log" "$out/console-$tag.log" "$@"
	if [ -z "$prefix" ]; then
		vm_json "$out/results-$tag.log" "$@"
	fi
}

vm_main() {
	local kver ko kver61 ko61 scen t0=$SECONDS
	trap vm_stop EXIT
	trap 'exit 1' INT TERM
	# One VM run at a time per tree: runs share build/vm/ and the two cores.
	mkdir -p "$out"
	exec 9> "$out/.lock"
	if ! flock -n 9; then
		echo "vm: waiting for another VM run in this tree to finish"
		flock 9
	fi
	kver=${KVER:-$(vm_kver 6.12)}
	if [ -z "$kver" ] || [ ! -e "/boot/vmlinuz-$kver" ]; then
		vxts_report FAIL vm/kernel "no 6.12 kernel in /boot (run make setup)"
		exit 1
	fi
	mapfile -t scen < <(vm_scenarios "$@")
	if [ ${#scen[@]} -eq 0 ]; then
		vxts_report FAIL vm/select "no scenario matches: $*"
		exit 1
	fi
	ko=$top/kmod/dm-vxts.ko
	[ -e "$ko" ] || ko=-
	vm_run "" "$kver" "$ko" "${scen[@]}"

	# The 6.1 smoke boot: the interop scenario once, with a 6.1 build.
	if [ "${VXTS_VM_61:-1}" = 1 ] && printf '%s\n' "${scen[@]}" | grep -q '/01-interop'; then
		kver61=${KVER_61:-$(vm_kver 6.1)}
		ko61=$top/build/kmod-6.1/kmod/dm-vxts.ko
		if [ -z "$kver61" ] || [ ! -e "/boot/vmlinuz-$kver61" ]; then
			vxts_report SKIP vm/6.1/boot "no 6.1 kernel installed"
		elif ! make -s -C "$top" modules-6.1 > "$out/modules-6.1.log" 2>&1; then
			vm_fail vm/6.1/build "make modules-6.1 failed (see build/vm/modules-6.1.log)"
		else
			vm_run 6.1/ "$kver61" "$ko61" "$here/scenarios/01-interop.sh"
		fi
	fi
	echo "vm: layer took $((SECONDS - t0)) s"
	exit $failed
}

vm_main "$@"
