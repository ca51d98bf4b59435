# Helpers shared by the scenario scripts (busybox sh inside the VM).
# Sourced as ". /vxts/guest-lib.sh"; the scenario's working directory is a
# private directory on tmpfs, so key files never touch a disk.
#
# Conventions: a helper that finds a problem calls fail (exit 1); skip exits
# 77. Every block device is checked with [ -b ] before use, because writing
# to a /dev/mapper path that is not a node silently creates a regular file.

set -u

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

step() {
	echo "-- $*"
}

assert_blk() { # <path>
	[ -b "$1" ] || fail "$1 is not a block device"
}

# The vxts target must be registered (the module loaded at boot).
need_vxts() {
	dmsetup targets | grep -q '^vxts ' || fail "device-mapper target vxts is not registered"
}

ram_sectors() { # <dev>: size in 512-byte sectors
	assert_blk "$1"
	blockdev --getsz "$1"
}

# --- keys: 64 random bytes in a file on tmpfs -------------------------------

key_new() { # <file> [bytes]
	head -c "${2:-64}" /dev/urandom > "$1" || fail "cannot create key $1"
}

key_hex() { # <file>: the key as lower-case hex on stdout
	od -An -tx1 -v "$1" | tr -d ' \n'
}

# --- tables -----------------------------------------------------------------

# dm-crypt's grammar, for both targets:
#   <start> <len> <target> aes-xts-plain64 <key> <iv_offset> <dev> <offset> [<#opt> <opt>...]
tbl() { # <target> <key> <iv_offset> <dev> <offset> <len> [opt...]
	local target=$1 key=$2 iv=$3 dev=$4 off=$5 len=$6
	shift 6
	if [ $# -gt 0 ]; then
		echo "0 $len $target aes-xts-plain64 $key $iv $dev $off $# $*"
	else
		echo "0 $len $target aes-xts-plain64 $key $iv $dev $off"
	fi
}

# The table goes in through stdin from a tmpfs file: keys stay off argv.
dm_up() { # <name> <table file>
	dmsetup create "$1" < "$2" || fail "dmsetup create $1 failed: $(sed 's/[0-9a-f]\{64,\}/<key>/' "$2")"
	assert_blk "/dev/mapper/$1"
}

dm_down() { # <name>
	local i
	for i in 1 2 3 4 5; do
		dmsetup remove "$1" 2>/dev/null && return 0
		sleep 1
	done
	fail "cannot remove $1"
}

# Create must fail and leave no device behind.
dm_up_refused() { # <name> <table file>
	if dmsetup create "$1" < "$2" > /dev/null 2>&1; then
		dmsetup remove "$1" > /dev/null 2>&1
		return 1
	fi
	! dmsetup info "$1" > /dev/null 2>&1 && [ ! -e "/dev/mapper/$1" ]
}

# --- data ---------------------------------------------------------------------

rand_file() { # <file> <bytes>
	head -c "$2" /dev/urandom > "$1" || fail "cannot create $1"
}

# O_DIRECT so nothing is answered from a page cache; sizes are 64 KiB multiples.
dev_write() { # <dev> <file> [byte offset]
	assert_blk "$1"
	dd if="$2" of="$1" bs=64k oflag=direct,seek_bytes seek="${3:-0}" \
		conv=fsync status=none || fail "write of $2 to $1 at ${3:-0} failed"
}

dev_read() { # <dev> <bytes> [byte offset]: data on stdout
	assert_blk "$1"
	dd if="$1" bs=64k iflag=direct,skip_bytes,count_bytes skip="${3:-0}" \
		count="$2" status=none || fail "read of $2 bytes from $1 at ${3:-0} failed"
}

dev_sum() { # <dev> <bytes> [byte offset]: sha256 of that range
	dev_read "$@" | sha256sum | cut -d' ' -f1
}

file_sum() { # <file>
	sha256sum "$1" | cut -d' ' -f1
}

# Read <bytes> at <offset> of <dev> and compare with <file>.
assert_dev_has() { # <dev> <file> <offset> <what>
	local n
	n=$(stat -c %s "$2")
	dev_read "$1" "$n" "$3" > got.bin
	cmp -s got.bin "$2" || fail "$4: $1 at $3 does not hold the expected $n bytes"
	rm -f got.bin
}

assert_dev_lacks() { # <dev> <file> <offset> <what>: the bytes must differ
	local n
	n=$(stat -c %s "$2")
	dev_read "$1" "$n" "$3" > got.bin
	cmp -s got.bin "$2" && fail "$4: $1 at $3 unexpectedly holds the plaintext"
	rm -f got.bin
}

# The last kernel log lines mentioning <pattern>, for error-message checks.
klog_has() { # <extended regex>
	dmesg | grep -E "$1" > /dev/null
}
