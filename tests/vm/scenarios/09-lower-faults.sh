#!/bin/sh
# Faults below vxts. dm-delay underneath makes every lower IO complete late
# and out of submission order: fio verify must still pass. dm-flakey
# underneath, switched to "down", fails every lower IO: reads and writes
# through vxts must fail with an error (not hang, not oops, not return
# garbage), and after the lower device comes back the data written before the
# fault reads back intact. Finally vxts stacked on vxts.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=65536

step "dm-delay (20 ms reads, 30 ms writes) under vxts, fio verify"
echo "0 $len delay /dev/ram0 0 20 /dev/ram0 0 30" > dl.tbl
dm_up dl dl.tbl
tbl "$VX" "$hex" 0 /dev/mapper/dl 0 "$len" sector_size:4096 > vx.tbl
dm_up vx vx.tbl
cat > d.fio <<JOB
[d]
filename=/dev/mapper/vx
direct=1
ioengine=libaio
iodepth=64
numjobs=2
size=4m
offset_increment=8m
rw=randwrite
bssplit=4k/50:64k/50
verify=crc32c
verify_fatal=1
group_reporting=1
JOB
run_fio d.fio
dm_down vx
dm_down dl

step "dm-flakey under vxts: data in, lower device down, IO errors, back up"
echo "0 $len flakey /dev/ram1 0 1000 0" > up.tbl
echo "0 $len flakey /dev/ram1 0 0 1000" > down.tbl
dm_up fl up.tbl
tbl "$VX" "$hex" 0 /dev/mapper/fl 0 "$len" sector_size:4096 > vx.tbl
dm_up vx vx.tbl
rand_file p.bin 1048576
dev_write /dev/mapper/vx p.bin 0
dmsetup load fl < down.tbl && dmsetup resume fl || fail "cannot switch flakey down"
rand_file q.bin 1048576
if dd if=q.bin of=/dev/mapper/vx bs=64k oflag=direct status=none 2> err.txt; then
	fail "write succeeded while the lower device fails every IO"
fi
echo "write refused: $(cat err.txt)"
if dd if=/dev/mapper/vx of=/dev/null bs=64k count=16 iflag=direct status=none 2> err.txt; then
	fail "read succeeded while the lower device fails every IO"
fi
echo "read refused: $(cat err.txt)"
dmsetup load fl < up.tbl && dmsetup resume fl || fail "cannot switch flakey up"
assert_dev_has /dev/mapper/vx p.bin 0 "data written before the fault"
dm_down vx
dm_down fl

# vxts on vxts: the upper target's clone is submitted from inside map() and
# lands in the lower one's map() in the same task. Two keys, two layers;
# dm-crypt on dm-crypt must produce the same bytes.
step "vxts stacked on vxts equals dm-crypt on dm-crypt"
dev_zero /dev/ram0
dev_zero /dev/ram1
key_new key2
hex2=$(key_hex key2)
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > lo.tbl
tbl "$VX" "$hex2" 0 /dev/mapper/lo 0 "$len" > up.tbl
tbl crypt "$hex" 0 /dev/ram1 0 "$len" sector_size:4096 > clo.tbl
tbl crypt "$hex2" 0 /dev/mapper/clo 0 "$len" > cup.tbl
dm_up lo lo.tbl
dm_up up up.tbl
dm_up clo clo.tbl
dm_up cup cup.tbl
rand_file s.bin 4194304
dev_write /dev/mapper/up s.bin 1048576
dev_write /dev/mapper/cup s.bin 1048576
assert_dev_has /dev/mapper/up s.bin 1048576 "two vxts layers read-back"
[ "$(dev_sum /dev/ram0 $((len * 512)))" = "$(dev_sum /dev/ram1 $((len * 512)))" ] ||
	fail "vxts on vxts and dm-crypt on dm-crypt differ on the lower device"
dm_down up
dm_down lo
dm_down cup
dm_down clo
exit 0
