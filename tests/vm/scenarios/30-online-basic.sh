#!/bin/sh
# One online life cycle on a 48 MiB data area (64 MiB RAM disk, header at
# its end): `vxts encrypt --online`, `reencrypt --online`, `decrypt
# --online`, each with fio (crc32c, verify_backlog: every block read back
# soon after it is written) looping on the first 16 MiB of /dev/mapper/on
# and a reader checking the untouched last 16 MiB against the original
# plaintext, during the whole conversion. After each pass: the final table
# is live (vxts without convert:, or linear after the decrypt), a
# deterministic fio job on the middle 16 MiB verifies across passes, and
# stock dm-crypt (cryptsetup plain) with the volume key reads what the
# mapping reads. Then the throughput of an idle online encrypt against an
# offline one on the same device (TCG: only the ratio means something).
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

DEV=/dev/ram0
MIB=48
BYTES=$((MIB << 20))
M16=$((16 << 20))

step "48 MiB of plaintext on $DEV, header area at the end"
dev_zero "$DEV"
rand_file init.img "$BYTES"
dev_write "$DEV" init.img
dd if=init.img of=tail.img bs=1M skip=32 count=16 status=none	# bytes [32M, 48M)
TAIL=$(file_sum tail.img)

job() { # <file> <offset> <extra...>: fio on 16 MiB of /dev/mapper/on
	local f=$1 off=$2
	shift 2
	{
		echo "[global]"
		echo "filename=${FIO_DEV:-/dev/mapper/on}"
		echo "direct=1"
		echo "ioengine=libaio"
		echo "iodepth=8"
		echo "rw=randwrite"
		echo "bsrange=4k-64k"
		echo "blockalign=4k"
		echo "offset=$off"
		echo "size=16m"
		echo "verify=crc32c"
		echo "verify_fatal=1"
		echo "verify_dump=0"
		for x in "$@"; do echo "$x"; done
		echo "[j]"
	} > "$f"
}

# Until stop.flag: fio loops (new offsets each time) on [0, 16M) and the
# last 16 MiB is read and compared; any error leaves bg.failed.
bg_load() {
	local i=0
	job bg.fio 0 verify_backlog=64 randrepeat=0
	while [ ! -e stop.flag ]; do
		fio --output=bg.out bg.fio > /dev/null 2>&1 ||
			{ tail -n 5 bg.out; echo "fio loop $i" > bg.failed; break; }
		grep -q 'err= *[1-9]' bg.out && { echo "fio errors" > bg.failed; break; }
		b=$(dm_field on boundary)
		got=$(dev_sum /dev/mapper/on "$M16" $((32 << 20)))
		[ "$got" = "$TAIL" ] || {
			echo "tail read after fio loop $i: ${got:-read failed} (boundary $b..$(dm_field on boundary), again: $(dev_sum /dev/mapper/on "$M16" $((32 << 20))))" > bg.failed
			break
		}
		i=$((i + 1))
	done
	echo "$i" > bg.count
}

json_num() { # <file> <key>
	grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -n 1 | sed 's/.*: *//'
}

# One pass: converter in the background, load during it, checks after it.
pass() { # <verb> <final target> [args]
	local verb=$1 want=$2
	shift 2
	rm -f stop.flag bg.failed bg.count
	vxts "$verb" --online on "$DEV" --key-file "$ONLINE_KEK" --no-progress --json \
		--rate-limit 8M "$@" < /dev/null > "$verb.json" 2> "$verb.err" &
	vpid=$!
	wait_node on || fail "$verb: /dev/mapper/on did not appear"
	bg_load &
	bpid=$!
	wait "$vpid"
	rc=$?
	touch stop.flag
	wait "$bpid"
	[ "$rc" -eq 0 ] || { cat "$verb.err"; fail "vxts $verb --online exited $rc"; }
	[ -e bg.failed ] && fail "$verb: IO during the conversion failed ($(cat bg.failed))"
	[ "$(cat bg.count)" -ge 1 ] || fail "$verb: no fio loop completed during the conversion"
	grep -q '"ok": *true' "$verb.json" || { cat "$verb.json"; fail "$verb: no ok JSON"; }
	[ "$(dm_target_of on)" = "$want" ] && [ -z "$(dm_field on convert)" ] ||
		fail "$verb: on is not the final $want table: $(dmsetup table on | cut -d' ' -f1-4)"
	w=$(json_num "$verb.json" windows)
	hmax=$(json_num "$verb.json" hold_max_ms)
	p99=$(json_num "$verb.json" hold_p99_ms)
	[ "${w:-0}" -ge 2 ] || fail "$verb: only ${w:-0} windows"
	echo "   $verb: $w windows, hold max $hmax ms, p99 $p99 ms, $(cat bg.count) fio loops"
	info "online-$verb-hold-max-ms" "$hmax"
	info "online-$verb-hold-p99-ms" "$p99"
	# what applications saw: the longest wait of one bio on a held window
	wmax=$(json_num "$verb.json" kernel_wait_max_us)
	[ -n "$wmax" ] || fail "$verb: no kernel_wait_max_us in the JSON"
	info "online-$verb-kernel-wait-max-us" "$wmax"
	info "online-$verb-kernel-held-bios" "$(json_num "$verb.json" kernel_held_total)"
	[ "$(dev_sum /dev/mapper/on "$M16" $((32 << 20)))" = "$TAIL" ] ||
		fail "$verb: the untouched 16 MiB changed"
}

# What fio wrote in the middle and the untouched tail, through dm-crypt.
crypt_check() { # <what>
	vol_key_file vk.bin "$DEV"
	crypt_open dc "$DEV" vk.bin --size $((BYTES / 512)) --shared
	FIO_DEV=/dev/mapper/dc job mid-dc.fio $M16
	run_fio mid-dc.fio --verify_only
	[ "$(dev_sum /dev/mapper/dc "$M16" $((32 << 20)))" = "$TAIL" ] ||
		fail "$1: dm-crypt reads other plaintext than the original"
	[ "$(dev_sum "$DEV" "$M16" $((32 << 20)))" != "$TAIL" ] ||
		fail "$1: the disk holds plaintext"
	dm_down dc
	rm -f vk.bin
	echo "   $1: dm-crypt with the volume key reads the same data"
}

step "encrypt --online under fio"
DM_DISABLE_UDEV=1
export DM_DISABLE_UDEV
pass encrypt vxts --force
job mid.fio $M16
run_fio mid.fio
crypt_check encrypt
vxts status on > st.txt 2>&1 || { cat st.txt; fail "vxts status on"; }
grep -q 'mapping vxts' st.txt || { cat st.txt; fail "status does not show the mapping"; }

# A converter that died after the final commit but before the final
# reload leaves the partial table at the end boundary (nothing held):
# made here by hand; `vxts resume` must only swap the final table in.
step "crash before the final reload: vxts resume swaps the table"
dmsetup table on | sed 's/ 1 sector_size:4096$/ 2 sector_size:4096 convert:encrypt:'$((BYTES / 512))'/' > part.tbl
grep -q 'convert:encrypt' part.tbl || fail "cannot build the partial table: $(cat part.tbl)"
dmsetup reload on < part.tbl && dmsetup suspend on && dmsetup resume on ||
	fail "reload of the partial table at the end boundary"
[ "$(dm_field on convert)" = encrypt ] || fail "the partial table is not live"
vxts status on > st.txt 2>&1 || { cat st.txt; fail "vxts status on (partial, no converter)"; }
grep -q 'no converter.*vxts resume' st.txt || { cat st.txt; fail "status does not say to resume"; }
vxts resume on --key-file "$ONLINE_KEK" --no-progress < /dev/null > res.out 2>&1 ||
	{ cat res.out; fail "vxts resume after the cut before the final reload"; }
[ "$(dm_target_of on)" = vxts ] && [ -z "$(dm_field on convert)" ] ||
	fail "vxts resume did not load the final table"
run_fio mid.fio --verify_only
[ "$(dev_sum /dev/mapper/on "$M16" $((32 << 20)))" = "$TAIL" ] || fail "tail changed by the swap"

step "reencrypt --online under fio"
old=$(vol_hex "$DEV")
pass reencrypt vxts
run_fio mid.fio --verify_only
[ "$(vol_hex "$DEV")" != "$old" ] || fail "reencrypt kept the volume key"
crypt_check reencrypt

step "decrypt --online under fio"
pass decrypt linear
run_fio mid.fio --verify_only
[ "$(dev_sum "$DEV" "$M16" $((32 << 20)))" = "$TAIL" ] || fail "decrypt: the disk is not plaintext"
FIO_DEV=$DEV job raw.fio $M16
run_fio raw.fio --verify_only

# A converter killed between recording the start in the header and the
# switch to the partial table leaves the final table live over a header that
# says "encrypting, boundary 0"; killed between a reload's suspend and its
# resume, NAME also stays suspended with a table inactive. Made by hand: an
# offline encrypt through a copy of the device whose first 4 KiB fail commits
# the start, then fails its first read; the live table is loaded again as the
# inactive one and NAME suspended. `vxts resume` must resume NAME and run
# the conversion (it used to look at the kernel only: "nothing to do").
step "cut between start and switch, NAME suspended: vxts resume converts"
S=$(ram_sectors "$DEV")
printf '0 8 error\n8 %s linear %s 8\n' $((S - 8)) "$DEV" > cut.tbl
dmsetup create cut < cut.tbl || fail "cannot map the copy with a bad first block"
vxts encrypt /dev/mapper/cut --key-file "$ONLINE_KEK" --no-progress < /dev/null \
	> cut.out 2>&1 && { cat cut.out; fail "encrypt over an unreadable first window succeeded"; }
dmsetup remove cut || fail "cannot remove the copy"
vxts dump "$DEV" > cut-info.txt 2>&1
grep -qi 'encrypting' cut-info.txt || { cat cut.out cut-info.txt; fail "the header does not record the start"; }
[ "$(dm_target_of on)" = linear ] || fail "on is not linear before the resume"
dmsetup table on > lin.tbl
dmsetup reload on < lin.tbl && dmsetup suspend on || fail "cannot leave on suspended"
timeout 300 vxts resume on --key-file "$ONLINE_KEK" --no-progress < /dev/null > res2.out 2>&1 ||
	{ cat res2.out; fail "vxts resume after a cut between start and switch"; }
dmsetup info on | grep -q 'State: *ACTIVE' || fail "on is still suspended after vxts resume"
[ "$(dm_target_of on)" = vxts ] && [ -z "$(dm_field on convert)" ] ||
	{ cat res2.out; fail "vxts resume did not convert (table: $(dm_target_of on))"; }
run_fio mid.fio --verify_only
[ "$(dev_sum /dev/mapper/on "$M16" $((32 << 20)))" = "$TAIL" ] || fail "tail changed by the resumed run"
[ "$(dev_sum "$DEV" "$M16" $((32 << 20)))" != "$TAIL" ] || fail "resume: the disk holds plaintext"

# A converter killed right after its `hold` (header: boundary at the window,
# none in flight) leaves the window held; the next run may plan smaller
# windows than the killed one did (here 48 MiB held, 16 MiB at most now).
# `vxts resume` must release it (nothing was written in it) and convert: it
# used to re-hold a clamped window, which the kernel refused, with IO to the
# held one waiting. The start of a decrypt is recorded as above.
step "a held window longer than this run's windows: vxts resume releases it"
dmsetup create cut < cut.tbl || fail "cannot map the copy with a bad first block (2)"
vxts decrypt /dev/mapper/cut --key-file "$ONLINE_KEK" --no-progress < /dev/null \
	> cut.out 2>&1 && { cat cut.out; fail "decrypt over an unreadable first window succeeded"; }
dmsetup remove cut || fail "cannot remove the copy (2)"
dmsetup table on | sed 's/ 1 sector_size:4096$/ 2 sector_size:4096 convert:decrypt:0/' > part.tbl
grep -q 'convert:decrypt:0' part.tbl || fail "cannot build the partial decrypt table: $(cat part.tbl)"
dmsetup reload on < part.tbl && dmsetup suspend on && dmsetup resume on ||
	fail "reload of the partial decrypt table at 0"
dm_msg on hold 0 $((BYTES / 512)) || fail "hold of the whole data area"
timeout 300 vxts resume on --key-file "$ONLINE_KEK" --no-progress < /dev/null > res3.out 2>&1 ||
	{ cat res3.out; fail "vxts resume with a held window longer than its windows"; }
[ "$(dm_target_of on)" = linear ] || { cat res3.out; fail "on is not linear after the resumed decrypt"; }
run_fio mid.fio --verify_only
[ "$(dev_sum "$DEV" "$M16" $((32 << 20)))" = "$TAIL" ] || fail "resumed decrypt: the disk is not plaintext"

step "close: the mapping and its keys go"
vxts close on > close.out 2>&1 || { cat close.out; fail "vxts close on"; }
[ -e /dev/mapper/on ] && fail "on still mapped after close"
keyctl show @u 2> /dev/null | grep -q 'vxts:' && fail "logon keys left in the user keyring"

step "throughput: idle online encrypt vs offline encrypt of the same 48 MiB"
vxts encrypt --online on "$DEV" --key-file "$ONLINE_KEK" --no-progress --json --force \
	< /dev/null > on.json 2> on.err || { cat on.err; fail "idle online encrypt"; }
on_rate=$(json_num on.json rate_bytes_per_sec)
on_max=$(json_num on.json hold_max_ms)
vxts decrypt --online on "$DEV" --key-file "$ONLINE_KEK" --no-progress \
	< /dev/null > /dev/null 2>&1 || fail "idle online decrypt"
vxts close on > /dev/null 2>&1 || fail "close after the idle runs"
vxts encrypt "$DEV" --key-file "$ONLINE_KEK" --no-progress --json \
	< /dev/null > off.json 2> off.err || { cat off.err; fail "offline encrypt"; }
off_rate=$(json_num off.json rate_bytes_per_sec)
echo "   online $on_rate B/s (hold max $on_max ms), offline $off_rate B/s"
info online-encrypt-bytes-per-sec "$on_rate"
info offline-encrypt-bytes-per-sec "$off_rate"
# In a session keyring of its own (as a systemd unit with KeyringMode=private
# runs it): the kernel's key search does not reach @u from there unless vxts
# links it in (it used to fail: "Required key not available").
keyctl session - vxts open on "$DEV" --key-file "$ONLINE_KEK" > open.out 2>&1 ||
	{ cat open.out; fail "vxts open in a private session keyring"; }
assert_blk /dev/mapper/on
[ "$(dev_sum /dev/mapper/on "$M16" $((32 << 20)))" = "$TAIL" ] ||
	fail "open after the offline encrypt reads other data"
vxts close on > /dev/null 2>&1 || fail "final close"

# A taken-over LV whose table an LVM command reloads (here by hand: the LV's
# own linear table loaded back) serves raw ciphertext: status must say so,
# resume must refuse to convert over it (exit 14).
step "takeover, then the LV's table replaced behind vxts: status warns, resume refuses"
dev_zero /dev/ram2
dev_zero /dev/ram3
printf '0 16384 linear /dev/ram2 0\n' > lvx.tbl
dmsetup create lvx < lvx.tbl || fail "cannot create the fake LV"
vxts encrypt --online lvx /dev/mapper/lvx --header /dev/ram3 --key-file "$ONLINE_KEK" \
	--no-progress --force < /dev/null > tk.out 2>&1 || { cat tk.out; fail "takeover encrypt"; }
[ "$(dm_target_of lvx)" = vxts ] || fail "lvx is not vxts after the takeover"
vxts status lvx --json > tk.json 2>&1 || { cat tk.json; fail "status of the taken-over LV"; }
grep -q '"table_replaced": *false' tk.json || { cat tk.json; fail "status: no table_replaced false"; }
dmsetup reload lvx < lvx.tbl && dmsetup suspend lvx && dmsetup resume lvx ||
	fail "cannot put the LV's table back"
vxts status lvx --json > tk2.json 2> tk2.err
grep -q '"table_replaced": *true' tk2.json || { cat tk2.json tk2.err; fail "status misses the replaced table"; }
vxts resume lvx --key-file "$ONLINE_KEK" --no-progress < /dev/null > tk3.out 2>&1
rc=$?
[ "$rc" -eq 14 ] || { cat tk3.out; fail "resume over a replaced table exited $rc, not 14"; }
dmsetup remove lvx && dmsetup remove lvx-vxts-inner || fail "cleanup of the fake LV"
exit 0
