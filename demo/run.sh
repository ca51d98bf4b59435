#!/usr/bin/env bash
# make demo: the main job on a built-in default.
#
#  1. Build a demo data disk: a 64 MiB ext4 image (4 KiB blocks: the mapping
#     serves 4096-byte units) holding a few hundred files, and a manifest of
#     their SHA-256.
#  2. Boot Debian's 6.12 kernel in QEMU with the plaintext image and build/vxts
#     in the initramfs. There `vxts encrypt --online demo <disk>` maps
#     /dev/mapper/demo and converts the disk in place while the filesystem,
#     mounted on the mapping, runs a workload (fio write+verify in a loop and
#     re-reads of every file); the converter is SIGKILLed half way and
#     `vxts resume demo` finishes, the workload still running.
#  3. The finished state (status, the key-free table, hold statistics), the
#     files, fio's data and fsck are checked, then stock `cryptsetup open
#     --type plain` (dm-crypt) with the volume key reads the same files.
#
# Exits non-zero on any failure; the guest's narration streams to the
# terminal. A few minutes under TCG.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/vm/initramfs.sh

d=$top/build/demo
vxts=$top/build/vxts
kver=${KVER:-$(ls /lib/modules | grep '^6\.12\.' | sort -V | tail -n 1)}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ -x "$vxts" ] || die "build/vxts missing: run make"
[ -e kmod/dm-vxts.ko ] || die "kmod/dm-vxts.ko missing: run make"
[ -n "$kver" ] && [ -e "/boot/vmlinuz-$kver" ] || die "no 6.12 kernel in /boot: run make setup"

demo_disk() {
	say "1. A data disk with a filesystem and files on it (plaintext)"
	rm -rf "$d" && mkdir -p "$d/files/docs" "$d/files/blobs"
	local i
	for i in $(seq 1 200); do
		seq "$i" 7 $((i * 997)) > "$d/files/docs/report-$i.txt"
	done
	for i in $(seq 1 20); do
		head -c $(( (i % 7 + 1) * 131072 + i * 4096 )) /dev/urandom > "$d/files/blobs/blob-$i.bin"
	done
	mkfs.ext4 -q -F -b 4096 -L vxts-demo -d "$d/files" "$d/disk.img" 64M
	(cd "$d/files" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$d/manifest"
	echo "disk.img: $(du -h --apparent-size "$d/disk.img" | cut -f1), $(wc -l < "$d/manifest") files, $(blkid -o value -s TYPE "$d/disk.img") filesystem"
}

demo_initrd() {
	initrd_modules+=(ext4)
	initrd_tools+=(e2fsck mount umount)
	# build/vxts goes in through initramfs.sh (initrd_vxts_copy)
	initrd_build "$kver" kmod/dm-vxts.ko "$d/base.cpio" demo/guest.sh >/dev/null
	# A second archive appended to the first: the kernel unpacks both.
	mkdir -p "$d/extra/vxts/demo"
	cp "$d/disk.img" "$d/manifest" "$d/extra/vxts/demo/"
	(cd "$d/extra" && find . -mindepth 1 | cpio -o -H newc --quiet) > "$d/extra.cpio"
	cat "$d/base.cpio" "$d/extra.cpio" > "$d/initrd.cpio"
	rm -rf "$d/extra" "$d/base.cpio" "$d/extra.cpio"
}

demo_boot() {
	local accel=(-accel tcg -cpu max) name=TCG qpid
	if [ -w /dev/kvm ]; then accel=(-accel kvm -cpu host); name=KVM; fi
	say "2. Boot Debian $kver in QEMU ($name); online conversion under a workload"
	: > "$d/console.log"
	: > "$d/results.log"
	timeout 900 qemu-system-x86_64 "${accel[@]}" -m 2G -smp 2 -nographic -no-reboot \
		-monitor none -kernel "/boot/vmlinuz-$kver" -initrd "$d/initrd.cpio" \
		-append "console=ttyS0,115200 panic=-1 oops=panic quiet vxts.accel=$name" \
		-serial "file:$d/console.log" -serial "file:$d/results.log" \
		< /dev/null > "$d/qemu.log" 2>&1 &
	qpid=$!
	# The guest's own narration (its "-- " steps and command output), live.
	tail -n +1 -f --pid="$qpid" "$d/console.log" |
		sed -u -n -e 's/\r$//' -e '/^VXTS-BEGIN guest/,/^VXTS-TIME guest/{/^VXTS-/d;s/^/  /;p}'
	wait "$qpid" || true
}

demo_verdict() {
	local bad
	bad=$(grep -a -E 'BUG:|WARNING:|Oops|KASAN|Call Trace|lockdep' "$d/console.log" | head -n 3 || true)
	[ -z "$bad" ] || die "guest kernel log has errors: $bad"
	if grep -aq '^VXTS-RESULT PASS guest' "$d/results.log"; then
		say "Demo passed: encrypted online under IO, resumed after kill -9, data intact, readable by dm-crypt"
	else
		die "the guest part failed: $(grep -a '^VXTS-RESULT' "$d/results.log" | tr '\n' ' ') (log: build/demo/console.log)"
	fi
}

demo_cleanup() {
	# No key material leaves the guest (KEK, header and volume key live on
	# its tmpfs); the large initramfs goes.
	rm -f "$d/initrd.cpio"
}
trap demo_cleanup EXIT

demo_disk
demo_initrd
demo_boot
demo_verdict
