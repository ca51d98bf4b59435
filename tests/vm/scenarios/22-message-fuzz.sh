#!/bin/sh
# Message fuzzing (docs/ONLINE.md): random and malformed messages (garbage,
# huge and non-canonical numbers, wrong order, holds off the boundary,
# advance without a hold, ...) while fio writes and verifies through the
# mapping. Every bad message must be refused and change nothing; valid
# hold/release pairs are mixed in (release never moves data, so fio's data
# stays in the form the kernel serves it in). Then a hold waiter killed while
# in-flight IO drains (dm-delay underneath): the window stays held, advance is
# refused until it drained, a new hold of the same window waits and succeeds.
# The runner fails the scenario on any kernel warning.
. /vxts/guest-lib.sh
need_vxts
[ "$VX" = vxts ] || skip "messages are a vxts-only feature"

len=16384			# 8 MiB
b=8192				# boundary
key_new k
hex=$(key_hex k)
dev_zero /dev/ram0
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 convert:encrypt:$b > vx.tbl
dm_up vx vx.tbl

state() { # fields 9-12 of the status: direction, boundary, window, held
	dmsetup status vx | cut -d' ' -f12-14
}

rand_word() { # 1..12 random characters from a hostile alphabet
	tr -dc 'a-z0-9:_.+-' < /dev/urandom 2> /dev/null | head -c $((1 + RANDOM % 12))
}

rand_num() { # a random number, often near an edge, sometimes huge
	case $((RANDOM % 8)) in
	0) echo 18446744073709551616 ;;
	1) echo 18446744073709551615 ;;
	2) echo "0$((RANDOM % 9 + 1))" ;;
	3) echo $((b + RANDOM % 64)) ;;
	4) echo $((len + 8 * (RANDOM % 4 + 1))) ;;
	5) echo "-$RANDOM" ;;
	6) echo $((RANDOM * 8)) ;;
	*) echo $((b + 8 * RANDOM)) ;;
	esac
}

# A message that must be refused in the current state (window held or not,
# passed as <held hi> or "-"). Never the exact valid forms.
bad_msg() { # <held hi|->
	local h=$1 n
	case $((RANDOM % 14)) in
	0) rand_word ;;
	1) echo "hold $(rand_word) $(rand_word)" ;;
	2) echo "hold $((b + 8)) $((b + 2048))" ;;		# not at the boundary
	3) echo "hold $b $b" ;;					# empty
	4) echo "hold $b $((b + 4))" ;;				# not unit aligned
	5) echo "hold $b $((len + 8))" ;;			# beyond len
	6) echo "hold $b $((b + 2097160))" ;;			# over 1 GiB
	7) echo "hold $b" ;;
	8) echo "hold $b $((b + 2048)) $((b + 4096))" ;;
	9) echo "release $(rand_word)" ;;
	10) echo "HOLD $b $((b + 2048))" ;;
	11) n=$(rand_num)
	    [ "$h" != - ] && [ "$n" = "$h" ] && n=$((n + 8))
	    echo "advance $n" ;;
	12) n=$(rand_num)
	    [ "$n" = "$b" ] && n=$((b + 8))
	    echo "hold $n $(rand_num)" ;;
	*) echo "advance $((b + 2048)) x" ;;
	esac
}

cat > j.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=libaio
iodepth=16
size=$((len * 512))
bssplit=4k/60:32k/30:256k/10
rw=randwrite
verify=crc32c
verify_fatal=1
rate=256k
[fuzz]
JOB

step "fuzzing messages while fio verifies"
fio --output=j.fio.out j.fio &
fpid=$!
sent=0
holds=0
held=-
overlap=0
while [ "$sent" -lt 60 ]; do
	# The first 20 messages must reach the kernel while fio runs.
	[ "$sent" = 20 ] && kill -0 "$fpid" 2> /dev/null && overlap=1
	before=$(state)
	m=$(bad_msg "$held")
	# Words as dmsetup would split them; an empty message is bad too.
	dm_msg vx $m && fail "accepted: '$m' (state $before)"
	[ "$(state)" = "$before" ] || fail "'$m' changed the state: $before -> $(state)"
	sent=$((sent + 1))
	# Every 10 messages: toggle a valid hold of the next window.
	if [ $((sent % 10)) = 0 ]; then
		if [ "$held" = - ]; then
			dm_msg vx hold "$b" $((b + 2048)) || fail "valid hold refused"
			held=$((b + 2048))
			holds=$((holds + 1))
		else
			dm_msg vx hold "$b" "$held" || fail "idempotent hold refused"
			dm_msg vx release || fail "valid release refused"
			held=-
		fi
	fi
done
[ "$held" = - ] || dm_msg vx release || fail "final release refused"
wait "$fpid"
r=$?
grep -E 'err=|WRITE:|READ:' j.fio.out | sed 's/^/   fio: /'
echo "messages sent: $sent, hold/release pairs: $holds"
[ "$r" -eq 0 ] || { tail -n 20 j.fio.out; fail "fio verify failed under message fuzzing"; }
[ "$overlap" = 1 ] || fail "fio finished before 20 messages were sent"
[ "$holds" -ge 3 ] || fail "only $holds valid holds happened"
assert_field vx boundary "$b" "after fuzzing"
assert_field vx window - "after fuzzing"
run_fio j.fio --verify_only
dm_down vx

step "messages to a target without convert: are refused"
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > plain.tbl
dm_up vx plain.tbl
for m in "hold 0 8" "release" "advance 8"; do
	dm_msg vx $m && fail "plain target accepted '$m'"
done
dm_down vx

step "a killed hold waiter (dm-delay: in-flight IO takes 2 s)"
echo "0 $len delay /dev/ram0 0 2000" > dly.tbl
dmsetup create dly < dly.tbl || fail "cannot create dm-delay"
assert_blk /dev/mapper/dly
tbl "$VX" "$hex" 0 /dev/mapper/dly 0 "$len" sector_size:4096 convert:encrypt:$b > vx.tbl
dm_up vx vx.tbl
dd if=/dev/mapper/vx of=/dev/null bs=4k iflag=direct,skip_bytes skip=$((b * 512)) \
	count=1 status=none &
rpid=$!
# until dm-delay holds the read (status: reads queued), not a guessed 0.5 s
i=0
while [ "$(dmsetup status dly | cut -d' ' -f4)" -lt 1 ] 2> /dev/null; do
	i=$((i + 1))
	[ "$i" -le 300 ] || fail "the read never reached dm-delay: $(dmsetup status dly)"
	sleep 0.05
done
dmsetup message vx 0 hold "$b" $((b + 2048)) &
hpid=$!
assert_blocked "$hpid" 0.5 "hold with IO in flight in the window"
assert_field vx window "$b-$((b + 2048))" "while draining"
dm_msg vx advance $((b + 2048)) && fail "advance accepted before the window drained"
kill -9 "$hpid"
wait "$hpid" 2> /dev/null
assert_field vx window "$b-$((b + 2048))" "after the waiter was killed"
dm_msg vx advance $((b + 2048)) && fail "advance accepted after a killed hold, still draining"
wait_done "$rpid" 10 "in-flight read"
dd if=/dev/mapper/vx of=/dev/null bs=4k iflag=direct,skip_bytes \
	skip=$((b * 512 + 65536)) count=1 status=none &
rpid=$!
assert_blocked "$rpid" 1 "new read of the window after the killed hold"
dm_msg vx hold "$b" $((b + 2048)) || fail "hold again after the killed waiter"
dm_msg vx release || fail "release after the killed waiter"
wait_done "$rpid" 10 "held read after release"
assert_field vx held 0 "after release"
dm_down vx
dm_down dly
assert_no_held_at_dtr
exit 0
