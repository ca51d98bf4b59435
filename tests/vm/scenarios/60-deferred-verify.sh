#!/bin/sh
# Reads completing in hard irq context (null_blk irqmode=2: an hrtimer) go
# through the target's own read clone and are decrypted on the workqueue.
# fio writes with crc32c verify (bios up to 1 MiB), then the whole device is
# read with 1 MiB O_DIRECT reads, for 4096- and 512-byte units. Afterwards:
# - the workqueue counter in `dmsetup status` is > 0 (the path ran);
# - every mapped read was decrypted exactly once: read_bios equals
#   reads_inline + reads_deferred, and nothing was refused;
# - dm-crypt verifies the same device and reads the same plaintext.
# The kernel log check catches a double completion of dm's bio.
. /vxts/guest-lib.sh
need_vxts

modprobe null_blk nr_devices=0 || fail "no null_blk"
key_new key
hex=$(key_hex key)
nb=/sys/kernel/config/nullb/vxdv

nb_up() {
	mkdir "$nb" || fail "no null_blk configfs"
	echo 1 > "$nb/memory_backed"
	echo 64 > "$nb/size"
	echo 2 > "$nb/irqmode"
	echo 50000 > "$nb/completion_nsec"
	echo 1 > "$nb/power" || fail "cannot power on null_blk"
	assert_blk /dev/vxdv
}

nb_down() {
	echo 0 > "$nb/power"
	rmdir "$nb"
}

# No blockalign: anything but the smallest block size turns off fio's
# random map, and overlapping writes would then fail the verify.
job() { # <file> <bssplit>
	cat > "$1" <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=io_uring
iodepth=16
numjobs=3
size=12m
offset_increment=16m
rw=randwrite
bssplit=$2
verify=crc32c
verify_fatal=1
group_reporting=1
[deferred]
JOB
}

field() { # <status line> <n>: field n of `dmsetup status` (1 = start)
	echo "$1" | cut -d' ' -f"$2"
}

check_counters() { # <status line>
	local st=$1 reads inl def refused
	reads=$(field "$st" 6)
	inl=$(field "$st" 8)
	def=$(field "$st" 9)
	refused=$(field "$st" 11)
	info "deferred-verify-$unit-reads/inline/deferred" "$reads/$inl/$def"
	[ "$def" -gt 0 ] || fail "no read was decrypted on the workqueue: $st"
	[ "$reads" -eq $((inl + def)) ] ||
		fail "read bios $reads != inline $inl + deferred $def: a read was decrypted twice or never"
	[ "$refused" -eq 0 ] || fail "$refused bios refused: $st"
}

for unit in 4096 512; do
	step "unit $unit over null_blk irqmode=2"
	nb_up
	len=$(ram_sectors /dev/vxdv)
	tbl "$VX" "$hex" 0 /dev/vxdv 0 "$len" sector_size:$unit > vx.tbl
	tbl crypt "$hex" 0 /dev/vxdv 0 "$len" sector_size:$unit > dc.tbl
	dm_up vx vx.tbl
	if [ "$unit" = 4096 ]; then
		job d.fio 4k/40:64k/30:256k/20:1m/10
	else
		job d.fio 512/20:4k/30:64k/30:1m/20
	fi
	run_fio d.fio
	# The whole device again, in 1 MiB reads.
	vx_sum=$(dd if=/dev/mapper/vx bs=1M iflag=direct status=none | sha256sum)
	st=$(dmsetup status vx)
	echo "status: $st"
	[ "$VX" = vxts ] && check_counters "$st"
	dm_down vx
	dm_up vx dc.tbl
	run_fio d.fio --verify_only
	dc_sum=$(dd if=/dev/mapper/vx bs=1M iflag=direct status=none | sha256sum)
	[ "$vx_sum" = "$dc_sum" ] || fail "1 MiB reads differ between $VX and dm-crypt"
	dm_down vx
	nb_down
done
exit 0
