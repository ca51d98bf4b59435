#!/usr/bin/env bash
# In-place conversion benchmark: the same image file, converted in place by
#   raw       a plain in-place copy (dd, read and write back the same blocks):
#             the ceiling for any in-place converter on this storage
#   cryptsetup  `cryptsetup reencrypt --encrypt` (LUKS2, detached header,
#             offline) with --resilience checksum | journal | none
#   vxts      `build/vxts encrypt` (detached header, key file) with
#             --resilience checksum | journal
# on each location in $LOCATIONS (default: tmpfs /dev/shm and the disk at
# /var/tmp), plus `openssl speed -evp aes-256-xts` on 4096-byte blocks (the
# crypto limit of this CPU, one core). Writes bench/results/inplace-<UTC
# date>.json (schema in bench/README.md: rows, medians, ratios vxts / peer)
# and prints a table; "[n/N] ..." progress lines go to stderr.
#
# This is a benchmark, not a test: nothing here asserts a speed. A tool that
# fails is recorded with ok=false and its error, and the run goes on.
#
#   SIZE_MIB=1024 LOCATIONS="/dev/shm /var/tmp" REPEAT=1 bench/inplace.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

SIZE_MIB=${SIZE_MIB:-1024}
REPEAT=${REPEAT:-1}	# runs of each (tool, mode); every run is one row
LOCATIONS=${LOCATIONS:-"/dev/shm /var/tmp"}
VXTS=${VXTS:-$top/build/vxts}
OUT=${OUT:-$here/results/inplace-$(date -u +%Y%m%dT%H%M%SZ).json}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}	# 0: skip openssl speed
bytes=$((SIZE_MIB << 20))

die() { echo "inplace.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (cryptsetup needs it)"
command -v cryptsetup >/dev/null || die "cryptsetup missing: run scripts/setup.sh"
command -v jq >/dev/null || die "jq missing: run scripts/setup.sh"

cpu_flag() { grep -qw "$1" /proc/cpuinfo && echo true || echo false; }
json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n'; }

host=$(hostname)
kernel=$(uname -r)
aes=$(cpu_flag aes)
vaes=$(cpu_flag vaes)
cpu_model=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)
results=()
rows=()
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
n_locs=0
for loc in $LOCATIONS; do [ -d "$loc" ] && n_locs=$((n_locs + 1)); done
step_total=$((n_locs * REPEAT * 6))
step_n=0

# Drop the image's pages from the page cache so the disk location measures
# the disk, without touching anyone else's cache (no global drop_caches).
uncache() { sync "$1" 2>/dev/null; dd if="$1" iflag=nocache count=0 status=none 2>/dev/null; }

# O_DIRECT works on the disk but not on every tmpfs (before Linux 6.6).
direct_ok() {
	local t="$1/.inplace-direct.$$" r
	dd if=/dev/zero of="$t" bs=4096 count=1 oflag=direct status=none 2>/dev/null
	r=$?
	rm -f "$t"
	return $r
}

# record LOCATION TOOL MODE OK SECONDS ERROR
record() {
	local loc=$1 tool=$2 mode=$3 ok=$4 secs=$5 err=$6 mbps=null
	if [ "$ok" = true ]; then
		mbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')
	fi
	results+=("$(printf '{"host":"%s","cpu":"%s","cpu_aes":%s,"cpu_vaes":%s,"kernel":"%s","location":"%s","tool":"%s","mode":"%s","run":%s,"bytes":%s,"seconds":%s,"mb_per_s":%s,"ok":%s,"error":"%s"}' \
		"$(json_str "$host")" "$(json_str "$cpu_model")" "$aes" "$vaes" "$kernel" \
		"$loc" "$tool" "$mode" "$run" "$bytes" "${secs:-null}" "$mbps" "$ok" "$(json_str "$err")")")
	rows+=("$(printf '%-10s %-11s %-9s %3s %10s %9s  %s' "$loc" "$tool" "$mode" "$run" \
		"${secs:--}" "$([ "$ok" = true ] && echo "$mbps" || echo FAILED)" "$err")")
}

# Hash of the image's first and last MiB: a converter that exits 0 without
# touching the data must not be reported as fast.
probe() { { head -c 1048576 "$img"; tail -c 1048576 "$img"; } | sha256sum | cut -c1-16; }

# timed LOCATION TOOL MODE -- command...: runs it, records time or failure.
timed() {
	local loc=$1 tool=$2 mode=$3 t0 t1 rc log before after err=""
	shift 4
	step_n=$((step_n + 1))
	echo "inplace: [$step_n/$step_total] $loc: $tool $mode (run $run)" >&2
	log=$(mktemp)
	before=$(probe)
	uncache "$img"
	t0=$(date +%s.%N)
	"$@" >"$log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	after=$(probe)
	if [ $rc -ne 0 ]; then
		err="exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"
	elif [ "$tool" = raw ] && [ "$before" != "$after" ]; then
		err="the copy changed the data"
	elif [ "$tool" != raw ] && [ "$before" = "$after" ]; then
		err="exit 0 but the data is unchanged"
	fi
	if [ -z "$err" ]; then
		record "$loc" "$tool" "$mode" true "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" ""
	else
		record "$loc" "$tool" "$mode" false "" "$err"
	fi
	rm -f "$log"
}

raw_copy() {
	local flags=()
	$direct && flags=(iflag=direct oflag=direct)
	dd if="$img" of="$img" bs=4M conv=notrunc,fsync "${flags[@]}" status=none
}

# Cheap PBKDF: the benchmark measures data conversion, not keyslot unlock.
cryptsetup_encrypt() {
	rm -f "$work/luks.hdr"
	cryptsetup reencrypt --encrypt --type luks2 --header "$work/luks.hdr" \
		--key-file "$work/key" --batch-mode --force-offline-reencrypt \
		--resilience "$1" --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$img"
}

vxts_encrypt() {
	[ -x "$VXTS" ] || { echo "$VXTS not built (make userspace)"; return 127; }
	rm -f "$work/vxts.hdr"
	"$VXTS" encrypt --header "$work/vxts.hdr" --key-file "$work/key" --force \
		--resilience "$1" --json "$img"
}

for loc in $LOCATIONS; do
	[ -d "$loc" ] || { echo "skipping $loc: no such directory" >&2; continue; }
	work=$(mktemp -d "$loc/vxts-inplace.XXXXXX") || die "cannot write to $loc"
	trap 'rm -rf "$work"' EXIT
	img=$work/image
	direct=false
	direct_ok "$loc" && direct=true
	echo "== $loc: ${SIZE_MIB} MiB image (O_DIRECT: $direct)" >&2
	# Incompressible content, fast: AES-CTR keystream instead of /dev/urandom.
	openssl enc -aes-128-ctr -nosalt -pass pass:vxts-bench -in /dev/zero 2>/dev/null |
		head -c "$bytes" >"$img" || die "cannot create $img"
	head -c 32 /dev/urandom >"$work/key"

	for run in $(seq "$REPEAT"); do
		timed "$loc" raw copy -- raw_copy
		for mode in checksum journal none; do
			timed "$loc" cryptsetup "$mode" -- cryptsetup_encrypt "$mode"
		done
		for mode in checksum journal; do
			timed "$loc" vxts "$mode" -- vxts_encrypt "$mode"
		done
	done
	rm -rf "$work"
	trap - EXIT
done

# The crypto limit: OpenSSL's AES-256-XTS on 4096-byte buffers, one core
# (openssl speed reports user CPU time, so a busy machine skews it less).
openssl_json=null
if [ "$OPENSSL_SECONDS" -gt 0 ]; then
	echo "inplace: openssl speed -evp aes-256-xts ($OPENSSL_SECONDS s)" >&2
	ossl_cmd="openssl speed -seconds $OPENSSL_SECONDS -bytes 4096 -evp aes-256-xts"
	ossl_k=$($ossl_cmd 2>/dev/null | awk 'toupper($1) == "AES-256-XTS" { sub(/k$/, "", $2); print $2 }')
	if [ -n "$ossl_k" ]; then
		openssl_json=$(printf '{"command":"%s","version":"%s","bytes":4096,"mb_s":%s}' "$ossl_cmd" \
			"$(openssl version | awk '{print $2}')" "$(awk -v k="$ossl_k" 'BEGIN { printf "%.1f", k * 1000 / 1e6 }')")
	fi
fi

mkdir -p "$(dirname "$OUT")"
# One object: the machine, the parameters, every run (rows), medians per
# (location, tool, mode) and the ratios vxts / peer of those medians.
printf '%s\n' "${results[@]}" | jq -s \
	--arg host "$host" --arg kernel "$kernel" --arg cpu "$cpu_model" \
	--argjson aes "$aes" --argjson vaes "$vaes" --argjson nproc "$(nproc)" \
	--arg l0 "$loadavg_start" --arg l1 "$(cut -d' ' -f1-3 /proc/loadavg)" \
	--argjson size "$SIZE_MIB" --argjson repeat "$REPEAT" --arg locs "$LOCATIONS" \
	--arg vxts "$VXTS" --arg stamp "$(date -u +%Y%m%dT%H%M%SZ)" --argjson ossl "$openssl_json" '
	def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	. as $rows
	| ($rows | group_by(.location + " " + .tool + " " + .mode) | map({
		location: .[0].location, tool: .[0].tool, mode: .[0].mode, n: length,
		ok: (map(select(.ok)) | length),
		mb_s: (map(select(.ok) | .mb_per_s) | {min: min, median: med, max: max})})) as $sum
	| def m($l; $t; $mo): ($sum[] | select(.location == $l and .tool == $t and .mode == $mo) | .mb_s.median) // null;
	{
	schema: "vxts-bench-inplace/2", finished: $stamp,
	machine: {host: $host, kernel: $kernel, cpu: $cpu, cpu_aes: $aes, cpu_vaes: $vaes, nproc: $nproc,
	          loadavg_start: $l0, loadavg_end: $l1},
	params: {size_mib: $size, repeat: $repeat, locations: ($locs | split(" ") | map(select(. != ""))), vxts: $vxts},
	openssl: $ossl,
	rows: $rows,
	summary: $sum,
	ratios: [$sum | map(.location) | unique[] as $l | ("checksum", "journal") as $vm
		| m($l; "vxts"; $vm) as $v | select($v != null)
		| (["cryptsetup", "checksum", "cryptsetup checksum"], ["cryptsetup", "journal", "cryptsetup journal"],
		   ["cryptsetup", "none", "cryptsetup none"], ["raw", "copy", "raw copy"]) as [$t, $mo, $name]
		| m($l; $t; $mo) as $p | select($p != null and $p > 0)
		| {location: $l, vxts_mode: $vm, peer: $name, ratio: ($v / $p * 1000 | round / 1000)}]
	}' >"$OUT"

printf '\nhost %s, kernel %s, cpu aes=%s vaes=%s, %s MiB per run\n' "$host" "$kernel" "$aes" "$vaes" "$SIZE_MIB"
printf '%-10s %-11s %-9s %3s %10s %9s  %s\n' location tool mode run seconds "MB/s" error
for r in "${rows[@]}"; do
	echo "$r"
done
[ "$openssl_json" != null ] && echo "openssl: $openssl_json"
jq -r '.ratios[] | "ratio \(.location) vxts \(.vxts_mode) / \(.peer): \(.ratio)"' "$OUT"
echo "results: $OUT"
