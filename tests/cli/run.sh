#!/usr/bin/env bash
# CLI layer: every `vxts` verb end to end on small image files in tmpfs.
#
# Each case is one function t_<name> returning 0 pass / 1 fail / 77 skip and
# setting $why on failure. Every vxts run goes through vx(), which never
# gives it a TTY on stdin, bounds it with `timeout`, and keeps all of its
# output in $all_out so the last case can prove no volume key ever leaked
# into any output except `dump --volume-key`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
. "$top/tests/lib/scratch.sh"
vxts_scratch cli
all_out=$work/all-output.log
keys=$work/volume-keys.txt
: > "$all_out"
: > "$keys"
# Debian's python3 (scripts/setup.sh): a pyenv shim first in PATH costs ~1 s a call
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# small Argon2id costs so passphrase slots take milliseconds
A2=(--argon2-memory 1024 --argon2-time 1 --argon2-parallel 1)

# ---- helpers -------------------------------------------------------------

# vx ARGS...: runs vxts; stdout in $work/out, stderr in $work/err, exit in $rc.
# Test images hold random data, which no signature marks as plaintext: every
# encrypt here says --force (t_not_plaintext tests the refusal without it).
vx() {
	[ "${1:-}" = encrypt ] && set -- "$@" --force
	timeout 60 "$VXTS" "$@" < /dev/null > "$work/out" 2> "$work/err"
	rc=$?
	cat "$work/out" "$work/err" >> "$all_out"
	return 0
}

# vx_key ARGS...: like vx but for `dump --volume-key`, whose output is the key
# itself: kept out of $all_out, the key is recorded for the leak check.
vx_key() {
	timeout 60 "$VXTS" "$@" < /dev/null > "$work/out" 2> "$work/err"
	rc=$?
	cat "$work/err" >> "$all_out"
	volume_key=$(sed -n 's/^volume_key: \([0-9a-f]*\)$/\1/p' "$work/out")
	[ -n "$volume_key" ] && echo "$volume_key" >> "$keys"
	return 0
}

expect_rc() { # <want> <what>
	if [ "$rc" -ne "$1" ]; then
		why="$2: exit $rc, want $1 ($(head -c 300 "$work/err" | tr '\n' ' '))"
		return 1
	fi
}

mkimg() { # <path> <MiB> [zero]: random (or zero) image
	if [ "${3:-}" = zero ]; then
		truncate -s "$(($2 << 20))" "$1"
	else
		head -c "$(($2 << 20))" /dev/urandom > "$1"
	fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
sha_head() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }

json_ok() { # stdout of the last run parses as JSON
	"$PY" -m json.tool "$work/out" > /dev/null 2>&1 ||
		{ why="not JSON: $(head -c 200 "$work/out")"; return 1; }
}

json_get() { # <python expression on d>: value from the last run's JSON
	"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" \
		"$work/out" 2>/dev/null
}

# wait_running <pid> <img> <hdr>: poll until `status` shows the conversion
# <pid> runs holding its lock with a first window committed (running,
# in_progress, done_bytes > 0). A fixed sleep before a signal or a check
# guesses the start-up time, which a slow or loaded machine exceeds. Fails
# when <pid> exits first, or after 30 s.
wait_running() {
	local pid=$1 i
	for i in $(seq 300); do
		kill -0 "$pid" 2> /dev/null ||
			{ why="the background conversion ended before it was seen running"; return 1; }
		vx status "$2" --header "$3" --interval 0 --json
		[ "$rc" -eq 0 ] && grep -q '"in_progress":true' "$work/out" &&
			grep -q '"running":true' "$work/out" &&
			grep -q '"done_bytes":[1-9]' "$work/out" && return 0
		sleep 0.1
	done
	why="the background conversion showed no progress in 30 s: $(cat "$work/out")"
	return 1
}

# bg_encrypt <img> <hdr> <rate> [args...]: `vxts encrypt` of <img> in 1 MiB
# windows at <rate> bytes/s, in the background ($bg_pid), once wait_running
# saw it run; stopped again if it never did.
bg_encrypt() {
	local img=$1 hdr=$2 rate=$3
	shift 3
	timeout 60 "$VXTS" encrypt "$img" --header "$hdr" --key-file "$work/k1" --force \
		--window-size 1M --rate-limit "$rate" "$@" < /dev/null \
		> "$work/bg.out" 2> "$work/bg.err" &
	bg_pid=$!
	wait_running "$bg_pid" "$img" "$hdr" && return 0
	bg_stop TERM
	return 1
}

# bg_stop <signal>: signal the background conversion and reap it; its exit
# status in $rc, its output added to $all_out.
bg_stop() {
	kill -"$1" "$bg_pid" 2> /dev/null
	wait "$bg_pid"
	rc=$?
	cat "$work/bg.out" "$work/bg.err" >> "$all_out"
}

head -c 64 /dev/urandom > "$work/k1"
head -c 33 /dev/urandom > "$work/k2"
head -c 64 /dev/urandom > "$work/wrong"
printf 'correct horse battery staple\n' > "$work/p1"
printf 'not the passphrase\n' > "$work/pwrong"
chmod 600 "$work/k1" "$work/k2" "$work/wrong" "$work/p1" "$work/pwrong"

# encrypted_vol <name> <MiB> [extra args]: random image encrypted with k1 and
# a detached header $work/<name>.hdr; plaintext hash in $orig.
encrypted_vol() {
	img=$work/$1.img
	hdr=$work/$1.hdr
	mkimg "$img" "$2"
	orig=$(sha "$img")
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1" "${@:3}"
	expect_rc 0 "encrypt $1"
}

# ---- cases ---------------------------------------------------------------

t_help() {
	local v
	vx help
	expect_rc 0 "vxts help" || return 1
	for v in encrypt decrypt reencrypt format status dump "keyslot add" \
		 "keyslot remove" "keyslot list" "header backup" "header restore"; do
		grep -q "^  $v " "$work/out" || { why="help lacks '$v'"; return 1; }
	done
	vx encrypt --help
	expect_rc 0 "encrypt --help" || return 1
	for v in --header --header-at-end --key-file --passphrase-file --resilience \
		 --sector-size --json --label --iv-offset --queue-depth --chunk-size \
		 --threads --argon2-memory --argon2-time --yes; do
		grep -q -- "$v" "$work/out" || { why="encrypt --help lacks $v"; return 1; }
	done
	vx keyslot add --help
	grep -q -- --new-key-file "$work/out" && grep -q -- --new-passphrase-file "$work/out" ||
		{ why="keyslot add --help lacks the new-key flags"; return 1; }
	vx dump --help
	grep -q -- --volume-key "$work/out" || { why="dump --help lacks --volume-key"; return 1; }
}

t_usage_errors() {
	local img=$work/u.img before
	mkimg "$img" 1
	before=$(sha "$img")
	vx; expect_rc 2 "no arguments" || return 1
	vx frobnicate "$img"; expect_rc 2 "unknown verb" || return 1
	vx keyslot frob "$img"; expect_rc 2 "unknown sub-verb" || return 1
	vx encrypt; expect_rc 2 "missing DEVICE" || return 1
	vx encrypt "$img" "$img"; expect_rc 2 "extra argument" || return 1
	vx encrypt --bogus "$img"; expect_rc 2 "unknown option" || return 1
	vx encrypt --sector-size 1000 "$img"; expect_rc 2 "--sector-size 1000" || return 1
	vx encrypt --sector-size 4096x "$img"; expect_rc 2 "trailing junk" || return 1
	vx encrypt --resilience none "$img"; expect_rc 2 "--resilience none" || return 1
	vx status --key-file "$work/k1" "$img"; expect_rc 2 "option of another verb" || return 1
	vx status -- "$img" --json; expect_rc 2 "after --, --json is a second DEVICE" || return 1
	vx encrypt --key-file "$work/k1" --passphrase-file "$work/p1" "$img"
	expect_rc 2 "two key sources" || return 1
	vx encrypt --header "$work/u.hdr" --header-at-end --key-file "$work/k1" "$img"
	expect_rc 2 "--header with --header-at-end" || return 1
	[ "$(sha "$img")" = "$before" ] && [ ! -e "$work/u.hdr" ] ||
		{ why="a usage error modified the image or wrote a header"; return 1; }
}

t_roundtrip_detached() {
	encrypted_vol rt 32 --sector-size 4096 || return 1
	[ "$(sha "$img")" != "$orig" ] || { why="encrypt left the image unchanged"; return 1; }
	vx status "$img" --header "$hdr"
	expect_rc 0 status || return 1
	grep -q "encrypted" "$work/out" || { why="status: $(cat "$work/out")"; return 1; }
	local enc; enc=$(sha "$img")
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "encrypt again (idempotent)" || return 1
	grep -q "already encrypted" "$work/out" || { why="second encrypt: $(cat "$work/out")"; return 1; }
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1" --json
	[ "$(json_get 'd["ok"], d["changed"]')" = "True False" ] ||
		{ why="idempotent encrypt JSON: $(cat "$work/out")"; return 1; }
	[ "$(sha "$img")" = "$enc" ] || { why="second encrypt changed data"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="decrypt != original"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "decrypt again (idempotent)" || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="second decrypt changed data"; return 1; }
}

t_roundtrip_header_at_end() {
	local img=$work/end.img data=$((32 << 20)) o
	mkimg "$img" 32
	truncate -s $((48 << 20)) "$img"	# 16 MiB of free (zero) space at the end
	o=$(sha_head "$img" $data)
	vx encrypt "$img" --header-at-end --key-file "$work/k1" --label endvol
	expect_rc 0 "encrypt --header-at-end" || return 1
	[ "$(sha_head "$img" $data)" != "$o" ] || { why="data not encrypted"; return 1; }
	vx dump "$img" --json
	expect_rc 0 dump && json_ok || return 1
	[ "$(json_get 'd["data_size"], d["header_at_end"], d["label"]')" = "$data True endvol" ] ||
		{ why="dump: $(json_get 'd["data_size"], d["header_at_end"], d["label"]')"; return 1; }
	vx decrypt "$img" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	[ "$(sha_head "$img" $data)" = "$o" ] || { why="decrypt != original"; return 1; }
}

t_roundtrip_journal_512() {
	encrypted_vol j512 16 --resilience journal --sector-size 512 --iv-offset 1000 || return 1
	vx dump "$img" --header "$hdr" --json
	[ "$(json_get 'd["resilience"], d["sector_size"], d["iv_offset"]')" = "journal 512 1000" ] ||
		{ why="dump: $(head -c 300 "$work/out")"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="decrypt != original"; return 1; }
}

t_reencrypt_keeps_plaintext() {
	local k_old k_new
	encrypted_vol re 16 || return 1
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	expect_rc 0 "dump --volume-key" || return 1
	k_old=$volume_key
	[ ${#k_old} -eq 128 ] || { why="volume key '${k_old}' is not 64 bytes of hex"; return 1; }
	vx reencrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 reencrypt || return 1
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	k_new=$volume_key
	[ ${#k_new} -eq 128 ] && [ "$k_new" != "$k_old" ] ||
		{ why="volume key did not change"; return 1; }
	# a re-key can add a KEK: the new DEK is sealed under both
	vx reencrypt "$img" --header "$hdr" --key-file "$work/k1" --new-key-file "$work/k2"
	expect_rc 0 "reencrypt --new-key-file" || return 1
	vx_key dump "$img" --header "$hdr" --key-file "$work/k2" --volume-key
	[ ${#volume_key} -eq 128 ] && [ "$volume_key" != "$k_new" ] ||
		{ why="--new-key-file does not open the re-keyed volume"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="plaintext changed by reencrypt"; return 1; }
}

t_format() {
	local img=$work/fmt.img hdr=$work/fmt.hdr before
	mkimg "$img" 16
	before=$(sha "$img")
	vx format "$img" --header "$hdr" --passphrase-file "$work/p1" "${A2[@]}"
	expect_rc 2 "format without --yes off a TTY" || return 1
	[ ! -s "$hdr" ] || { why="unconfirmed format wrote a header"; return 1; }
	vx format "$img" --header "$hdr" --passphrase-file "$work/p1" "${A2[@]}" \
		--yes --json --label fresh
	expect_rc 0 format && json_ok || return 1
	[ "$(json_get 'd["state"], d["label"]')" = "encrypted fresh" ] ||
		{ why="format result: $(head -c 300 "$work/out")"; return 1; }
	vx status "$img" --header "$hdr"
	expect_rc 0 status || return 1
	vx decrypt "$img" --header "$hdr" --passphrase-file "$work/p1"
	expect_rc 0 "decrypt a formatted volume" || return 1
}

t_keyslots() {
	local k0 k
	encrypted_vol ks 16 || return 1
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	k0=$volume_key
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/p1" "${A2[@]}"
	expect_rc 0 "add passphrase slot" || return 1
	vx keyslot add "$img" --header "$hdr" --passphrase-file "$work/p1" \
		--new-key-file "$work/k2" --slot 5 --json
	expect_rc 0 "add key-file slot 5 (unlocked by passphrase)" && json_ok || return 1
	[ "$(json_get 'd["slot"]')" = 5 ] || { why="added slot $(json_get 'd["slot"]')"; return 1; }
	vx keyslot list "$img" --header "$hdr" --json
	expect_rc 0 "keyslot list" && json_ok || return 1
	[ "$(json_get '" ".join("%d:%s" % (s["slot"], s["type"]) for s in d["keyslots"])')" = \
	  "0:keyfile 1:passphrase 5:keyfile" ] ||
		{ why="slots: $(json_get 'd["keyslots"]')"; return 1; }
	for k in "--passphrase-file $work/p1" "--key-file $work/k2"; do
		# shellcheck disable=SC2086
		vx_key dump "$img" --header "$hdr" $k --volume-key
		[ "$volume_key" = "$k0" ] || { why="$k opens to another key"; return 1; }
	done
	vx keyslot remove "$img" --header "$hdr" --key-file "$work/k2" --slot 0
	expect_rc 2 "remove without --yes off a TTY" || return 1
	vx keyslot remove "$img" --header "$hdr" --key-file "$work/k2" --slot 0 --yes
	expect_rc 0 "remove slot 0" || return 1
	vx dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	expect_rc 3 "removed key still opens" || return 1
	vx keyslot remove "$img" --header "$hdr" --key-file "$work/k2" --slot 0 --yes
	expect_rc 0 "remove an empty slot (idempotent)" || return 1
	vx keyslot remove "$img" --header "$hdr" --key-file "$work/k2" --slot 1 --yes
	expect_rc 0 "remove slot 1" || return 1
	vx keyslot remove "$img" --header "$hdr" --key-file "$work/k2" --slot 5 --yes
	expect_rc 11 "removing the last slot must be refused" || return 1
	vx keyslot list "$img" --header "$hdr"
	grep -q "5: keyfile" "$work/out" || { why="list: $(cat "$work/out")"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k2"
	expect_rc 0 "decrypt with the added key" || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="decrypt != original"; return 1; }
}

corrupt() { # <file> <offset>: flip one byte
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 0xff) & 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

t_header_backup_restore() {
	local enc
	encrypted_vol hb 16 || return 1
	vx header backup "$img" "$work/hb.bak" --header "$hdr"
	expect_rc 0 "header backup" || return 1
	[ "$(stat -c %a "$work/hb.bak")" = 600 ] || { why="backup mode $(stat -c %a "$work/hb.bak")"; return 1; }
	vx header backup "$img" "$work/hb.bak" --header "$hdr"
	[ "$rc" -ne 0 ] || { why="backup overwrote an existing file"; return 1; }
	enc=$(sha "$img")
	corrupt "$hdr" 100			# copy 1 only: copy 2 still carries it
	vx status "$img" --header "$hdr" --json
	expect_rc 0 "status with copy 1 bad" || return 1
	[ "$(json_get 'd["header"]["valid_copies"]')" = "[2]" ] ||
		{ why="valid copies: $(json_get 'd["header"]["valid_copies"]')"; return 1; }
	corrupt "$hdr" $((4096 + 100))		# now both
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 5 "decrypt with both copies bad" || return 1
	grep -q "copy 1" "$work/err" && grep -q "copy 2" "$work/err" ||
		{ why="message does not name the copies: $(cat "$work/err")"; return 1; }
	grep -q "header restore" "$work/err" || { why="message gives no fix: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$enc" ] || { why="data touched with a corrupt header"; return 1; }
	vx header restore "$img" "$work/hb.bak" --header "$hdr" --yes
	expect_rc 0 "header restore" || return 1
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "decrypt after restore" || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="decrypt != original"; return 1; }
}

t_wrong_key() {
	local before hbefore
	encrypted_vol wk 16 || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/p1" "${A2[@]}"
	expect_rc 0 "add passphrase slot" || return 1
	before=$(sha "$img"); hbefore=$(sha "$hdr")
	vx decrypt "$img" --header "$hdr" --key-file "$work/wrong"
	expect_rc 3 "decrypt, wrong key file" || return 1
	vx decrypt "$img" --header "$hdr" --passphrase-file "$work/pwrong"
	expect_rc 3 "decrypt, wrong passphrase" || return 1
	vx reencrypt "$img" --header "$hdr" --key-file "$work/wrong"
	expect_rc 3 "reencrypt, wrong key" || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/wrong" --new-key-file "$work/k2"
	expect_rc 3 "keyslot add, wrong key" || return 1
	vx dump "$img" --header "$hdr" --key-file "$work/wrong" --volume-key --json
	expect_rc 3 "dump --volume-key, wrong key" && json_ok || return 1
	[ "$(json_get 'd["ok"], d["exit_code"], d["exit_name"]')" = "False 3 wrong_key" ] ||
		{ why="error JSON: $(cat "$work/out")"; return 1; }
	[ "$(sha "$img")" = "$before" ] && [ "$(sha "$hdr")" = "$hbefore" ] ||
		{ why="a wrong key changed the image or header"; return 1; }
}

t_busy() {
	local st i
	img=$work/busy.img hdr=$work/busy.hdr
	mkimg "$img" 32
	orig=$(sha "$img")
	# 16 s of work, stopped after a few: 1 MiB windows advance the boundary
	# twice within status's 1 s sampling interval, so its rate is never 0
	# because one window happened to straddle the interval.
	bg_encrypt "$img" "$hdr" 2M --resilience journal || return 1
	st=$(json_get 'd["state"]')
	[ "$st" = encrypting ] || { why="background encrypt: state $st"; bg_stop TERM; return 1; }
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 4 "second encrypt while one runs" || { bg_stop TERM; return 1; }
	grep -qi "busy\|in use\|lock" "$work/err" || { why="busy message: $(cat "$work/err")"; bg_stop TERM; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 4 "decrypt while encrypt runs" || { bg_stop TERM; return 1; }
	vx status "$img" --header "$hdr" --json
	expect_rc 0 "status while encrypt runs" && json_ok || { bg_stop TERM; return 1; }
	awk "BEGIN{exit !($(json_get 'd["rate_bytes_per_sec"]') > 0)}" ||
		{ why="status saw no rate: $(cat "$work/out")"; bg_stop TERM; return 1; }
	[ "$(json_get 'd["running"]')" = True ] ||
		{ why="status does not see the running vxts"; bg_stop TERM; return 1; }
	bg_stop TERM
	expect_rc 7 "SIGTERM during encrypt" || return 1
	vx status "$img" --header "$hdr" --json --interval 0
	[ "$(json_get 'd["in_progress"], d["running"]')" = "True False" ] ||
		{ why="status after the stop: $(cat "$work/out")"; return 1; }
	vx status "$img" --header "$hdr" --interval 0
	grep -q "stopped: re-run .vxts encrypt" "$work/out" ||
		{ why="status text after the stop (exit $rc): $(cat "$work/out" "$work/err")"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 11 "decrypt of a half-encrypted volume" || return 1
	grep -q "run .vxts encrypt $img. first" "$work/err" ||
		{ why="state message: $(cat "$work/err")"; return 1; }
	vx reencrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 11 "reencrypt of a half-encrypted volume" || return 1
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "resume after SIGTERM" || return 1
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="decrypt != original"; return 1; }
}

t_unsuitable() {
	local img=$work/odd.img before
	mkimg "$img" 16
	truncate -s $(((16 << 20) + 512)) "$img"
	before=$(sha "$img")
	vx encrypt "$img" --header "$work/odd.hdr" --key-file "$work/k1" --sector-size 4096
	expect_rc 9 "size not a multiple of 4096" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="refused encrypt changed the image"; return 1; }
	img=$work/small.img
	mkimg "$img" 8
	before=$(sha "$img")
	vx encrypt "$img" --header-at-end --key-file "$work/k1"
	expect_rc 9 "8 MiB device with a 16 MiB header area" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="refused encrypt changed the image"; return 1; }
	img=$work/full.img
	mkimg "$img" 24			# no free space at the end: random data there
	before=$(sha "$img")
	vx encrypt "$img" --header-at-end --key-file "$work/k1"
	expect_rc 9 "header at end over data" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="refused encrypt changed the image"; return 1; }
}

t_no_prompt() {
	local img=$work/np.img t0 before
	mkimg "$img" 16
	before=$(sha "$img")
	t0=$SECONDS
	vx encrypt "$img" --header "$work/np.hdr"
	expect_rc 10 "encrypt without a key, stdin not a TTY" || return 1
	grep -q "no key given: use --key-file or --passphrase-file" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	[ $((SECONDS - t0)) -lt 5 ] || { why="took $((SECONDS - t0)) s"; return 1; }
	[ "$(sha "$img")" = "$before" ] || { why="image changed"; return 1; }
	: > "$work/empty"
	vx encrypt "$img" --header "$work/np.hdr" --key-file "$work/empty"
	expect_rc 1 "encrypt with an empty key file" || return 1
	grep -q "is empty" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$before" ] && [ ! -e "$work/np.hdr" ] ||
		{ why="an empty key file wrote something"; return 1; }
	encrypted_vol np2 16 || return 1
	vx decrypt "$img" --header "$hdr"
	expect_rc 10 "decrypt without a key" || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 10 "keyslot add without a new key" || return 1
	grep -q "no new key given" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
}

# tty_type <prompt> <line>: when the TTY output shows <prompt> and the vxts
# under script(1) is blocked reading its stdin, write <line> to it (fd ttyfd).
tty_type() {
	local i vp
	for i in $(seq 300); do
		if grep -q "$1" "$work/tty.out"; then
			for vp in $(pgrep -f "encrypt $img "); do
				# not script(1) or a shell between it and vxts
				case $(readlink "/proc/$vp/exe") in
				*/script | */sh | */dash | */bash | */timeout) continue ;;
				esac
				case $(cat "/proc/$vp/syscall" 2> /dev/null) in
				"0 0x0 "*) printf '%s\n' "$2" >&"$ttyfd"; return 0 ;;
				esac
			done
		fi
		kill -0 "$spid" 2> /dev/null || return 1
		sleep 0.1
	done
	return 1
}

# On a TTY (script(1) gives one) with no key flag: a prompt, asked twice for
# a new volume, without echo; the same passphrase from a file then opens it.
t_tty_prompt() {
	local img=$work/tty.img hdr=$work/tty.hdr pass=tty-Passphrase-7f3e spid ttyfd
	command -v script > /dev/null || { why="no script(1)"; return 77; }
	mkimg "$img" 16
	# Each line is typed only once its prompt is shown and vxts waits in
	# read(0), i.e. after it turned echo off (and flushed the input): typed
	# earlier, the tty would echo it or the flush would drop it.
	rm -f "$work/tty.in"
	mkfifo "$work/tty.in"
	timeout 60 script -qec "$VXTS encrypt $img --header $hdr --force ${A2[*]}" /dev/null \
		< "$work/tty.in" > "$work/tty.out" 2>&1 &
	spid=$!
	exec {ttyfd}> "$work/tty.in"
	tty_type "new volume: " "$pass" && tty_type "new volume (again): " "$pass" ||
		{ kill "$spid"; why="no prompt, or vxts not reading its TTY: $(tr -d '\r' < "$work/tty.out" | head -c 300)"; }
	wait "$spid"
	rc=$?
	exec {ttyfd}>&-
	cat "$work/tty.out" >> "$all_out"
	[ -z "$why" ] || return 1
	expect_rc 0 "encrypt with a prompted passphrase" || { why="$why: $(tr -d '\r' < "$work/tty.out" | head -c 300)"; return 1; }
	grep -q "Passphrase for the new volume (again)" "$work/tty.out" ||
		{ why="no confirmation prompt: $(head -c 300 "$work/tty.out")"; return 1; }
	! grep -q "$pass" "$work/tty.out" || { why="the passphrase was echoed"; return 1; }
	printf '%s\n' "$pass" > "$work/tty.pass"
	vx status "$img" --header "$hdr"
	grep -q encrypted "$work/out" || { why="status: $(cat "$work/out")"; return 1; }
	vx decrypt "$img" --header "$hdr" --passphrase-file "$work/tty.pass"
	expect_rc 0 "decrypt with the same passphrase from a file"
}

t_keyfile_mode_warning() {
	local img=$work/kw.img
	mkimg "$img" 16
	cp "$work/k1" "$work/k1-open" && chmod 644 "$work/k1-open"
	vx encrypt "$img" --header "$work/kw.hdr" --key-file "$work/k1-open"
	expect_rc 0 "encrypt with a 0644 key file" || return 1
	grep -q "readable by group or others" "$work/err" ||
		{ why="no warning: $(cat "$work/err")"; return 1; }
}

t_json() {
	local img hdr line n=0
	encrypted_vol js 16 --json --rate-limit 32M --resilience journal || return 1
	json_ok || return 1
	[ "$(json_get 'd["ok"], d["verb"], d["state"], d["changed"]')" = "True encrypt encrypted True" ] ||
		{ why="encrypt JSON: $(cat "$work/out")"; return 1; }
	while IFS= read -r line; do		# progress: JSON lines on stderr
		case "$line" in "{"*) ;; *) continue ;; esac
		"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["event"] == "progress"' "$line" ||
			{ why="progress line: $line"; return 1; }
		n=$((n + 1))
	done < "$work/err"
	[ "$n" -gt 0 ] || { why="no JSON progress lines on stderr"; return 1; }
	for args in "status $img" "dump $img" "keyslot list $img" \
		    "header backup $img $work/js.bak" "encrypt $img --key-file $work/k1" \
		    "reencrypt $img --key-file $work/k1" "decrypt $img --key-file $work/k1"; do
		# shellcheck disable=SC2086
		vx $args --header "$hdr" --json
		expect_rc 0 "$args --json" && json_ok || { why="$args: $why"; return 1; }
	done
	vx status "$work/nonexistent" --json
	[ "$rc" -ne 0 ] && json_ok || { why="error result is not JSON"; return 1; }
	[ "$(json_get 'd["ok"]')" = False ] || { why="error JSON says ok"; return 1; }
}

t_exit_codes_documented() {
	local n doc=$top/docs/CLI.md
	vx help
	for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
		grep -Eq "^ *$n  " "$work/out" || { why="vxts help lacks exit code $n"; return 1; }
		grep -Eq "^\| *$n *\|" "$doc" || { why="docs/CLI.md lacks exit code $n"; return 1; }
	done
}

# The 4096-byte units on disk equal an AES-256-XTS computed without libvxts
# (tests/cli/xts_ref.py: openssl AES-ECB plus the tweak math), with dm-crypt's
# plain64 tweak: the 512-byte sector number of the unit plus the IV offset.
check_units() { # <plain> <cipher> <unit> <iv_offset> <key> <units...>
	local plain=$1 ciph=$2 unit=$3 ivo=$4 key=$5 u want got
	shift 5
	for u in "$@"; do
		want=$(dd if="$plain" bs="$unit" skip="$u" count=1 status=none |
			"$PY" "$here/xts_ref.py" "$key" $((u * unit / 512 + ivo)) | sha256sum)
		got=$(dd if="$ciph" bs="$unit" skip="$u" count=1 status=none | sha256sum)
		[ "$want" = "$got" ] || { why="unit $u (size $unit) differs from the reference"; return 1; }
	done
}

t_ciphertext_reference() {
	local n=$(((16 << 20) / 4096))
	encrypted_vol ref 16 --sector-size 4096 || return 1
	cp "$img" "$work/ref.cipher"
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	[ ${#volume_key} -eq 128 ] || { why="no volume key from dump"; return 1; }
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	check_units "$img" "$work/ref.cipher" 4096 0 "$volume_key" \
		0 1 7 $((RANDOM % n)) $((RANDOM % n)) $((n - 1)) || return 1
	rm -f "$work/ref.cipher"
	encrypted_vol ref5 4 --sector-size 512 --iv-offset 1000 || return 1
	cp "$img" "$work/ref5.cipher"
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 decrypt || return 1
	check_units "$img" "$work/ref5.cipher" 512 1000 "$volume_key" 0 1 4095 8191
}

# Last: no volume key recorded by any `dump --volume-key` appears in any
# other output of this run (text, JSON, errors, progress), nor in `dump`.
t_no_key_leak() {
	local k n=0
	[ -s "$keys" ] || { why="no volume keys were recorded"; return 1; }
	while read -r k; do
		n=$((n + 1))
		if grep -qi "$k" "$all_out"; then why="a volume key appears in output"; return 1; fi
		# also as raw bytes, or as hex of the first 16 bytes alone
		if grep -qi "${k:0:32}" "$all_out"; then why="part of a volume key appears"; return 1; fi
	done < "$keys"
	encrypted_vol leak 4 || return 1
	vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
	k=$volume_key
	grep -q "printing the volume key" "$work/err" || { why="no warning on stderr"; return 1; }
	vx dump "$img" --header "$hdr" --key-file "$work/k1"
	! grep -qi "$k" "$work/out" "$work/err" || { why="plain dump printed the key"; return 1; }
	vx dump "$img" --header "$hdr" --json
	! grep -qi "$k" "$work/out" || { why="dump --json printed the key"; return 1; }
	[ "$n" -ge 3 ] || { why="only $n keys checked"; return 1; }
}

# encrypt refuses what it cannot prove is plaintext (random data looks like
# ciphertext: a mistyped --header on an encrypted disk would encrypt it twice)
# unless --force; a vxts header already at the device end is never overridden.
vx_noforce() { # like vx, without the --force vx adds to encrypt
	timeout 60 "$VXTS" "$@" < /dev/null > "$work/out" 2> "$work/err"
	rc=$?
	cat "$work/out" "$work/err" >> "$all_out"
}

t_not_plaintext() {
	local before
	img=$work/np.img
	mkimg "$img" 16
	before=$(sha "$img")
	vx_noforce encrypt "$img" --header "$work/np.hdr" --key-file "$work/k1"
	expect_rc 12 "random image without --force" || return 1
	grep -q -- "--force" "$work/err" || { why="refusal does not name --force: $(cat "$work/err")"; return 1; }
	[ ! -e "$work/np.hdr" ] || { why="refused encrypt created a header"; return 1; }
	[ "$(sha "$img")" = "$before" ] || { why="refused encrypt changed the image"; return 1; }

	encrypted_vol npe 16 || return 1
	before=$(sha "$img")
	vx_noforce encrypt "$img" --header "$work/npe.typo.hdr" --key-file "$work/k1"
	expect_rc 12 "encrypted volume, mistyped --header" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="second encrypt changed the ciphertext"; return 1; }

	img=$work/npend.img
	mkimg "$img" 16
	truncate -s 32M "$img"		# a zeroed tail for the header area
	vx encrypt "$img" --header-at-end --key-file "$work/k1"
	expect_rc 0 "encrypt --header-at-end" || return 1
	before=$(sha "$img")
	vx encrypt "$img" --header "$work/npend.hdr" --key-file "$work/k1"
	expect_rc 13 "detached encrypt over an at-end volume, even with --force" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="refused encrypt changed the image"; return 1; }

	command -v mkfs.ext4 > /dev/null || { why="no mkfs.ext4"; return 77; }
	img=$work/npfs.img
	mkimg "$img" 32 zero
	# 4 KiB blocks: encrypt refuses 1 KiB ones under 4096-byte units
	mkfs.ext4 -q -F -b 4096 "$img" || { why="mkfs.ext4 failed"; return 1; }
	vx_noforce encrypt "$img" --header "$work/npfs.hdr" --key-file "$work/k1"
	expect_rc 0 "ext4 image without --force" || return 1
}

# A backup taken mid-conversion restores only with --force (vxts cannot tell
# whether anything was converted since); then the conversion resumes and the
# plaintext comes back whole.
t_restore_midway() {
	img=$work/mid.img hdr=$work/mid.hdr
	mkimg "$img" 32
	orig=$(sha "$img")
	bg_encrypt "$img" "$hdr" 4M --resilience journal || return 1
	bg_stop INT
	cp "$work/bg.err" "$work/err"
	expect_rc 7 "SIGINT during encrypt" || return 1
	vx header backup "$img" "$work/mid.bak" --header "$hdr"
	expect_rc 0 "header backup mid-conversion" || return 1
	dd if=/dev/zero of="$hdr" bs=4096 count=2 conv=notrunc status=none
	vx status "$img" --header "$hdr"
	[ "$rc" -eq 8 ] || [ "$rc" -eq 5 ] || { why="status on a zeroed header: exit $rc"; return 1; }
	vx header restore "$img" "$work/mid.bak" --header "$hdr" --yes
	[ "$rc" -ne 0 ] || { why="mid-conversion backup restored without --force"; return 1; }
	vx header restore "$img" "$work/mid.bak" --header "$hdr" --yes --force
	expect_rc 0 "header restore --force" || return 1
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "resume after restore" || return 1
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "decrypt" || return 1
	[ "$(sha "$img")" = "$orig" ] || { why="plaintext differs after restore, resume, decrypt"; return 1; }
}

# ---- run -----------------------------------------------------------------

failed=0
run_case() { # <name>
	local t0=$SECONDS r
	why=""
	"t_$1"
	r=$?
	if [ "$r" -eq 0 ]; then
		vxts_report PASS "cli/$1"
	elif [ "$r" -eq 77 ]; then
		vxts_report SKIP "cli/$1" "${why:-skipped}"
	else
		vxts_report FAIL "cli/$1" "${why:-failed}"
		failed=1
	fi
	[ $((SECONDS - t0)) -lt "${VXTS_CLI_SLOW:-30}" ] || echo "    (cli/$1 took $((SECONDS - t0)) s)"
	rm -f "$work"/*.img "$work"/*.hdr "$work"/*.bak "$work"/*.cipher
}

cases=(help usage_errors roundtrip_detached roundtrip_header_at_end
       roundtrip_journal_512 reencrypt_keeps_plaintext format keyslots
       header_backup_restore restore_midway wrong_key busy unsuitable not_plaintext no_prompt tty_prompt
       keyfile_mode_warning json exit_codes_documented ciphertext_reference
       no_key_leak)
# More cases live in tests/cli/cases-*.sh: each defines t_<name> functions and
# appends the names to extra_cases. They run before no_key_leak, which checks
# everything every case printed.
extra_cases=()
for f in "$here"/cases-*.sh; do
	[ -f "$f" ] && . "$f"
done
cases=("${cases[@]:0:${#cases[@]}-1}" "${extra_cases[@]}" no_key_leak)
[ $# -gt 0 ] && cases=("$@")
for c in "${cases[@]}"; do
	run_case "$c"
done
exit $failed
