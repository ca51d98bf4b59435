#!/bin/sh
# Table reload and suspend/resume while fio writes: dmsetup suspend/resume
# and dmsetup load (same table) + resume, in a loop, with fio (crc32c verify)
# running on the device. fio must finish clean, at least three cycles must
# have happened while it ran, and dm-crypt must then verify every block.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=131072
tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > vx.tbl
dm_up vx vx.tbl
cat > j.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=libaio
iodepth=32
numjobs=4
size=8m
offset_increment=16m
rw=randwrite
bssplit=4k/60:32k/30:128k/10
verify=crc32c
verify_fatal=1
rate=2m
group_reporting=1
[reload]
JOB

fio --output=j.fio.out j.fio &
pid=$!
cycles=0
while kill -0 "$pid" 2>/dev/null; do
	dmsetup suspend vx || fail "suspend failed (cycle $cycles)"
	sleep 0.3
	dmsetup resume vx || fail "resume failed (cycle $cycles)"
	dmsetup load vx < vx.tbl || fail "load failed (cycle $cycles)"
	dmsetup resume vx || fail "resume after load failed (cycle $cycles)"
	dmsetup info vx | grep -q 'State: *ACTIVE' || fail "not active after cycle $cycles"
	cycles=$((cycles + 1))
	sleep 0.5
done
wait "$pid"
r=$?
grep -E 'err=|WRITE:|READ:' j.fio.out | sed 's/^/   fio: /'
echo "suspend/resume + reload cycles while fio ran: $cycles"
[ "$r" -eq 0 ] || { tail -n 20 j.fio.out; fail "fio exited $r during reload cycles"; }
[ "$cycles" -ge 3 ] || fail "only $cycles cycles happened while fio ran"
dmsetup table vx | grep -q "$hex" && fail "table shows the key after reload"
dm_down vx

step "dm-crypt verifies what vxts wrote across the reloads"
tbl crypt "$hex" 0 /dev/ram0 0 "$len" sector_size:4096 > dc.tbl
dm_up vx dc.tbl
sed -i 's/^rate=.*//' j.fio
run_fio j.fio --verify_only
dm_down vx
exit 0
