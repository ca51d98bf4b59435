#!/bin/sh
# LUKS interop, both ways (docs/LUKS.md).
#
# (a) Volumes made by stock cryptsetup (LUKS2 with 512- and 4096-byte
# sectors, one with a detached header, and LUKS1) are filled through
# dm-crypt, then `vxts open` serves them with dm-vxts: the table is vxts,
# the plaintext is the same, a write through dm-vxts reads back through
# dm-crypt, and the LUKS header is not touched. An aes-cbc-essiv (or
# 128-bit key) LUKS2 volume, a wrong passphrase (also with an unbound
# keyslot in the header) and --expect-key-check are refused with their exit
# codes (9, 3, 5). The logon key is named after the UUID and data device.
# (b) `vxts encrypt` volumes (512- and 4096-byte units) get a detached
# LUKS2 header from `vxts luks export`; `cryptsetup open --header` reads
# the same plaintext, and what it writes reads back through `vxts open`.
. /vxts/guest-lib.sh
need_vxts
type vxts > /dev/null 2>&1 || fail "no vxts binary in the initramfs (make userspace)"
type cryptsetup > /dev/null 2>&1 || fail "no cryptsetup in the initramfs"

MIB=32				# the RAM disks are 64 MiB; use the first 32 (a partition)
BYTES=$((MIB << 20))
PART=p0
printf 'luks pass phrase' > pass
printf 'not the pass phrase' > wrong
printf 'exported pass\n' > newpass	# --new-passphrase-file drops the newline
printf 'exported pass' > newpass.cs	# what cryptsetup --key-file must be given
chmod 600 pass wrong newpass newpass.cs
key_new kek 64
chmod 600 kek
LF="--batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000"

# A 32 MiB linear device on a RAM disk, so LUKS sizes stay small.
part_up() { # <ram dev>
	echo "0 $((BYTES / 512)) linear $1 0" > part.tbl
	dm_up "$PART" part.tbl
}

# dev_zero without the guard: blkdiscard refuses a device holding a LUKS
# signature unless forced, and here that is the point.
zero() { # <dev>
	assert_blk "$1"
	blkdiscard -f "$1" 2> /dev/null || blkdiscard -f -z "$1" || fail "cannot zero $1"
}

mapped_bytes() { # <name>
	blockdev --getsize64 "/dev/mapper/$1"
}

# LUKS side ------------------------------------------------------------------

luks_case() { # <tag> <luks1|luks2> <sector> <detached 0|1> <vxts open args...>
	local tag=$1 type=$2 sect=$3 det=$4 hopt="" dev=/dev/mapper/$PART n hsum uuid
	shift 4
	step "$tag: cryptsetup luksFormat --type $type --sector-size $sect$( [ "$det" = 1 ] && echo ' --header') -> vxts open $*"
	zero /dev/ram0
	part_up /dev/ram0
	if [ "$det" = 1 ]; then
		rm -f "$tag.hdr"
		truncate -s 4096 "$tag.hdr"
		hopt="--header $tag.hdr"
	fi
	if [ "$type" = luks1 ]; then
		cryptsetup luksFormat --type luks1 $LF --cipher aes-xts-plain64 --key-size 512 \
			$hopt --key-file pass "$dev" || fail "$tag: luksFormat"
	else
		cryptsetup luksFormat --type luks2 $LF --cipher aes-xts-plain64 --key-size 512 \
			--sector-size "$sect" $hopt --key-file pass "$dev" || fail "$tag: luksFormat"
	fi
	cryptsetup open $hopt --key-file pass "$dev" lc || fail "$tag: cryptsetup open"
	assert_blk /dev/mapper/lc
	dmsetup table lc | sed 's/:[0-9]*:logon:[^ ]*/<keyref>/; s/ [0-9a-f]\{128\} / <key> /'
	if [ "$sect" = 4096 ]; then
		# The IV convention docs/LUKS.md states: LUKS2 with 4096-byte sectors
		# counts the tweak in 512-byte sectors (no iv_large_sectors).
		dmsetup table lc | grep -q iv_large_sectors &&
			fail "$tag: cryptsetup mapped LUKS2 with iv_large_sectors"
	fi
	n=$(mapped_bytes lc)
	rand_file "$tag.data" "$n"
	dev_write /dev/mapper/lc "$tag.data"
	cryptsetup close lc || fail "$tag: cryptsetup close"
	if [ "$det" = 1 ]; then hsum=$(file_sum "$tag.hdr"); else hsum=$(dev_sum "$dev" 1048576); fi

	vxts open lv "$dev" $hopt "$@" < /dev/null > open.out 2> open.err ||
		{ cat open.err; fail "$tag: vxts open exited $?"; }
	cat open.out
	grep -q "LUKS" open.out || fail "$tag: vxts open does not say it opened a LUKS volume"
	assert_blk /dev/mapper/lv
	[ "$(dmsetup table lv | awk '{print $3}')" = vxts ] || fail "$tag: lv is not a vxts mapping"
	dmsetup table lv | grep -q iv_large_sectors && fail "$tag: vxts mapped with iv_large_sectors"
	# the logon key is per data device: vxts:luks-<LUKS UUID>:<maj:min>
	if [ "$det" = 1 ]; then uuid=$(cryptsetup luksUUID "$tag.hdr"); else uuid=$(cryptsetup luksUUID "$dev"); fi
	dmsetup table lv | awk -v u="$uuid" '$5 != ":64:logon:vxts:luks-" u ":" $7 { exit 1 }' ||
		fail "$tag: key reference $(dmsetup table lv | awk '{print $5}'), want vxts:luks-$uuid:<data maj:min>"
	[ "$(mapped_bytes lv)" = "$n" ] || fail "$tag: vxts maps $(mapped_bytes lv) bytes, dm-crypt $n"
	[ "$(dev_sum /dev/mapper/lv "$n")" = "$(file_sum "$tag.data")" ] ||
		fail "$tag: dm-vxts does not read what dm-crypt wrote"
	vxts status lv > st.out 2>&1 || { cat st.out; fail "$tag: vxts status lv"; }
	# idempotent like any open; resume finds nothing to do; JSON result
	vxts open lv "$dev" $hopt "$@" --json < /dev/null > again.out 2>&1 ||
		{ cat again.out; fail "$tag: a second vxts open exited $?"; }
	grep -q '"ok": *true' again.out && grep -q '"converting": *false' again.out ||
		{ cat again.out; fail "$tag: second open --json"; }
	vxts resume lv < /dev/null > res.out 2>&1 || { cat res.out; fail "$tag: vxts resume lv"; }
	grep -q "nothing to do" res.out || { cat res.out; fail "$tag: resume on a LUKS mapping"; }
	rand_file "$tag.new" 4194304
	dev_write /dev/mapper/lv "$tag.new" 1048576
	dd if="$tag.new" of="$tag.data" bs=1M seek=1 conv=notrunc status=none
	vxts close lv > /dev/null || fail "$tag: vxts close"
	[ -e /dev/mapper/lv ] && fail "$tag: /dev/mapper/lv left behind"
	keyctl show @u 2> /dev/null | grep -q 'vxts:luks' && fail "$tag: logon key left behind"
	if [ "$det" = 1 ]; then
		[ "$(file_sum "$tag.hdr")" = "$hsum" ] || fail "$tag: the LUKS header file changed"
	else
		[ "$(dev_sum "$dev" 1048576)" = "$hsum" ] || fail "$tag: the LUKS header changed"
	fi

	cryptsetup open --readonly $hopt --key-file pass "$dev" lc || fail "$tag: cryptsetup reopen"
	[ "$(dev_sum /dev/mapper/lc "$n")" = "$(file_sum "$tag.data")" ] ||
		fail "$tag: dm-crypt does not read what dm-vxts wrote"
	cryptsetup close lc
	dm_down "$PART"
	rm -f "$tag.data" "$tag.new"
}

luks_refused() {
	local dev=/dev/mapper/$PART rc
	step "refused: wrong passphrase (exit 3)"
	zero /dev/ram0
	part_up /dev/ram0
	cryptsetup luksFormat --type luks2 $LF --cipher aes-xts-plain64 --key-size 512 \
		--key-file pass "$dev" || fail "luksFormat"
	vxts open lv "$dev" --key-file wrong < /dev/null > r.out 2> r.err
	rc=$?
	cat r.err
	[ "$rc" = 3 ] || fail "wrong passphrase: exit $rc, want 3"
	[ -e /dev/mapper/lv ] && fail "wrong passphrase left a mapping"

	step "refused: wrong passphrase with an unbound keyslot in the header (exit 3)"
	printf 'unbound key' > unbound
	cryptsetup luksAddKey $LF --unbound --key-size 512 "$dev" unbound ||
		fail "luksAddKey --unbound"
	vxts open lv "$dev" --key-file wrong < /dev/null > r.out 2> r.err
	rc=$?
	cat r.err
	[ "$rc" = 3 ] || fail "wrong passphrase (unbound keyslot there): exit $rc, want 3"
	[ -e /dev/mapper/lv ] && fail "wrong passphrase left a mapping"

	step "refused: --expect-key-check on a LUKS volume (exit 5), nothing asked or mapped"
	vxts open lv "$dev" --key-file pass --expect-key-check 00000000000000000000000000000000 \
		< /dev/null > r.out 2> r.err
	rc=$?
	cat r.err
	[ "$rc" = 5 ] || fail "pinned open of a LUKS volume: exit $rc, want 5"
	[ -e /dev/mapper/lv ] && fail "a pinned open of a LUKS volume left a mapping"
	keyctl show @u 2> /dev/null | grep -q 'vxts:luks' && fail "pinned open: a logon key was loaded"

	step "refused: a LUKS2 volume dm-vxts cannot serve (exit 9)"
	zero /dev/ram0
	if cryptsetup luksFormat --type luks2 $LF --cipher aes-cbc-essiv:sha256 --key-size 256 \
		--key-file pass "$dev" > f.err 2>&1; then
		what=aes-cbc-essiv
	else
		# no essiv/cbc in this kernel: a 256-bit xts key is refused as well
		cat f.err
		cryptsetup luksFormat --type luks2 $LF --cipher aes-xts-plain64 --key-size 256 \
			--key-file pass "$dev" || fail "luksFormat (256-bit xts)"
		what="256-bit aes-xts"
	fi
	vxts open --luks lv "$dev" --key-file pass < /dev/null > r.out 2> r.err
	rc=$?
	cat r.err
	[ "$rc" = 9 ] || fail "$what: exit $rc, want 9"
	grep -q "open it with cryptsetup" r.err || fail "$what: the message names no fix"
	[ -e /dev/mapper/lv ] && fail "$what left a mapping"
	keyctl show @u 2> /dev/null | grep -q 'vxts:luks' && fail "$what: a logon key was loaded"
	dm_down "$PART"
}

# vxts side ------------------------------------------------------------------

export_case() { # <unit>
	local unit=$1 n
	step "vxts encrypt ($unit-byte units, detached header) -> vxts luks export -> cryptsetup open --header"
	zero /dev/ram1
	part_up /dev/ram1
	rand_file x.data "$BYTES"
	dev_write "/dev/mapper/$PART" x.data
	rm -f x.hdr x.luks
	vxts encrypt "/dev/mapper/$PART" --header x.hdr --key-file kek --force --no-progress \
		--sector-size "$unit" > /dev/null || fail "vxts encrypt"
	vxts luks export "/dev/mapper/$PART" x.luks --header x.hdr --key-file kek \
		--new-passphrase-file newpass --argon2-memory 8192 --argon2-time 4 \
		--argon2-parallel 1 < /dev/null || fail "vxts luks export"
	cryptsetup luksDump x.luks | grep -E 'sector|offset|cipher:' | head -n 4
	cryptsetup open --header x.luks --key-file newpass.cs "/dev/mapper/$PART" ce ||
		fail "cryptsetup open --header (exported)"
	assert_blk /dev/mapper/ce
	n=$(mapped_bytes ce)
	[ "$n" = "$BYTES" ] || fail "cryptsetup maps $n bytes, want $BYTES"
	[ "$(dev_sum /dev/mapper/ce "$BYTES")" = "$(file_sum x.data)" ] ||
		fail "dm-crypt with the exported header does not read the plaintext ($unit)"
	rand_file x.new 4194304
	dev_write /dev/mapper/ce x.new 2097152
	dd if=x.new of=x.data bs=1M seek=2 conv=notrunc status=none
	cryptsetup close ce
	vxts open xv "/dev/mapper/$PART" --header x.hdr --key-file kek < /dev/null > /dev/null ||
		fail "vxts open (vxts header)"
	[ "$(dev_sum /dev/mapper/xv "$BYTES")" = "$(file_sum x.data)" ] ||
		fail "dm-vxts does not read what dm-crypt wrote through the exported header ($unit)"
	vxts close xv > /dev/null || fail "vxts close xv"
	# the exported header also works the other way: vxts open --header x.luks
	vxts open xl "/dev/mapper/$PART" --header x.luks --passphrase-file newpass \
		< /dev/null > /dev/null || fail "vxts open of the exported LUKS2 header"
	[ "$(dev_sum /dev/mapper/xl "$BYTES")" = "$(file_sum x.data)" ] ||
		fail "vxts open --header <exported> does not read the plaintext ($unit)"
	vxts close xl > /dev/null || fail "vxts close xl"
	dm_down "$PART"
}

luks_case l2-512 luks2 512 0 --passphrase-file pass
luks_case l2-4k luks2 4096 0 --luks --key-file pass
luks_case l2-4k-hdr luks2 4096 1 --passphrase-file pass
luks_case l1 luks1 512 0 --key-file pass
luks_refused
export_case 512
export_case 4096
