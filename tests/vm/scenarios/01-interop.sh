#!/bin/sh
# dm-crypt interoperability, both directions, byte for byte.
#
# For each parameter set (sector size, iv_offset, offset, options) the same
# plaintext is written through vxts onto ram0 and through dm-crypt onto ram1
# (both zeroed first): the two lower devices must then be identical over the
# whole mapped range, which proves equal ciphertext and equal placement. Then
# the mappings swap devices: dm-crypt must read vxts' ciphertext and vxts must
# read dm-crypt's. Finally stock `cryptsetup open --type plain` does the same.
. /vxts/guest-lib.sh
need_vxts

len=32768		# 16 MiB mapped, inside a 64 MiB RAM disk
key_new key
hex=$(key_hex key)
rand_file p1.bin 2097152
rand_file p2.bin 131072

zero_both() {
	dev_zero /dev/ram0
	dev_zero /dev/ram1
}

# Write p1 in the middle and p2 at the very end of <dev> (a mapping).
put_data() { # <dev>
	dev_write "$1" p1.bin 3145728
	dev_write "$1" p2.bin $((len * 512 - 131072))
}

has_data() { # <dev> <what>
	assert_dev_has "$1" p1.bin 3145728 "$2"
	assert_dev_has "$1" p2.bin $((len * 512 - 131072)) "$2 (last units)"
}

# Compare the lower devices over the mapped range plus the head before it.
same_lower() { # <offset in sectors> <what>
	local n=$((($1 + len) * 512))
	[ "$(dev_sum /dev/ram0 $n)" = "$(dev_sum /dev/ram1 $n)" ] ||
		fail "$2: vxts and dm-crypt ciphertext differ on the lower devices"
	assert_dev_lacks /dev/ram0 p1.bin $(($1 * 512 + 3145728)) "$2"
}

check_case() { # <iv_offset> <offset> [opt...]
	local iv=$1 off=$2 what
	shift 2
	what="iv_offset=$iv offset=$off opts='$*'"
	step "$what"
	zero_both
	tbl "$VX" "$hex" "$iv" /dev/ram0 "$off" "$len" "$@" > vx.tbl
	tbl crypt "$hex" "$iv" /dev/ram1 "$off" "$len" "$@" > dc.tbl
	dm_up vx vx.tbl
	dm_up dc dc.tbl
	put_data /dev/mapper/vx
	put_data /dev/mapper/dc
	has_data /dev/mapper/vx "$what: vxts read-back"
	dm_down vx
	dm_down dc
	same_lower "$off" "$what"

	# Same tables, devices swapped: each target reads the other's ciphertext.
	tbl crypt "$hex" "$iv" /dev/ram0 "$off" "$len" "$@" > dc0.tbl
	tbl "$VX" "$hex" "$iv" /dev/ram1 "$off" "$len" "$@" > vx1.tbl
	dm_up dc0 dc0.tbl
	dm_up vx1 vx1.tbl
	has_data /dev/mapper/dc0 "$what: dm-crypt reading vxts ciphertext"
	has_data /dev/mapper/vx1 "$what: vxts reading dm-crypt ciphertext"
	dm_down dc0
	dm_down vx1
}

# The two-target table of the step below, read back through the mapping:
# reads straddling the boundary between the targets must decrypt right.
two_has_data() { # <name> <what>
	assert_dev_has "/dev/mapper/$1" p1.bin $((2048 * 512 + 3145728)) "$2"
	assert_dev_has "/dev/mapper/$1" p2.bin 983040 "$2 (across the target boundary)"
}

# `dmsetup status` names the crypto driver, one the kernel really has.
step "crypto driver in dmsetup status"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" > vx.tbl
dm_up vx vx.tbl
st=$(dmsetup status vx)
echo "status: $st"
drv=$(echo "$st" | cut -d' ' -f4)
dm_down vx
if [ "$VX" = vxts ]; then
	info vxts-driver "$drv"
	grep -q "^driver *: $drv\$" /proc/crypto || fail "status names '$drv', not a driver in /proc/crypto"
fi

check_case 0 0
check_case 12345 2048
check_case 12344 4096 sector_size:4096
check_case 12344 4096 sector_size:4096 iv_large_sectors
# Tweaks crossing 2^32 (a 32-bit sector anywhere would show here), in 512
# units and in 4096 units with iv_large_sectors.
check_case 4294967040 0
check_case 34359736320 0 sector_size:4096 iv_large_sectors

# iv_offset + len beyond 2^64: dm-crypt accepts it and wraps the tweak
# modulo 2^64; docs/TARGET.md says vxts refuses it. Either is fine, as long
# as a table vxts accepts gives dm-crypt's bytes.
step "iv_offset wrapping past 2^64"
tbl "$VX" "$hex" 18446744073709551608 /dev/ram0 0 "$len" > vx.tbl
klog_mark wrap
if dmsetup create vx < vx.tbl > /dev/null 2>&1; then
	dm_down vx
	check_case 18446744073709551608 0
else
	echo "vxts refuses it: $(klog_since wrap | grep -o "$VX: .*" | head -n 1)"
	klog_since wrap | grep -q "$VX: [A-Za-z]" || fail "wrap-around refused without a message"
	[ ! -e /dev/mapper/vx ] || fail "refused table left a device node"
fi

# The target as the second line of a table (start 2048): the IV must come
# from the sector relative to the target, as dm-crypt computes it.
step "vxts as the second target of a table (start 2048, sector_size:4096)"
zero_both
{ echo "0 2048 linear /dev/ram2 0"; tbl "$VX" "$hex" 16 /dev/ram0 4096 "$len" sector_size:4096 |
	sed 's/^0 /2048 /'; } > vx.tbl
{ echo "0 2048 linear /dev/ram3 0"; tbl crypt "$hex" 16 /dev/ram1 4096 "$len" sector_size:4096 |
	sed 's/^0 /2048 /'; } > dc.tbl
dm_up vx vx.tbl
dm_up dc dc.tbl
dev_write /dev/mapper/vx p1.bin $((2048 * 512 + 3145728))
dev_write /dev/mapper/dc p1.bin $((2048 * 512 + 3145728))
# p2 straddles the boundary between the two targets.
dev_write /dev/mapper/vx p2.bin 983040
dev_write /dev/mapper/dc p2.bin 983040
two_has_data vx "second target, vxts"
two_has_data dc "second target, dm-crypt"
dm_down vx
dm_down dc
same_lower 4096 "second target"

step "stock cryptsetup open --type plain"
zero_both
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
	--key-file key --offset 4096 --skip 12344 --sector-size 4096 \
	/dev/ram1 cs || fail "cryptsetup open --type plain failed"
assert_blk /dev/mapper/cs
cs_len=$(ram_sectors /dev/mapper/cs)
[ "$cs_len" -eq $((131072 - 4096)) ] || fail "cryptsetup mapping has $cs_len sectors"
# cryptsetup must have loaded exactly the table our dm-crypt lines use.
want=$(tbl crypt "$hex" 12344 253:X 4096 "$cs_len" sector_size:4096 | sed 's/253:X//')
got=$(dmsetup table --showkeys cs | sed 's/ [0-9]*:[0-9]* / /')
echo "cryptsetup table: $(echo "$got" | sed "s/$hex/<key>/")"
[ "$(echo "$got" | tr -s ' ')" = "$(echo "$want" | tr -s ' ')" ] ||
	fail "cryptsetup table differs from ours: $(echo "$got" | sed "s/$hex/<key>/")"
tbl "$VX" "$hex" 12344 /dev/ram0 4096 "$cs_len" sector_size:4096 > vx.tbl
dm_up vx vx.tbl
len=$cs_len
put_data /dev/mapper/vx
put_data /dev/mapper/cs
cryptsetup close cs || fail "cryptsetup close failed"
dm_down vx
same_lower 4096 "cryptsetup plain"
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
	--key-file key --offset 4096 --skip 12344 --sector-size 4096 \
	/dev/ram0 cs || fail "cryptsetup open --type plain (ram0) failed"
assert_blk /dev/mapper/cs
has_data /dev/mapper/cs "cryptsetup reading vxts ciphertext"
cryptsetup close cs
tbl "$VX" "$hex" 12344 /dev/ram1 4096 "$cs_len" sector_size:4096 > vx1.tbl
dm_up vx1 vx1.tbl
has_data /dev/mapper/vx1 "vxts reading cryptsetup ciphertext"
dm_down vx1
exit 0
