#!/bin/sh
# The guest half of `make demo` (run by tests/vm/init as a scenario).
# /vxts/demo holds the encrypted disk image, the 64-byte volume key and the
# plaintext manifest (sha256 of every file) taken before encryption.
. /vxts/guest-lib.sh

demo=/vxts/demo
# On failure, unmount before the harness tears the mappings down.
trap 'umount /mnt/demo 2>/dev/null' EXIT
modprobe ext4 || fail "modprobe ext4"

step "attach the encrypted disk (a loop device stands in for /dev/sdc)"
disk=$(losetup -f --show "$demo/disk.img") || fail "losetup"
assert_blk "$disk"
sectors=$(blockdev --getsz "$disk")

step "load the volume key into the kernel keyring (logon key: not readable back)"
keyctl padd logon vxts:demo @u < "$demo/dek.bin" > /dev/null || fail "keyctl padd"

step "dmsetup create demo (table names the key, never contains it)"
echo "0 $sectors vxts aes-xts-plain64 :64:logon:vxts:demo 0 $disk 0 1 sector_size:4096" |
	dmsetup create demo || fail "dmsetup create"
assert_blk /dev/mapper/demo
echo "   table:  $(dmsetup table demo)"
echo "   status: $(dmsetup status demo)"

step "mount it and check every file against the pre-encryption manifest"
mkdir -p /mnt/demo
mount -t ext4 /dev/mapper/demo /mnt/demo || fail "mount"
(cd /mnt/demo && sha256sum -c --status "$demo/manifest") || fail "files differ after encryption"
echo "   $(wc -l < "$demo/manifest") files intact"

step "workload: fio random read/write with crc32c verify, while the files are re-read"
(cd /mnt/demo && sha256sum -c --status "$demo/manifest") &
reader=$!
fio --name=app --directory=/mnt/demo --rw=randrw --bs=4k --size=12M --numjobs=2 \
	--iodepth=16 --ioengine=io_uring --direct=1 --verify=crc32c --verify_fatal=1 \
	--group_reporting --output-format=terse --terse-version=3 > /tmp/fio.out ||
	fail "fio verify failed"
wait "$reader" || fail "files changed under the workload"
awk -F';' '{printf "   fio: read %d KiB/s, write %d KiB/s, verified\n", $7, $48}' /tmp/fio.out
sync
umount /mnt/demo || fail "umount"
e2fsck -fn /dev/mapper/demo > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "fsck found errors"; }
echo "   e2fsck: clean"
dmsetup remove demo || fail "dmsetup remove"

step "escape hatch: stock cryptsetup (dm-crypt, plain mode) opens the same disk"
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
	--key-file "$demo/dek.bin" --readonly "$disk" stock || fail "cryptsetup open"
assert_blk /dev/mapper/stock
mount -t ext4 -o ro /dev/mapper/stock /mnt/demo || fail "mount through dm-crypt"
(cd /mnt/demo && sha256sum -c --status "$demo/manifest") || fail "dm-crypt sees different files"
echo "   dm-crypt reads the same $(wc -l < "$demo/manifest") files, plus fio's: $(ls /mnt/demo | grep -c '^app\.')"
umount /mnt/demo
cryptsetup close stock
losetup -d "$disk"
