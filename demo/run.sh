#!/usr/bin/env bash
# make demo: the main job on a built-in default.
#
#  1. Build a demo data disk: a 128 MiB ext4 image holding a few hundred files.
#  2. Encrypt it IN PLACE with `vxts encrypt` (detached header, key-file KEK),
#     kill -9 the conversion half way, then run the same command again: it
#     resumes from its last commit point and nothing is lost.
#  3. Boot Debian's 6.12 kernel in QEMU, open the disk through dm-vxts (the key
#     goes into the kernel keyring, never onto the table line), check every
#     file's SHA-256, run a verified fio workload in the mounted filesystem
#     while the files are read again, and fsck it.
#  4. Open the same disk with stock `cryptsetup open --type plain` (dm-crypt)
#     and check the files again: the escape hatch works.
#
# Online conversion (the filesystem mounted while vxts converts it) arrives
# with its own issue; this demo then converts under the running workload.
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
	for i in $(seq 1 40); do
		head -c $(( (i % 7 + 1) * 131072 + i * 4096 )) /dev/urandom > "$d/files/blobs/blob-$i.bin"
	done
	mkfs.ext4 -q -F -b 4096 -L vxts-demo -d "$d/files" "$d/disk.img" 128M
	(cd "$d/files" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$d/manifest"
	echo "disk.img: $(du -h --apparent-size "$d/disk.img" | cut -f1), $(wc -l < "$d/manifest") files, $(blkid -o value -s TYPE "$d/disk.img") filesystem"
}

demo_encrypt() {
	say "2. Encrypt it in place; kill -9 half way; resume"
	head -c 64 /dev/urandom > "$d/kek"
	chmod 600 "$d/kek"
	local args=("$d/disk.img" --header "$d/disk.vxts" --key-file "$d/kek" --resilience journal --yes)
	# Rate-limited so the kill lands mid-conversion; a real run goes at full speed.
	"$vxts" encrypt "${args[@]}" --rate-limit 24M --no-progress &
	local pid=$!
	sleep 2
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	echo "killed vxts (pid $pid) with SIGKILL; the header says:"
	"$vxts" status "$d/disk.img" --header "$d/disk.vxts" | sed 's/^/    /'
	echo "resuming with the same command:"
	"$vxts" encrypt "${args[@]}"
	"$vxts" status "$d/disk.img" --header "$d/disk.vxts" | sed 's/^/    /'
	if blkid -p "$d/disk.img" >/dev/null 2>&1; then
		die "disk.img still shows a filesystem signature after encryption"
	fi
	echo "no filesystem signature left on disk.img: it is ciphertext now"
}

# The volume key leaves vxts only through `dump --volume-key` (escrow) and
# only into a file of this demo's; the guest loads it into its keyring.
demo_key() {
	"$vxts" dump "$d/disk.img" --header "$d/disk.vxts" --key-file "$d/kek" \
		--volume-key 2>/dev/null | grep -io -m1 -E '[0-9a-f]{128}' | xxd -r -p > "$d/dek.bin"
	[ "$(stat -c %s "$d/dek.bin")" = 64 ] || die "could not read the volume key back"
	chmod 600 "$d/dek.bin"
}

demo_initrd() {
	initrd_modules+=(ext4)
	initrd_tools+=(e2fsck mount umount)
	initrd_build "$kver" kmod/dm-vxts.ko "$d/base.cpio" demo/guest.sh >/dev/null
	# A second archive appended to the first: the kernel unpacks both.
	mkdir -p "$d/extra/vxts/demo"
	cp "$d/disk.img" "$d/dek.bin" "$d/manifest" "$d/extra/vxts/demo/"
	(cd "$d/extra" && find . -mindepth 1 | cpio -o -H newc --quiet) > "$d/extra.cpio"
	cat "$d/base.cpio" "$d/extra.cpio" > "$d/initrd.cpio"
	rm -rf "$d/extra" "$d/base.cpio" "$d/extra.cpio"
}

demo_boot() {
	local accel=(-accel tcg -cpu max) name=TCG
	if [ -w /dev/kvm ]; then accel=(-accel kvm -cpu host); name=KVM; fi
	say "3. Boot Debian $kver in QEMU ($name) and use the disk through dm-vxts"
	timeout 900 qemu-system-x86_64 "${accel[@]}" -m 2G -smp 2 -nographic -no-reboot \
		-monitor none -kernel "/boot/vmlinuz-$kver" -initrd "$d/initrd.cpio" \
		-append "console=ttyS0,115200 panic=-1 oops=panic quiet vxts.accel=$name" \
		-serial "file:$d/console.log" -serial "file:$d/results.log" \
		< /dev/null > "$d/qemu.log" 2>&1 || true
	# The guest's own narration (its "-- " steps and command output).
	sed -n '/^VXTS-BEGIN guest/,/^VXTS-TIME guest/p' "$d/console.log" | tr -d '\r' |
		grep -v -E '^VXTS-(BEGIN|TIME)' | sed 's/^/    /'
}

demo_verdict() {
	local bad
	bad=$(grep -a -E 'BUG:|WARNING:|Oops|KASAN|Call Trace|lockdep' "$d/console.log" | head -n 3 || true)
	[ -z "$bad" ] || die "guest kernel log has errors: $bad"
	if grep -aq '^VXTS-RESULT PASS guest' "$d/results.log"; then
		say "Demo passed: encrypted in place, resumed after kill -9, served by dm-vxts, readable by dm-crypt"
	else
		die "the guest part failed: $(grep -a '^VXTS-RESULT' "$d/results.log" | tr '\n' ' ') (log: build/demo/console.log)"
	fi
}

demo_cleanup() {
	# Key material of the demo: gone once the demo is over.
	[ -e "$d/dek.bin" ] && shred -u "$d/dek.bin" 2>/dev/null || rm -f "$d/dek.bin"
	rm -f "$d/initrd.cpio"
}
trap demo_cleanup EXIT

demo_disk
demo_encrypt
demo_key
demo_initrd
demo_boot
demo_verdict
