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

# A `vxts ... --json` output for the host's schema check (vm/json-schemas,
# tests/lib/schemacheck.py): one line "VXTS-JSON <schema> <scenario>-<name>
# <base64>" on the results port. For progress.json, <file> is the run's
# stderr (its lines starting with '{' are the events).
json_sample() { # <schema.json> <name> <file>
	[ -s "$3" ] || fail "json sample $2: $3 is empty"
	echo "VXTS-JSON $1 ${PWD##*/}-$2 $(base64 -w 0 < "$3")" > /dev/ttyS1
	echo "   json sample $2 ($1, $(wc -c < "$3") bytes)"
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

# --- online conversion (docs/ONLINE.md) ----------------------------------------

# dmsetup message to a vxts target; the exit status is dmsetup's.
dm_msg() { # <name> <word...>
	local name=$1
	shift
	dmsetup message "$name" 0 "$@" 2> /dev/null
}

# One "<key>:<value>" field of dmsetup status (fields 9-15 of a converting
# vxts target), e.g. dm_field vx boundary.
dm_field() { # <name> <key>
	dmsetup status "$1" | tr ' ' '\n' | sed -n "s/^$2://p"
}

assert_field() { # <name> <key> <expected> <what>
	local got
	got=$(dm_field "$1" "$2")
	[ "$got" = "$3" ] || fail "$4: status $2 is '$got', want '$3' ($(dmsetup status "$1"))"
}

# Monotonic nanoseconds (busybox date has no %N): the clock /proc/timer_list
# reports, read once.
now_ns() {
	sed -n 's/^now at \([0-9]*\) nsecs.*/\1/p;/^now at/q' /proc/timer_list
}

# Still running after <seconds>? (a bio queued on a held window must be)
assert_blocked() { # <pid> <seconds> <what>
	sleep "$2"
	kill -0 "$1" 2> /dev/null || fail "$3: finished while the window was held"
}

# Wait for a background job with a bound; fail if it does not end in time
# or ends with an error.
wait_done() { # <pid> <seconds> <what>
	local i=0
	while kill -0 "$1" 2> /dev/null; do
		i=$((i + 1))
		[ "$i" -le $(($2 * 10)) ] || fail "$3: still running after $2 s"
		sleep 0.1
	done
	wait "$1" || fail "$3: exited with an error"
}

# dm destroys a table only after its bios completed; the target says so if
# it ever finds one still held on a window. That must never appear.
assert_no_held_at_dtr() {
	dmesg | grep -q "destroyed with bios held" &&
		fail "a table was destroyed with bios held on its window"
	return 0
}
