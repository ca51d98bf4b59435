# Helpers of the online-conversion campaigns (scenarios 3x), busy box sh.
# Sourced after guest-lib.sh:  . /vxts/guest-lib.sh; . /vxts/online-lib.sh
#
# The tools they drive: build/vxts (the CLI of docs/ONLINE.md), vxwriter
# (tests/vm/tools/vxwriter.c: the raw-device application that logs every
# write and sync and checks what a device holds afterwards) and lwreplay
# (tests/vm/tools/lwreplay.c: replays a prefix of a dm-log-writes log).
#
# Keys: the KEK is a file on tmpfs (--key-file), the volume key leaves the
# header only through `vxts dump --volume-key` into a tmpfs file, and tables
# go to dmsetup through stdin. Nothing secret on argv.

ONLINE_KEK=kek
ONLINE_UNIT=4096

# The CLI must speak ONLINE.md: until it does, the campaigns skip (77) with
# the reason, so the layer stays green while the verbs are being built; once
# it does, any deviation fails.
need_online() {
	need_vxts
	type vxts > /dev/null 2>&1 || fail "no vxts binary in the initramfs (make userspace)"
	vxts encrypt --help 2>&1 | grep -q -- '--online' ||
		skip "vxts encrypt has no --online yet (docs/ONLINE.md CLI not built)"
	dmsetup targets | grep -q '^vxts ' || fail "vxts target missing"
	[ -e "$ONLINE_KEK" ] || key_new "$ONLINE_KEK" 64
	chmod 600 "$ONLINE_KEK"
}

# --- mapping state (dmsetup status fields 9-15 of ONLINE.md) -----------------

dm_field() { # <name> <field>: the value of "<field>:<value>" in dmsetup status
	dmsetup status "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2://p" | head -n 1
}

dm_target_of() { # <name>: the target type of the (single) table line
	dmsetup table "$1" 2> /dev/null | awk 'NR == 1 {print $3}'
}

# The boundary in sectors: the status field while converting, "len" when the
# table is a plain vxts/linear one (finished), empty when not mapped.
dm_boundary() { # <name>
	local b
	b=$(dm_field "$1" boundary)
	if [ -n "$b" ]; then
		echo "$b"
	elif dmsetup status "$1" > /dev/null 2>&1; then
		dmsetup table "$1" | awk 'NR == 1 {print $2}'
	fi
}

wait_node() { # <name> [tenths of a second]: until /dev/mapper/<name> is a node
	local i=0 n=${2:-300}
	while [ ! -b "/dev/mapper/$1" ]; do
		i=$((i + 1))
		[ "$i" -le "$n" ] || return 1
		sleep 0.1
	done
}

# Wait until <name>'s table is <target> with no convert: option (the final
# reload of an online conversion), or <pid> exits.
wait_final() { # <name> <target> <pid>
	while kill -0 "$3" 2> /dev/null; do
		[ "$(dm_target_of "$1")" = "$2" ] && [ -z "$(dm_field "$1" convert)" ] && return 0
		sleep 0.2
	done
}

# --- the converter ------------------------------------------------------------

# vxts <verb> --online in the background; its pid in ONLINE_PID, its output
# in <tag>.out/.err (stdin from /dev/null: never a prompt).
online_bg() { # <tag> <verb> <name> <device> [args...]
	local tag=$1 verb=$2
	shift 2
	vxts "$verb" --online "$@" --key-file "$ONLINE_KEK" --no-progress \
		< /dev/null > "$tag.out" 2> "$tag.err" &
	ONLINE_PID=$!
	echo "   vxts $verb --online $* (pid $ONLINE_PID)"
}

online_wait() { # <tag> <pid>: the converter must exit 0
	local rc
	wait "$2"
	rc=$?
	[ "$rc" -eq 0 ] || { cat "$1.err" >&2; fail "$1: vxts exited $rc"; }
	[ -s "$1.err" ] && sed 's/^/   vxts: /' "$1.err" | tail -n 3
	return 0
}

# The 64-byte volume key as lower-case hex (escrow path of the CLI).
vol_hex() { # <device> [--header H]
	vxts dump "$@" --key-file "$ONLINE_KEK" --volume-key 2> /dev/null |
		grep -o -m1 -E '[0-9a-f]{128}'
}

vol_key_file() { # <out file> <device> [--header H]: the volume key, binary
	local out=$1 hex
	shift
	hex=$(vol_hex "$@")
	[ ${#hex} -eq 128 ] || fail "no volume key from vxts dump --volume-key $*"
	printf "$(echo "$hex" | sed 's/../\\x&/g')" > "$out"
	[ "$(stat -c %s "$out")" -eq 64 ] || fail "volume key file is not 64 bytes"
}

# dm-crypt (stock cryptsetup, plain mode) over <dev> with the volume key:
# the escape hatch must read what the mapping reads.
crypt_open() { # <name> <dev> <keyfile> [cryptsetup args]
	local name=$1 dev=$2 kf=$3
	shift 3
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
		--sector-size "$ONLINE_UNIT" --key-file "$kf" --readonly "$@" "$dev" "$name" ||
		fail "cryptsetup open --type plain $dev failed"
	assert_blk "/dev/mapper/$name"
}

# --- a filesystem writer: creates and appends, mirrors everything on tmpfs -----
#
# Every file it writes in <dir> has a copy in <mirror>; a file is copied to
# the mirror only after the write to <dir> was fsync'ed, so at any moment
# the mirror holds what the filesystem has acknowledged and made durable.
# Stops when <stop> exists; counts iterations in <mirror>.n; exits 1 on the
# first failed write (an application must never see an error).

fs_writer() { # <dir> <mirror> <stop>
	local dir=$1 mir=$2 stop=$3 i=0 kib
	mkdir -p "$dir/w" "$mir/w" || return 1
	: > "$mir.chunk"
	while [ ! -e "$stop" ]; do
		i=$((i + 1))
		kib=$((RANDOM % 48 + 1))
		head -c $((kib * 1024)) /dev/urandom > "$mir.chunk"
		if [ $((i % 3)) -eq 0 ]; then
			# append to the running log file
			dd if="$mir.chunk" of="$dir/w/app.log" bs=64k oflag=append conv=notrunc,fsync \
				status=none || { echo "fs_writer: append $i failed" >&2; return 1; }
			cat "$mir.chunk" >> "$mir/w/app.log"
		else
			dd if="$mir.chunk" of="$dir/w/f$i" bs=64k conv=fsync status=none ||
				{ echo "fs_writer: write of f$i failed" >&2; return 1; }
			cp "$mir.chunk" "$mir/w/f$i"
		fi
		[ $((i % 20)) -eq 0 ] && rm -f "$dir/w/f$((i - 10))" "$mir/w/f$((i - 10))"
		echo "$i" > "$mir.n"
	done
	sync
}

fs_writer_start() { # <dir> <mirror>: sets WRITER_PID, stop file <mirror>.stop
	rm -f "$2.stop"
	fs_writer "$1" "$2" "$2.stop" &
	WRITER_PID=$!
}

fs_writer_stop() { # <mirror>: stop it; it must have exited 0
	touch "$1.stop"
	wait "$WRITER_PID" || fail "the filesystem writer saw an error"
	echo "   writer: $(cat "$1.n" 2> /dev/null || echo 0) writes"
}

# Every file of <mirror> must be in <dir> with the same bytes.
fs_verify() { # <dir> <mirror> <what>
	local n m=$2 kib
	case "$m" in /*) ;; *) m=$PWD/$m ;; esac
	(cd "$m" && find . -type f | sort | xargs sha256sum) > "$m.sums" || fail "hash the mirror"
	n=$(wc -l < "$m.sums")
	(cd "$1" && sha256sum -c --quiet "$m.sums") || fail "$3: files differ from what was written"
	kib=$(du -sk "$m" | cut -f1)
	echo "   $3: $n files, $kib KiB verified"
	VERIFIED_KIB=$((${VERIFIED_KIB:-0} + kib))
}

# Seed files of known content for a fresh filesystem, mirrored.
fs_seed() { # <dir> <mirror>
	local i
	mkdir -p "$1/s" "$2/s"
	for i in 1 2 3 4 5 6 7 8; do
		head -c $((i * 150 * 1024 + 17)) /dev/urandom > "$2/s/seed$i"
		cp "$2/s/seed$i" "$1/s/seed$i" || fail "seed write"
	done
	sync
}

# --- dm-log-writes -----------------------------------------------------------

# log-writes over <dev>, logging to <logdev>; /dev/mapper/<name>.
lw_up() { # <name> <dev> <logdev>
	echo "0 $(blockdev --getsz "$2") log-writes $2 $3" > lw.tbl
	dm_up "$1" lw.tbl
}

# The last vxwriter sync mark ("s<n>") in a log prefix of <entries>: n, or
# -1 when the prefix holds none. <list> is the output of `lwreplay LOG list`.
lw_last_sync() { # <list> <entries>
	awk -v n="$2" '$2 == "M" && $1 < n && $3 ~ /^s[0-9]+$/ {m = substr($3, 2)}
		END {print (m == "" ? -1 : m)}' "$1"
}

# --- LVM ---------------------------------------------------------------------

# An lvm command, quietly: its chatter (lines with "WARNING:", which the
# runner takes for kernel trouble) goes to a file, shown masked on failure.
lvm_q() { # <lvm command> [args...]
	"$@" > lvm.out 2>&1 || { sed 's/WARNING/warning/g' lvm.out >&2; fail "$*"; }
}

# --- misc -----------------------------------------------------------------------

now_ms() { # milliseconds since boot
	awk '{printf "%d\n", $1 * 1000}' /proc/uptime
}

sleep_ms() { # <ms>
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}
