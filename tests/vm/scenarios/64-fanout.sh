#!/bin/sh
# Large bios shared out over both vCPUs (fan-out) must produce exactly
# dm-crypt's bytes, both ways: what vxts writes with 1 MiB and 196 KiB bios
# (a partial last chunk) dm-crypt reads back, and what dm-crypt writes vxts
# reads with large bios, for 4096-byte units, 512-byte units with an
# iv_offset and a device offset (chunk tweaks must follow), and
# iv_large_sectors. Reads through an NVMe namespace complete in interrupt
# context, so they are decrypted (and fanned out) from the read workqueue.
# Must: all data identical, fanned:/helper_chunks: in dmsetup status grow
# with large bios (helpers did claim chunks), and stay put for small bios
# and with fanout_min_kib=0.
. /vxts/guest-lib.sh
need_vxts

par=/sys/module/dm_vxts/parameters
named() { # <status> <key>: the value of a key:value status field
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2://p"
}

key_new key
hex=$(key_hex key)
rand_file data 8388608

big_write() { # <dev> <bs>: data, with bios of <bs>
	dd if=data of="$1" bs="$2" oflag=direct conv=fsync status=none ||
		fail "write to $1 with bs=$2 failed"
}
big_sum() { # <dev> <bs>: sha256 of the first 8 MiB, read with bios of <bs>
	dd if="$1" bs="$2" iflag=direct,count_bytes count=8388608 status=none |
		sha256sum | cut -d' ' -f1
}
rand_file data2 8388608
want=$(file_sum data)
want2=$(file_sum data2)

# <lower dev> <offset> <iv_offset> <opts...>: both directions, two bio sizes.
roundtrip() {
	local lower=$1 off=$2 iv=$3 len
	shift 3
	len=16384
	tbl "$VX" "$hex" "$iv" "$lower" "$off" "$len" "$@" > vx.tbl
	tbl crypt "$hex" "$iv" "$lower" "$off" "$len" "$@" > dc.tbl
	for bs in 1M 196k; do
		step "vxts writes bs=$bs, dm-crypt reads ($lower off=$off iv=$iv $*)"
		dm_up vx vx.tbl
		big_write /dev/mapper/vx $bs
		dm_down vx
		dm_up dc dc.tbl
		[ "$(big_sum /dev/mapper/dc 64k)" = "$want" ] ||
			fail "dm-crypt reads other data than vxts wrote (bs=$bs)"
		step "dm-crypt writes, vxts reads bs=$bs"
		dd if=data2 of=/dev/mapper/dc bs=64k oflag=direct conv=fsync status=none ||
			fail "dm-crypt write failed"
		dm_down dc
		dm_up vx vx.tbl
		[ "$(big_sum /dev/mapper/vx $bs)" = "$want2" ] ||
			fail "vxts reads other data than dm-crypt wrote (bs=$bs)"
		st=$(dmsetup status vx)
		dm_down vx
		echo "status: $st"
	done
}

echo 128 > $par/fanout_min_kib || fail "no fanout_min_kib parameter"
dev_zero /dev/ram1
roundtrip /dev/ram1 0 0 sector_size:4096
roundtrip /dev/ram1 2048 8
roundtrip /dev/ram1 4096 16 sector_size:4096 iv_large_sectors

# The counters are per target: one mapping for the checks below.
tbl "$VX" "$hex" 0 /dev/ram1 0 16384 sector_size:4096 > vx.tbl
dm_up vx vx.tbl
big_write /dev/mapper/vx 1M
big_sum /dev/mapper/vx 1M > /dev/null
st=$(dmsetup status vx)
fanned=$(named "$st" fanned)
helped=$(named "$st" helper_chunks)
info fanout-fanned/helper-chunks "$fanned/$helped"
[ -n "$fanned" ] && [ "$fanned" -ge 16 ] ||
	fail "16 bios of 1 MiB, but fanned:$fanned ($st)"
[ "$helped" -gt 0 ] || fail "no helper ever claimed a chunk ($st)"
step "small bios stay inline"
big_write /dev/mapper/vx 64k
big_sum /dev/mapper/vx 64k > /dev/null
[ "$(named "$(dmsetup status vx)" fanned)" = "$fanned" ] ||
	fail "64 KiB bios were fanned out"
step "fanout_min_kib=0 turns it off"
echo 0 > $par/fanout_min_kib
big_write /dev/mapper/vx 1M
[ "$(named "$(dmsetup status vx)" fanned)" = "$fanned" ] ||
	fail "fanout_min_kib=0, yet bios were fanned out"
echo 128 > $par/fanout_min_kib
dm_down vx

# NVMe: reads complete in interrupt context and are decrypted on the
# workqueue, which then fans them out.
[ -e /sys/class/nvme ] || modprobe nvme 2>/dev/null
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 10 ]; do
	sleep 1
	i=$((i + 1))
done
[ -b /dev/nvme0n1 ] || { echo "no NVMe namespace: deferred fan-out untested"; exit 0; }
roundtrip /dev/nvme0n1 0 0 sector_size:4096
tbl "$VX" "$hex" 0 /dev/nvme0n1 0 16384 sector_size:4096 > vx.tbl
dm_up vx vx.tbl
[ "$(big_sum /dev/mapper/vx 1M)" = "$want2" ] || fail "NVMe: vxts reads other data"
st=$(dmsetup status vx)
dm_down vx
echo "NVMe status: $st"
info fanout-nvme-deferred/fanned "$(echo "$st" | cut -d' ' -f9)/$(named "$st" fanned)"
[ "$(echo "$st" | cut -d' ' -f9)" -gt 0 ] || fail "NVMe reads were not deferred: $st"
[ "$(named "$st" fanned)" -ge 8 ] || fail "deferred large reads were not fanned out: $st"
exit 0
