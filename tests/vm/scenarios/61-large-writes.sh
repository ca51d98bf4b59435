#!/bin/sh
# Concurrent large writes (2 MiB, three jobs, depth 6) with reads racing
# them, on a device that holds every write 5 s (dm-delay: far longer
# than encrypting it takes, so clones pile up in flight) and in a
# guest whose free memory is pinned in tmpfs. fio's writes reach the target
# as bios of up to 1 MiB (256 bounce pages each), and far more are wanted
# in flight than memory allows: bounce allocations that may not sleep fail,
# writers fall back to the reserve pool one at a time and wait there, while
# reads take their clones from the same bio_set.
# Must: no write fails, nothing deadlocks (the VM timeout), `dmsetup status`
# counts bounce waits (else the path went untested: SKIP), fio's crc32c
# verify passes, and dm-crypt verifies the written blocks afterwards.
. /vxts/guest-lib.sh
need_vxts

# Writes held 5 s by dm-delay (reloaded after the fill; reads pass at
# once) on a RAM disk.
dev_zero /dev/ram2
len=$(ram_sectors /dev/ram2)
echo "0 $len delay /dev/ram2 0 0" > dl.tbl
dm_up vxdl dl.tbl
key_new key
hex=$(key_hex key)
tbl "$VX" "$hex" 0 /dev/mapper/vxdl 0 "$len" sector_size:4096 > vx.tbl
tbl crypt "$hex" 0 /dev/mapper/vxdl 0 "$len" sector_size:4096 > dc.tbl
dm_up vx vx.tbl
dd if=/dev/urandom of=/dev/mapper/vx bs=1M count=$((len / 2048)) oflag=direct status=none ||
	fail "cannot fill the device"
read_sum=$(dev_sum /dev/mapper/vx 16777216 50331648)
echo "0 $len delay /dev/ram2 0 0 /dev/ram2 0 5000" > dl.tbl
dmsetup reload vxdl < dl.tbl && dmsetup suspend vxdl && dmsetup resume vxdl ||
	fail "cannot slow down writes"

avail() { sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
# fio's buffers: 3 writers x iodepth 6 x 2 MiB + a small reader, ~37 MiB.
# What is left above them (~35 MiB) is about the 36 MiB of bounce pages the
# writers want in flight. Less (56 MiB kept) handed fio itself to the OOM
# killer once the initramfs grew (its trace fails the kernel-log check).
keep=$((72 * 1024))
mkdir -p /mnt/lw
mount -t tmpfs -o size=95% tmpfs /mnt/lw || fail "no tmpfs for the squeeze"
n=0
while [ "$(avail)" -gt $((keep + 65536)) ]; do
	head -c 67108864 /dev/zero > "/mnt/lw/b$n" 2>/dev/null || break
	n=$((n + 1))
done
while [ "$(avail)" -gt "$keep" ]; do
	head -c 2097152 /dev/zero > "/mnt/lw/s$n" 2>/dev/null || break
	n=$((n + 1))
done
echo "MemAvailable squeezed to $(avail) kB"

cat > lw.fio <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=libaio
group_reporting=0
[writers]
numjobs=3
iodepth=6
size=16m
offset_increment=16m
rw=randwrite
bs=2m
verify=crc32c
verify_fatal=1
[reader]
iodepth=4
offset=48m
size=16m
rw=randread
bssplit=4k/50:64k/50
time_based=1
runtime=20
JOB
fio --output=lw.fio.out lw.fio
r=$?
st=$(dmsetup status vx)
rm -rf /mnt/lw/*
umount /mnt/lw
grep -E 'err=|WRITE:|READ:' lw.fio.out | sed 's/^/   fio: /'
echo "MemAvailable after: $(avail) kB; status: $st"
[ "$r" -eq 0 ] || { tail -n 20 lw.fio.out; fail "fio failed under memory pressure (exit $r)"; }
grep -q 'err= *[1-9]' lw.fio.out && fail "fio reported errors"
[ "$(dev_sum /dev/mapper/vx 16777216 50331648)" = "$read_sum" ] ||
	fail "the region only read changed"
dm_down vx
dm_up vx dc.tbl
sed -i '/^\[reader\]/,$d' lw.fio
run_fio lw.fio --verify_only
dm_down vx
dm_down vxdl
if [ "$VX" = vxts ]; then
	info large-writes-bounce-waits "$(echo "$st" | cut -d' ' -f10)"
	[ "$(echo "$st" | cut -d' ' -f11)" -eq 0 ] || fail "bios refused: $st"
	[ "$(echo "$st" | cut -d' ' -f10)" -gt 0 ] ||
		skip "no bounce-pool wait happened: the reserve path went untested (writes, reads and verify passed)"
fi
exit 0
