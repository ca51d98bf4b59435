#!/bin/sh
# Guest half of capture-dmcrypt.sh (runs as a VM scenario, busybox sh):
# writes dmcrypt-plain.bin through a dm-crypt mapping of the first 128
# sectors of /dev/ram0 for each parameter set in vectors/README.md, then
# sends the raw device contents to the host as hex lines on ttyS1:
# "VXTS-HEX <name> <32 hex digits>".
. /vxts/guest-lib.sh

plain=/vxts/scenarios/dmcrypt-plain.bin
dev=/dev/ram0
map=vxref
# The test key of vectors/README.md (bytes 00 .. 3f), never a real one.
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
key=${key}202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f

[ -f "$plain" ] || fail "$plain missing from the initramfs"
assert_blk "$dev"
dmsetup targets | grep -q '^crypt ' || fail "dm-crypt is not registered"

capture() { # <name> <iv_offset> [optional args, e.g. "1 sector_size:4096"]
	name=$1
	table="0 128 crypt aes-xts-plain64 $key $2 $dev 0${3:+ $3}"
	blkdiscard "$dev" || fail "cannot zero $dev"
	dmsetup create "$map" --table "$table" || fail "$name: dmsetup create failed"
	[ -b "/dev/mapper/$map" ] || dmsetup mknodes
	assert_blk "/dev/mapper/$map"
	dd if="$plain" of="/dev/mapper/$map" bs=65536 count=1 oflag=direct conv=fsync 2>/dev/null ||
		fail "$name: write through dm-crypt failed"
	# Read back through the mapping first: dm-crypt must return the plaintext.
	dd if="/dev/mapper/$map" bs=65536 count=1 iflag=direct 2>/dev/null | cmp -s - "$plain" ||
		fail "$name: dm-crypt did not read back its own plaintext"
	dmsetup remove "$map" || fail "$name: dmsetup remove failed"
	dd if="$dev" bs=65536 count=1 iflag=direct 2>/dev/null | cmp -s - "$plain" &&
		fail "$name: the device holds plaintext"
	dd if="$dev" bs=65536 count=1 iflag=direct 2>/dev/null | od -An -v -tx1 | tr -d ' ' |
		sed "s/^/VXTS-HEX $name /" > /dev/ttyS1
	echo "captured $name: $table" | sed "s/$key/<test key>/"
}

capture u512 0
capture u512-off 123456
capture u4096 0 "1 sector_size:4096"
capture u4096-large 0 "2 sector_size:4096 iv_large_sectors"
capture u4096-off 2048 "1 sector_size:4096"
capture u4096-off-large 2048 "2 sector_size:4096 iv_large_sectors"
