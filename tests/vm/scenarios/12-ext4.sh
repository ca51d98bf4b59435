#!/bin/sh
# A real filesystem on vxts: page cache, buffered writeback, journal commits
# (flush/FUA), metadata. mkfs.ext4, files of many sizes, unmount, a clean
# e2fsck -fn, then dm-crypt on the same device mounts it and every file's
# checksum matches. For 4096- and 512-byte units.
. /vxts/guest-lib.sh
need_vxts
modprobe ext4 || fail "no ext4 module"

key_new key
hex=$(key_hex key)
len=$(ram_sectors /dev/ram0)
mkdir -p /mnt/fs

for unit in 4096 512; do
	step "ext4 on vxts, unit $unit"
	dev_zero /dev/ram0
	tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" sector_size:$unit > vx.tbl
	tbl crypt "$hex" 0 /dev/ram0 0 "$len" sector_size:$unit > dc.tbl
	dm_up vx vx.tbl
	mke2fs -t ext4 -q -F /dev/mapper/vx || fail "mke2fs -t ext4 failed"
	mount -t ext4 /dev/mapper/vx /mnt/fs || fail "mount failed"
	i=0
	for kib in 1 3 4 7 64 300 1024 2048 4100 8000; do
		i=$((i + 1))
		head -c $((kib * 1024)) /dev/urandom > "/mnt/fs/f$i" || fail "write f$i failed"
	done
	mkdir /mnt/fs/d
	for i in $(seq 1 200); do echo "small file $i" > "/mnt/fs/d/s$i"; done
	rm /mnt/fs/f3 /mnt/fs/d/s1*
	(cd /mnt/fs && find . -type f | sort | xargs sha256sum) > sums.txt
	echo "$(wc -l < sums.txt) files, $(du -sk /mnt/fs | cut -f1) KiB"
	umount /mnt/fs || fail "umount failed"
	e2fsck -fn /dev/mapper/vx > fsck.txt 2>&1 || { cat fsck.txt; fail "e2fsck found problems"; }
	dm_down vx

	dm_up dc dc.tbl
	mount -t ext4 -o ro /dev/mapper/dc /mnt/fs || fail "dm-crypt cannot mount what vxts wrote"
	(cd /mnt/fs && sha256sum -c --quiet "$OLDPWD/sums.txt") || fail "file contents differ through dm-crypt"
	umount /mnt/fs
	dm_down dc
done
exit 0
