#!/bin/sh
# Table reloads of a converting target and who owns the window
# (docs/ONLINE.md, "Reloads"). dm swaps the live table before preresume
# runs and destroys the old one even if resume then fails, so every
# refusal must come before the swap:
#  - hold is refused (-EBUSY) while a loaded, inactive table could not take
#    the window over (a plain vxts table; a shorter one), and accepted once
#    that table is cleared;
#  - a table with another data unit or iv_offset is not adopted (its own
#    line's boundary is served, never a boundary that is not unit aligned),
#    and while a window is held it cannot even be loaded;
#  - with two vxts targets in one table, each new target takes over the
#    state of the old target in the same place, not its neighbour's.
. /vxts/guest-lib.sh
need_vxts
[ "$VX" = vxts ] || skip "convert: is a vxts-only option"

len=16384			# 8 MiB
key_new k
hex=$(key_hex k)
dev_zero /dev/ram0

# Line <n> of dmsetup status (one per target), field <key>.
line_field() { # <name> <line> <key>
	dmsetup status "$1" | sed -n "$2p" | tr ' ' '\n' | sed -n "s/^$3://p"
}

assert_line_field() { # <name> <line> <key> <expected> <what>
	local got
	got=$(line_field "$1" "$2" "$3")
	[ "$got" = "$4" ] || fail "$5: target $2 status $3 is '$got', want '$4' ($(dmsetup status "$1" | sed -n "$2p"))"
}

step "hold refused while a loaded table could not take the window over"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:2048 > conv.tbl
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > plain.tbl
tbl "$VX" "$hex" 0 /dev/ram0 0 3072 sector_size:4096 convert:encrypt:2048 > short.tbl
dm_up vx conv.tbl
dmsetup load vx < plain.tbl || fail "load of the plain table (no window held) refused"
dm_msg vx hold 2048 4096 && fail "hold accepted while a plain vxts table is loaded"
assert_field vx window - "after the refused hold"
dmsetup clear vx || fail "dmsetup clear"
dm_msg vx hold 2048 4096 || fail "hold refused with no table loaded"
dm_msg vx release || fail "release"
dmsetup load vx < short.tbl || fail "load of the short table refused"
dm_msg vx hold 2048 4096 && fail "hold beyond a loaded shorter table's end accepted"
dm_msg vx hold 2048 3072 || fail "hold within the loaded shorter table refused"
dm_msg vx release || fail "release"
dmsetup clear vx || fail "dmsetup clear"
# A loaded table that can take the window over does not stop holds, and
# resuming it keeps the window held.
dmsetup load vx < conv.tbl || fail "load of the same converting table refused"
dm_msg vx hold 2048 4096 || fail "hold refused with an adoptable table loaded"
dmsetup resume vx || fail "resume of the adoptable table"
assert_field vx window 2048-4096 "window after the reload"
dm_msg vx advance 4096 || fail "advance after the reload"
assert_field vx boundary 4096 "boundary after the advance"
dm_down vx

step "another data unit: not adopted, never an unaligned boundary"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" convert:encrypt:1001 > u512.tbl
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:1008 > u4k.tbl
dm_up vx u512.tbl
dm_msg vx hold 1001 2001 || fail "hold 1001-2001 (512-byte units)"
dmsetup load vx < u4k.tbl 2> /dev/null && fail "4 KiB table loaded while a 512-byte window is held"
dm_msg vx release || fail "release"
dmsetup load vx < u4k.tbl || fail "load of the 4 KiB table (no window held)"
dmsetup resume vx || fail "resume of the 4 KiB table"
assert_field vx boundary 1008 "4 KiB table after a 512-byte one (its own line)"
rand_file q.bin 65536
# 4 KiB at sector 1000: with an adopted boundary 1001 this write was cut
# into a half unit and failed.
dev_write /dev/mapper/vx q.bin $((1000 * 512))
assert_dev_has /dev/mapper/vx q.bin $((1000 * 512)) "write across the old boundary"
dm_down vx

step "another iv_offset: not adopted"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:2048 > iv0.tbl
tbl "$VX" "$hex" 8 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:0 > iv8.tbl
dm_up vx iv0.tbl
dmsetup load vx < iv8.tbl || fail "load of the iv_offset 8 table"
dmsetup resume vx || fail "resume of the iv_offset 8 table"
assert_field vx boundary 0 "iv_offset 8 table after an iv_offset 0 one (its own line)"
dm_down vx

step "two vxts targets: each takes over the one in its place"
half=$((len / 2))
{
	tbl "$VX" "$hex" 0 /dev/ram0 0 "$half" sector_size:4096 convert:encrypt:2048
	tbl "$VX" "$hex" 0 /dev/ram0 "$half" "$half" sector_size:4096 convert:encrypt:4096 |
		sed "s/^0 /$half /"
} > two.tbl
dm_up vx two.tbl
dm_msg vx hold 2048 3072 || fail "hold on the first target"
dmsetup load vx < two.tbl || fail "reload of the two-target table"
dmsetup resume vx || fail "resume of the two-target table"
assert_line_field vx 1 boundary 2048 "first target after the reload"
assert_line_field vx 1 window 2048-3072 "first target after the reload"
assert_line_field vx 2 boundary 4096 "second target after the reload"
assert_line_field vx 2 window - "second target after the reload"
dm_msg vx advance 3072 || fail "advance on the first target after the reload"
assert_line_field vx 1 boundary 3072 "first target after the advance"
dmsetup message vx "$half" hold 4096 5120 2> /dev/null || fail "hold on the second target"
assert_line_field vx 2 window 4096-5120 "second target"
dmsetup message vx "$half" release 2> /dev/null || fail "release on the second target"
assert_line_field vx 2 boundary 4096 "second target after the release"
dm_down vx
assert_no_held_at_dtr
echo "PASS"
