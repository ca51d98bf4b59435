#!/bin/sh
# Boot from /etc/vxtstab without systemd (docs/BOOT.md): what a busybox or
# sysvinit boot runs is `vxts tab open` then `mount -a`. Four volumes, then
# a simulated reboot (every mapping removed, keys unlinked, /run/vxts gone):
#  a) ext4 encrypted offline, header at the end, found by UUID= (no udev:
#     the block devices are scanned) with a key file;
#  b) ext4 encrypted online under a writer, SIGKILLed past half way; the
#     disk and header as they were at that moment come back, `tab open`
#     recovers the cut window, the filesystem mounts at once and the
#     conversion finishes in the background (a detached child, seen by
#     `vxts status`); files and the writer's data verify, and dm-crypt with
#     the volume key reads the same plaintext as the mapping;
#  c) a volume keyed by the local test KMS helper (sh over openssl);
#  d) a nofail entry whose device is missing and one whose key is prompted
#     for (no TTY) do not stop the others; an entry with a wrong key and no
#     nofail makes the exit non-zero with a message naming it; opening
#     again is idempotent; `tab close` closes them all;
#  e) a LUKS2 volume made by cryptsetup, entered as UUID= with `luks`.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online
modprobe ext4 || fail "no ext4"
vxts tab check --help > /dev/null 2>&1 || skip "no vxts tab verbs"

# The initramfs root is mode 1777; a real root is 0755, and `tab open`
# refuses a KMS helper (/vxts/vxts-kms-local) under a directory others may change.
chmod 0755 /
W=$PWD
TAB=/etc/vxtstab
KA=$W/ka
KB=$W/$ONLINE_KEK
KD=$W/kd
export VXTS_KMS_DIR=$W/kms
MIB_B=32
mkdir -p /mnt/a /mnt/b /mnt/c "$VXTS_KMS_DIR"
key_new "$KA" 64
key_new "$KD" 64
key_new "$W/wrong" 64
chmod 600 "$KA" "$KD" "$W/wrong"
# On any exit: stop writers and converters, unmount, drop the table, so the
# harness can remove the mappings afterwards.
trap 'touch "$W/mir.stop"; kill ${WRITER_PID:-} ${ONLINE_PID:-} 2> /dev/null; sleep 1;
	umount /mnt/a /mnt/b /mnt/c 2> /dev/null; vxts tab close > /dev/null 2>&1;
	rm -f /etc/vxtstab /etc/fstab' EXIT

mkfs4() { # <dev> [blocks]
	mke2fs -t ext4 -b 4096 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$@" ||
		fail "mke2fs $1"
}

loopdev() { # <image> <MiB>: a loop device over a new sparse file on tmpfs
	truncate -s "$2M" "$1"
	losetup -f --show "$1"
}

uuid_of() { # <device> [--header H]: the vxts volume uuid
	vxts dump "$@" 2> /dev/null | sed -n 's/^uuid:[[:space:]]*\([0-9a-f-]*\).*/\1/p' | head -n 1
}

# A writer whose mirror is updated by rename: a copy of the mirror taken at
# any moment holds only whole files that the filesystem made durable.
bw_writer() { # <dir> <mirror> <stop>
	local i=0
	mkdir -p "$1/w" "$2/w" || return 1
	while [ ! -e "$3" ]; do
		i=$((i + 1))
		head -c $(((RANDOM % 48 + 1) * 1024)) /dev/urandom > "$2.chunk"
		dd if="$2.chunk" of="$1/w/f$i" bs=64k conv=fsync status=none ||
			{ echo "writer: write of f$i failed" >&2; return 1; }
		cp "$2.chunk" "$2/w/.new" && mv "$2/w/.new" "$2/w/f$i"
		echo "$i" > "$2.n"
	done
}

step "a: ext4 on a 32 MiB disk, encrypted offline (header at the end), UUID= entry"
DA=$(loopdev "$W/a.img" 32) && assert_blk "$DA"
mkfs4 "$DA" 4096			# 16 MiB of filesystem, the last 16 MiB for the header
mount -t ext4 "$DA" /mnt/a || fail "mount a"
fs_seed /mnt/a mira
umount /mnt/a
vxts encrypt "$DA" --key-file "$KA" --no-progress < /dev/null > enc-a.out 2>&1 ||
	{ cat enc-a.out; fail "offline encrypt of a: exit $?"; }
UA=$(uuid_of "$DA")
[ -n "$UA" ] || { vxts dump "$DA"; fail "no uuid in vxts dump of a"; }
mount -t ext4 -o ro "$DA" /mnt/a 2> /dev/null && { umount /mnt/a; fail "the raw disk a still mounts"; }
echo "   a: $DA uuid $UA"

step "b: ext4 on a $MIB_B MiB disk, encrypt --online under a writer, SIGKILL past half way"
DB=$(loopdev "$W/b.img" $MIB_B) && assert_blk "$DB"
mkfs4 "$DB"
mount -t ext4 "$DB" /mnt/b || fail "mount b"
fs_seed /mnt/b mirb
umount /mnt/b
vxts encrypt --online bootb "$DB" --header "$W/hb" --key-file "$KB" --no-progress \
	--rate-limit 2M < /dev/null > enc-b.out 2> enc-b.err &
ONLINE_PID=$!
wait_node bootb || { cat enc-b.err; fail "no /dev/mapper/bootb"; }
mount -t ext4 /dev/mapper/bootb /mnt/b || fail "mount /dev/mapper/bootb"
rm -f "$W/mir.stop"
bw_writer /mnt/b "$W/mirb" "$W/mir.stop" &
WRITER_PID=$!
half=$((MIB_B * 1024))			# sectors
i=0
while [ "$(dm_boundary bootb)" -lt "$half" ] 2> /dev/null; do
	kill -0 "$ONLINE_PID" 2> /dev/null || { cat enc-b.err; fail "encrypt ended before half way"; }
	i=$((i + 1))
	[ "$i" -lt 1200 ] || fail "encrypt not half way after 120 s"
	sleep 0.1
done
kill -9 "$ONLINE_PID"
wait "$ONLINE_PID" 2> /dev/null
cut_at=$(dm_boundary bootb)
echo "   converter killed at sector $cut_at of $((MIB_B * 2048)), window $(dm_field bootb window)"
# The power cut: freeze the mapping without waiting for a held window, copy
# the disk, its header and the writer's mirror as they are now.
dmsetup suspend --noflush bootb || fail "suspend --noflush bootb"
cp "$W/b.img" "$W/b-cut.img"
cp "$W/hb" "$W/hb-cut"
rm -rf "$W/mirb-cut"
cp -r "$W/mirb" "$W/mirb-cut"
rm -f "$W/mirb-cut/w/.new"
dmsetup resume bootb || fail "resume bootb"
# The machine that was running goes away: its converter finishes (which
# also lets the writer's held write through), the writer stops, unmounted.
vxts resume bootb --key-file "$KB" --no-progress < /dev/null > res-old.out 2>&1 ||
	{ cat res-old.out; fail "resume of the old stack: exit $?"; }
touch "$W/mir.stop"
wait "$WRITER_PID" || fail "the writer saw an error"
WRITER_PID=
echo "   writer: $(cat "$W/mirb.n") writes; $(find "$W/mirb-cut/w" -type f | wc -l) durable at the cut"
umount /mnt/b || fail "umount b"
dm_down bootb
losetup -d "$DB"
rm -f "$W/b.img" "$W/hb"

step "c: a volume keyed by the local KMS helper (vxts-kms-local, openssl)"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$VXTS_KMS_DIR/disk-kek.pem" 2> /dev/null || fail "openssl genpkey"
chmod 600 "$VXTS_KMS_DIR/disk-kek.pem"
DC=$(loopdev "$W/c.img" 40) && assert_blk "$DC"
vxts format "$DC" --kms-command /vxts/vxts-kms-local --kms-key-id disk-kek --yes \
	< /dev/null > fmt-c.out 2>&1 || { cat fmt-c.out; fail "format c with the KMS: exit $?"; }
UC=$(uuid_of "$DC")
vxts open bootc "$DC" --kms-command /vxts/vxts-kms-local < /dev/null > open-c.out 2>&1 ||
	{ cat open-c.out; fail "vxts open c with the KMS: exit $?"; }
mkfs4 /dev/mapper/bootc
mount -t ext4 /dev/mapper/bootc /mnt/c || fail "mount c"
fs_seed /mnt/c mirc
umount /mnt/c
vxts close bootc > /dev/null || fail "close c"

step "d: a volume the table gives a wrong key"
DD=$(loopdev "$W/d.img" 20) && assert_blk "$DD"
vxts format "$DD" --key-file "$KD" --yes < /dev/null > fmt-d.out 2>&1 ||
	{ cat fmt-d.out; fail "format d: exit $?"; }

step "e: a LUKS2 volume made by cryptsetup, entered as UUID= with luks (found through libblkid)"
DL=$(loopdev "$W/l.img" 24) && assert_blk "$DL"
printf 'luks pass phrase' > "$W/lpass"
chmod 600 "$W/lpass"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--cipher aes-xts-plain64 --key-size 512 --sector-size 4096 --key-file "$W/lpass" "$DL" ||
	fail "luksFormat"
UL=$(cryptsetup luksUUID "$DL")
cryptsetup open --key-file "$W/lpass" "$DL" lc || fail "cryptsetup open"
rand_file lplain 1048576
dev_write /dev/mapper/lc lplain 65536
cryptsetup close lc || fail "cryptsetup close"

step "reboot: every mapping removed, keys unlinked, /run/vxts gone; disk b as it was at the cut"
dmsetup ls | grep -q boot && fail "mappings left: $(dmsetup ls)"
keyctl clear @u
rm -rf /run/vxts
DB=$(losetup -f --show "$W/b-cut.img") && assert_blk "$DB"
mv "$W/hb-cut" "$W/hb"
cat > "$TAB" <<EOF
# vxtstab of scenario 40
boota   UUID=$UA   -        key-file=$KA
bootb   $DB        $W/hb    key-file=$KB     max-hold-ms=40,rate-limit=2M
bootc   UUID=$UC   -        kms=/vxts/vxts-kms-local   _netdev,kms-timeout=60
gone    /dev/vxts-no-such-disk  -  key-file=$KA   nofail,timeout=1
ask     $DD        -        -                nofail,noresume
bootd   $DD        -        key-file=$W/wrong
bootl   UUID=$UL   -        key-file=$W/lpass   luks
EOF
chmod 644 "$TAB"
cat > /etc/fstab <<EOF
/dev/mapper/boota  /mnt/a  ext4  defaults  0 0
/dev/mapper/bootb  /mnt/b  ext4  defaults  0 0
/dev/mapper/bootc  /mnt/c  ext4  defaults  0 0
EOF
# check finds devices and key sources without unlocking: the missing device
# of a nofail entry and the prompted key are warnings, not errors
vxts tab check > check.out 2>&1
rc=$?
sed 's/^/   check: /' check.out
[ "$rc" -eq 0 ] || fail "tab check: exit $rc"
grep -q "^boota (line 2): $DA" check.out || fail "tab check did not find boota's UUID on $DA"
grep -q '^gone (line 5): no device: warning' check.out || fail "tab check: no warning for gone"

step "a clone of disk a attached: its UUID= matches two devices, both named, nothing opened"
cp "$W/a.img" "$W/a2.img"
DA2=$(losetup -f --show "$W/a2.img") && assert_blk "$DA2"
vxts tab open boota < /dev/null > dup.out 2>&1
rc=$?
sed 's/^/   /' dup.out | head -n 1
[ "$rc" -eq 2 ] || fail "UUID on two devices: tab open exit $rc, want 2"
grep -q "matches both $DA and $DA2\|matches both $DA2 and $DA" dup.out || fail "the two devices are not named"
[ -b /dev/mapper/boota ] && fail "boota opened although its UUID is on two devices"
losetup -d "$DA2"
rm -f "$W/a2.img"

step "boot: vxts tab open; mount -a"
t0=$(now_ms)
vxts tab open < /dev/null > open.out 2> open.err
rc=$?
sed 's/^/   /' open.out
sed 's/^/   stderr: /' open.err
[ "$rc" -eq 3 ] || fail "tab open: exit $rc, want 3 (bootd's wrong key, the first required failure)"
grep -q '^bootd: failed (exit 3' open.out || fail "no result line naming bootd's failure"
grep -q 'bootd' open.err || fail "stderr does not name bootd"
grep -q '^gone: failed (exit 8' open.out || fail "the missing nofail device is not reported"
grep -q '^ask: failed (exit 10' open.out || fail "the prompted key without a TTY is not exit 10"
grep -q '^bootb: open.*background, pid [0-9]*, log ' open.out ||
	fail "bootb: no background conversion reported"
for n in boota bootb bootc; do
	assert_blk "/dev/mapper/$n"
done
[ -b /dev/mapper/bootd ] && fail "bootd opened with a wrong key"
assert_blk /dev/mapper/bootl
[ "$(dm_target_of bootl)" = vxts ] || fail "bootl is not served by dm-vxts"
assert_dev_has /dev/mapper/bootl lplain 65536 "the LUKS2 volume opened by tab open"
echo "   bootl: LUKS2 $UL found on $DL, served by dm-vxts, reads what dm-crypt wrote"
mount -a || fail "mount -a"
echo "   opened and mounted in $(( ($(now_ms) - t0) / 100 ))00 ms"
for n in a b c; do
	grep -q " /mnt/$n " /proc/mounts || fail "/mnt/$n is not mounted"
done
# the rest of b (16 MiB at rate-limit=2M from the table) takes ~8 s: the
# background child must be the converter `vxts status` reports
bgpid=$(sed -n 's/^bootb: .*background, pid \([0-9]*\),.*/\1/p' open.out)
vxts status bootb --json > st.json 2>&1 || { cat st.json; fail "vxts status bootb: exit $?"; }
grep -q '"convert":"encrypt"' st.json || { cat st.json; fail "status: bootb is not converting"; }
grep -q "\"running\":true,\"pid\":$bgpid," st.json ||
	{ cat st.json; fail "status: the converter is not the background child $bgpid"; }
echo "   status: conversion of bootb in progress, converter pid $bgpid (the background child)"

step "a, c: files verify after the reboot"
fs_verify /mnt/a mira "a (UUID=, key file)"
fs_verify /mnt/c mirc "c (UUID=, KMS helper)"

step "b: files verify at once, while the conversion runs in the background"
fs_verify /mnt/b mirb-cut "b after the reboot (seed + writer's durable files)"
i=0
while :; do
	vxts status bootb --json > st.json 2>&1 || { cat st.json; fail "vxts status bootb: exit $?"; }
	# done: the final table is in and the converter has exited (it logs
	# and drops its lock a moment after the reload)
	if ! grep -q '"convert":"encrypt"' st.json && ! grep -q '"running":true' st.json; then
		break
	fi
	i=$((i + 1))
	[ "$i" -lt 600 ] || { cat /run/vxts/bootb.log; fail "background conversion not done after 300 s"; }
	sleep 0.5
done
sed 's/^/   log: /' /run/vxts/bootb.log | tail -n 3
grep -q '"convert":"none"' st.json || { cat st.json; fail "bootb is not fully converted"; }
grep -q '"running":false' st.json || { cat st.json; fail "converter still registered after the end"; }
[ "$(dm_target_of bootb)" = vxts ] && [ -z "$(dm_field bootb convert)" ] ||
	fail "bootb is not the plain vxts table after the background conversion"
fs_verify /mnt/b mirb-cut "b after the background conversion"
umount /mnt/b || fail "umount b"
e2fsck -fn /dev/mapper/bootb > fsck.txt 2>&1 || { cat fsck.txt; fail "e2fsck of bootb"; }
vol_key_file vk.bin "$DB" --header "$W/hb"
crypt_open dcb "$DB" vk.bin --shared
[ "$(dev_sum /dev/mapper/dcb $((MIB_B << 20)))" = "$(dev_sum /dev/mapper/bootb $((MIB_B << 20)))" ] ||
	fail "dm-crypt reads other bytes than the vxts mapping of b"
dm_down dcb
rm -f vk.bin
echo "   dm-crypt with the volume key reads the same $MIB_B MiB as /dev/mapper/bootb"

step "d: fix the table; tab open again is idempotent, exit 0"
sed -i '/^bootd /d' "$TAB"
vxts tab open --json < /dev/null > open2.json 2> open2.err
rc=$?
cat open2.json; echo
[ "$rc" -eq 0 ] || { cat open2.err; fail "second tab open: exit $rc"; }
grep -q '"name":"boota","device":"[^"]*","line":2,"nofail":false,"state":"open","result":"open already' open2.json ||
	fail "boota not reported as open already"
grep -q '"name":"gone",.*"state":"failed"' open2.json || fail "gone not reported as failed"

step "a world-writable table is refused before anything is opened"
chmod 666 "$TAB"
vxts tab open < /dev/null > open3.out 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q 'writable by others' open3.out ||
	{ cat open3.out; fail "world-writable table: exit $rc"; }
chmod 644 "$TAB"

step "tab close stops the converter tab open spawned, at a window edge; tab open continues it"
umount /mnt/c || fail "umount c"
vxts decrypt --online bootc "$DC" --kms-command /vxts/vxts-kms-local --rate-limit 1M \
	--no-progress < /dev/null > dec-c.out 2>&1 &
ONLINE_PID=$!
i=0
while [ "$(dm_field bootc convert)" != decrypt ] || [ "$(dm_boundary bootc)" -lt 2048 ]; do
	kill -0 "$ONLINE_PID" 2> /dev/null || { cat dec-c.out; fail "decrypt of bootc ended early"; }
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "decrypt of bootc did not start"
	sleep 0.1
done
# the foreground converter dies; tab open (already open) hands the conversion to
# its own background child, rate-limited by the table so it is still running
kill -9 "$ONLINE_PID"
wait "$ONLINE_PID" 2> /dev/null
ONLINE_PID=
sed -i 's|^\(bootc .*_netdev,kms-timeout=60\)$|\1,rate-limit=1M|' "$TAB"
vxts tab open bootc < /dev/null > bg-c.out 2>&1 || { cat bg-c.out; fail "tab open bootc (bg): exit $?"; }
sed 's/^/   /' bg-c.out
bgpid=$(sed -n 's/^bootc: open, .*background, pid \([0-9]*\).*/\1/p' bg-c.out)
[ -n "$bgpid" ] && kill -0 "$bgpid" 2> /dev/null || fail "no background converter for bootc"
[ "$(vxts status bootc --json | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1)" = "$bgpid" ] ||
	{ vxts status bootc; echo "(want pid $bgpid)"; }
# a converter killed by a signal is restarted by its supervisor (no systemd:
# what Restart=on-abnormal does for vxts-resume@)
kill -9 "$bgpid"
i=0
while :; do
	newpid=$(vxts status bootc --json 2> /dev/null | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' | head -1)
	[ -n "$newpid" ] && [ "$newpid" != 0 ] && [ "$newpid" != "$bgpid" ] && kill -0 "$newpid" 2> /dev/null && break
	i=$((i + 1))
	[ "$i" -lt 300 ] || { cat /run/vxts/bootc.log; fail "the killed converter was not restarted"; }
	sleep 0.1
done
grep -q "killed by signal 9, restarting" /run/vxts/bootc.log || { cat /run/vxts/bootc.log; fail "no restart in the log"; }
echo "   converter $bgpid killed, restarted as $newpid"
bgpid=$newpid
vxts tab close bootc > close-c.out 2>&1 || { cat close-c.out; fail "tab close bootc: exit $?"; }
sed 's/^/   /' close-c.out
grep -q '^bootc: closed, conversion stopped at a window edge' close-c.out ||
	fail "tab close did not report stopping the conversion"
i=0
while kill -0 "$bgpid" 2> /dev/null; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "the spawned converter $bgpid still runs after tab close"
	sleep 0.1
done
sleep 3
[ "$(grep -c 'restarting' /run/vxts/bootc.log)" -eq 1 ] || { cat /run/vxts/bootc.log; fail "the stopped converter was restarted"; }
sed -i 's|,rate-limit=1M$||' "$TAB"
dmsetup info bootc > /dev/null 2>&1 && fail "bootc still mapped after tab close"
vxts tab open bootc < /dev/null > reopen.out 2>&1 || { cat reopen.out; fail "tab open bootc: exit $?"; }
sed 's/^/   /' reopen.out
grep -q '^bootc: open, .*background, pid' reopen.out || fail "the decrypt was not continued"
i=0
while [ "$(dm_target_of bootc)" != linear ] || [ -n "$(dm_field bootc convert)" ]; do
	i=$((i + 1))
	[ "$i" -lt 1200 ] || { cat /run/vxts/bootc.log; fail "background decrypt of bootc not done"; }
	sleep 0.25
done
mount -t ext4 /dev/mapper/bootc /mnt/c || fail "mount bootc after the decrypt"
fs_verify /mnt/c mirc "c after tab close mid-decrypt and tab open"
umount /mnt/c

step "a partition ending where its disk ends: the disk shows the same header, the partition is taken"
truncate -s 32M "$W/p.img"
# an MBR with one Linux partition from sector 2048 to the end of the disk
printf '\000\000\000\000\203\377\377\377\000\010\000\000\000\370\000\000' |
	dd of="$W/p.img" bs=1 seek=446 conv=notrunc status=none
printf '\125\252' | dd of="$W/p.img" bs=1 seek=510 conv=notrunc status=none
DP=$(losetup -f -P --show "$W/p.img") && assert_blk "$DP"
i=0
while [ ! -b "${DP}p1" ]; do
	i=$((i + 1))
	[ "$i" -lt 50 ] || fail "no partition ${DP}p1"
	sleep 0.1
done
mkfs4 "${DP}p1" 2048
vxts encrypt "${DP}p1" --key-file "$KA" --no-progress < /dev/null > enc-p.out 2>&1 ||
	{ cat enc-p.out; fail "offline encrypt of ${DP}p1: exit $?"; }
UP=$(uuid_of "${DP}p1")
[ -n "$UP" ] && [ "$(uuid_of "$DP")" = "$UP" ] ||
	fail "the disk $DP does not show the partition's header (uuid '$UP'): the case is not set up"
echo "part  UUID=$UP  -  key-file=$KA" >> "$TAB"
vxts tab check part < /dev/null > part.out 2>&1
rc=$?
[ "$rc" -eq 0 ] || { cat part.out; fail "tab check part: exit $rc"; }
sed 's/^/   /' part.out | head -n 1
grep -q "^part (line [0-9]*): ${DP}p1" part.out || fail "UUID= of a partition did not resolve to ${DP}p1"
vxts tab open part < /dev/null > part.out 2>&1 || { cat part.out; fail "tab open part: exit $?"; }
grep -q "^part: open, mapped /dev/mapper/part on ${DP}p1" part.out || { cat part.out; fail "part not opened on ${DP}p1"; }
# the partition is now held by the mapping: a scan for another entry skips it
vxts tab check boota < /dev/null > part.out 2>&1 || { cat part.out; fail "tab check boota with part open: exit $?"; }

step "tab close: every volume of the table closed"
umount /mnt/a || fail "umount"
vxts tab close > close.out 2>&1 || { cat close.out; fail "tab close: exit $?"; }
sed 's/^/   /' close.out
for n in boota bootb bootc bootl part; do
	dmsetup info "$n" > /dev/null 2>&1 && fail "$n still mapped after tab close"
done
losetup -d "$DA" "$DB" "$DC" "$DD" "$DL" "$DP" 2> /dev/null
exit 0
