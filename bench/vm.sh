#!/usr/bin/env bash
# Kernel-path benchmark: dm-linear, dm-crypt (default and tuned) and dm-vxts
# side by side on one RAM disk in one QEMU boot (KVM when /dev/kvm is
# writable, TCG otherwise; recorded). See bench/README.md for what it
# measures and the JSON it writes.
#
#   bench/vm.sh                                  everything, defaults below
#   BENCH_TARGETS="crypt-tuned vxts" BENCH_WORKLOADS=lat-read bench/vm.sh
#   VXTS_KO=/work/other-tree/kmod/dm-vxts.ko bench/vm.sh
#
# Environment (defaults in brackets; BENCH_SHORT=1 changes the defaults to a
# smoke run of about a minute):
#   BENCH_TARGETS    [linear crypt crypt-tuned vxts]
#   BENCH_WORKLOADS  [seq-read seq-write rand-read rand-write lat-read]
#   BENCH_REPEAT     runs of each (workload, target) [3; short 1]
#   BENCH_RUNTIME    measured seconds per run [10; short 1]
#   BENCH_RAMP       unmeasured warm-up seconds per run [2; short 0]
#   BENCH_DEV_MIB    RAM disk size [256; short 64]
#   BENCH_RAND_JOBS  fio jobs of the 4 KiB random QD32 workloads [4]
#   BENCH_TCRYPT_SEC seconds per tcrypt size, 0 to skip [1]
#   BENCH_VM_MEM     guest RAM [2G]
#   VXTS_KO          the dm-vxts.ko to load [kmod/dm-vxts.ko of this tree]
#   KVER             guest kernel [newest 6.12 in /lib/modules]
#   BENCH_OUT        the JSON written [build/bench/vm-<UTC time>.json]
# Exit status: 0 when the boot finished and every selected run produced a
# result, 1 otherwise (the JSON is written either way, errors included).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/vm/initramfs.sh"

short=${BENCH_SHORT:-0}
BENCH_TARGETS=${BENCH_TARGETS:-linear crypt crypt-tuned vxts}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-seq-read seq-write rand-read rand-write lat-read}
if [ "$short" = 1 ]; then
	BENCH_REPEAT=${BENCH_REPEAT:-1} BENCH_RUNTIME=${BENCH_RUNTIME:-1}
	BENCH_RAMP=${BENCH_RAMP:-0} BENCH_DEV_MIB=${BENCH_DEV_MIB:-64}
else
	BENCH_REPEAT=${BENCH_REPEAT:-3} BENCH_RUNTIME=${BENCH_RUNTIME:-10}
	BENCH_RAMP=${BENCH_RAMP:-2} BENCH_DEV_MIB=${BENCH_DEV_MIB:-256}
fi
BENCH_RAND_JOBS=${BENCH_RAND_JOBS:-4}
BENCH_TCRYPT_SEC=${BENCH_TCRYPT_SEC:-1}
BENCH_VM_MEM=${BENCH_VM_MEM:-2G}
VXTS_KO=${VXTS_KO:-$top/kmod/dm-vxts.ko}
KVER=${KVER:-$(ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)}
out=$top/build/bench
stamp=$(date -u +%Y%m%dT%H%M%SZ)
BENCH_OUT=${BENCH_OUT:-$out/vm-$stamp.json}

die() { echo "bench/vm.sh: $*" >&2; exit 1; }
say() { echo "bench/vm: $*" >&2; }

check_args() {
	local n
	for n in BENCH_REPEAT BENCH_RUNTIME BENCH_RAMP BENCH_DEV_MIB BENCH_RAND_JOBS BENCH_TCRYPT_SEC; do
		[[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a whole number, not '${!n}'"
	done
	[ "$BENCH_REPEAT" -ge 1 ] && [ "$BENCH_RUNTIME" -ge 1 ] && [ "$BENCH_DEV_MIB" -ge 16 ] ||
		die "BENCH_REPEAT and BENCH_RUNTIME must be >= 1, BENCH_DEV_MIB >= 16"
	for n in $BENCH_TARGETS; do
		case $n in linear | crypt | crypt-tuned | vxts) ;; *) die "unknown target '$n'" ;; esac
	done
	for n in $BENCH_WORKLOADS; do
		case $n in seq-read | seq-write | rand-read | rand-write | lat-read) ;;
		*) die "unknown workload '$n'" ;; esac
	done
	[ -n "$KVER" ] && [ -e "/boot/vmlinuz-$KVER" ] || die "no 6.12 kernel in /boot (make setup)"
	if [[ " $BENCH_TARGETS " == *" vxts "* ]]; then
		[ -e "$VXTS_KO" ] || die "$VXTS_KO missing (make modules, or set VXTS_KO)"
		modinfo -F vermagic "$VXTS_KO" | grep -q "^$KVER " ||
			die "$VXTS_KO was not built for $KVER ($(modinfo -F vermagic "$VXTS_KO"))"
	fi
}

# The initramfs of tests/vm (same tools, same modules, plus jq to shape the
# results in the guest and tcrypt), with bench/guest/init as /init. The
# guest needs no vxts binary. Built once per set of inputs and kept in
# build/bench/ (a build takes ~40 s on a busy 2-core machine); the run's
# parameters (bench.conf) go in a second, tiny cpio appended to it, which the
# kernel unpacks over the first.
build_initrd() { # <out.cpio>
	local base=$1.base r=$1.root ko=- key
	[[ " $BENCH_TARGETS " == *" vxts "* ]] && ko=$VXTS_KO
	[[ " ${initrd_tools[*]} " == *" jq "* ]] || initrd_tools+=(jq)
	[[ " ${initrd_modules[*]} " == *" tcrypt "* ]] || initrd_modules+=(tcrypt)
	initrd_vxts_copy() { :; }
	key=$({
		echo "$KVER"
		[ "$ko" = - ] || sha256sum < "$ko"
		cat "$here/guest/init" "$here/fio/bench.fio" "$top/tests/vm/initramfs.sh"
		for t in "${initrd_tools[@]}"; do ls -lL "$(command -v "$t")"; done
	} 2>&1 | sha256sum | cut -c1-16)
	if [ -s "$base" ] && [ "$(cat "$base.key" 2>/dev/null)" = "$key" ]; then
		say "initramfs inputs unchanged (key $key): reusing ${base#$top/}"
	else
		initrd_base "$base" "$ko" || return 1
		echo "$key" > "$base.key"
	fi
	rm -rf "$r"
	mkdir -p "$r/vxts"
	bench_conf > "$r/vxts/bench.conf"
	{
		cat "$base"
		(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet)
	} > "$1" || return 1
	rm -rf "$r"
}

initrd_base() { # <out.cpio> <ko|->
	local r=$1.root
	rm -f "$1" "$1.key"
	rm -rf "$r"
	mkdir -p "$r"
	initrd_skeleton "$r"
	initrd_tools_copy "$r" || return 1
	initrd_modules_copy "$r" "$KVER" "$2" || return 1
	install -m 0755 "$here/guest/init" "$r/init"
	mkdir -p "$r/vxts/fio"
	install -m 0644 "$here/fio/bench.fio" "$r/vxts/fio/"
	(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$1" || return 1
	rm -rf "$r"
}

bench_conf() { # the guest's parameters, sourced by its /init
	local n
	echo "BENCH_TARGETS='$BENCH_TARGETS'"
	echo "BENCH_WORKLOADS='$BENCH_WORKLOADS'"
	for n in BENCH_REPEAT BENCH_RUNTIME BENCH_RAMP BENCH_DEV_MIB BENCH_RAND_JOBS BENCH_TCRYPT_SEC; do
		echo "$n=${!n}"
	done
}

accel_args() {
	if [ -w /dev/kvm ]; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg -cpu max"
	fi
}

# Print the guest's step lines as they arrive: "[n/N] what (elapsed)".
progress() { # <results file> <qemu pid>
	local res=$1 pid=$2 seen=0 lines tag n total what t0=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		lines=$(grep -a '^VXTS-BENCH-STEP ' "$res" 2>/dev/null | tr -d '\r')
		[ -n "$lines" ] || continue
		while read -r tag n total what; do
			printf 'bench/vm: [%s/%s] %s (%d s)\n' "$n" "$total" "$what" $((SECONDS - t0)) >&2
		done < <(tail -n +$((seen + 1)) <<< "$lines")
		seen=$(wc -l <<< "$lines")
	done
}

boot() { # <initrd> <console log> <results log> <timeout s>
	local accel name pid
	accel=$(accel_args)
	name=TCG
	[[ $accel == *kvm* ]] && name=KVM
	say "booting $KVER under $name, $BENCH_VM_MEM RAM, 2 vCPUs (console: ${2#$top/})"
	: > "$2"
	: > "$3"
	timeout "$4" qemu-system-x86_64 $accel -m "$BENCH_VM_MEM" -smp 2 \
		-nographic -no-reboot -monitor none \
		-kernel "/boot/vmlinuz-$KVER" -initrd "$1" \
		-append "console=ttyS0,115200 panic=-1 oops=panic quiet vxts.accel=$name" \
		-serial "file:$2" -serial "file:$3" < /dev/null > "$2.qemu" 2>&1 &
	pid=$!
	qemu_pid=$pid
	progress "$3" "$pid" &
	wait "$pid"
	local rc=$?
	qemu_pid=
	wait 2>/dev/null
	return $rc
}

median='sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end'

# Assemble the run's JSON from the guest's lines plus the host's facts.
assemble() { # <results log> <seconds> <load start> <load end> <qemu rc>
	local ko_sum=null
	[ -e "$VXTS_KO" ] && ko_sum="\"$(sha256sum "$VXTS_KO" | cut -c1-16)\""
	grep -a '^VXTS-BENCH-JSON ' "$1" | tr -d '\r' | cut -d' ' -f2- |
	jq -s --arg stamp "$stamp" --argjson secs "$2" --arg l0 "$3" --arg l1 "$4" --argjson qrc "$5" \
		--arg host "$(hostname)" --arg hk "$(uname -r)" \
		--arg cpu "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" \
		--arg flags "$(grep -o -w -E 'aes|vaes|avx|avx2|avx512f|avx512vl|vpclmulqdq|pclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')" \
		--argjson nproc "$(nproc)" --arg qemu "$(qemu-system-x86_64 --version | head -n 1)" \
		--arg targets "$BENCH_TARGETS" --arg workloads "$BENCH_WORKLOADS" \
		--argjson repeat "$BENCH_REPEAT" --argjson runtime "$BENCH_RUNTIME" --argjson ramp "$BENCH_RAMP" \
		--argjson dev "$BENCH_DEV_MIB" --argjson rj "$BENCH_RAND_JOBS" --argjson short "$short" \
		--arg ko "$VXTS_KO" --argjson kosum "$ko_sum" --arg git "$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" \
		--arg dirty "$(git -C "$top" status --porcelain -- kmod 2>/dev/null | head -c 1)" '
		def med: '"$median"';
		def stats(f): map(f) | map(select(. != null)) |
			{min: min, median: med, max: max};
		(map(.run // empty)) as $runs
		| ($targets | split(" ") | map(select(. != ""))) as $tl
		| ($runs | group_by(.workload + " " + .target) | map({
			workload: .[0].workload, target: .[0].target, n: length,
			mb_s: stats(.mb_s), iops: stats(.iops), p50_us: stats(.p50_us),
			p99_us: stats(.p99_us), cpu_s_per_gib: stats(.cpu_s_per_gib)})) as $sum
		| def med_of($w; $t; $k): ($sum[] | select(.workload == $w and .target == $t) | .[$k].median) // null;
		  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b * 1000 | round) / 1000 end;
		{
		schema: "vxts-bench-vm/1",
		started: $stamp, seconds: $secs, short: ($short == 1), qemu_exit: $qrc,
		host: {hostname: $host, kernel: $hk, cpu_model: $cpu,
		       cpu_flags: ($flags | split(" ") | map(select(. != ""))), nproc: $nproc,
		       loadavg_start: $l0, loadavg_end: $l1, qemu: $qemu},
		accelerator: (map(.guest // empty)[0].accel // "unknown"),
		guest: (map(.guest // empty)[0] // null),
		params: {targets: $tl, workloads: ($workloads | split(" ") | map(select(. != ""))),
		         repeat: $repeat, runtime_s: $runtime, ramp_s: $ramp, device_mib: $dev,
		         rand_jobs: $rj, vxts_ko: $ko, vxts_ko_sha256: $kosum,
		         git: $git, kmod_dirty: ($dirty != "")},
		prefill: (map(.prefill // empty)[0] // null),
		targets: map(.target // empty),
		tcrypt: (map(.tcrypt // empty)[0] // null),
		runs: $runs,
		summary: $sum,
		ratios: (if ($tl | index("vxts")) == null then [] else
			[$sum[] | select(.target == "vxts") | .workload as $w
			 | ($tl - ["vxts"])[] as $p
			 | {workload: $w, peer: $p,
			    mb_s: ratio(med_of($w; "vxts"; "mb_s"); med_of($w; $p; "mb_s")),
			    iops: ratio(med_of($w; "vxts"; "iops"); med_of($w; $p; "iops")),
			    p99_us: ratio(med_of($w; "vxts"; "p99_us"); med_of($w; $p; "p99_us")),
			    cpu_s_per_gib: ratio(med_of($w; "vxts"; "cpu_s_per_gib"); med_of($w; $p; "cpu_s_per_gib"))}]
			 + [$sum[] | select(.target == "vxts") | .workload as $w
			 | select(($tl | index("crypt")) != null and ($tl | index("crypt-tuned")) != null)
			 | def best($k; f): [med_of($w; "crypt"; $k), med_of($w; "crypt-tuned"; $k)]
				| map(select(. != null)) | if length == 0 then null else f end;
			   {workload: $w, peer: "crypt-best",
			    mb_s: ratio(med_of($w; "vxts"; "mb_s"); best("mb_s"; max)),
			    iops: ratio(med_of($w; "vxts"; "iops"); best("iops"; max)),
			    p99_us: ratio(med_of($w; "vxts"; "p99_us"); best("p99_us"; min)),
			    cpu_s_per_gib: ratio(med_of($w; "vxts"; "cpu_s_per_gib"); best("cpu_s_per_gib"; min))}]
			end),
		status: map(.status // empty),
		errors: map(.error // empty)
		}'
}

main() {
	local cpio nruns est rc t0 l0 l1 ok=0
	check_args
	command -v jq > /dev/null || die "jq missing (scripts/setup.sh)"
	mkdir -p "$out" "$(dirname "$BENCH_OUT")"
	# One VM at a time in this tree: the bench and tests/vm share its lock,
	# so neither measures nor times out while the other holds the CPUs.
	mkdir -p "$top/build/vm"
	exec 9> "$top/build/vm/.lock"
	if ! flock -n 9; then
		say "waiting for another VM run in this tree to finish"
		flock 9
	fi
	qemu_pid=
	trap '[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	cpio=$out/initrd-bench.cpio
	t0=$SECONDS
	build_initrd "$cpio" || die "could not build the initramfs"
	say "initramfs $(du -h "$cpio" | cut -f1) in $((SECONDS - t0)) s; kernel $KVER; module $VXTS_KO"
	nruns=$(($(wc -w <<< "$BENCH_TARGETS") * $(wc -w <<< "$BENCH_WORKLOADS") * BENCH_REPEAT))
	est=$((nruns * (BENCH_RUNTIME + BENCH_RAMP + 3) + 14 * BENCH_TCRYPT_SEC + 60))
	say "$nruns runs of ${BENCH_RUNTIME}+${BENCH_RAMP} s: about $((est / 60 + 1)) min on an idle machine"
	l0=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$SECONDS
	boot "$cpio" "$out/console.log" "$out/results.log" $((est * 3 + 300))
	rc=$?
	l1=$(cut -d' ' -f1-3 /proc/loadavg)
	assemble "$out/results.log" $((SECONDS - t0)) "$l0" "$l1" "$rc" > "$BENCH_OUT.tmp" ||
		die "could not assemble the results (see ${out#$top/}/results.log)"
	mv "$BENCH_OUT.tmp" "$BENCH_OUT"
	grep -aq '^VXTS-BENCH-END' "$out/results.log" || { say "the guest did not finish (qemu exit $rc, see ${out#$top/}/console.log)"; ok=1; }
	if [ "$(jq '.runs | length' "$BENCH_OUT")" -ne "$nruns" ]; then
		say "only $(jq '.runs | length' "$BENCH_OUT") of $nruns runs produced a result"
		ok=1
	fi
	jq -r '.errors[] | "bench/vm: error: \(.what): \(.message)"' "$BENCH_OUT" >&2
	[ "$(jq '.errors | length' "$BENCH_OUT")" -eq 0 ] || ok=1
	"$here/report.sh" --vm "$BENCH_OUT" >&2 || true
	say "results: $BENCH_OUT"
	return $ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
