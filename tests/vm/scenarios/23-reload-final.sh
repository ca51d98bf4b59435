#!/bin/sh
# Table reloads at the ends of a conversion, under fio verify (crc32c): each
# must be seamless (fio verifies everything it wrote before and after).
#  - convert:encrypt:<len> -> the plain vxts table (end of an encryption);
#  - convert:decrypt:<len> -> linear (end of a decryption);
#  - linear -> convert:encrypt:0 -> linear (the takeover of a live device
#    and back, nothing converted yet);
#  - a converting table read back with `dmsetup table` (logon key, current
#    boundary) reloads the same state;
#  - a same-conversion reload keeps a held window; hold is refused while a
#    table that could not take the window over is loaded.
# Afterwards dm-crypt (or the raw device) verifies the data in its final form.
. /vxts/guest-lib.sh
need_vxts
[ "$VX" = vxts ] || skip "convert: is a vxts-only option"

len=32768			# 16 MiB
key_new key
keyctl padd logon vxts:t23 @u < key > /dev/null || fail "cannot add logon key"
kref=:64:logon:vxts:t23
hex=$(key_hex key)
lin="0 $len linear /dev/ram0 0"

job() { # <dev> <job name>
	cat > j.fio <<JOB
[global]
filename=$1
direct=1
ioengine=libaio
iodepth=16
numjobs=2
size=8m
offset_increment=8m
bssplit=4k/60:64k/30:512k/10
rw=randwrite
verify=crc32c
verify_fatal=1
rate=1m
group_reporting=1
[$2]
JOB
}

# Verify what the last run wrote, through <dev> (same job, no rate limit).
verify_on() { # <dev>
	sed -i "s|^filename=.*|filename=$1|; s/^rate=.*//" j.fio
	run_fio j.fio --verify_only
}

# fio on /dev/mapper/vx; after 1 s each table file in turn is loaded and
# resumed (a reload under IO), 1 s apart. fio must verify clean.
reload_under_fio() { # <what> <table file>...
	local what=$1 t pid r n=0
	shift
	job /dev/mapper/vx "$what"
	fio --output=j.fio.out j.fio &
	pid=$!
	for t in "$@"; do
		sleep 1
		kill -0 "$pid" 2> /dev/null || fail "$what: fio finished before reload $n"
		dmsetup load vx < "$t" || fail "$what: load $t failed"
		dmsetup resume vx || fail "$what: resume after loading $t failed"
		n=$((n + 1))
	done
	kill -0 "$pid" 2> /dev/null || fail "$what: fio finished before the last reload took effect"
	wait "$pid"
	r=$?
	grep -E 'err=|WRITE:|READ:' j.fio.out | sed 's/^/   fio: /'
	[ "$r" -eq 0 ] || { tail -n 20 j.fio.out; fail "$what: fio verify failed across the reload"; }
	assert_blk /dev/mapper/vx
}

step "convert:encrypt:$len -> plain vxts"
dev_zero /dev/ram0
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:$len > conv.tbl
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > plain.tbl
dm_up vx conv.tbl
reload_under_fio enc-final plain.tbl
dmsetup table vx | grep -q convert && fail "the final table still converts"
dm_down vx
tbl crypt "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > dc.tbl
dm_up vx dc.tbl
verify_on /dev/mapper/vx
dm_down vx

step "convert:decrypt:$len -> linear"
dev_zero /dev/ram0
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" convert:decrypt:$len > conv.tbl
echo "$lin" > lin.tbl
dm_up vx conv.tbl
reload_under_fio dec-final lin.tbl
dm_down vx
verify_on /dev/ram0

step "linear -> convert:encrypt:0 -> linear (takeover and back)"
dev_zero /dev/ram0
tbl "$VX" "$kref" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:0 > conv.tbl
dm_up vx lin.tbl
reload_under_fio takeover conv.tbl lin.tbl
dm_down vx
verify_on /dev/ram0

step "a converting table read back reloads the same state"
# [0, half) encrypted under the key, the rest plaintext.
half=$((len / 2))
dev_zero /dev/ram0
tbl "$VX" "$kref" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:$half > conv.tbl
dm_up vx conv.tbl
dmsetup table vx | sed 's/^[0-9]* [0-9]* vxts /0 '"$len"' vxts /' > back.tbl
grep -q " :64:logon:vxts:t23 .*convert:encrypt:$half" back.tbl ||
	fail "table read back: $(cat back.tbl)"
reload_under_fio readback back.tbl back.tbl
assert_field vx boundary "$half" "after reloading the read-back table"
dm_down vx
# Below the boundary ciphertext, above it plaintext: one mapping of
# dm-crypt then linear shows the plaintext fio verifies.
tbl crypt "$hex" 0 /dev/ram0 0 "$half" sector_size:4096 > mix.tbl
echo "$half $half linear /dev/ram0 $half" >> mix.tbl
dm_up mix mix.tbl
verify_on /dev/mapper/mix
dm_down mix

step "a reload while a window is held keeps it (or is refused)"
dev_zero /dev/ram0
rand_file d.bin 65536
doff=$((half * 512 + 65536))		# inside the window [half, half + 2048)
tbl "$VX" "$kref" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:$half > conv.tbl
tbl "$VX" "$kref" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:0 > stale.tbl
tbl "$VX" "$kref" 0 /dev/ram0 0 "$len" sector_size:4096 > plain.tbl
dm_up vx conv.tbl
dev_write /dev/mapper/vx d.bin "$doff"
dm_msg vx hold "$half" $((half + 2048)) || fail "hold refused"
dd if=/dev/mapper/vx of=r.bin bs=64k iflag=direct,skip_bytes skip="$doff" count=1 \
	status=none &
rpid=$!
assert_blocked "$rpid" 1 "read of the held window"
dmsetup load vx < plain.tbl 2> /dev/null && fail "a plain table loaded over a held window"
dmsetup load vx < stale.tbl || fail "a table of the same conversion was refused"
timeout 10 dmsetup suspend --noflush vx || fail "noflush suspend waited for the window"
dmsetup resume vx || fail "resume with the new table"
assert_field vx boundary "$half" "the new table took over the live boundary"
assert_field vx window "$half-$((half + 2048))" "the new table took over the window"
dmsetup table vx | grep -q "convert:encrypt:$half" || fail "table: $(dmsetup table vx)"
assert_blocked "$rpid" 1 "read of the window after the reload"
dm_msg vx release || fail "release after the reload"
wait_done "$rpid" 10 "held read after release"
cmp -s r.bin d.bin || fail "held read across the reload returned wrong data"
step "a hold a loaded table could not take over is refused"
# dm swaps tables before preresume and destroys the old one even when
# resume fails: refusing there would be too late, so hold refuses first.
dmsetup load vx < plain.tbl || fail "load of the plain table with no window held"
dm_msg vx hold "$half" $((half + 2048)) && fail "hold accepted with a plain table loaded"
assert_field vx window - "after the refused hold"
dmsetup clear vx || fail "dmsetup clear"
dm_msg vx hold "$half" $((half + 2048)) || fail "hold refused once the plain table is cleared"
dm_msg vx release || fail "release"
assert_dev_has /dev/mapper/vx d.bin "$doff" "data after the refused hold"
dm_down vx
keyctl unlink "$(keyctl search @u logon vxts:t23)" @u > /dev/null
assert_no_held_at_dtr
exit 0
