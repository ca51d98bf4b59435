#!/usr/bin/env bash
# Build the guest's initramfs: an uncompressed cpio holding busybox, the host's
# dmsetup/cryptsetup/fio/keyctl/kmod (with every shared library ldd names), the
# kernel modules the scenarios need (decompressed, depmod'ed), dm-vxts.ko and
# the scenario scripts. Sourced by tests/vm/run.sh; also runnable on its own:
#     tests/vm/initramfs.sh <kver> <dm-vxts.ko|-> <out.cpio> <scenario.sh>...
#
# Uncompressed on purpose: under TCG the guest unpacks a 100 MiB cpio faster
# than it can gunzip a 40 MiB one.

# Host tools the guest runs. Those busybox also provides are copied anyway
# because the scenarios need options busybox lacks (dd iflag=direct,
# count_bytes; blockdev --getss; blkdiscard -v on dm devices).
initrd_tools=(
	dmsetup cryptsetup fio keyctl kmod blockdev blkdiscard losetup
	dd cmp od stat truncate sha256sum head tr wc
)

# Modules by name; modprobe -D resolves their dependencies on the host.
initrd_modules=(
	dm-mod dm-crypt dm-flakey dm-delay dm-log-writes brd loop null_blk
	configfs xts aesni-intel crc32c-intel crc32c_generic
)

initrd_log() {
	echo "vm: $*" >&2
}

# Everything under / that Debian's merged-/usr keeps in /usr lands there.
initrd_dest() { # <root> <host path>
	case "$2" in
	/usr/*) echo "$1$2" ;;
	/lib/* | /lib64/* | /bin/* | /sbin/*) echo "$1/usr$2" ;;
	*) echo "$1$2" ;;
	esac
}

initrd_copy() { # <root> <host path>: the file (dereferenced) at the same path
	local dst
	dst=$(initrd_dest "$1" "$2")
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst"
	cp -L "$2" "$dst"
}

initrd_copy_libs() { # <root> <binary>
	local lib
	for lib in $(ldd "$2" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$(initrd_dest "$1" "$lib")" ] || initrd_copy "$1" "$lib"
	done
}

initrd_skeleton() { # <root>
	local r=$1 a
	mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{proc,sys,dev,tmp,run,etc,root,mnt}
	ln -s usr/bin "$r/bin"
	ln -s usr/sbin "$r/sbin"
	ln -s usr/lib "$r/lib"
	ln -s usr/lib64 "$r/lib64"
	cp /bin/busybox "$r/usr/bin/busybox"
	for a in $(/bin/busybox --list-full); do
		a=usr/${a#usr/}
		[ -e "$r/$a" ] || ln -s /usr/bin/busybox "$r/$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"
	echo 'root:x:0:' > "$r/etc/group"
}

initrd_tools_copy() { # <root>
	local r=$1 t p
	for t in "${initrd_tools[@]}"; do
		p=$(command -v "$t") || { initrd_log "host tool $t missing"; return 1; }
		initrd_copy "$r" "$p"
		initrd_copy_libs "$r" "$p"
	done
	# kmod is one binary behind several names; the kernel calls /sbin/modprobe.
	for t in modprobe insmod rmmod lsmod depmod modinfo; do
		rm -f "$r/usr/sbin/$t" "$r/usr/bin/$t"
		ln -s /usr/bin/kmod "$r/usr/sbin/$t"
	done
}

initrd_module_copy() { # <root> <kver> <host .ko[.xz|.zst]>
	local rel dst
	rel=${3#/lib/modules/$2/}
	rel=${rel%.xz}
	rel=${rel%.zst}
	dst=$1/usr/lib/modules/$2/$rel
	[ -e "$dst" ] && return 0
	mkdir -p "$(dirname "$dst")"
	case "$3" in
	*.xz) xz -dc "$3" > "$dst" ;;
	*.zst) zstd -qdc "$3" > "$dst" ;;
	*) cp "$3" "$dst" ;;
	esac
}

initrd_modules_copy() { # <root> <kver> <dm-vxts.ko or ->
	local r=$1 kver=$2 ko=$3 m f mods=("${initrd_modules[@]}")
	if [ "$ko" != - ]; then
		# Whatever dm-vxts depends on must be in the image too.
		mods+=($(modinfo -F depends "$ko" | tr ',' ' '))
	fi
	for m in "${mods[@]}"; do
		for f in $(modprobe -S "$kver" -D "$m" | awk '$1 == "insmod" {print $2}'); do
			initrd_module_copy "$r" "$kver" "$f"
		done
	done
	cp /lib/modules/"$kver"/modules.{order,builtin,builtin.modinfo} \
		"$r/usr/lib/modules/$kver/"
	if [ "$ko" != - ]; then
		mkdir -p "$r/usr/lib/modules/$kver/extra"
		cp "$ko" "$r/usr/lib/modules/$kver/extra/dm-vxts.ko"
	fi
	depmod -b "$r" "$kver"
}

# Build <out> for kernel <kver>; <ko> is dm-vxts.ko or "-" when there is none.
initrd_build() { # <kver> <ko|-> <out.cpio> <scenario.sh>...
	local kver=$1 ko=$2 out=$3 here r
	shift 3
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	r=$out.root
	rm -rf "$r"
	mkdir -p "$r"
	initrd_skeleton "$r"
	initrd_tools_copy "$r" || return 1
	initrd_modules_copy "$r" "$kver" "$ko" || return 1
	install -m 0755 "$here/init" "$r/init"
	mkdir -p "$r/vxts/scenarios"
	install -m 0644 "$here/guest-lib.sh" "$r/vxts/guest-lib.sh"
	install -m 0755 "$@" "$r/vxts/scenarios/"
	(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out"
	rm -rf "$r"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -eu
	initrd_build "$@"
fi
