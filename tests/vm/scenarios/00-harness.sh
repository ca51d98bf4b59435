#!/bin/sh
# Harness self-check, independent of dm-vxts: device nodes appear, dm-linear
# round-trips data, dm-crypt encrypts (ciphertext differs from plaintext and
# between keys), and the comparison helpers do notice a difference. If this
# fails, no other scenario's verdict means anything.
. /vxts/guest-lib.sh

step "RAM disks and DM_DISABLE_UDEV node creation"
assert_blk /dev/ram0
assert_blk /dev/ram1
n=$(ram_sectors /dev/ram0)
[ "$n" -eq 131072 ] || fail "ram0 has $n sectors, expected 131072"
echo "0 65536 linear /dev/ram0 2048" > lin.tbl
dm_up lin lin.tbl

step "dm-linear round trip at an offset"
rand_file p.bin 1048576
dev_write /dev/mapper/lin p.bin 65536
assert_dev_has /dev/mapper/lin p.bin 65536 "linear read-back"
assert_dev_has /dev/ram0 p.bin $((2048 * 512 + 65536)) "linear lower device"
dm_down lin
[ ! -e /dev/mapper/lin ] || fail "node of a removed device is still there"

step "dm-crypt encrypts, and two keys give two ciphertexts"
key_new k1
key_new k2
tbl crypt "$(key_hex k1)" 0 /dev/ram0 0 65536 > c1.tbl
tbl crypt "$(key_hex k2)" 0 /dev/ram1 0 65536 > c2.tbl
dm_up c1 c1.tbl
dm_up c2 c2.tbl
dev_write /dev/mapper/c1 p.bin 0
dev_write /dev/mapper/c2 p.bin 0
assert_dev_has /dev/mapper/c1 p.bin 0 "dm-crypt read-back"
assert_dev_lacks /dev/ram0 p.bin 0 "dm-crypt ciphertext"
[ "$(dev_sum /dev/ram0 1048576)" != "$(dev_sum /dev/ram1 1048576)" ] ||
	fail "two keys produced the same ciphertext"
dmsetup table c1 | grep -q "$(key_hex k1)" && fail "dmsetup table shows the dm-crypt key"
dm_down c1
dm_down c2

step "the helpers detect a mismatch"
rand_file q.bin 65536
if (assert_dev_has /dev/ram0 q.bin 0 "probe") 2>/dev/null; then
	fail "assert_dev_has accepted wrong data"
fi
if (assert_blk /dev/mapper/nothing) 2>/dev/null; then
	fail "assert_blk accepted a missing node"
fi
echo "crypto driver for xts(aes): $(grep -A2 '^name *: xts(aes)' /proc/crypto | sed -n 's/^driver *: //p' | head -n 1)"
exit 0
