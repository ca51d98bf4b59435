# Helpers shared by the scenario scripts (busybox sh inside the VM).
# Sourced as ". /vxts/guest-lib.sh"; the scenario's working directory is a
# private directory on tmpfs, so key files never touch a disk.
#
# Conventions: a helper that finds a problem calls fail (exit 1); skip exits
# 77. Every block device is checked with [ -b ] before use, because writing
# to a /dev/mapper path that is not a node silently creates a regular file.

set -u
. /vxts/tools.sh

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# A fact for the host's log (accelerator, crypto driver, ...).
info() { # <key> <value>
	echo "VXTS-INFO $1 $2"
	echo "VXTS-INFO $1 $2" > /dev/ttyS1
}

step() {
	echo "-- $*"
}

assert_blk() { # <path>
	[ -b "$1" ] || fail "$1 is not a block device"
}

# The target under test: "vxts", or "crypt" when the host ran with
# VXTS_VM_TARGET=crypt to check the scenarios themselves against dm-crypt.
VX=$(sed -n 's/.*vxts\.target=\([a-z]*\).*/\1/p' /proc/cmdline)
VX=${VX:-vxts}

# The target must be registered (the module loaded at boot).
need_vxts() {
	dmsetup targets | grep -q "^$VX " || fail "device-mapper target $VX is not registered"
}

# The sysfs queue directory of mapping <name>.
dm_queue() { # <name>
	echo "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/queue"
}

# Zero a device: discard where brd supports it (6.12), else write zeroes
# (6.1's brd has no discard).
dev_zero() { # <dev>
	assert_blk "$1"
	blkdiscard "$1" 2>/dev/null || blkdiscard -z "$1" || fail "cannot zero $1"
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

# --- kernel log -------------------------------------------------------------
# Scenarios must not clear the ring buffer (init scans it for BUG/WARNING
# after the scenario); they mark a point in it and read what came after.

klog_mark() { # <tag>
	echo "vxts-test-mark $1" > /dev/kmsg
}

klog_since() { # <tag>: kernel log lines after the mark
	dmesg | sed -n "/vxts-test-mark $1\$/,\$p" | sed 1d
}

# --- fio ----------------------------------------------------------------------

# Run fio on a job file; print the summary lines, keep the full output.
run_fio() { # <job file> [fio args...]
	local job=$1 r
	shift
	fio --output="$job.out" "$@" "$job"
	r=$?
	grep -E 'err=|WRITE:|READ:|verify' "$job.out" | sed 's/^/   fio: /'
	[ "$r" -eq 0 ] || { tail -n 20 "$job.out"; fail "fio $job exited $r"; }
	grep -q 'err= *[1-9]' "$job.out" && fail "fio $job reported errors"
	# A verify pass that read nothing verified nothing.
	case " $* " in
	*" --verify_only "*)
		grep -q 'READ:.*io=[1-9]' "$job.out" || fail "fio $job --verify_only read no data"
		;;
	esac
	return 0
}
