#!/bin/sh
# Misaligned IO with a 4096-byte unit is refused, never half-applied: the
# device reports 4096-byte logical blocks, 512-byte and misaligned O_DIRECT
# IO fails and leaves the data as it was, and a buffered 512-byte write
# (page-cache read-modify-write) changes exactly those 512 bytes.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=32768
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > vx.tbl
dm_up vx vx.tbl
v=/dev/mapper/vx
ss=$(blockdev --getss $v)
echo "logical block size $ss, physical $(blockdev --getpbsz $v)"
[ "$ss" -eq 4096 ] || fail "logical block size is $ss, not 4096"
rand_file p.bin 1048576
dev_write $v p.bin 0
before=$(dev_sum $v 1048576)
rand_file s.bin 4096

step "512-byte O_DIRECT write at 0 and at 512"
head -c 512 s.bin > s512.bin
for off in 0 512; do
	dd if=s512.bin of=$v bs=512 count=1 oflag=direct,seek_bytes seek=$off \
		status=none 2> err.txt && fail "512-byte direct write at $off succeeded"
	echo "refused: $(cat err.txt)"
done
step "4096-byte O_DIRECT write at byte 512"
dd if=s.bin of=$v bs=4096 count=1 oflag=direct,seek_bytes seek=512 status=none 2> err.txt &&
	fail "misaligned 4096-byte direct write succeeded"
echo "refused: $(cat err.txt)"
step "512-byte O_DIRECT read at 512"
dd if=$v of=/dev/null bs=512 count=1 iflag=direct,skip_bytes skip=512 status=none 2> err.txt &&
	fail "512-byte direct read succeeded"
echo "refused: $(cat err.txt)"
[ "$(dev_sum $v 1048576)" = "$before" ] || fail "refused writes changed the data"

step "buffered 512-byte write at 8704 changes exactly those bytes"
dd if=s512.bin of=$v bs=512 count=1 seek=17 conv=notrunc,fsync status=none ||
	fail "buffered 512-byte write failed"
head -c 8704 p.bin > want.bin
cat s512.bin >> want.bin
tail -c $((1048576 - 8704 - 512)) p.bin >> want.bin
echo 3 > /proc/sys/vm/drop_caches
assert_dev_has $v want.bin 0 "after buffered 512-byte write"
dm_down vx

step "with 512-byte units the same write is fine"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" > vx.tbl
dm_up vx vx.tbl
[ "$(blockdev --getss $v)" -eq 512 ] || fail "512 unit: logical block size $(blockdev --getss $v)"
dd if=s512.bin of=$v bs=512 count=1 oflag=direct,seek_bytes seek=512 status=none ||
	fail "512-byte direct write on a 512 unit device failed"
dm_down vx
exit 0
