#!/bin/sh
# The table's <offset> is no part of the tweak. vxts does not check it
# itself, as dm-crypt does not; dm core refuses an offset that is not a
# multiple of the logical block size, which both targets raise to the data
# unit. So both must accept and refuse the same offsets, and where they
# accept, write the same bytes:
# - 512-byte units at offsets 1 and 7 (not 4 KiB aligned): accepted, the
#   two RAM disks hold identical bytes, each target reads what the other
#   wrote, the sectors before <offset> stay untouched;
# - 4096-byte units at offset 1: refused by both; at offset 8: accepted,
#   identical bytes.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
rand_file p.bin 1048576
len=4096
zero_sum=$(head -c 512 /dev/zero | sha256sum | cut -d' ' -f1)

both_up() { # <off> <opts...>: vx on ram0, dc (dm-crypt) on ram1
	local off=$1
	shift
	tbl "$VX" "$hex" 8 /dev/ram0 "$off" "$len" "$@" > vx.tbl
	tbl crypt "$hex" 8 /dev/ram1 "$off" "$len" "$@" > dc.tbl
	dm_up vx vx.tbl
	dm_up dc dc.tbl
}

both_down() {
	dm_down dc
	dm_down vx
}

same_bytes() { # <off> <opts...>
	local off=$1
	shift
	step "offset $off, options: ${*:-none}"
	dev_zero /dev/ram0
	dev_zero /dev/ram1
	both_up "$off" "$@"
	dev_write /dev/mapper/vx p.bin 65536
	dev_write /dev/mapper/dc p.bin 65536
	both_down
	[ "$(dev_sum /dev/ram0 4194304)" = "$(dev_sum /dev/ram1 4194304)" ] ||
		fail "offset $off, $*: ciphertext differs from dm-crypt's"
	assert_dev_lacks /dev/ram0 p.bin $((65536 + off * 512)) "ciphertext on ram0"
	[ "$off" -eq 0 ] || [ "$(dev_sum /dev/ram0 512)" = "$zero_sum" ] ||
		fail "offset $off: sector 0, before the offset, was written"
	# Each reads what the other wrote.
	tbl "$VX" "$hex" 8 /dev/ram1 "$off" "$len" "$@" > vx.tbl
	tbl crypt "$hex" 8 /dev/ram0 "$off" "$len" "$@" > dc.tbl
	dm_up vx vx.tbl
	dm_up dc dc.tbl
	assert_dev_has /dev/mapper/vx p.bin 65536 "$VX reading dm-crypt's data"
	assert_dev_has /dev/mapper/dc p.bin 65536 "dm-crypt reading $VX's data"
	both_down
}

same_bytes 1
same_bytes 7 sector_size:512
same_bytes 8 sector_size:4096
same_bytes 8 sector_size:4096 iv_large_sectors

step "offset 1 with 4096-byte units: refused by both"
tbl "$VX" "$hex" 8 /dev/ram0 1 "$len" sector_size:4096 > vx.tbl
tbl crypt "$hex" 8 /dev/ram1 1 "$len" sector_size:4096 > dc.tbl
dm_up_refused vx vx.tbl || fail "$VX accepted offset 1 with 4096-byte units"
dm_up_refused dc dc.tbl || fail "dm-crypt accepted offset 1 with 4096-byte units"
exit 0
