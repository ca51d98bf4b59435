#!/bin/sh
# Flush and FUA reach the lower device. vxts sits on a null_blk device with a
# volatile write cache; powering that device off drops whatever was not
# flushed. Data written with fsync=1 (REQ_PREFLUSH), with sync=1 (O_SYNC
# direct writes: REQ_FUA) and by `sync <dev>` after buffered writes must
# survive the power cut; a plain O_DIRECT write without any flush is the
# control that shows the cut really loses unflushed data.
. /vxts/guest-lib.sh
need_vxts

modprobe null_blk nr_devices=0 || fail "no null_blk"
nb=/sys/kernel/config/nullb/vxnb
mkdir "$nb" || fail "no null_blk configfs (is configfs mounted?)"
echo 1 > "$nb/memory_backed"
echo 64 > "$nb/size"		# MiB
echo 48 > "$nb/cache_size"	# MiB of volatile cache
echo 4096 > "$nb/blocksize"
echo 1 > "$nb/discard"
echo 1 > "$nb/power" || fail "cannot power on null_blk"
dev=/dev/vxnb		# null_blk names configfs devices after their directory
assert_blk "$dev"
wc=$(cat "/sys/block/${dev#/dev/}/queue/write_cache")
echo "null_blk $dev write_cache: $wc"
[ "$wc" = "write back" ] || fail "null_blk has no volatile cache ($wc)"

key_new key
hex=$(key_hex key)
len=$(ram_sectors "$dev")
tbl "$VX" "$hex" 0 "$dev" 0 "$len" sector_size:4096 > vx.tbl

power_cycle() {
	dm_down vx
	echo 0 > "$nb/power" || fail "cannot power off null_blk"
	echo 1 > "$nb/power" || fail "cannot power on null_blk"
	assert_blk "$dev"
	dm_up vx vx.tbl
}

fjob() { # <file> <offset> <extra fio option>
	cat > "$1" <<JOB
[j]
filename=/dev/mapper/vx
direct=1
ioengine=psync
rw=randwrite
bs=4k
offset=$2
size=2m
verify=crc32c
$3
JOB
}

dm_up vx vx.tbl
step "vxts advertises a write cache so flushes are passed down"
vxq=$(dm_queue vx)
echo "vxts write_cache: $(cat "$vxq/write_cache") fua: $(cat "$vxq/fua" 2>/dev/null)"
[ "$(cat "$vxq/write_cache")" = "write back" ] ||
	fail "vxts hides the lower write cache: flushes would be dropped"

step "writes: fsync=1 at 0, sync=1 at 8m, buffered+sync at 16m, unflushed at 24m"
fjob fs.fio 0 fsync=1
fjob fua.fio 8m sync=1
run_fio fs.fio
run_fio fua.fio
rand_file buf.bin 1048576
assert_blk /dev/mapper/vx
dd if=buf.bin of=/dev/mapper/vx bs=64k seek=256 status=none || fail "buffered write failed"
sync /dev/mapper/vx || fail "sync /dev/mapper/vx failed"
rand_file lost.bin 1048576
dd if=lost.bin of=/dev/mapper/vx bs=64k seek=384 oflag=direct status=none ||
	fail "direct write failed"

step "power cut on the lower device"
power_cycle
run_fio fs.fio --verify_only
run_fio fua.fio --verify_only
assert_dev_has /dev/mapper/vx buf.bin 16777216 "buffered write + sync"
dev_read /dev/mapper/vx 1048576 25165824 > after.bin
if cmp -s after.bin lost.bin; then
	echo "note: the unflushed control write survived the power cut (cache kept it)"
else
	echo "control: the unflushed write was lost, as a power cut should do"
fi

step "discard then flush, power cut again"
dm_down vx
tbl "$VX" "$hex" 0 "$dev" 0 "$len" sector_size:4096 allow_discards > vx.tbl
dm_up vx vx.tbl
dev_write /dev/mapper/vx buf.bin 0
blkdiscard -o 0 -l 1048576 /dev/mapper/vx || fail "blkdiscard failed"
sync /dev/mapper/vx || fail "sync failed"
power_cycle
assert_dev_has /dev/mapper/vx buf.bin 16777216 "buffered write after second cut"
# The flushed discard reached null_blk: the range no longer decrypts to buf.bin.
assert_dev_lacks /dev/mapper/vx buf.bin 0 "discarded range after the cut"
dm_down vx
echo 0 > "$nb/power"
rmdir "$nb"
exit 0
