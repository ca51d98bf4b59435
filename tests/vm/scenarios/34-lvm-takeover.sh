#!/bin/sh
# Live takeover of an LVM logical volume: ext4 on vg/lv is mounted and
# written (fsync'ed files mirrored on tmpfs) while `vxts encrypt --online
# vg-lv /dev/vg/lv` moves the LV's table to vg-lv-vxts-inner and loads the
# vxts table into vg-lv itself; the filesystem never unmounts. At the end
# the files verify, vg-lv is a vxts table over the inner device, and the
# inner one is the LV's old linear table. Then a "reboot": every mapping
# and key is gone and `vgchange -ay` brings the LV back as plain linear
# over ciphertext; `vxts open` redoes the takeover and the files read back.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online
modprobe ext4 || fail "no ext4"

VG=vxvg
LV=data
NAME=$VG-$LV
HDR="--header hdr"
MNT=/mnt/lv
mkdir -p "$MNT" /mnt/lvg /run/lock/lvm
# On any exit: stop the writer and the converter, unmount, so the harness
# can remove the mappings afterwards.
trap 'touch mir.stop; kill ${WRITER_PID:-} ${ONLINE_PID:-} 2> /dev/null; sleep 1; umount "$MNT" 2> /dev/null; umount /mnt/lvg 2> /dev/null' EXIT

step "VG on /dev/ram1, a 48 MiB LV, ext4 mounted with seed files"
lvm_q pvcreate -y /dev/ram1
lvm_q vgcreate "$VG" /dev/ram1
lvm_q lvcreate -y -Wn -L 48M -n "$LV" "$VG"
assert_blk "/dev/mapper/$NAME"
[ -e "/dev/$VG/$LV" ] || fail "no /dev/$VG/$LV"
old=$(dmsetup table "$NAME")
echo "   $NAME: $old"
mke2fs -t ext4 -b 4096 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "/dev/$VG/$LV" || fail "mke2fs"
mount -t ext4 "/dev/$VG/$LV" "$MNT" || fail "mount"
fs_seed "$MNT" mir

step "encrypt --online $NAME /dev/$VG/$LV: takeover under a mounted, written filesystem"
# without --takeover-lvm an LV is refused (exit 2), nothing touched
vxts encrypt --online "$NAME" "/dev/$VG/$LV" $HDR --key-file "$ONLINE_KEK" --no-progress \
	< /dev/null > nolvm.out 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat nolvm.out; fail "LV takeover without --takeover-lvm: exit $rc, not 2"; }
dmsetup info "$NAME-vxts-inner" > /dev/null 2>&1 && fail "refused takeover left an inner device"
fs_writer_start "$MNT" mir
sleep 1
online_bg enc encrypt "$NAME" "/dev/$VG/$LV" $HDR --rate-limit 12M --takeover-lvm
online_wait enc "$ONLINE_PID"
sleep 1
fs_writer_stop mir
grep -q " $MNT " /proc/mounts || fail "the filesystem was unmounted"
fs_verify "$MNT" mir "ext4 on the LV after takeover + encrypt"
tail -n 1 enc.out
[ "$(dm_target_of "$NAME")" = vxts ] && [ -z "$(dm_field "$NAME" convert)" ] ||
	fail "$NAME is not the plain vxts table: $(dmsetup table "$NAME" | sed 's/[0-9a-f]\{64,\}/<key>/')"
assert_blk "/dev/mapper/$NAME-vxts-inner"
inner=$(dmsetup table "$NAME-vxts-inner")
[ "$inner" = "$old" ] || fail "the inner device is not the LV's old table: '$inner' vs '$old'"
inner_dev=$(dmsetup info -c --noheadings -o major,minor "$NAME-vxts-inner" | tr -d ' ')
dmsetup table "$NAME" | grep -q " $inner_dev " ||
	fail "$NAME does not map over $NAME-vxts-inner ($inner_dev): $(dmsetup table "$NAME" | sed 's/[0-9a-f]\{64,\}/<key>/')"
dmsetup table "$NAME" | grep -qE '[0-9a-f]{64}' && fail "a key on the table line"
# the LV underneath is ciphertext now
vxts status "$NAME" $HDR > st.txt 2>&1 || { cat st.txt; fail "vxts status $NAME"; }
grep -q 'inner' st.txt || { cat st.txt; fail "vxts status does not name the inner device"; }

step "reboot: all mappings and keys gone, vgchange -ay, vxts open redoes the takeover"
umount "$MNT" || fail "umount"
dmsetup remove "$NAME" || fail "remove $NAME"
dmsetup remove "$NAME-vxts-inner" || fail "remove the inner device"
keyctl clear @u
rm -rf /run/vxts
lvm_q vgchange -ay "$VG"
[ "$(dmsetup table "$NAME")" = "$old" ] || fail "the LV came back with another table"
mount -t ext4 -o ro "/dev/$VG/$LV" "$MNT" 2> /dev/null && { umount "$MNT"; fail "the raw LV mounts: not encrypted"; }
vxts open "$NAME" "/dev/$VG/$LV" $HDR --key-file "$ONLINE_KEK" --takeover-lvm > open.out 2>&1 ||
	{ cat open.out; fail "vxts open $NAME after the reboot: exit $?"; }
[ "$(dm_target_of "$NAME")" = vxts ] || fail "vxts open did not load vxts into $NAME"
[ "$(dmsetup table "$NAME-vxts-inner")" = "$old" ] || fail "vxts open: no inner device with the LV's table"
mount -t ext4 "/dev/$VG/$LV" "$MNT" || fail "mount after vxts open"
fs_verify "$MNT" mir "ext4 on the LV after reboot + vxts open"
umount "$MNT"
e2fsck -fn "/dev/$VG/$LV" > fsck.txt 2>&1 || { cat fsck.txt; fail "e2fsck found problems"; }
vxts close "$NAME" > close.out 2>&1 || { cat close.out; fail "vxts close $NAME: exit $?"; }
echo "   after close: $(dmsetup ls | tr '\n' ' ')"

# A filesystem with 1 KiB blocks issues 1 KiB IO, which a mapping with
# 4096-byte units refuses: taking it over would fail the mounted
# filesystem's writes. Whatever vxts does (refuse, or pick 512-byte
# units), the filesystem must keep working.
step "guard: a mounted ext4 with 1 KiB blocks survives encrypt --online"
lvm_q lvcreate -y -Wn -L 12M -n g "$VG"
assert_blk "/dev/mapper/$VG-g"
mke2fs -t ext4 -b 1024 -q -F "/dev/$VG/g" || fail "mke2fs -b 1024"
mount -t ext4 "/dev/$VG/g" /mnt/lvg || fail "mount the 1 KiB ext4"
echo before > /mnt/lvg/before && sync
gold=$(dmsetup table "$VG-g")
vxts encrypt --online "$VG-g" "/dev/$VG/g" --header hdr2 --key-file "$ONLINE_KEK" \
	--no-progress --takeover-lvm < /dev/null > g.out 2>&1
rc=$?
echo "   vxts encrypt --online $VG-g: exit $rc: $(tail -n 1 g.out)"
if [ "$rc" -ne 0 ]; then
	# refused: the takeover must be undone completely
	[ "$(dmsetup table "$VG-g")" = "$gold" ] ||
		fail "refused, but $VG-g's table changed: $(dmsetup table "$VG-g" | sed 's/[0-9a-f]\{64,\}/<key>/')"
	dmsetup info "$VG-g-vxts-inner" > /dev/null 2>&1 && fail "refused, but $VG-g-vxts-inner is left behind"
fi
head -c 65536 /dev/urandom > after.bin
cp after.bin /mnt/lvg/after && sync ||
	fail "the 1 KiB-block filesystem fails writes after vxts encrypt --online (exit $rc)"
cmp -s after.bin /mnt/lvg/after || fail "the 1 KiB-block filesystem lost a write"
umount /mnt/lvg || fail "umount the 1 KiB ext4"
e2fsck -fn "/dev/$VG/g" > fsck.txt 2>&1 || { cat fsck.txt; fail "the 1 KiB ext4 is damaged after vxts encrypt --online (exit $rc)"; }
exit 0
