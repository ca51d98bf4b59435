#!/bin/sh
# SIGKILL the online converter at >= 50 random moments while an application
# (vxwriter: random 4 KiB O_DIRECT writes, fdatasync every 16, read-back
# verification of every block it touches) keeps using the mapping. After
# each kill `vxts status NAME` must describe the state (a window held by a
# dead converter included) and `vxts resume NAME` must continue. Once, with
# a window held and no converter, a read of that window must wait (not fail)
# until resume. The delay before a kill adapts to the speed of this guest so
# the kills spread over each pass; passes alternate encrypt and decrypt, and
# the pass in which the last kill lands runs to its end. Then every write
# the application made is there, through the mapping and, on the disk,
# through stock dm-crypt with the volume key (or raw after a decrypt), and
# the application never saw an IO error or a wrong byte.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

KILLS=${VXTS_KILLS:-50}
MIB=32
BLOCKS=$((MIB * 256))
SECT=$((MIB * 2048))
SEED=$$
HDR="--header hdr"

step "a $MIB MiB disk of random plaintext, detached header"
head -c $((MIB << 20)) /dev/urandom > init.img
cp init.img disk.img
disk=$(losetup -f --show disk.img) && assert_blk "$disk"

# Kill bookkeeping
kills=0; held_kills=0; runs=0; passes=0; moved=0; waited=0
d=400			# delay scale in ms, adapts
last=0
verb=encrypt

# One converter run in the background: the first of a pass is the verb
# itself, every later one is `vxts resume NAME`.
conv_start() { # <first: 1|0>
	runs=$((runs + 1))
	if [ "$1" = 1 ]; then
		online_bg conv "$verb" k0 "$disk" $HDR $([ "$verb" = encrypt ] && echo --force)
	else
		vxts resume k0 $HDR --key-file "$ONLINE_KEK" --no-progress \
			< /dev/null > conv.out 2> conv.err &
		ONLINE_PID=$!
	fi
	CONV=$ONLINE_PID
}

# A read of the held window must wait, not fail, and finish after resume.
held_read_check() { # <lo sector>
	local lo=$1 rpid i rc
	dd if=/dev/mapper/k0 of=held.bin bs=4096 skip=$((lo / 8)) count=4 iflag=direct \
		status=none &
	rpid=$!
	# until the read is queued on the window (held >= 1; a slow guest takes
	# its time to get dd's bio there), then it must still wait 1 s later
	i=0
	until [ "$(dm_field k0 held)" -ge 1 ] 2> /dev/null; do
		kill -0 "$rpid" 2> /dev/null || { wait "$rpid"; fail "a read of the held window returned (exit $?) with no converter running: it must wait"; }
		i=$((i + 1))
		[ "$i" -le 300 ] || fail "a read of the held window runs 30 s but status shows held:$(dm_field k0 held)"
		sleep 0.1
	done
	sleep 1
	kill -0 "$rpid" 2> /dev/null || { wait "$rpid"; fail "a read of the held window returned (exit $?) with no converter running: it must wait"; }
	[ "$(dm_field k0 held)" -ge 1 ] 2> /dev/null ||
		fail "a read waits but status shows held:$(dm_field k0 held)"
	vxts status k0 $HDR > st.txt 2>&1 || fail "vxts status with a held window: exit $?"
	grep -q 'window.*held.*no converter.*vxts resume' st.txt ||
		{ cat st.txt; fail "vxts status does not say: window held, no converter, vxts resume"; }
	conv_start 0
	for i in $(seq 100); do
		kill -0 "$rpid" 2> /dev/null || break
		sleep 0.1
	done
	kill -0 "$rpid" 2> /dev/null && fail "the held read still waits 10 s after vxts resume"
	wait "$rpid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "the held read failed (dd exit $rc) after resume"
	[ "$(stat -c %s held.bin)" -eq 16384 ] || fail "the held read returned $(stat -c %s held.bin) bytes"
	waited=1
	echo "   a read of the held window [$lo..) waited and completed after resume"
}

step "online $verb with vxwriter running; SIGKILL at random moments"
conv_start 1
wait_node k0 || { cat conv.err; fail "no /dev/mapper/k0 after 30 s"; }
vxwriter write /dev/mapper/k0 w.log -b "$BLOCKS" -S "$SEED" -k 16 -r 30 -i init.img -x w.stop \
	> w.out 2>&1 &
WPID=$!
t0=$(now_ms)
while [ "$passes" -lt 8 ]; do
	delay=$((d / 2 + RANDOM % (d + 1)))
	sleep_ms "$delay"
	kill -0 "$WPID" 2> /dev/null || { cat w.out; fail "vxwriter died (application IO error or wrong data)"; }
	if kill -0 "$CONV" 2> /dev/null; then
		kill -KILL "$CONV" 2> /dev/null
	fi
	wait "$CONV" 2> /dev/null	# no "Killed" line per kill
	rc=$?
	if [ "$rc" -eq 0 ]; then
		# the pass finished before the kill landed
		passes=$((passes + 1))
		d=$((d * 3 / 4 + 1))
		want=vxts
		[ "$verb" = decrypt ] && want=linear
		[ "$(dm_target_of k0)" = "$want" ] && [ -z "$(dm_field k0 convert)" ] ||
			fail "$verb pass done but k0 is: $(dmsetup table k0 | sed 's/[0-9a-f]\{64,\}/<key>/')"
		echo "   pass $passes ($verb) complete after $kills kills in total"
		[ "$kills" -ge "$KILLS" ] && break
		[ "$verb" = encrypt ] && verb=decrypt || verb=encrypt
		last=0
		conv_start 1
		continue
	fi
	[ "$rc" -eq 137 ] || { cat conv.err; fail "run $runs of $verb exited $rc, not by the kill"; }
	kills=$((kills + 1))
	# enough kills: from now on the converter may finish (no more kills)
	vxts status k0 $HDR > st.txt 2>&1 || { cat st.txt; fail "vxts status after kill $kills: exit $?"; }
	win=$(dm_field k0 window)
	b=$(dm_boundary k0)
	[ -n "$b" ] || fail "k0 is not mapped after kill $kills"
	if [ -n "$win" ] && [ "$win" != - ]; then
		held_kills=$((held_kills + 1))
		grep -q 'no converter.*vxts resume' st.txt ||
			{ cat st.txt; fail "kill $kills left window $win held; vxts status does not say: no converter, vxts resume"; }
		[ "$waited" = 0 ] && held_read_check "${win%-*}" && continue
	elif [ "$waited" = 0 ] && [ "$kills" -ge $((KILLS / 2)) ] && [ "$b" -lt $((SECT - 64)) ]; then
		# No kill has caught a window held yet: leave one held the way a
		# converter killed right after step 1 (hold) would.
		dmsetup message k0 0 hold "$b" $((b + 64)) || fail "hold $b $((b + 64)) refused"
		held_kills=$((held_kills + 1))
		held_read_check "$b"
		continue
	fi
	# adapt: aim at ~28 kills per pass
	step=$((b - last))
	[ "$step" -ne 0 ] && moved=$((moved + 1))
	if [ "$step" -gt $((SECT / 28)) ]; then
		d=$((d * 2 / 3 + 1))
	elif [ "$step" -le $((SECT / 56)) ]; then
		d=$((d + d / 4 + 3))
	fi
	last=$b
	conv_start 0
	if [ "$kills" -ge "$KILLS" ]; then
		wait "$CONV" || { cat conv.err; fail "the last resume of $verb exited $?"; }
		passes=$((passes + 1))
		echo "   pass $passes ($verb) complete after $kills kills in total"
		break
	fi
done
[ "$kills" -ge "$KILLS" ] || fail "only $kills kills landed in $passes passes"
[ "$waited" = 1 ] || fail "the held-window read check never ran"
[ "$moved" -ge $((KILLS / 4)) ] || fail "kills bunched: the boundary moved only $moved times"
echo "   $kills kills ($held_kills with a window held) in $runs runs, $passes passes, $(( ($(now_ms) - t0) / 1000 )) s"

step "stop the application; every write is there"
touch w.stop
wait "$WPID" || { cat w.out; fail "vxwriter reported an IO error or wrong data"; }
cat w.out
vxwriter check /dev/mapper/k0 w.log -b "$BLOCKS" -S "$SEED" -i init.img -f ||
	fail "data lost through the mapping"
final=$(dm_target_of k0)
vxts close k0 > close.out 2>&1 || { cat close.out; fail "vxts close k0: exit $?"; }
[ -e /dev/mapper/k0 ] && fail "k0 still mapped after vxts close"
if [ "$verb" = encrypt ]; then
	[ "$final" = vxts ] || fail "ended an encrypt pass with a $final table"
	vol_key_file vk.bin "$disk" $HDR
	crypt_open dc "$disk" vk.bin
	vxwriter check /dev/mapper/dc w.log -b "$BLOCKS" -S "$SEED" -i init.img -f ||
		fail "dm-crypt does not read the same plaintext"
	cmp -s disk.img init.img && fail "the disk holds the plaintext"
	dm_down dc
else
	[ "$final" = linear ] || fail "ended a decrypt pass with a $final table"
	vxwriter check "$disk" w.log -b "$BLOCKS" -S "$SEED" -i init.img -f ||
		fail "the decrypted disk does not hold the plaintext"
fi
losetup -d "$disk"
info kill-count "$kills"
exit 0
