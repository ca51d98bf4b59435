#!/usr/bin/env bash
# Makes the dm-crypt captures test_cipher compares with (dmcrypt-*.bin here).
# Boots Debian's 6.12 kernel in QEMU with the VM tests' initramfs builder
# (tests/vm/initramfs.sh) and runs dmcrypt-guest.sh there. The guest sends
# each capture back as hex on the second serial port. Parameters:
# vectors/README.md. Needs root only for nothing; needs the 6.12 kernel
# image and modules (scripts/setup.sh). About 30 s under TCG.
#
#   tests/unit/vectors/capture-dmcrypt.sh      (then: make userspace && tests/unit/run.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$top/tests/vm/initramfs.sh"

names="u512 u512-off u4096 u4096-large u4096-off u4096-off-large"
kver=${KVER:-$(ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)}
[ -n "$kver" ] && [ -e "/boot/vmlinuz-$kver" ] || { echo "no 6.12 kernel: run scripts/setup.sh" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
install -m 0755 "$here/dmcrypt-guest.sh" "$work/50-dmcrypt-capture.sh"
cp "$here/dmcrypt-plain.bin" "$work/"
# The .bin lands next to the scenario; /init runs only *.sh.
initrd_build "$kver" - "$work/initrd.cpio" "$work/50-dmcrypt-capture.sh" "$work/dmcrypt-plain.bin"

accel="-accel tcg -cpu max"
[ -w /dev/kvm ] && accel="-accel kvm -cpu host"
echo "capture: booting $kver ($accel)"
timeout 600 qemu-system-x86_64 $accel -m 1G -smp 2 -nographic -no-reboot -monitor none \
	-kernel "/boot/vmlinuz-$kver" -initrd "$work/initrd.cpio" \
	-append "console=ttyS0,115200 panic=-1 oops=panic" \
	-serial "file:$work/console.log" -serial "file:$work/results.log" </dev/null >/dev/null 2>&1 || true

if ! grep -aq '^VXTS-RESULT PASS 50-dmcrypt-capture' "$work/results.log"; then
	echo "capture: the guest script failed; console:" >&2
	tail -n 30 "$work/console.log" >&2
	exit 1
fi
for n in $names; do
	grep -a "^VXTS-HEX $n " "$work/results.log" | cut -d' ' -f3 | tr -d '\r\n' |
		perl -e 'local $/; my $h = <STDIN>; print pack("H*", $h)' > "$work/$n.bin"
	size=$(stat -c %s "$work/$n.bin")
	[ "$size" -eq 65536 ] || { echo "capture: $n is $size bytes, not 65536" >&2; exit 1; }
done
for n in $names; do
	mv "$work/$n.bin" "$here/dmcrypt-$n.bin"
	echo "capture: wrote tests/unit/vectors/dmcrypt-$n.bin ($(sha256sum < "$here/dmcrypt-$n.bin" | cut -c1-16))"
done
echo "capture: guest kernel $(grep -a '^VXTS-INFO kernel' "$work/results.log" | cut -d' ' -f3 | tr -d '\r')"
