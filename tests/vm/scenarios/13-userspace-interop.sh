#!/bin/sh
# Cross-check both ways between the userspace engine and the kernel target:
# what `vxts encrypt` writes in place, dm-vxts and dm-crypt read back as the
# original plaintext; what dm-vxts writes into a `vxts format`ted volume,
# `vxts decrypt` turns back into exactly that plaintext. For 4096-byte units
# with an IV offset, and 512-byte units with an odd one.
. /vxts/guest-lib.sh
need_vxts
type vxts > /dev/null 2>&1 || fail "no vxts binary in the initramfs"

MIB=32
BYTES=$((MIB << 20))
SECT=$((BYTES / 512))

# The volume key, for a table line, from the header (escrow path of the CLI).
vol_hex() { # <dev> <header>
	vxts dump "$1" --header "$2" --key-file kek --volume-key 2> /dev/null |
		grep -o -m1 -E '[0-9a-f]{128}'
}

userspace_to_kernel() { # <unit> <iv_offset>
	local unit=$1 iv=$2 hex
	step "vxts encrypt ($unit-byte units, iv_offset $iv) -> dm-vxts and dm-crypt read"
	dev_zero /dev/ram0
	rand_file plain "$BYTES"
	dev_write /dev/ram0 plain
	rm -f u.hdr
	# random data carries no filesystem signature: --force
	vxts encrypt /dev/ram0 --header u.hdr --key-file kek --force --no-progress \
		--sector-size "$unit" --iv-offset "$iv" > /dev/null || fail "vxts encrypt"
	hex=$(vol_hex /dev/ram0 u.hdr)
	[ ${#hex} -eq 128 ] || fail "no volume key from vxts dump --volume-key"
	[ "$(dev_sum /dev/ram0 "$BYTES")" != "$(file_sum plain)" ] || fail "vxts left plaintext"
	for t in vxts crypt; do
		tbl "$t" "$hex" "$iv" /dev/ram0 0 "$SECT" "sector_size:$unit" > t.tbl
		dm_up "u$t" t.tbl
		[ "$(dev_sum "/dev/mapper/u$t" "$BYTES")" = "$(file_sum plain)" ] ||
			fail "$t does not read what vxts encrypted ($unit, iv $iv)"
		dm_down "u$t"
	done
}

kernel_to_userspace() { # <unit> <iv_offset>
	local unit=$1 iv=$2 hex
	step "dm-vxts writes into a vxts volume ($unit, iv $iv) -> vxts decrypt in place"
	dev_zero /dev/ram1
	rm -f k.hdr
	vxts format /dev/ram1 --header k.hdr --key-file kek --yes --sector-size "$unit" \
		--iv-offset "$iv" > /dev/null || fail "vxts format"
	hex=$(vol_hex /dev/ram1 k.hdr)
	[ ${#hex} -eq 128 ] || fail "no volume key from vxts dump --volume-key"
	rand_file plain2 "$(($(blockdev --getsize64 /dev/ram1)))"
	tbl vxts "$hex" "$iv" /dev/ram1 0 "$(ram_sectors /dev/ram1)" "sector_size:$unit" > k.tbl
	dm_up kv k.tbl
	dev_write /dev/mapper/kv plain2
	dm_down kv
	[ "$(dev_sum /dev/ram1 "$BYTES")" != "$(head -c "$BYTES" plain2 | sha256sum | cut -d' ' -f1)" ] ||
		fail "dm-vxts wrote plaintext"
	vxts decrypt /dev/ram1 --header k.hdr --key-file kek --no-progress > /dev/null ||
		fail "vxts decrypt"
	[ "$(dev_sum /dev/ram1 "$(stat -c %s plain2)")" = "$(file_sum plain2)" ] ||
		fail "vxts decrypt does not give back what dm-vxts was given ($unit, iv $iv)"
}

key_new kek 64
userspace_to_kernel 4096 8
userspace_to_kernel 512 3
kernel_to_userspace 4096 16
kernel_to_userspace 512 5
