#!/bin/sh
# Discards: with allow_discards, blkdiscard on vxts succeeds and reaches the
# lower device (brd frees the pages, so the range reads back as zeros there);
# without it the device advertises no discard support, blkdiscard is refused
# and the data stays.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=65536
rand_file p.bin 4194304
head -c 1048576 /dev/zero > zero.bin

for unit in 512 4096; do
	step "unit $unit with allow_discards"
	blkdiscard /dev/ram0 || fail "cannot zero ram0"
	tbl "$VX" "$hex" 0 /dev/ram0 2048 "$len" sector_size:$unit allow_discards > vx.tbl
	dm_up vx vx.tbl
	q=$(dm_queue vx)
	echo "discard_max_bytes: $(cat "$q/discard_max_bytes")"
	[ "$(cat "$q/discard_max_bytes")" -gt 0 ] || fail "allow_discards set but no discard support"
	dev_write /dev/mapper/vx p.bin 0
	blkdiscard -o 1048576 -l 2097152 /dev/mapper/vx || fail "blkdiscard refused with allow_discards"
	# The discarded range is gone from the lower device, the rest is intact.
	assert_dev_has /dev/ram0 zero.bin $((2048 * 512 + 1048576)) "discard reaching ram0"
	assert_dev_has /dev/ram0 zero.bin $((2048 * 512 + 2097152)) "discard reaching ram0"
	head -c 1048576 p.bin > a.bin
	assert_dev_has /dev/mapper/vx a.bin 0 "data before the discarded range"
	tail -c 1048576 p.bin > b.bin
	assert_dev_has /dev/mapper/vx b.bin 3145728 "data after the discarded range"
	dm_down vx

	step "unit $unit without allow_discards"
	tbl "$VX" "$hex" 0 /dev/ram0 2048 "$len" sector_size:$unit > vx.tbl
	dm_up vx vx.tbl
	dev_write /dev/mapper/vx p.bin 0
	q=$(dm_queue vx)
	[ "$(cat "$q/discard_max_bytes")" -eq 0 ] ||
		fail "no allow_discards but discard_max_bytes=$(cat "$q/discard_max_bytes")"
	if blkdiscard -o 1048576 -l 1048576 /dev/mapper/vx 2> err.txt; then
		fail "blkdiscard succeeded without allow_discards"
	fi
	echo "refused as expected: $(cat err.txt)"
	assert_dev_has /dev/mapper/vx p.bin 0 "data after a refused discard"
	dm_down vx
done
# BLKZEROOUT (blkdiscard -z) must give plaintext zeros through vxts. If a
# target passed REQ_OP_WRITE_ZEROES down, the lower device would hold zero
# ciphertext, which decrypts to noise.
for unit in 512 4096; do
	step "unit $unit: blkdiscard -z reads back as zeros through vxts and dm-crypt"
	tbl "$VX" "$hex" 0 /dev/ram0 2048 "$len" sector_size:$unit allow_discards > vx.tbl
	tbl crypt "$hex" 0 /dev/ram0 2048 "$len" sector_size:$unit > dc.tbl
	dm_up vx vx.tbl
	dev_write /dev/mapper/vx p.bin 0
	blkdiscard -z -o 1048576 -l 1048576 /dev/mapper/vx || fail "blkdiscard -z failed"
	assert_dev_has /dev/mapper/vx zero.bin 1048576 "zeroed range through vxts"
	assert_dev_has /dev/mapper/vx a.bin 0 "data before the zeroed range"
	assert_dev_lacks /dev/ram0 zero.bin $((2048 * 512 + 1048576)) "zeroed range on ram0 (must be ciphertext)"
	dm_down vx
	dm_up dc dc.tbl
	assert_dev_has /dev/mapper/dc zero.bin 1048576 "zeroed range through dm-crypt"
	dm_down dc
done
exit 0
