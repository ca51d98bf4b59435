#!/bin/sh
# Polled IO through vxts. dm offers polling when the device below can poll;
# our clones must then not be sent polled (dm polls only its own clone, so
# a polled clone would sit on the poll queue until the NVMe timeout, ~30 s
# per IO). fio io_uring --hipri writes with crc32c verify on vxts over an
# NVMe namespace with a poll queue; a hang shows as a slow run or as nvme
# "timeout ... completion polled" lines in the kernel log.
# Needs QEMU's -device nvme and nvme.poll_queues=1 on the kernel command
# line: without them this is a SKIP, not a PASS.
. /vxts/guest-lib.sh
need_vxts

[ -e /sys/class/nvme ] || modprobe nvme 2>/dev/null
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 10 ]; do
	sleep 1
	i=$((i + 1))
done
[ -b /dev/nvme0n1 ] || skip "no NVMe namespace (QEMU started without -device nvme)"
[ "$(cat /sys/block/nvme0n1/queue/io_poll)" = 1 ] ||
	skip "nvme0n1 has no poll queue (boot with nvme.poll_queues=1)"

key_new key
hex=$(key_hex key)
len=$(ram_sectors /dev/nvme0n1)
[ "$len" -gt 65536 ] && len=65536
tbl "$VX" "$hex" 0 /dev/nvme0n1 0 "$len" sector_size:4096 > vx.tbl
tbl crypt "$hex" 0 /dev/nvme0n1 0 "$len" sector_size:4096 > dc.tbl
dm_up vx vx.tbl
[ "$(cat "$(dm_queue vx)/io_poll")" = 1 ] ||
	fail "dm does not offer polling over a polling NVMe device: nothing tested"

cat > p.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=io_uring
hipri=1
iodepth=4
numjobs=2
size=4m
offset_increment=8m
rw=randwrite
bssplit=4k/50:64k/30:256k/20
verify=crc32c
verify_fatal=1
group_reporting=1
[polled]
JOB
klog_mark nvme-poll
t0=$(date +%s)
# Bounded, so a hang fails this scenario instead of the whole VM boot.
timeout -s KILL 120 /usr/bin/fio --eta=never --output=p.fio.out p.fio
r=$?
t=$(( $(date +%s) - t0 ))
info nvme-poll-seconds "$t"
grep -E 'err=|WRITE:|READ:' p.fio.out | sed 's/^/   fio: /'
klog_since nvme-poll | grep -i 'nvme.*timeout' | head -n 3 > to.log
[ -s to.log ] && fail "polled IO waited for the NVMe timeout: $(tr '\n' ' ' < to.log)"
[ "$r" -eq 0 ] || fail "fio --hipri exited $r after $t s"
[ "$t" -lt 60 ] || fail "polled writes took $t s (a hang until timeout?)"
grep -q 'err= *[1-9]' p.fio.out && fail "fio --hipri reported errors"
grep -q 'WRITE:.*io=[1-9]' p.fio.out || fail "fio wrote nothing"
dm_down vx
dm_up vx dc.tbl
sed -i '/^hipri=1$/d' p.fio
run_fio p.fio --verify_only
dm_down vx
exit 0
