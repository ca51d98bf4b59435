#!/bin/sh
# Reads completing in interrupt context. brd completes in the submitting
# task, so reads decrypt inline; null_blk completes in softirq (irqmode=1)
# or from an hrtimer (irqmode=2), which sends decryption to the workqueue.
# fio random read/write with verify on both; with the timer `dmsetup status`
# must show that deferred reads really happened; dm-crypt verifies the result.
. /vxts/guest-lib.sh
need_vxts

modprobe null_blk nr_devices=0 || fail "no null_blk"
key_new key
hex=$(key_hex key)

nb_make() { # <name> <irqmode>
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d" || fail "no null_blk configfs"
	echo 1 > "$d/memory_backed"
	echo 64 > "$d/size"
	echo "$2" > "$d/irqmode"
	echo 20000 > "$d/completion_nsec"
	echo 1 > "$d/power" || fail "cannot power on $1"
	assert_blk "/dev/$1"
}

for mode in 1 2; do
	name=vxirq$mode
	step "null_blk irqmode=$mode"
	nb_make "$name" "$mode"
	len=$(ram_sectors "/dev/$name")
	tbl "$VX" "$hex" 0 "/dev/$name" 0 "$len" sector_size:4096 > vx.tbl
	tbl crypt "$hex" 0 "/dev/$name" 0 "$len" sector_size:4096 > dc.tbl
	dm_up vx vx.tbl
	cat > r.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=io_uring
iodepth=32
numjobs=4
size=8m
offset_increment=16m
rw=randwrite
bssplit=4k/50:16k/30:128k/20
verify=crc32c
verify_fatal=1
group_reporting=1
[irq]
JOB
	run_fio r.fio
	st=$(dmsetup status vx)
	echo "status: $st"
	# status: driver unit read_bios write_bios reads_inline reads_deferred ...
	if [ "$VX" = vxts ]; then
		info "irqmode$mode-reads-inline/deferred" \
			"$(echo "$st" | cut -d' ' -f8)/$(echo "$st" | cut -d' ' -f9)"
		[ "$mode" = 1 ] || [ "$(echo "$st" | cut -d' ' -f9)" -gt 0 ] ||
			fail "no read was deferred: the interrupt path went untested"
	fi
	dm_down vx
	dm_up vx dc.tbl
	run_fio r.fio --verify_only
	dm_down vx
	echo 0 > "/sys/kernel/config/nullb/$name/power"
	rmdir "/sys/kernel/config/nullb/$name"
done
exit 0
