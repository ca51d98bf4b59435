#!/bin/sh
# The online campaigns' own tools, checked without the converter: vxwriter
# on plain vxts over dm-log-writes, replayed by lwreplay to random marks:
# every write synced before the mark is there, and the checker notices a
# claim beyond the cut and a damaged block (so it can fail).
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
MIB=8
BLOCKS=$((MIB * 256))

step "vxwriter on vxts over log-writes, a mark after every sync (16 writes)"
truncate -s ${MIB}M disk.img
head -c $((MIB << 20)) /dev/urandom > init.img
truncate -s 96M log.img
disk=$(losetup -f --show disk.img) && assert_blk "$disk"
logd=$(losetup -f --show log.img) && assert_blk "$logd"
# init.img is what the application sees at the start: written through vxts
# before logging begins (the replays start from this image, base.img)
tbl "$VX" "$hex" 0 "$disk" 0 $((MIB * 2048)) sector_size:4096 > vx.tbl
dm_up pre vx.tbl
dev_write /dev/mapper/pre init.img
dm_down pre
cp disk.img base.img
dd if=/dev/zero of="$logd" bs=4096 count=1 conv=fsync status=none
lw_up lw "$disk" "$logd"
tbl "$VX" "$hex" 0 /dev/mapper/lw 0 $((MIB * 2048)) sector_size:4096 > vx.tbl
dm_up vx vx.tbl
dmsetup message lw 0 mark start || fail "log-writes mark"
vxwriter write /dev/mapper/vx w.log -b "$BLOCKS" -S 11 -n 500 -k 16 -r 20 -i init.img \
	-m 'dmsetup message lw 0 mark s%d' || fail "vxwriter write on vxts"
dm_down vx
dm_down lw
lwreplay "$logd" list > list.txt || fail "lwreplay list"
n=$(sed -n 's/^entries //p' list.txt)
marks=$(grep -c ' M s' list.txt)
echo "   log: $n entries, $(grep -c ' F' list.txt) flushes, $marks sync marks"
[ "$marks" -ge 25 ] || fail "only $marks sync marks logged"

cut_check() { # <entries>
	local s
	cp base.img rep.img
	rep=$(losetup -f --show rep.img) && assert_blk "$rep"
	lwreplay "$logd" replay "$rep" "$1" > /dev/null || fail "lwreplay replay $1"
	s=$(lw_last_sync list.txt "$1")
	tbl "$VX" "$hex" 0 "$rep" 0 $((MIB * 2048)) sector_size:4096 > rep.tbl
	dm_up rep rep.tbl
	vxwriter check /dev/mapper/rep w.log -b "$BLOCKS" -S 11 -i init.img -s "$s" ||
		fail "cut at entry $1 (last sync mark s$s): synced data lost"
	LAST_S=$s
}

step "replay to random points; the synced writes are there"
for i in 1 2; do
	cut=$(( (RANDOM * 32768 + RANDOM) % n + 1 ))
	cut_check "$cut"
	if [ "$i" -eq 1 ]; then
		# negative controls: the same image judged as final (all writes
		# synced) must fail unless the cut kept everything; a damaged
		# block must fail
		if [ "$cut" -lt $((n - 10)) ] &&
			vxwriter check /dev/mapper/rep w.log -b "$BLOCKS" -S 11 -i init.img -f > /dev/null 2>&1; then
			fail "checker accepted a cut at $cut of $n as the final state"
		fi
		dd if=/dev/urandom of=/dev/mapper/rep bs=4096 seek=7 count=1 oflag=direct status=none
		vxwriter check /dev/mapper/rep w.log -b "$BLOCKS" -S 11 -i init.img -s "$LAST_S" \
			> /dev/null 2>&1 && fail "checker missed a damaged block"
	fi
	dm_down rep
	losetup -d "$rep"
done
cut_check "$n"
vxwriter check /dev/mapper/rep w.log -b "$BLOCKS" -S 11 -i init.img -f ||
	fail "the whole log replayed is not the final state"
dm_down rep
losetup -d "$rep"

losetup -d "$disk" "$logd" 2> /dev/null
exit 0
