#!/bin/sh
# Filesystems stay mounted and written through a whole online life cycle:
# ext4 and XFS on a 32 MiB disk (a loop device on tmpfs) with seed files of known SHA-256, a
# writer creating, appending and deleting files (each fsync'ed, mirrored on
# tmpfs once durable) while `vxts encrypt --online`, then `reencrypt
# --online`, then `decrypt --online` run. After the encrypt and after the
# re-key the filesystem is frozen (remount ro) and stock dm-crypt with the
# volume key must read exactly what the mapping reads; `vxts pause` holds
# the boundary still and releases the window; `vxts close` is refused while
# the filesystem is mounted. At the end every file
# verifies, the raw disk is plaintext and fsck / xfs_repair -n are clean.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online
modprobe ext4 || fail "no ext4"
modprobe xfs || fail "no xfs"

MIB=32
truncate -s ${MIB}M disk.img
DEV=$(losetup -f --show disk.img) && assert_blk "$DEV"
HDR="--header hdr"
# 40 ms holds: windows 4x the default's, so the six passes fit the layer's
# budget under TCG (30-online-basic runs the default)
HOLD="--max-hold-ms 40"
MNT=/mnt/ofs
mkdir -p "$MNT"
# On any exit: stop the writer and a converter still running, unmount, so
# the harness can remove the mappings afterwards.
trap 'touch mir.stop; kill ${WRITER_PID:-} ${ONLINE_PID:-} 2> /dev/null; sleep 1; umount "$MNT" 2> /dev/null' EXIT
VERIFIED_KIB=0

mkfs_of() { # <fs> <dev>
	# 4096-byte blocks and sectors: the mapping has 4096-byte logical
	# blocks (the data unit), and a filesystem made on the raw 512-byte
	# disk with smaller ones (mke2fs picks 1 KiB below 512 MiB, mkfs.xfs
	# 512-byte sectors) cannot be mounted on it
	case "$1" in
	ext4) mke2fs -t ext4 -b 4096 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
	xfs) TEST_DIR=/tmp TEST_DEV="$2" QA_CHECK_FS=1 mkfs.xfs -q -f -s size=4096 "$2" ;;
	esac || fail "mkfs $1 failed"
}

fsck_of() { # <fs> <dev>
	case "$1" in
	ext4) e2fsck -fn "$2" > fsck.txt 2>&1 ;;
	xfs) xfs_repair -n "$2" > fsck.txt 2>&1 ;;
	esac || { cat fsck.txt; fail "$1 check of $2 found problems"; }
}

# The mapping and dm-crypt over the raw disk read the same bytes (fs frozen).
crypt_same() { # <fs> <what>
	mount -o remount,ro "$MNT" || fail "remount ro"
	vol_key_file vk.bin "$DEV" $HDR
	crypt_open dc "$DEV" vk.bin --shared	# the mapping holds $DEV
	[ "$(dev_sum /dev/mapper/dc $((MIB << 20)))" = "$(dev_sum /dev/mapper/of $((MIB << 20)))" ] ||
		fail "$1 $2: dm-crypt reads other bytes than the vxts mapping"
	[ "$(dev_sum "$DEV" 1048576)" != "$(dev_sum /dev/mapper/of 1048576)" ] ||
		fail "$1 $2: the disk holds plaintext"
	dm_down dc
	rm -f vk.bin
	mount -o remount,rw "$MNT" || fail "remount rw"
	echo "   $2: dm-crypt with the volume key reads the same $MIB MiB as the mapping"
}

# One online pass with the writer running; the filesystem stays mounted.
pass() { # <fs> <verb> <final target> [args]
	local fs=$1 verb=$2 want=$3 t0
	shift 3
	fs_writer_start "$MNT" mir
	t0=$(now_ms)
	online_bg "$verb" "$verb" of "$DEV" $HDR $HOLD "$@"
	online_wait "$verb" "$ONLINE_PID"
	fs_writer_stop mir
	[ "$(dm_target_of of)" = "$want" ] && [ -z "$(dm_field of convert)" ] ||
		fail "$fs $verb: the final table is not $want: $(dmsetup table of | sed 's/[0-9a-f]\{64,\}/<key>/')"
	echo "   $fs $verb --online: $(( ($(now_ms) - t0) / 100 ))00 ms; $(tail -n 1 "$verb.out")"
	fs_verify "$MNT" mir "$fs after $verb"
}

for fs in ext4 xfs; do
	step "$fs: seed files, unmount, then encrypt --online with the filesystem mounted"
	dd if=/dev/zero of="$DEV" bs=1M count=$MIB conv=fsync status=none
	rm -rf mir mir.* hdr
	mkfs_of "$fs" "$DEV"
	mount -t "$fs" "$DEV" "$MNT" || fail "mount $fs"
	fs_seed "$MNT" mir
	umount "$MNT" || fail "umount"

	# The raw disk must be free when NAME is created: the converter maps
	# it, the operator mounts the mapping (docs/ONLINE.md).
	online_bg encrypt encrypt of "$DEV" $HDR $HOLD
	enc=$ONLINE_PID
	wait_node of || { cat encrypt.err; fail "no /dev/mapper/of"; }
	mount -t "$fs" /dev/mapper/of "$MNT" || fail "mount /dev/mapper/of during encrypt"
	fs_writer_start "$MNT" mir
	sleep 1
	if kill -0 "$enc" 2> /dev/null && [ -n "$(dm_field of convert)" ]; then
		vxts pause of > pause.out 2>&1 || { rc=$?; cat pause.out; fail "vxts pause: exit $rc"; }
		b1=$(dm_boundary of)
		if [ -z "$(dm_field of convert)" ]; then
			# the last window ended while the pause was asked for
			echo "   note: encrypt finished while pausing ($(cat pause.out))"
		else
			[ "$(dm_field of window)" = - ] || fail "paused, but window $(dm_field of window) is held"
			sleep 1
			[ "$(dm_boundary of)" = "$b1" ] || fail "paused, but the boundary moved $b1 -> $(dm_boundary of)"
			vxts resume of > resume.out 2>&1 || { rc=$?; cat resume.out; fail "vxts resume: exit $rc"; }
			echo "   paused at sector $b1 for 1 s ($(cat pause.out))"
		fi
	else
		echo "   note: encrypt finished before the pause check"
	fi
	online_wait encrypt "$enc"
	fs_writer_stop mir
	[ "$(dm_target_of of)" = vxts ] && [ -z "$(dm_field of convert)" ] ||
		fail "$fs encrypt: the final table is not plain vxts"
	fs_verify "$MNT" mir "$fs after encrypt"
	vxts close of > close.out 2>&1 && fail "vxts close of succeeded with the filesystem mounted"
	assert_blk /dev/mapper/of
	echo "   vxts close while mounted: refused ($(tail -n 1 close.out))"
	crypt_same "$fs" "after encrypt"

	step "$fs: reencrypt --online, then decrypt --online, still mounted"
	pass "$fs" reencrypt vxts
	crypt_same "$fs" "after reencrypt"
	pass "$fs" decrypt linear
	umount "$MNT" || fail "umount"
	dm_down of

	step "$fs: the raw disk is the plaintext filesystem"
	fsck_of "$fs" "$DEV"
	mount -t "$fs" -o ro "$DEV" "$MNT" || fail "mount the decrypted disk"
	fs_verify "$MNT" mir "$fs on the raw disk"
	umount "$MNT"
done
echo "   verified $VERIFIED_KIB KiB of files in all"
exit 0
