#!/bin/sh
# A partially converted device, each direction (docs/ONLINE.md): the lower
# half of ram0 is prepared in the new form and the upper half in the old form
# with dm-crypt and raw writes, then vxts maps it with convert:<dir>:<half>.
#  - reads give the plaintext everywhere, also a read crossing the boundary;
#  - a write crossing the boundary lands in both forms, split at the
#    boundary, checked on the lower device through dm-crypt and raw reads;
#  - status fields 9-15 and the table line (current boundary, no key bytes);
#  - bad convert:/old_key: lines are refused.
. /vxts/guest-lib.sh
need_vxts
[ "$VX" = vxts ] || skip "convert: is a vxts-only option"

len=16384			# 8 MiB
half=8192			# the boundary, 4 MiB
hb=$((half * 512))
key_new knew
key_new kold
hnew=$(key_hex knew)
hold=$(key_hex kold)
rand_file p.bin $((len * 512))
head -c "$hb" p.bin > p.lo
tail -c +$((hb + 1)) p.bin > p.hi
rand_file q.bin 262144		# crosses the boundary: 128 KiB each side
qoff=$((hb - 131072))
head -c 131072 q.bin > q.lo
tail -c +131073 q.bin > q.hi

# dm-crypt view of ram0 under <hex key>, as mapping "dc".
dc_up() { # <hex> <opts...>
	local k=$1
	shift
	tbl crypt "$k" 0 /dev/ram0 0 "$len" "$@" > dc.tbl
	dm_up dc dc.tbl
}

# Put the lower device in the partial state of <dir>.
prepare() { # <dir> <opts...>
	local dir=$1
	shift
	dev_zero /dev/ram0
	case $dir in
	encrypt)	# [0,half) ciphertext under knew, the rest plaintext
		dc_up "$hnew" "$@"; dev_write /dev/mapper/dc p.bin; dm_down dc
		dev_write /dev/ram0 p.hi "$hb" ;;
	decrypt)	# [0,half) plaintext, the rest ciphertext under knew
		dc_up "$hnew" "$@"; dev_write /dev/mapper/dc p.bin; dm_down dc
		dev_write /dev/ram0 p.lo 0 ;;
	reencrypt)	# [0,half) under knew, the rest under kold
		dc_up "$hold" "$@"; dev_write /dev/mapper/dc p.bin; dm_down dc
		dc_up "$hnew" "$@"; dev_write /dev/mapper/dc p.lo; dm_down dc ;;
	esac
}

# <file> must be at <byte offset> of ram0 in the <form> of <dir>.
lower_has() { # <dir> <new|old> <file> <offset> <what> <opts...>
	local dir=$1 form=$2 f=$3 off=$4 what=$5 k
	shift 5
	case $dir/$form in
	encrypt/old | decrypt/new)
		assert_dev_has /dev/ram0 "$f" "$off" "$what (raw plaintext)"
		return ;;
	reencrypt/old) k=$hold ;;
	*) k=$hnew ;;
	esac
	assert_dev_lacks /dev/ram0 "$f" "$off" "$what (not plaintext)"
	dc_up "$k" "$@"
	assert_dev_has /dev/mapper/dc "$f" "$off" "$what (dm-crypt)"
	dm_down dc
}

check_dir() { # <dir> <opts...>
	local dir=$1 opts extra
	shift
	opts="$*"
	step "$dir, opts '$opts', boundary $half"
	prepare "$dir" "$@"
	extra="convert:$dir:$half"
	[ "$dir" = reencrypt ] && extra="$extra old_key:$hold"
	tbl "$VX" "$hnew" 0 /dev/ram0 0 "$len" $opts $extra > vx.tbl
	dm_up vx vx.tbl

	assert_field vx convert "$dir" "$dir"
	assert_field vx boundary "$half" "$dir"
	assert_field vx window - "$dir"
	assert_field vx held 0 "$dir"
	dmsetup table vx | grep -q "convert:$dir:$half" ||
		fail "$dir: table does not re-emit the boundary: $(dmsetup table vx)"
	dmsetup table vx | grep -qi "$hnew\|$hold" && fail "$dir: table shows a key"
	dmsetup table vx | grep -q " old_key:" && [ "$dir" != reencrypt ] &&
		fail "$dir: old_key in the table"
	if [ "$dir" = reencrypt ]; then
		case " $(dmsetup table vx) " in
		*" old_key:- "*) ;;
		*) fail "$dir: old_key not re-emitted as '-'" ;;
		esac
	fi

	[ "$(dev_sum /dev/mapper/vx $((len * 512)))" = "$(file_sum p.bin)" ] ||
		fail "$dir: the mapping does not read the plaintext"
	# One 256 KiB read and one write straddling the boundary.
	dd if=/dev/mapper/vx bs=256k iflag=direct,skip_bytes skip="$qoff" count=1 \
		status=none > x.bin || fail "$dir: crossing read failed"
	tail -c +$((qoff + 1)) p.bin | head -c 262144 | cmp -s - x.bin ||
		fail "$dir: the read crossing the boundary returned wrong data"
	dd if=q.bin of=/dev/mapper/vx bs=256k oflag=direct,seek_bytes seek="$qoff" \
		conv=fsync status=none || fail "$dir: crossing write failed"
	assert_dev_has /dev/mapper/vx q.bin "$qoff" "$dir: read back"
	[ "$(dm_field vx held_total)" = 0 ] || fail "$dir: bios held without a window"
	set -- $(dmsetup status vx)
	[ "${11}" = 0 ] || fail "$dir: ${11} bios refused"
	dm_down vx
	lower_has "$dir" new q.lo "$qoff" "$dir: below the boundary" $opts
	lower_has "$dir" old q.hi "$hb" "$dir: above the boundary" $opts
	# The untouched rest is still in its form too.
	lower_has "$dir" old p.hi.tail $((hb + 262144)) "$dir: old half" $opts
}
tail -c +262145 p.hi | head -c 1048576 > p.hi.tail

check_dir encrypt sector_size:4096
check_dir decrypt
check_dir reencrypt sector_size:4096 iv_large_sectors

step "boundary 0 and boundary len"
dev_zero /dev/ram0
dev_write /dev/ram0 p.bin
tbl "$VX" "$hnew" 0 /dev/ram0 0 "$len" convert:encrypt:0 > vx.tbl
dm_up vx vx.tbl
[ "$(dev_sum /dev/mapper/vx $((len * 512)))" = "$(file_sum p.bin)" ] ||
	fail "convert:encrypt:0 does not read the raw plaintext"
dm_down vx
tbl "$VX" "$hnew" 0 /dev/ram0 0 "$len" convert:decrypt:$len > vx.tbl
dm_up vx vx.tbl
[ "$(dev_sum /dev/mapper/vx $((len * 512)))" = "$(file_sum p.bin)" ] ||
	fail "convert:decrypt:$len does not read the raw plaintext"
dm_down vx

step "bad convert lines are refused"
for o in "convert:encrypt:$((len + 8))" "convert:encrypt:4" "convert:encrypt" \
	"convert:Encrypt:0" "convert:encrypt:08" "convert:reencrypt:0" \
	"convert:encrypt:0 old_key:$hold" "old_key:$hold" "convert:decrypt:-8" \
	"convert:encrypt:0 convert:encrypt:0" "convert:reencrypt:0 old_key:zz"; do
	tbl "$VX" "$hnew" 0 /dev/ram0 0 "$len" sector_size:4096 $o > bad.tbl
	dm_up_refused bad bad.tbl || fail "accepted: $(echo "$o" | sed 's/[0-9a-f]\{64,\}/<key>/')"
done
exit 0
