#!/bin/sh
# Power cut during an online encrypt. The disk (header in its last 16 MiB)
# sits under dm-log-writes, which logs every write in the order it became
# durable; vxwriter writes through the vxts mapping, fdatasyncs every 16
# writes and puts a mark "s<n>" in the log after the n-th sync returned.
# Afterwards several prefixes of the log, at random entries before the
# conversion ended and at random flushes, are replayed onto a copy of the disk as it was before the run:
# each is the disk a power cut at that instant would leave. For each:
# "reboot" (nothing mapped, no kernel state), `vxts open` (recovers the
# interrupted window offline, then maps), then every write the application
# had synced before the cut must read back, every other block must hold the
# initial plaintext or a later write (vxwriter check); then `vxts resume`
# (once; the offline `vxts encrypt` for the other cuts) finishes the
# encrypt, and dm-crypt with the volume key must then read exactly the
# plaintext vxts read right after the cut.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

CUTS=${VXTS_CUTS:-4}
DATA_MIB=16
HDR_MIB=16
BLOCKS=$((DATA_MIB * 256))
SEED=$$

step "disk: $DATA_MIB MiB of random plaintext + $HDR_MIB MiB for the header, under dm-log-writes"
head -c $((DATA_MIB << 20)) /dev/urandom > init.img
cp init.img base.img
truncate -s $(((DATA_MIB + HDR_MIB) << 20)) base.img
cp base.img disk.img
truncate -s 200M log.img
disk=$(losetup -f --show disk.img) && assert_blk "$disk"
logd=$(losetup -f --show log.img) && assert_blk "$logd"
lw_up lw "$disk" "$logd"

step "online encrypt of /dev/mapper/lw with vxwriter running"
online_bg enc encrypt pc /dev/mapper/lw --force
CONV=$ONLINE_PID
wait_node pc || { cat enc.err; fail "no /dev/mapper/pc"; }
[ "$(blockdev --getsize64 /dev/mapper/pc)" -eq $((DATA_MIB << 20)) ] ||
	fail "pc is $(blockdev --getsize64 /dev/mapper/pc) bytes, expected the $DATA_MIB MiB data area"
vxwriter write /dev/mapper/pc w.log -b "$BLOCKS" -S "$SEED" -k 16 -r 10 -i init.img -x w.stop \
	-m 'dmsetup message lw 0 mark s%d' > w.out 2>&1 &
WPID=$!
online_wait enc "$CONV"
# The random-entry cuts are drawn before this mark: drawn over the whole log,
# the writes vxwriter makes after the conversion would take a larger share
# the faster the guest converts, and no cut might land mid-conversion.
dmsetup message lw 0 mark convdone || fail "cannot mark the end of the conversion in the log"
sleep 1
touch w.stop
wait "$WPID" || { cat w.out; fail "vxwriter saw an IO error or wrong data"; }
cat w.out
vxts close pc > close.out 2>&1 || { cat close.out; fail "vxts close pc"; }
[ -e /dev/mapper/pc ] && fail "pc still mapped after vxts close"
dm_down lw
lwreplay "$logd" list > list.txt || fail "lwreplay list"
n=$(sed -n 's/^entries //p' list.txt)
echo "   log: $n entries, $(grep -c ' F$' list.txt) flushes, $(grep -c ' U$' list.txt) FUA, $(grep -c ' M s' list.txt) sync marks"
[ "$(grep -c ' M s' list.txt)" -ge 10 ] || fail "too few sync marks in the log"
ce=$(awk '$2 == "M" && $3 == "convdone" {print $1}' list.txt)
[ -n "$ce" ] && [ "$ce" -gt 0 ] || fail "no convdone mark in the log"
echo "   the conversion ended at entry $ce of $n"
vol_key_file vk.bin "$disk"

cuts=0; opened_converting=0; bytes=0; resumed=0
cut_one() { # <entries>
	local e=$1 s rep rc t0 t1 t2 t3
	t0=$(now_ms)
	cp base.img rep.img
	rep=$(losetup -f --show rep.img) && assert_blk "$rep"
	lwreplay "$logd" replay "$rep" "$e" > /dev/null || fail "lwreplay replay $e"
	s=$(lw_last_sync list.txt "$e")
	t1=$(now_ms)
	vxts open pr "$rep" --key-file "$ONLINE_KEK" > open.out 2> open.err
	rc=$?
	t2=$(now_ms)
	if [ "$rc" -eq 8 ]; then
		# cut before the header existed: the disk is the plaintext
		echo "   cut at $e/$n: no header yet (sync s$s)"
		vxwriter check "$rep" w.log -b "$BLOCKS" -S "$SEED" -i init.img -s "$s" ||
			fail "cut at $e: data lost before the header was written"
		losetup -d "$rep"
		return
	fi
	[ "$rc" -eq 0 ] || { cat open.err; fail "vxts open after a cut at entry $e of $n: exit $rc"; }
	assert_blk /dev/mapper/pr
	grep -q 'in progress' open.out && opened_converting=$((opened_converting + 1))
	echo "   cut at $e/$n (last sync s$s): $(head -n 1 open.out)"
	vxwriter check /dev/mapper/pr w.log -b "$BLOCKS" -S "$SEED" -i init.img -s "$s" ||
		fail "cut at entry $e: synced writes lost or data damaged after vxts open"
	dev_sum /dev/mapper/pr $((DATA_MIB << 20)) > before.sum
	t3=$(now_ms)
	if grep -q 'in progress' open.out && [ "$resumed" = 0 ]; then
		# finish online once (slow under TCG: windows sized for 10 ms holds)
		resumed=1
		vxts resume pr --key-file "$ONLINE_KEK" > res.out 2> res.err ||
			{ cat res.err; fail "vxts resume after the cut at $e: exit $?"; }
		[ "$(dm_target_of pr)" = vxts ] && [ -z "$(dm_field pr convert)" ] ||
			fail "after resume pr is not the plain vxts table"
		[ "$(dev_sum /dev/mapper/pr $((DATA_MIB << 20)))" = "$(cat before.sum)" ] ||
			fail "cut at $e: finishing the conversion online changed the plaintext"
		vxts close pr > /dev/null 2>&1 || fail "vxts close pr"
	else
		# the offline engine finishes what the online one started
		vxts close pr > /dev/null 2>&1 || fail "vxts close pr"
		vxts encrypt "$rep" --key-file "$ONLINE_KEK" --no-progress < /dev/null > res.out 2> res.err ||
			{ cat res.err; fail "offline vxts encrypt after the cut at $e: exit $?"; }
	fi
	crypt_open dcr "$rep" vk.bin --size $((DATA_MIB * 2048))
	[ "$(dev_sum /dev/mapper/dcr $((DATA_MIB << 20)))" = "$(cat before.sum)" ] ||
		fail "cut at $e: after finishing, dm-crypt reads other plaintext than vxts read after the cut"
	dm_down dcr
	losetup -d "$rep"
	echo "   ms: replay $((t1 - t0)), open $((t2 - t1)), check $((t3 - t2)), finish+dm-crypt $(($(now_ms) - t3))"
	cuts=$((cuts + 1))
	bytes=$((bytes + (DATA_MIB << 20)))
}

step "$CUTS power cuts replayed from the log, each opened, checked and finished"
flushes=$(grep ' F$' list.txt | cut -d' ' -f1)
nf=$(echo "$flushes" | wc -l)
for i in $(seq "$CUTS"); do
	if [ $((i % 2)) -eq 0 ] && [ "$nf" -gt 0 ]; then
		# just after a random flush
		e=$(echo "$flushes" | sed -n "$((RANDOM % nf + 1))p")
		e=$((e + 1))
	else
		e=$(( (RANDOM * 32768 + RANDOM) % ce + 1 ))
	fi
	cut_one "$e"
done
[ "$opened_converting" -ge 1 ] || fail "no cut landed mid-conversion: the campaign proved little"
echo "   $cuts cuts, $opened_converting opened mid-conversion, $((bytes >> 20)) MiB verified"
info powercut-count "$cuts"
losetup -d "$disk" "$logd"
exit 0
