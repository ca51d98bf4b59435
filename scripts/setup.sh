#!/usr/bin/env bash
# Install everything vxts needs on a Debian 12 (bookworm) x86_64 machine, as root.
# Safe to re-run: apt is idempotent and the backports source is written only once.
# Why each package is here: docs/DEPENDENCIES.md.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: must run as root (it installs Debian packages)" >&2
	exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
	echo "setup: this script targets Debian 12 (bookworm); found '${PRETTY_NAME:-unknown}'" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
bpo=/etc/apt/sources.list.d/vxts-backports.list
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "deb http://deb.debian.org/debian bookworm-backports main" > "$bpo"
fi
apt-get update -q

# The 6.12 kernel (main target) comes from backports; 6.1 is bookworm's own LTS.
# Resolve the ABI-versioned package names the metapackages point at, so both
# header trees can be installed side by side.
dep_of() { # <apt-cache depends args...>: first linux-* dependency name
	apt-cache depends "$@" | awk '/Depends: linux-/{print $2; exit}'
}
k612_image=$(dep_of -t bookworm-backports linux-image-amd64)
k612_headers=$(dep_of -t bookworm-backports linux-headers-amd64)
k61_headers=$(dep_of linux-headers-amd64)
k61_image=$(dep_of linux-image-amd64)
for p in "$k612_image" "$k612_headers" "$k61_headers" "$k61_image"; do
	case "$p" in
	linux-*) ;;
	*) echo "setup: could not resolve the Debian kernel package names" >&2; exit 1 ;;
	esac
done

pkgs=(
	# build
	build-essential pkg-config make gcc bc bison flex libelf-dev kmod cpio xz-utils zstd
	python3 rsync git
	# kernel: headers for both targets, 6.12 image + modules for the VM, source for KUnit
	"$k612_headers" "$k61_headers" "$k612_image" "$k61_image" linux-source-6.12
	# VM harness and guest tools
	busybox-static dmsetup cryptsetup-bin fio keyutils e2fsprogs xfsprogs util-linux
	# userspace engine
	liburing-dev libssl-dev libargon2-dev libblkid-dev libcmocka-dev
	openssl xxd
	# online conversion: device-mapper from the CLI, LVM takeover in the VM
	libdevmapper-dev lvm2
	# customer-managed keys: PKCS#11 through p11-kit, SoftHSM2 for the tests
	libp11-kit-dev p11-kit softhsm2 opensc
	# fuzzing (libFuzzer + ASan/UBSan runtimes), test and bench tooling
	clang libclang-rt-14-dev jq gnuplot-nox
	# operations: DKMS and Debian packaging, LUKS2 interop, systemd unit checks, man pages
	dkms dh-dkms debhelper fakeroot libcryptsetup-dev systemd man-db groff-base
	python3-jsonschema
)
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
# QEMU 10 from backports (7.2 in bookworm works too, but is slower under TCG).
apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86

echo "setup: packages installed (6.12: $k612_image, 6.1: $k61_headers)"
