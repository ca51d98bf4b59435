#!/bin/sh
# The held window by hand (docs/ONLINE.md), direction encrypt, 4 KiB units:
# a reader and a writer on a held window block (still running after a
# second) while IO outside it completes; the window is converted by hand
# (raw read of ram0, write through dm-crypt) and advanced: the held IO then
# completes with the right data in the right form. Also: release, idempotent
# hold, refused messages, a flushing suspend that waits for the window (and
# gives up on its timeout), a noflush suspend that does not, status fields,
# and hold latency idle and under fio verify while windows are converted.
. /vxts/guest-lib.sh
need_vxts
[ "$VX" = vxts ] || skip "holds are a vxts-only feature"

len=16384			# 8 MiB
win=2048			# 1 MiB windows
key_new k
hex=$(key_hex k)
rand_file p.bin $((len * 512))
rand_file q.bin 65536
dev_zero /dev/ram0
dev_write /dev/ram0 p.bin
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:0 \
	allow_discards > vx.tbl
dm_up vx vx.tbl
tbl crypt "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > dc.tbl
dm_up dc dc.tbl

p_at() { # <byte offset> <bytes>: that part of the plaintext
	tail -c +$(($1 + 1)) p.bin | head -c "$2"
}

# Convert [lo, hi) by hand: plaintext from ram0, ciphertext through dm-crypt.
convert_by_hand() { # <lo> <hi> (sectors)
	dd if=/dev/ram0 of=w.bin bs=64k iflag=direct,skip_bytes,count_bytes \
		skip=$(($1 * 512)) count=$((($2 - $1) * 512)) status=none ||
		fail "raw read of window $1-$2"
	dd if=w.bin of=/dev/mapper/dc bs=64k oflag=direct,seek_bytes \
		seek=$(($1 * 512)) conv=fsync status=none ||
		fail "dm-crypt write of window $1-$2"
}

# Until <name>'s held: field is <n> (bios queued on the window), 30 s at most.
# A fixed sleep guesses when a background dd's bio reaches the target; a slow
# guest (TCG, a loaded host) can take longer than the guess.
wait_held() { # <name> <n> <what>
	local i=0
	while [ "$(dm_field "$1" held)" != "$2" ]; do
		i=$((i + 1))
		[ "$i" -le 300 ] || fail "$3: held is $(dm_field "$1" held) after 30 s, want $2"
		sleep 0.1
	done
}

bg_read() { # <byte offset> <out file>: 64 KiB, one O_DIRECT bio, in the background
	dd if=/dev/mapper/vx of="$2" bs=64k iflag=direct,skip_bytes skip="$1" \
		count=1 status=none &
}

step "hold 0-$win with the device idle"
# The cost of one dmsetup message round trip that changes nothing (refused).
t0=$(now_ns)
dm_msg vx release && fail "release without a window accepted"
t1=$(now_ns)
info msg_refused_us $(((t1 - t0) / 1000))
t0=$(now_ns)
dm_msg vx hold 0 "$win" || fail "hold 0 $win refused"
t1=$(now_ns)
info hold_idle_us $(((t1 - t0) / 1000))
assert_field vx window "0-$win" "after hold"
assert_field vx held 0 "after hold"

step "IO to the window waits, IO outside it does not"
bg_read 0 r1.bin
rpid=$!
dd if=q.bin of=/dev/mapper/vx bs=64k oflag=direct seek=8 status=none &
wpid=$!
wait_held vx 2 "read and write of the held window queued"
assert_blocked "$rpid" 1 "read of the held window"
kill -0 "$wpid" 2> /dev/null || fail "write to the held window finished while held"
assert_field vx held 2 "two bios waiting"
timeout 10 dd if=/dev/mapper/vx of=o.bin bs=64k iflag=direct,skip_bytes \
	skip=4194304 count=1 status=none || fail "read outside the window did not complete"
p_at 4194304 65536 | cmp -s - o.bin || fail "read outside the window: wrong data"
dd if=q.bin of=/dev/mapper/vx bs=64k oflag=direct,seek_bytes seek=6291456 \
	status=none || fail "write outside the window did not complete"
# An empty flush never waits on the window (held writes are not complete).
timeout 10 dd if=/dev/null of=/dev/mapper/vx conv=fsync status=none ||
	fail "a flush waited on the held window"

step "refused and idempotent messages while held"
dm_msg vx hold 0 "$win" || fail "repeated hold of the same window refused"
for m in "hold $win $((2 * win))" "hold 0 $((2 * win))" "advance $((2 * win))" \
	"advance 0" "hold 0" "advance" "release now" "hold 0 0$win"; do
	dm_msg vx $m && fail "accepted while held: $m"
done
assert_field vx window "0-$win" "after refused messages"
assert_field vx boundary 0 "after refused messages"
assert_field vx held 2 "after refused messages"

step "a flushing suspend waits for the window (2 s timeout)"
timeout 2 dmsetup suspend vx && fail "suspend completed with bios held"
dmsetup info vx | grep -q 'State: *ACTIVE' || fail "not active after the interrupted suspend"
assert_field vx held 2 "after the interrupted suspend"

step "convert the window by hand and advance"
convert_by_hand 0 "$win"
dm_msg vx advance "$win" || fail "advance $win refused"
wait_done "$rpid" 10 "held read"
wait_done "$wpid" 10 "held write"
p_at 0 65536 | cmp -s - r1.bin || fail "held read returned wrong data"
assert_dev_has /dev/mapper/vx q.bin 524288 "held write, through vxts"
assert_dev_has /dev/mapper/dc q.bin 524288 "held write, new form (dm-crypt)"
assert_dev_lacks /dev/ram0 q.bin 524288 "held write, not plaintext on ram0"
assert_dev_has /dev/ram0 q.bin 6291456 "write above the boundary, plaintext"
assert_field vx boundary "$win" "after advance"
assert_field vx window - "after advance"
assert_field vx held 0 "after advance"
[ "$(dm_field vx held_total)" -ge 2 ] || fail "held_total below 2"
wmax=$(dm_field vx wait_max_us)
hmax=$(dm_field vx hold_max_us)
info held_wait_max_us "$wmax"
info hold_max_us "$hmax"
[ "$wmax" -ge 1000000 ] || fail "wait_max_us $wmax: the held bios waited over 1 s"
[ "$hmax" -ge "$wmax" ] || fail "hold_max_us $hmax below wait_max_us $wmax"
dmsetup table vx | grep -q "convert:encrypt:$win" || fail "table: $(dmsetup table vx)"

step "release: held IO is served in the old form"
dm_msg vx hold "$win" $((2 * win)) || fail "hold $win $((2 * win)) refused"
bg_read 1572864 r2.bin
rpid=$!
wait_held vx 1 "read of the second window queued"
assert_blocked "$rpid" 1 "read of the second window"
dm_msg vx release || fail "release refused"
wait_done "$rpid" 10 "read after release"
p_at 1572864 65536 | cmp -s - r2.bin || fail "read after release: wrong data"
assert_field vx boundary "$win" "after release"
assert_field vx window - "after release"
dm_msg vx release && fail "release without a window accepted"
dm_msg vx advance $((2 * win)) && fail "advance without a window accepted"

step "a noflush suspend does not wait for the window"
dm_msg vx hold "$win" $((2 * win)) || fail "hold refused"
bg_read 1048576 r3.bin
rpid=$!
wait_held vx 1 "read of the held window queued"
assert_blocked "$rpid" 1 "read of the held window"
timeout 10 dmsetup suspend --noflush vx || fail "noflush suspend waited for the window"
dmsetup resume vx || fail "resume after noflush suspend"
wait_held vx 1 "read requeued by the noflush suspend"
assert_blocked "$rpid" 1 "read requeued by the noflush suspend"
assert_field vx held 1 "the requeued read waits again"
convert_by_hand "$win" $((2 * win))
dm_msg vx advance $((2 * win)) || fail "advance after noflush suspend"
wait_done "$rpid" 10 "read after advance"
p_at 1048576 65536 | cmp -s - r3.bin || fail "requeued read returned wrong data"

step "discards: one touching the window waits whole, others pass"
if [ "$(cat "$(dm_queue vx)/discard_max_bytes")" -gt 0 ]; then
	dm_msg vx hold $((2 * win)) $((3 * win)) || fail "hold refused"
	# blkdiscard opens O_EXCL, so the one outside the window goes first.
	timeout 10 blkdiscard -o 7340032 -l 65536 /dev/mapper/vx ||
		fail "a discard outside the window did not complete"
	# 64 KiB each side of the window's lower edge (fio rewrites it all later).
	blkdiscard -o $((2 * win * 512 - 65536)) -l 131072 /dev/mapper/vx &
	dpid=$!
	wait_held vx 1 "discard touching the held window queued"
	assert_blocked "$dpid" 1 "discard touching the held window"
	assert_field vx held 1 "the discard waits whole"
	dm_msg vx release || fail "release refused"
	wait_done "$dpid" 10 "discard after release"
else
	echo "   (no discard support below: skipped)"
fi

step "hold latency while fio verifies and the rest is converted window by window"
cat > j.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=libaio
iodepth=8
size=$((len * 512))
bssplit=4k/70:64k/30
rw=randwrite
verify=crc32c
verify_fatal=1
rate=1m
[busy]
JOB
fio --output=j.fio.out j.fio &
fpid=$!
sleep 1
lo=$((2 * win))
max=0
sum=0
n=0
while [ "$lo" -lt "$len" ]; do
	hi=$((lo + win))
	t0=$(now_ns)
	dm_msg vx hold "$lo" "$hi" || fail "hold $lo $hi refused under IO"
	t1=$(now_ns)
	us=$(((t1 - t0) / 1000))
	[ "$us" -gt "$max" ] && max=$us
	sum=$((sum + us))
	n=$((n + 1))
	convert_by_hand "$lo" "$hi"
	dm_msg vx advance "$hi" || fail "advance $hi refused under IO"
	[ "$n" -gt 1 ] || kill -0 "$fpid" 2> /dev/null ||
		fail "fio finished before the first window was converted: nothing overlapped"
	lo=$hi
	sleep 0.3
done
wait "$fpid"
r=$?
grep -E 'err=|WRITE:|READ:' j.fio.out | sed 's/^/   fio: /'
[ "$r" -eq 0 ] || { tail -n 20 j.fio.out; fail "fio verify failed during conversion"; }
info hold_busy_max_us "$max"
info hold_busy_avg_us $((sum / n))
info held_total "$(dm_field vx held_total)"
info held_wait_max_us_busy "$(dm_field vx wait_max_us)"
# The kernel's own view of hold latency: window set -> drained.
info hold_drain_max_us "$(dm_field vx drain_max_us)"
[ -n "$(dm_field vx drain_max_us)" ] || fail "no drain_max_us field"
assert_field vx boundary "$len" "fully converted"
dm_down vx
step "dm-crypt verifies the finished device"
sed -i "s|^filename=.*|filename=/dev/mapper/dc|; s/^rate=.*//" j.fio
run_fio j.fio --verify_only
dm_down dc
assert_no_held_at_dtr
exit 0
