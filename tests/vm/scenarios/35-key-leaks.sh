#!/bin/sh
# Keys never leave the keyring (issue 6): while `vxts encrypt --online` runs
# and after `vxts open`, the volume key appears in no table line (not even
# `dmsetup table --showkeys`), in no /proc/*/cmdline or environ, in no
# output of vxts and not in the kernel log; the kernel holds it only as a
# `logon` key (unreadable from userspace) named in the table, and
# `vxts close` unlinks it.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

DEV=/dev/ram0
DM_DISABLE_UDEV=1
export DM_DISABLE_UDEV

# <what> <files...>: none of them may hold the volume key, hex in either case
no_key_in() {
	local what=$1
	shift
	cat "$@" 2> /dev/null | tr '\0' '\n' | grep -qi "$VK" && fail "the volume key appears in $what"
	return 0
}

# Every process's argv and environment, as they are now.
sample_procs() { # <out>
	local p
	for p in /proc/[0-9]*; do
		cat "$p/cmdline" "$p/environ" 2> /dev/null
		echo
	done > "$1"
}

step "plaintext on $DEV, online encrypt in the background"
dev_zero "$DEV"
rand_file init.img $((32 << 20))
dev_write "$DEV" init.img
online_bg enc encrypt kl "$DEV" --force --rate-limit 4M
wait_node kl || fail "/dev/mapper/kl did not appear"
n=0
while kill -0 "$ONLINE_PID" 2> /dev/null && [ "$n" -lt 20 ]; do
	sample_procs "procs.$n"
	dmsetup table --showkeys kl > "table.$n" 2>&1
	n=$((n + 1))
	sleep_ms 200
done
online_wait enc "$ONLINE_PID"
[ "$n" -ge 2 ] || fail "the conversion ended before two samples were taken ($n)"
echo "   $n samples of /proc and the table taken during the conversion"

VK=$(vol_hex "$DEV")
[ ${#VK} -eq 128 ] || fail "no volume key from vxts dump --volume-key"
no_key_in "/proc/*/cmdline or environ during the conversion" procs.*
no_key_in "dmsetup table --showkeys during the conversion" table.*
no_key_in "the converter's output" enc.out enc.err

step "the table names a logon key, and userspace cannot read it"
dmsetup table --showkeys kl > t.txt
no_key_in "dmsetup table --showkeys" t.txt
ref=$(grep -o ':64:logon:vxts:[^ ]*' t.txt)
[ -n "$ref" ] || fail "the table names no logon key: $(cut -d' ' -f1-5 t.txt)"
desc=${ref#:64:logon:}
id=$(keyctl search @u logon "$desc") || fail "logon key $desc is not in the user keyring"
keyctl print "$id" > kp.txt 2>&1 && fail "the logon key's payload is readable: $(head -c 40 kp.txt)"
no_key_in "keyctl print" kp.txt

step "close unlinks the key; open puts it back; close again"
vxts close kl > close.out 2>&1 || { cat close.out; fail "vxts close kl"; }
keyctl search @u logon "$desc" > /dev/null 2>&1 && fail "vxts close left $desc in the user keyring"
vxts open kl "$DEV" --key-file "$ONLINE_KEK" > open.out 2>&1 || { cat open.out; fail "vxts open kl"; }
assert_blk /dev/mapper/kl
sample_procs procs.open
dmsetup table --showkeys kl > t2.txt
no_key_in "dmsetup table --showkeys after open" t2.txt
no_key_in "/proc after open" procs.open
no_key_in "the output of close/open" close.out open.out
[ "$(dev_sum /dev/mapper/kl $((32 << 20)))" = "$(file_sum init.img)" ] ||
	fail "the opened mapping reads other data than the original plaintext"
vxts close kl > close2.out 2>&1 || { cat close2.out; fail "second vxts close"; }
keyctl search @u logon "$desc" > /dev/null 2>&1 && fail "the second close left $desc"

step "the kernel log"
dmesg > dmesg.txt
no_key_in "the kernel log" dmesg.txt
echo "   no trace of the volume key anywhere sampled"
