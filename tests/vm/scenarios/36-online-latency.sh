#!/bin/sh
# What an application sees while a conversion runs (issue 5 asks for its p99
# with and without conversion): 4 KiB random reads and writes at QD1 on
# /dev/mapper/lat for the same time twice, once while `vxts encrypt --online`
# converts underneath (rate-limited so it lasts the whole phase), once on the
# finished mapping. The figures go to the host log as VXTS-INFO lines; the
# test fails only on IO errors, a conversion that did not overlap the first
# phase, or data that does not read back. Under TCG the absolute numbers are
# emulation-bound: compare the two phases, not runs.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

DEV=/dev/ram0
SECS=${VXTS_LAT_SECS:-12}
DM_DISABLE_UDEV=1
export DM_DISABLE_UDEV

# fio JSON: "<read p99 us> <write p99 us>" of clat (ns in the file).
p99s() { # <fio json>
	awk '
		/"read" *: *[{]/ { sec = "r" }
		/"write" *: *[{]/ { sec = "w" }
		/"99.000000"/ && sec != "" && !(sec in got) {
			v = $0; gsub(/[^0-9]/, " ", v); n = split(v, a, " ")
			got[sec] = a[n]
		}
		END { printf "%d %d\n", got["r"] / 1000, got["w"] / 1000 }
	' "$1"
}

lat_fio() { # <json out>
	fio --name=app --filename=/dev/mapper/lat --direct=1 --ioengine=psync \
		--rw=randrw --rwmixread=70 --bs=4k --size=32m --time_based \
		--runtime="$SECS" --randrepeat=0 --output-format=json \
		--output="$1" > /dev/null 2>&1 || fail "fio on /dev/mapper/lat failed"
	grep -q '"error" *: *0' "$1" || fail "fio reported an IO error"
}

step "48 MiB plaintext, online encrypt at 2 MiB/s, QD1 4 KiB IO for ${SECS} s during it"
dev_zero "$DEV"
rand_file init.img $((48 << 20))
dev_write "$DEV" init.img
dd if=init.img of=tail.img bs=1M skip=32 count=16 status=none
online_bg conv encrypt lat "$DEV" --force --rate-limit 2M --json
wait_node lat || fail "/dev/mapper/lat did not appear"
lat_fio during.json
b=$(dm_field lat boundary)
[ -n "$b" ] || fail "the conversion ended before the measured phase did (no boundary field)"
echo "   boundary at sector $b when the phase ended (conversion still running)"
online_wait conv "$ONLINE_PID"

step "the same IO on the finished mapping"
[ -z "$(dm_field lat convert)" ] || fail "the mapping is still converting"
lat_fio after.json

set -- $(p99s during.json)
dr=$1 dw=$2
set -- $(p99s after.json)
ar=$1 aw=$2
[ "$dr" -gt 0 ] && [ "$ar" -gt 0 ] || fail "no p99 in fio's output"
echo "   p99 read: $dr us during conversion, $ar us after; write: $dw us during, $aw us after"
info online-p99-read-us-during "$dr"
info online-p99-read-us-after "$ar"
info online-p99-write-us-during "$dw"
info online-p99-write-us-after "$aw"
hmax=$(grep -o '"hold_max_ms": *[0-9.]*' conv.out | head -n 1 | sed 's/.*: *//')
wmax=$(grep -o '"kernel_wait_max_us": *[0-9]*' conv.out | head -n 1 | sed 's/.*: *//')
echo "   converter: hold max ${hmax:-?} ms; kernel: longest bio wait ${wmax:-?} us"
info online-lat-hold-max-ms "${hmax:-?}"
info online-lat-kernel-wait-max-us "${wmax:-?}"

step "the untouched last 16 MiB reads back"
[ "$(dev_sum /dev/mapper/lat $((16 << 20)) $((32 << 20)))" = "$(file_sum tail.img)" ] ||
	fail "the last 16 MiB (never written by fio) reads other data"
vxts close lat > close.out 2>&1 || { cat close.out; fail "vxts close lat"; }
