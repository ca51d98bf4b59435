#!/bin/sh
# Kernel keyring keys: ":64:logon:<desc>" and ":64:user:<desc>" work and give
# the same ciphertext as the hex key; `dmsetup table` (even --showkeys) shows
# the reference, never the key; a hex-key table prints "-" for the key. A
# missing key, a wrong size and a wrong type are refused without an oops.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=32768
rand_file p.bin 1048576
keyctl padd logon vxts:k1 @u < key > /dev/null || fail "cannot add logon key"
keyctl padd user vxts:k2 @u < key > /dev/null || fail "cannot add user key"
key_new short 32
keyctl padd logon vxts:short @u < short > /dev/null || fail "cannot add short key"

step "reference ciphertext with the hex key on ram1"
dev_zero /dev/ram1
tbl "$VX" "$hex" 8 /dev/ram1 0 "$len" sector_size:4096 > hex.tbl
dm_up vx hex.tbl
dev_write /dev/mapper/vx p.bin 65536
for opt in "" --showkeys; do
	t=$(dmsetup table $opt vx)
	echo "table $opt: $t"
	echo "$t" | grep -q "$hex" && fail "dmsetup table $opt shows the hex key"
	[ "$(echo "$t" | cut -d' ' -f5)" = - ] || fail "hex key not printed as '-'"
done
dm_down vx
want=$(dev_sum /dev/ram1 $((len * 512)))

for ref in :64:logon:vxts:k1 :64:user:vxts:k2; do
	step "key $ref"
	dev_zero /dev/ram0
	tbl "$VX" "$ref" 8 /dev/ram0 0 "$len" sector_size:4096 > ref.tbl
	dm_up vx ref.tbl
	dev_write /dev/mapper/vx p.bin 65536
	assert_dev_has /dev/mapper/vx p.bin 65536 "read-back with $ref"
	for opt in "" --showkeys; do
		t=$(dmsetup table $opt vx)
		echo "table $opt: $t"
		echo "$t" | grep -q "$hex" && fail "dmsetup table $opt shows the key of $ref"
		[ "$(echo "$t" | cut -d' ' -f5)" = "$ref" ] ||
			fail "table shows '$(echo "$t" | cut -d' ' -f5)' instead of $ref"
	done
	dm_down vx
	[ "$(dev_sum /dev/ram0 $((len * 512)))" = "$want" ] ||
		fail "$ref gives other ciphertext than the same key in hex"
done

# `dmsetup table` output is a valid table: reloading it must keep every
# option and the data readable (keyring keys only: a hex key prints as "-").
step "table output reloads as is (keyring key, all options)"
tbl "$VX" :64:logon:vxts:k1 8 /dev/ram0 0 "$len" allow_discards sector_size:4096 iv_large_sectors > ref.tbl
dm_up vx ref.tbl
dev_write /dev/mapper/vx p.bin 65536
dmsetup table vx > again.tbl
echo "emitted: $(cat again.tbl)"
for opt in allow_discards sector_size:4096 iv_large_sectors :64:logon:vxts:k1; do
	grep -q -- "$opt" again.tbl || fail "table output lost $opt"
done
dmsetup load vx < again.tbl || fail "dmsetup load of the emitted table failed"
dmsetup resume vx || fail "resume after reloading the emitted table failed"
[ "$(dmsetup table vx)" = "$(cat again.tbl)" ] || fail "table changed after reloading its own output"
assert_dev_has /dev/mapper/vx p.bin 65536 "data after reloading the emitted table"
dm_down vx

n=0
refused() { # <key reference> <why>
	n=$((n + 1))
	step "refused: $2 ($1)"
	klog_mark "key$n"
	tbl "$VX" "$1" 0 /dev/ram0 0 "$len" > bad.tbl
	dm_up_refused bad bad.tbl || fail "$2: table with $1 was accepted"
	klog_since "key$n" | grep -E "$VX" | sed 's/^/   klog: /'
	klog_since "key$n" | grep -q -E "$VX: [A-Za-z]" || fail "$2: no error message in the kernel log"
}
refused :64:logon:vxts:nothere "missing key"
refused :32:logon:vxts:short "32-byte key"
refused :64:logon:vxts:short "size in reference larger than the key"
refused :32:logon:vxts:k1 "size in reference smaller than the key"
refused :64:logon:vxts:k2 "user key referenced as logon"
refused :64:trusted:vxts:k1 "unsupported key type"
refused :64:bogus:vxts:k1 "unknown key type"
keyctl revoke "$(keyctl search @u logon vxts:k1)" > /dev/null
refused :64:logon:vxts:k1 "revoked key"
dmesg | grep -q "$hex" && fail "the kernel log contains the key"
exit 0
