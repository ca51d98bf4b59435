#!/bin/sh
# The guest half of `make demo` (run by tests/vm/init as a scenario, in a
# private directory on tmpfs: the KEK, the detached header and the volume
# key file never touch a disk).
# /vxts/demo holds the PLAINTEXT disk image (ext4, 4 KiB blocks) and the
# manifest (sha256 of every file) taken when the image was built.
#
# The story: the disk is converted online, in place, while a workload writes
# and reads the mounted filesystem; the converter is SIGKILLed half way and
# `vxts resume` finishes under the same IO; then the files, the workload's
# data, fsck and stock dm-crypt all agree.
#
# Crash safety is the converter's (docs/ONLINE.md): after the SIGKILL the
# header names the last committed window and the kernel may still hold one
# (IO to it waits); `vxts resume demo` reconciles both and continues. This
# script writes nothing itself but the workload's files through the mapping.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online		# the CLI speaks ONLINE.md; the KEK ($ONLINE_KEK) on tmpfs
modprobe ext4 || fail "modprobe ext4"

demo=/vxts/demo
W=$PWD
MNT=/mnt/demo
HDR="--header $W/demo.hdr"
mkdir -p "$MNT"
# On any exit: stop the workload and a converter still running, unmount, so
# the harness can tear the mappings down; the volume key file goes too.
trap 'touch wl.stop; kill ${FIO_LOOP:-} ${READ_LOOP:-} ${CONV:-} 2> /dev/null; sleep 1; umount "$MNT" 2> /dev/null; rm -f vk.bin' EXIT

json_num() { # <file> <key>: a number from a JSON object
	grep -o "\"$2\":[0-9.e+-]*" "$1" | head -n 1 | cut -d: -f2
}

bar() { # <percent, e.g. 41.9>: a 30-column progress bar
	local filled i out=""
	filled=$(awk -v p="$1" 'BEGIN { n = int(p * 30 / 100 + 0.5); print (n > 30 ? 30 : n) }')
	for i in $(seq 1 30); do
		if [ "$i" -le "$filled" ]; then out="$out#"; else out="$out."; fi
	done
	printf '[%s] %5s%%' "$out" "$1"
}

progress() { # one line: a bar and where the conversion is
	local t pct
	t=$(vxts status demo $HDR --interval 0 2> /dev/null | grep -o 'boundary sector.*held' |
		sed 's/ (\([0-9.]*%\))/ \1/')
	pct=$(echo "$t" | grep -o '[0-9.]*%' | head -n 1 | tr -d %)
	if [ -z "$t" ]; then
		t="finished: final table loaded"
		pct=100.0
	fi
	echo "   $(bar "${pct:-0}") [$(( ($(now_ms) - T0) / 1000 )) s] $t; fio runs: $(cat wl.n 2> /dev/null || echo 0), re-reads: $(cat rd.n 2> /dev/null || echo 0)"
}

boundary() { # the boundary sector of demo while it converts, else empty
	dmsetup status demo 2> /dev/null | sed -n 's/.* boundary:\([0-9]*\).*/\1/p'
}

# Wait for converter <pid>, printing progress every 2 s. With <half>, SIGKILL
# it once the boundary passed <half> sectors (returns 1 if it ended first).
watch_conv() { # <pid> [half]
	local pid=$1 half=${2:-} next=0 b t
	while kill -0 "$pid" 2> /dev/null; do
		if [ -n "$half" ]; then
			b=$(boundary)
			if [ -n "$b" ] && [ "$b" -ge "$half" ]; then
				kill -9 "$pid"
				wait "$pid" 2> /dev/null
				echo "   >>> SIGKILL to the converter (pid $pid) at boundary sector $b of $sectors"
				return 0
			fi
		fi
		t=$(now_ms)
		if [ "$t" -ge "$next" ]; then
			[ "$next" -gt 0 ] && progress
			next=$((t + 2000))
		fi
		sleep 0.1
	done
	[ -z "$half" ] || return 1
}

# --- the workload: two loops on the mounted filesystem ---------------------
# fio: random 4 KiB O_DIRECT writes with crc32c, then fio reads every block
# back and verifies it (verify_fatal). Runs again and again until wl.stop.
fio_loop() {
	local n=0
	while [ ! -e wl.stop ]; do
		n=$((n + 1))
		fio --name=app --directory="$MNT" --rw=randwrite --bs=4k --size=6M --numjobs=2 \
			--iodepth=8 --ioengine=io_uring --direct=1 --verify=crc32c --verify_fatal=1 \
			--randseed=$n --group_reporting --output-format=terse --terse-version=3 \
			> fio.out 2> fio.err || { cat fio.err >&2; echo "fio run $n failed" >&2; return 1; }
		echo "$n" > wl.n
	done
}
# re-read every original file and check it against the manifest
read_loop() {
	local n=0
	while [ ! -e wl.stop ]; do
		n=$((n + 1))
		(cd "$MNT" && sha256sum -c --status "$demo/manifest") ||
			{ echo "re-read $n: files differ" >&2; return 1; }
		echo "$n" > rd.n
	done
}

step "attach the plaintext disk (a loop device stands in for /dev/sdc)"
disk=$(losetup -f --show "$demo/disk.img") || fail "losetup"
assert_blk "$disk"
sectors=$(blockdev --getsz "$disk")
echo "   $disk: $((sectors / 2048)) MiB of plaintext ext4, $(wc -l < "$demo/manifest") files"

# Rate-limited so that the workload, the progress lines and the kill visibly
# overlap the conversion (64 MiB in about 20 s); a real run goes at full speed.
RATE="--rate-limit 3M"
step "vxts encrypt --online demo $disk $RATE (detached header on tmpfs, KEK from a tmpfs file)"
T0=$(now_ms)
vxts encrypt --online demo "$disk" $HDR $RATE --key-file "$ONLINE_KEK" --json \
	< /dev/null > conv1.json 2> conv1.err &
CONV=$!
wait_node demo || { cat conv1.err; fail "no /dev/mapper/demo after 30 s"; }
echo "   the mapping /dev/mapper/demo appeared (converter pid $CONV): the raw disk now"
echo "   goes through dm-vxts, the converter encrypts it in place window by window"

step "mount the filesystem on /dev/mapper/demo and start the workload"
mount -t ext4 /dev/mapper/demo "$MNT" || fail "mount /dev/mapper/demo during the conversion"
echo "   mounted at $MNT while the conversion runs"
(cd "$MNT" && sha256sum -c --status "$demo/manifest") || fail "files differ right after mount"
rm -f wl.stop
fio_loop & FIO_LOOP=$!
read_loop & READ_LOOP=$!
echo "   workload: fio randwrite+verify (2 jobs x 6 MiB, O_DIRECT, io_uring) in a loop,"
echo "   and every original file re-read against the manifest in a loop"

step "converting under IO; the converter gets SIGKILL half way"
watch_conv "$CONV" $((sectors / 2)) ||
	{ cat conv1.err; fail "the converter ended before half way (exit: see above)"; }
CONV=
echo "   what the header and the kernel say after the kill (IO to a window the dead"
echo "   converter left held waits, it never fails, until vxts resume):"
vxts status demo $HDR --interval 0 2>&1 | sed 's/^/      /'
kill -0 "$FIO_LOOP" 2> /dev/null || fail "the fio loop stopped"
kill -0 "$READ_LOOP" 2> /dev/null || fail "the re-read loop stopped"

step "vxts resume demo: the crash-safe resume, the workload still running"
vxts resume demo $HDR $RATE --key-file "$ONLINE_KEK" --json < /dev/null > conv2.json 2> conv2.err &
CONV=$!
watch_conv "$CONV"
wait "$CONV"
rc=$?
CONV=
[ "$rc" -eq 0 ] || { cat conv2.err conv2.json; fail "vxts resume exited $rc"; }
progress
echo "   conversion done in $(( ($(now_ms) - T0) / 1000 )) s"
touch wl.stop
wait "$FIO_LOOP" || fail "the fio workload saw an error or a wrong byte"
wait "$READ_LOOP" || fail "a re-read found a changed file"
FIO_LOOP=; READ_LOOP=
echo "   workload: $(cat wl.n) fio write+verify runs and $(cat rd.n) re-reads of all files, no error"
awk -F';' '{printf "   last fio run: write %d KiB/s, read-verify %d KiB/s\n", $48, $7}' fio.out

step "the finished state"
vxts status demo $HDR 2>&1 | sed 's/^/   /'
table=$(dmsetup table demo)
echo "   dmsetup table demo: $table"
[ "$(dm_target_of demo)" = vxts ] && [ -z "$(dm_field demo convert)" ] ||
	fail "the final table is not plain vxts"
echo "$table" | grep -q -E '[0-9a-fA-F]{64}' && fail "the table line holds a key"
echo "   (the table names a logon key in the kernel keyring: no key on it)"
grep -q '"result"' conv2.json ||
	{ cat conv2.json; fail "no JSON result from vxts resume"; }
echo "   resume --json: $(json_num conv2.json converted_bytes) bytes in $(json_num conv2.json elapsed_sec) s," \
	"$(json_num conv2.json windows) windows"
echo "   holds (converter): max $(json_num conv2.json hold_max_ms) ms, p99 $(json_num conv2.json hold_p99_ms) ms," \
	"avg $(json_num conv2.json hold_avg_ms) ms (target $(json_num conv2.json max_hold_target_ms) ms)"
echo "   holds (kernel): longest hold $(json_num conv2.json kernel_hold_max_us) us," \
	"longest bio wait $(json_num conv2.json kernel_wait_max_us) us"

step "prove it: files, the workload's data, fsck"
(cd "$MNT" && sha256sum -c --status "$demo/manifest") || fail "files differ after the conversion"
echo "   $(wc -l < "$demo/manifest") original files match the manifest"
(cd "$MNT" && ls | grep '^app\.' | sort | xargs sha256sum) > fio.sums || fail "hash fio's files"
fio --name=app --directory="$MNT" --rw=randwrite --bs=4k --size=6M --numjobs=2 \
	--iodepth=8 --ioengine=io_uring --direct=1 --verify=crc32c --verify_fatal=1 \
	--randseed="$(cat wl.n)" --verify_only --group_reporting > fio-vo.out 2>&1 ||
	{ cat fio-vo.out; fail "fio verify_only of the last run's data failed"; }
echo "   fio --verify_only: the last run's $(wc -l < fio.sums) files verify after the conversion"
umount "$MNT" || fail "umount"
e2fsck -fn /dev/mapper/demo > fsck.out 2>&1 || { cat fsck.out; fail "e2fsck found errors"; }
echo "   e2fsck -fn /dev/mapper/demo: clean"
if [ "$(od -An -tx1 -j 1080 -N 2 "$disk" | tr -d ' ')" = 53ef ]; then
	fail "the raw disk still shows the ext4 superblock: not encrypted"
fi
echo "   the raw disk $disk shows no ext4 superblock: ciphertext"
vxts close demo > close.out 2>&1 || { cat close.out; fail "vxts close demo"; }

step "escape hatch: stock cryptsetup (dm-crypt, plain, 4096-byte sectors) reads the same"
vol_key_file vk.bin "$disk" $HDR	# vxts dump --volume-key, into a tmpfs file
crypt_open stock "$disk" vk.bin
rm -f vk.bin
mount -t ext4 -o ro /dev/mapper/stock "$MNT" || fail "mount through dm-crypt"
(cd "$MNT" && sha256sum -c --status "$demo/manifest") || fail "dm-crypt sees different files"
(cd "$MNT" && sha256sum -c --status "$W/fio.sums") || fail "dm-crypt sees other fio data"
echo "   dm-crypt reads the same $(wc -l < "$demo/manifest") files and fio's $(wc -l < fio.sums) files"
umount "$MNT"
cryptsetup close stock
losetup -d "$disk"
exit 0
