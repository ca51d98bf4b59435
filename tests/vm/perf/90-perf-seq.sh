#!/bin/sh
# Performance comparison (not a test: it asserts nothing about speed, only
# that every fio run completed without error). Run it on its own:
#     tests/vm/run.sh '../perf/9*'
# 90-perf-seq runs the 1 MiB sequential workloads, 91-perf-rand (a link to
# this file: each must fit the guest's 300 s per scenario) the 4 KiB ones.
# dm-crypt default (dcd), dm-crypt tuned (dct: no_read_workqueue
# no_write_workqueue sector_size:4096) and dm-vxts (sector_size:4096) all
# map the same prefilled RAM disk in the same boot; dm-vxts runs three
# times: as configured (vx), sharing every large bio instead of leaving some
# wholly to helpers (vxs: fanout_backlog=0), and with fan-out and the bounce
# page cache off (vx0, the data path before them). Each workload runs once per target, interleaved,
# for $rounds rounds. Each run reports, as a VXTS-INFO line:
# MiB/s, IOPS, p99 completion latency (us) and guest CPU seconds per GiB
# moved (all CPUs' busy time from /proc/stat, so kworkers count too).
. /vxts/guest-lib.sh
need_vxts

rounds=${PERF_ROUNDS:-3}
runtime=${PERF_RUNTIME:-3}
dev=/dev/ram0
dd if=/dev/zero of=$dev bs=1M oflag=direct status=none 2>/dev/null
len=$(ram_sectors $dev)
key_new key
hex=$(key_hex key)
tbl crypt "$hex" 0 $dev 0 "$len" > dcd.tbl
tbl crypt "$hex" 0 $dev 0 "$len" no_read_workqueue no_write_workqueue sector_size:4096 > dct.tbl
tbl "$VX" "$hex" 0 $dev 0 "$len" sector_size:4096 > vx.tbl
echo "0 $len linear $dev 0" > lin.tbl
dm_up dcd dcd.tbl
dm_up dct dct.tbl
dm_up vx vx.tbl
dm_up lin lin.tbl
for d in dca:xts-aes-aesni dcg:'xts(ecb(aes-generic))'; do
	echo "0 $len crypt capi:${d#*:}-plain64 $hex 0 $dev 0 3 no_read_workqueue no_write_workqueue sector_size:4096" > "${d%%:*}.tbl"
	if dmsetup create "${d%%:*}" < "${d%%:*}.tbl" && [ -b "/dev/mapper/${d%%:*}" ]; then
		info "perf-driver-${d%%:*}" "${d#*:}"
	else
		info "perf-driver-${d%%:*}" "unavailable"
	fi
done
case "$0" in
*rand*) workloads="randread randwrite qd1read" ;;
*) workloads="seqread seqwrite" ;;
esac
par=/sys/module/dm_vxts/parameters
fan=$(cat $par/fanout_min_kib)
cache=$(cat $par/bounce_cache_pages)
backlog=$(cat $par/fanout_backlog)
vx_params() { # <fanout_min_kib> <bounce_cache_pages> <fanout_backlog>
	echo "$1" > $par/fanout_min_kib && echo "$2" > $par/bounce_cache_pages &&
		echo "$3" > $par/fanout_backlog || fail "cannot set dm_vxts parameters"
}
info perf-driver "$(dmsetup status vx | cut -d' ' -f4)"
info perf-crypto "$(grep -A3 'name *: xts(aes)' /proc/crypto | grep -E 'driver|priority' | tr -s ' \n' ' ')"

busy() { awk '/^cpu /{printf "%.0f\n", $2+$3+$4+$7+$8}' /proc/stat; }

# <workload> <rw> <bs> <iodepth> <numjobs>
job() {
	cat > "$1.fio" <<JOB
[global]
direct=1
ioengine=libaio
time_based=1
runtime=$runtime
ramp_time=1
group_reporting=1
randrepeat=0
norandommap=1
rw=$2
bs=$3
iodepth=$4
numjobs=$5
offset_increment=$((len * 512 / $5))
size=$((len * 512 / $5))
[j]
JOB
}
job seqread read 1m 32 1
job seqwrite write 1m 32 1
job randread randread 4k 32 4
job randwrite randwrite 4k 32 4
job qd1read randread 4k 1 1

# fio JSON: bytes/s, IOPS and clat p99 (ns) of the read or write section.
fio_pick() { # <json> <read|write>
	awk -v want="\"$2\"" '
		$1 == want && $2 == ":" { in_sec = 1; next }
		in_sec && $1 == "\"bw_bytes\"" { gsub(",", "", $3); bw = $3 }
		in_sec && $1 == "\"iops\"" { gsub(",", "", $3); iops = $3 }
		in_sec && $1 == "\"99.000000\"" { gsub(",", "", $3); p99 = $3 }
		in_sec && /"lat_ns"/ { in_sec = 0 }
		END { printf "%.0f %.0f %.0f\n", bw, iops, p99 }' "$1"
}

r=1
while [ $r -le "$rounds" ]; do
	for w in $workloads; do
		case $w in *write) sec=write ;; *) sec=read ;; esac
		# dm-linear (the stack's limit) in the first round only: time.
		targets="dcd dct vx vxs vx0"
		# 4 KiB bios never fan out: vxs would repeat vx (and time is short).
		case $w in rand* | qd1*) targets="dcd dct vx vx0" ;; esac
		[ $r -eq 1 ] && targets="$targets lin"
		# The other xts(aes) drivers, through dm-crypt tuned, by name.
		if [ $r -eq 1 ] && [ $w = seqread ]; then
			for t in dca dcg; do
				[ -b /dev/mapper/$t ] && targets="$targets $t"
			done
		fi
		for t in $targets; do
			mapdev=$t
			case $t in
			vx) vx_params "$fan" "$cache" "$backlog" ;;
			vxs) vx_params "$fan" "$cache" 0; mapdev=vx ;;
			vx0) vx_params 0 0 0; mapdev=vx ;;
			esac
			b0=$(busy)
			fio --output-format=json --output="$w-$t.json" \
				--filename=/dev/mapper/$mapdev "$w.fio" ||
				fail "fio $w on $t failed"
			b1=$(busy)
			grep -q '"error" : 0' "$w-$t.json" || fail "fio $w on $t reported an error"
			set -- $(fio_pick "$w-$t.json" $sec)
			# Bytes moved over runtime (ramp excluded) vs busy ticks over the whole run.
			cpu=$(awk -v bw="$1" -v rt="$runtime" -v ticks=$((b1 - b0)) \
				'BEGIN { g = bw * (rt + 1) / 1073741824; c = 0; if (g > 0) c = ticks / 100 / g; printf "%.2f", c }')
			info "perf $r $w $t" "MiBps=$(($1 / 1048576)) iops=$2 p99us=$(($3 / 1000)) cpu_s_per_gib=$cpu"
			echo "$w $t $(($1 / 1048576)) $2 $(($3 / 1000)) $cpu" >> runs.txt
		done
	done
	r=$((r + 1))
done
vx_params "$fan" "$cache" "$backlog"
info perf-vx-status "$(dmsetup status vx)"

# Medians over the rounds, and vx against the better dm-crypt (in IOPS,
# p99 and CPU per GiB: > 1 means vx is better on all three).
awk '
function med(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return a[int((n + 1) / 2)]
}
{
	w[$1] = 1
	vals[$1 " " $2 " iops"] = vals[$1 " " $2 " iops"] " " $4
	vals[$1 " " $2 " p99"] = vals[$1 " " $2 " p99"] " " $5
	vals[$1 " " $2 " cpu"] = vals[$1 " " $2 " cpu"] " " $6
}
END {
	for (k in w) {
		bi = med(k " dcd iops"); if (med(k " dct iops") + 0 > bi + 0) bi = med(k " dct iops")
		bp = med(k " dcd p99"); if (med(k " dct p99") + 0 < bp + 0) bp = med(k " dct p99")
		bc = med(k " dcd cpu"); if (med(k " dct cpu") + 0 < bc + 0) bc = med(k " dct cpu")
		printf "VXTS-INFO perf-median %s iops dcd=%s dct=%s vx=%s vx0=%s p99us dcd=%s dct=%s vx=%s cpu dcd=%s dct=%s vx=%s vx0=%s\n", k,
			med(k " dcd iops"), med(k " dct iops"), med(k " vx iops"), med(k " vx0 iops"),
			med(k " dcd p99"), med(k " dct p99"), med(k " vx p99"),
			med(k " dcd cpu"), med(k " dct cpu"), med(k " vx cpu"), med(k " vx0 cpu")
		ri = 0; rp = 0; rc = 0
		if (bi > 0) ri = med(k " vx iops") / bi
		if (med(k " vx p99") > 0) rp = bp / med(k " vx p99")
		if (med(k " vx cpu") > 0) rc = bc / med(k " vx cpu")
		printf "VXTS-INFO perf-ratio %s vx/best-crypt iops=%.2f p99=%.2f cpu=%.2f\n", k, ri, rp, rc
	}
}' runs.txt | tee /dev/ttyS1
for t in dcd dct vx lin dca dcg; do
	[ -b /dev/mapper/$t ] && dm_down $t
done
exit 0
