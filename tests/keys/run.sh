#!/usr/bin/env bash
# Keys layer: customer-managed keys end to end, on small images in tmpfs.
#
#   - PKCS#11 through SoftHSM2, started here in a private token directory
#     (SOFTHSM2_CONF): an AES key (CKM_AES_KEY_WRAP_PAD) and an RSA key pair
#     (RSA-OAEP) wrap the DEK; encrypt + decrypt round trip; a wrong PIN;
#   - the KMS helper protocol with examples/kms/vxts-kms-local: happy path,
#     rotation to a new key version, and helpers that hang, babble, fail or
#     refuse: each gives exit 16 and a message naming the cause;
#   - rotation under SIGKILL at random instants (the unit layer injects a
#     crash at every IO of it: test_keyslot_rotate);
#   - recovery keys; the last key cannot be removed;
#   - tampered headers refused (slot reference, conversion fields);
#   - no key in /proc/*/cmdline or environ of vxts and the helper, or in
#     any output or log.
# Each case is t_<name> returning 0 pass / 1 fail / 77 skip, $why on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
. "$top/tests/lib/scratch.sh"
vxts_scratch keys
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
all_out=$work/all-output.log
secrets=$work/secrets.txt	# every secret seen, one per line, for the leak check
: > "$all_out"
: > "$secrets"
KMS=$top/examples/kms/vxts-kms-local
export VXTS_KMS_DIR=$work/kms
mkdir -p "$VXTS_KMS_DIR"
MOD=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
	[ -e "$m" ] && MOD=$m && break
done

# ---- helpers -------------------------------------------------------------

vx() { # ARGS...: vxts with no TTY; stdout $work/out, stderr $work/err, exit $rc
	timeout 120 "$VXTS" "$@" < /dev/null > "$work/out" 2> "$work/err"
	rc=$?
	cat "$work/out" "$work/err" >> "$all_out"
}

vx_key() { # ARGS...: `dump --volume-key`; the key goes to $volume_key, not the log
	timeout 120 "$VXTS" dump --volume-key "$@" < /dev/null > "$work/out" 2> "$work/err"
	rc=$?
	cat "$work/err" >> "$all_out"
	volume_key=$(sed -n 's/^volume_key: \([0-9a-f]*\)$/\1/p' "$work/out")
	[ -n "$volume_key" ] && echo "$volume_key" >> "$secrets"
	return 0
}

expect_rc() { # <want> <what>
	if [ "$rc" -ne "$1" ]; then
		why="$2: exit $rc, want $1 ($(head -c 300 "$work/err" | tr '\n' ' '))"
		return 1
	fi
}

expect_err() { # <regex> <what>
	grep -qE "$1" "$work/err" && return 0
	why="$2: message lacks /$1/: $(head -c 300 "$work/err" | tr '\n' ' ')"
	return 1
}

mkimg() { head -c "$(($2 << 20))" /dev/urandom > "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# A private SoftHSM2 token with an AES-256 key and an RSA-2048 key pair.
hsm_setup() {
	[ -n "$MOD" ] && command -v softhsm2-util > /dev/null &&
		command -v pkcs11-tool > /dev/null || return 77
	[ -e "$work/hsm/ready" ] && return 0
	mkdir -p "$work/hsm/tokens"
	export SOFTHSM2_CONF=$work/hsm/softhsm2.conf
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$work/hsm/tokens" > "$SOFTHSM2_CONF"
	printf 'Pin-4711-xyzzy-0815\n' > "$work/pin"
	printf '0000\n' > "$work/badpin"
	chmod 600 "$work/pin" "$work/badpin"
	echo Pin-4711-xyzzy-0815 >> "$secrets"
	softhsm2-util --init-token --free --label vxts-test --pin Pin-4711-xyzzy-0815 --so-pin 8642 \
		> "$work/hsm/log" 2>&1 &&
	pkcs11-tool --module "$MOD" --token-label vxts-test --login --pin Pin-4711-xyzzy-0815 \
		--keygen --key-type AES:32 --label kek-aes --id 01 >> "$work/hsm/log" 2>&1 &&
	pkcs11-tool --module "$MOD" --token-label vxts-test --login --pin Pin-4711-xyzzy-0815 \
		--keypairgen --key-type rsa:2048 --label kek-rsa --id 02 \
		>> "$work/hsm/log" 2>&1 || { why="SoftHSM2 setup: $(tail -3 "$work/hsm/log")"; return 1; }
	touch "$work/hsm/ready"
}

P11=(--pkcs11-module "$MOD" --pin-file "$work/pin")

kms_key() { # <id> [bits]
	[ -e "$VXTS_KMS_DIR/$1.pem" ] ||
		openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2:-2048}" \
			-out "$VXTS_KMS_DIR/$1.pem" 2> /dev/null
}

# Helpers that misbehave, each a tiny script.
mkhelper() { # <name> <body>
	printf '#!/bin/sh\n%s\n' "$2" > "$work/$1"
	chmod +x "$work/$1"
}

# ---- PKCS#11 -------------------------------------------------------------

t_pkcs11_aes_round_trip() {
	hsm_setup || return $?
	local img=$work/p.img sum
	mkimg "$img" 8
	sum=$(sha "$img")
	vx encrypt "$img" --header "$work/p.hdr" --force --no-progress \
		--pkcs11-uri "pkcs11:token=vxts-test;object=kek-aes" "${P11[@]}"
	expect_rc 0 "encrypt with an AES key in the token" || return 1
	[ "$(sha "$img")" != "$sum" ] || { why="image unchanged by encrypt"; return 1; }
	vx keyslot list "$img" --header "$work/p.hdr" --json
	grep -q '"mechanism":"AES-KWP"' "$work/out" ||
		{ why="slot is not AES-KWP: $(cat "$work/out")"; return 1; }
	grep -q 'object=kek-aes' "$work/out" || { why="URI not stored"; return 1; }
	vx decrypt "$img" --header "$work/p.hdr" --no-progress --yes "${P11[@]}"
	expect_rc 0 "decrypt through the token" || return 1
	[ "$(sha "$img")" = "$sum" ] || { why="plaintext differs after the round trip"; return 1; }
}

t_pkcs11_rsa_oaep_slot() {
	hsm_setup || return $?
	local img=$work/r.img k_aes
	mkimg "$img" 4
	vx format "$img" --header "$work/r.hdr" --yes \
		--pkcs11-uri "pkcs11:token=vxts-test;object=kek-aes" "${P11[@]}"
	expect_rc 0 "format" || return 1
	vx_key "$img" --header "$work/r.hdr" "${P11[@]}"
	k_aes=$volume_key
	vx keyslot add "$img" --header "$work/r.hdr" "${P11[@]}" \
		--new-pkcs11-uri "pkcs11:token=vxts-test;object=kek-rsa"
	expect_rc 0 "keyslot add (RSA key pair)" || return 1
	expect_err "wrapped with a public key \(RSA-OAEP" "warning for a public-key KEK" || return 1
	vx keyslot list "$img" --header "$work/r.hdr" --json
	"$PY" - "$work/out" <<'PYEOF' || { why="RSA slot listing: $(cat "$work/out")"; return 1; }
import json, sys
d = json.load(open(sys.argv[1]))
s = [k for k in d["keyslots"] if "kek-rsa" in k.get("pkcs11_uri", "")]
assert len(s) == 1 and s[0]["entries"] == 2, s
assert s[0]["mechanism"] in ("RSA-OAEP-256", "RSA-OAEP"), s
PYEOF
	# open with the RSA slot alone: remove the AES one first
	vx keyslot remove "$img" --header "$work/r.hdr" --slot 0 --yes "${P11[@]}"
	expect_rc 0 "remove the AES slot" || return 1
	vx_key "$img" --header "$work/r.hdr" "${P11[@]}"
	[ -n "$volume_key" ] && [ "$volume_key" = "$k_aes" ] ||
		{ why="RSA slot opens another key ($rc)"; return 1; }
}

t_pkcs11_wrong_pin() {
	hsm_setup || return $?
	local before
	[ -e "$work/r.hdr" ] || { why="needs pkcs11_rsa_oaep_slot"; return 1; }
	before=$(sha "$work/r.hdr")
	vx keyslot add "$work/r.img" --header "$work/r.hdr" --pkcs11-module "$MOD" \
		--pin-file "$work/badpin" --new-key-file /dev/null
	expect_rc 3 "wrong PIN" || return 1
	expect_err "refused the PIN" "wrong PIN" || return 1
	[ "$(sha "$work/r.hdr")" = "$before" ] || { why="header changed"; return 1; }
}

# ---- KMS helper ------------------------------------------------------------

t_kms_happy_and_rotate() {
	local img=$work/k.img sum k1
	kms_key disk-kek-v1 && kms_key disk-kek-v2 3072 || { why="openssl genpkey"; return 1; }
	mkimg "$img" 8
	sum=$(sha "$img")
	vx encrypt "$img" --header "$work/k.hdr" --force --no-progress \
		--kms-command "$KMS" --kms-key-id disk-kek-v1 --recovery-key-file "$work/rec"
	expect_rc 0 "encrypt with a KMS key" || return 1
	[ "$(stat -c %a "$work/rec")" = 600 ] || { why="recovery file mode"; return 1; }
	tr -d '\n' < "$work/rec" >> "$secrets"; echo >> "$secrets"
	vx_key "$img" --header "$work/k.hdr" --kms-command "$KMS"
	k1=$volume_key
	[ -n "$k1" ] || { why="KMS unlock: $(cat "$work/err")"; return 1; }
	vx keyslot rotate "$img" --header "$work/k.hdr" --slot 0 --kms-command "$KMS" \
		--new-kms-key-id disk-kek-v2
	expect_rc 0 "rotate to the new key version" || return 1
	vx keyslot list "$img" --header "$work/k.hdr" --json
	grep -q '"kms_key_id":"disk-kek-v2"' "$work/out" &&
		! grep -q 'disk-kek-v1' "$work/out" || { why="rotate left: $(cat "$work/out")"; return 1; }
	# the old key version is gone from the header: deleting it loses nothing
	mv "$VXTS_KMS_DIR/disk-kek-v1.pem" "$VXTS_KMS_DIR/disk-kek-v1.off"
	vx_key "$img" --header "$work/k.hdr" --kms-command "$KMS"
	[ "$volume_key" = "$k1" ] || { why="new version does not open the DEK"; return 1; }
	vx_key "$img" --header "$work/k.hdr" --use-recovery-key "$work/rec"
	[ "$volume_key" = "$k1" ] || { why="recovery key does not open the DEK"; return 1; }
	vx decrypt "$img" --header "$work/k.hdr" --no-progress --yes --use-recovery-key "$work/rec"
	expect_rc 0 "decrypt with the recovery key" || return 1
	[ "$(sha "$img")" = "$sum" ] || { why="plaintext differs"; return 1; }
}

t_kms_last_key_kept() {
	local img=$work/l.img
	kms_key disk-kek-v2 3072
	mkimg "$img" 2
	vx format "$img" --header "$work/l.hdr" --yes --kms-command "$KMS" --kms-key-id disk-kek-v2
	expect_rc 0 "format" || return 1
	vx keyslot remove "$img" --header "$work/l.hdr" --slot 0 --yes --kms-command "$KMS"
	expect_rc 11 "removing the last key" || return 1
	expect_err "last one" "last key" || return 1
	vx keyslot remove "$img" --header "$work/l.hdr" --slot 1 --yes --kms-command "$KMS"
	expect_rc 11 "removing a continuation entry" || return 1
}

# A misbehaving helper on an existing KMS volume: <script body> <rc> <regex> [args]
kms_bad() {
	local body=$1 want=$2 re=$3 before t0
	shift 3
	[ -e "$work/l.hdr" ] || { why="needs kms_last_key_kept"; return 1; }
	mkhelper bad "$body"
	before=$(sha "$work/l.hdr")
	t0=$SECONDS
	vx keyslot add "$work/l.img" --header "$work/l.hdr" --kms-command "$work/bad" \
		--new-key-file /dev/null "$@"
	expect_rc "$want" "helper: $body" || return 1
	expect_err "$re" "helper: $body" || return 1
	[ "$(sha "$work/l.hdr")" = "$before" ] || { why="header changed"; return 1; }
	elapsed=$((SECONDS - t0))
}

t_kms_timeout() {
	kms_bad "echo \$\$ > $work/bad.pid; exec sleep 60" 16 "did not answer .* within 1.000 s" \
		--kms-timeout 1 || return 1
	[ "$elapsed" -le 10 ] || { why="took $elapsed s with a 1 s timeout"; return 1; }
	! kill -0 "$(cat "$work/bad.pid")" 2> /dev/null || { why="helper left running"; return 1; }
}

# A helper whose child keeps stdout/stderr open (setsid: not in its process
# group): the call ends when the helper exits, not when the pipes close.
t_kms_lingering_child() {
	local t0 k1 sp
	[ -e "$work/l.hdr" ] || { why="needs kms_last_key_kept"; return 1; }
	mkhelper linger "setsid sleep 20 & echo \$! > $work/linger.pid; exec $KMS"
	vx_key "$work/l.img" --header "$work/l.hdr" --kms-command "$KMS"
	k1=$volume_key
	t0=$SECONDS
	vx_key "$work/l.img" --header "$work/l.hdr" --kms-command "$work/linger" --kms-timeout 15
	elapsed=$((SECONDS - t0))
	sp=$(cat "$work/linger.pid" 2> /dev/null)
	[ -n "$sp" ] && kill "$sp" 2> /dev/null
	[ -n "$sp" ] || { why="the helper did not start its child"; return 1; }
	[ -n "$k1" ] && [ "$volume_key" = "$k1" ] ||
		{ why="unlock through a helper with a lingering child: exit $rc: $(head -c 300 "$work/err")"; return 1; }
	[ "$elapsed" -le 5 ] || { why="took $elapsed s: waited for the child's pipes"; return 1; }
}

# SIGTERM / SIGINT while a helper runs: the helper's group is killed, vxts
# exits 7 (interrupted) at once, the header is unchanged.
t_kms_signal_stops() {
	local sig pid hp before t0 n
	[ -e "$work/l.hdr" ] || { why="needs kms_last_key_kept"; return 1; }
	mkhelper hang "echo \$\$ > $work/hang.pid; sleep 60 & wait"
	before=$(sha "$work/l.hdr")
	for sig in TERM INT HUP; do
		rm -f "$work/hang.pid"
		# a background job of a script starts with SIGINT ignored, and under
		# nohup SIGHUP is ignored too (vxts keeps an ignored signal ignored,
		# as it should): give it default dispositions, as from a terminal
		"$PY" -c 'import os, signal, sys; [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)]; os.execv(sys.argv[1], sys.argv[1:])' \
			"$VXTS" keyslot add "$work/l.img" --header "$work/l.hdr" --kms-command "$work/hang" \
			--kms-timeout 60 --new-key-file /dev/null < /dev/null > "$work/out" 2> "$work/err" &
		pid=$!
		for n in $(seq 100); do [ -s "$work/hang.pid" ] && break; sleep 0.1; done
		hp=$(cat "$work/hang.pid" 2> /dev/null)
		[ -n "$hp" ] || { kill -9 "$pid"; why="helper never started"; return 1; }
		t0=$SECONDS
		kill -"$sig" "$pid"
		wait "$pid"
		rc=$?
		cat "$work/out" "$work/err" >> "$all_out"
		[ $((SECONDS - t0)) -le 5 ] || { why="SIG$sig: took $((SECONDS - t0)) s"; return 1; }
		expect_rc 7 "SIG$sig during a KMS call" || return 1
		expect_err "interrupted" "SIG$sig during a KMS call" || return 1
		# a SIGKILLed process is gone only once scheduled: on a loaded
		# machine that takes a while, so poll (the helper would live 60 s)
		for n in $(seq 100); do
			kill -0 "$hp" 2> /dev/null || ps -e -o pgid=,stat= |
				awk -v g="$hp" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }' || break
			sleep 0.1
		done
		! kill -0 "$hp" 2> /dev/null || { kill -9 "$hp"; why="SIG$sig: helper left running"; return 1; }
		# live members of the helper's group (zombies wait for a reaper)
		if ps -e -o pgid=,stat= | awk -v g="$hp" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; then
			why="SIG$sig: helper's child left running"
			kill -9 -- -"$hp"
			return 1
		fi
		[ "$(sha "$work/l.hdr")" = "$before" ] || { why="header changed"; return 1; }
	done
}

t_kms_garbage() {
	kms_bad 'cat > /dev/null; echo "hello, I am not JSON"' 16 'not \{"data"'
}

t_kms_bad_base64() {
	kms_bad 'cat > /dev/null; echo "{\"data\":\"@@@@\"}"' 16 "not valid base64"
}

t_kms_nonzero_exit() {
	kms_bad 'cat > /dev/null; echo "vault says no: 403" >&2; exit 3' 16 \
		"exited with status 3.*vault says no: 403"
}

t_kms_error_reply() {
	kms_bad 'cat > /dev/null; echo "{\"error\":\"key disabled\"}"' 16 "refused to unwrap.*key disabled"
}

t_kms_not_runnable() {
	kms_bad '' 16 "absolute path" || true
	vx keyslot add "$work/l.img" --header "$work/l.hdr" --kms-command "$work/missing" \
		--new-key-file /dev/null
	expect_rc 16 "missing helper" || return 1
	expect_err "could not be run" "missing helper"
}

# Re-key with KMS keys: the new DEK under the unlock key's vault key and a
# new one; the old slots go, continuations included; data survives.
t_kms_reencrypt() {
	local img=$work/re.img sum n
	kms_key disk-kek-v1 && kms_key disk-kek-v2 3072
	mkimg "$img" 4
	sum=$(sha "$img")
	vx encrypt "$img" --header "$work/re.hdr" --force --no-progress \
		--kms-command "$KMS" --kms-key-id disk-kek-v1
	expect_rc 0 "encrypt" || return 1
	vx reencrypt "$img" --header "$work/re.hdr" --no-progress --yes \
		--kms-command "$KMS" --new-kms-key-id disk-kek-v2
	expect_rc 0 "re-key with KMS keys" || return 1
	vx keyslot list "$img" --header "$work/re.hdr"
	# every continuation belongs to a slot that is listed; 2 + 3 entries in use
	n=$(grep -c -E 'kms|part of slot' "$work/out")
	[ "$n" -eq 5 ] || { why="entries in use after the re-key: $n, want 5: $(tr '\n' ' ' < "$work/out")"; return 1; }
	while read -r head; do
		grep -qE "^  $head: kms" "$work/out" || { why="orphan continuation of slot $head"; return 1; }
	done < <(sed -n 's/.*part of slot \([0-9]\).*/\1/p' "$work/out")
	vx decrypt "$img" --header "$work/re.hdr" --no-progress --yes --kms-command "$KMS"
	expect_rc 0 "decrypt after the re-key" || return 1
	[ "$(sha "$img")" = "$sum" ] || { why="plaintext differs"; return 1; }
}

# A helper that wraps but cannot unwrap: the new slot must not be added.
t_kms_seal_verified() {
	local img=$work/v.img before
	kms_key disk-kek-v2 3072
	head -c 64 /dev/urandom > "$work/kv"
	mkimg "$img" 2
	vx format "$img" --header "$work/v.hdr" --yes --key-file "$work/kv"
	expect_rc 0 "format" || return 1
	mkhelper wraponly "req=\$(cat); case \$req in *'\"op\":\"unwrap\"'*) echo '{\"error\":\"no unwrapKey permission\"}'; exit 0;; esac; printf '%s' \"\$req\" | $KMS"
	before=$(sha "$work/v.hdr")
	vx keyslot add "$img" --header "$work/v.hdr" --key-file "$work/kv" \
		--kms-command "$work/wraponly" --new-kms-key-id disk-kek-v2
	expect_rc 16 "slot that cannot be unwrapped" || return 1
	expect_err "does not open again|no unwrapKey permission" "unverified slot" || return 1
	[ "$(sha "$work/v.hdr")" = "$before" ] || { why="header changed"; return 1; }
	vx keyslot add "$img" --header "$work/v.hdr" --key-file "$work/kv" \
		--kms-command "$KMS" --new-kms-key-id disk-kek-v2
	expect_rc 0 "the same with a working helper" || return 1
	expect_err "wrapped with a public key \(RSA-OAEP-256\)" "warning for an RSA KMS KEK" || return 1
	[ "$(grep -c 'wrapped with a public key' "$work/err")" -eq 1 ] || { why="warned more than once"; return 1; }
	# a symmetric KEK: no warning
	head -c 64 /dev/urandom > "$work/kv2"
	vx keyslot add "$img" --header "$work/v.hdr" --key-file "$work/kv" --new-key-file "$work/kv2"
	expect_rc 0 "add a key-file slot" || return 1
	! grep -q "public key" "$work/err" || { why="warned for a key file: $(cat "$work/err")"; return 1; }
}

# vxts-kms-azure only hands az a key id that is a Key Vault key version: the
# id comes from an unauthenticated header. A fake az in PATH records calls.
t_azure_key_id() {
	local az=$work/azbin good bad kid
	mkdir -p "$az"
	printf '#!/bin/sh\necho "$*" >> %s/az.calls\necho QUJDRA\n' "$work" > "$az/az"
	chmod +x "$az/az"
	good=https://myvault.vault.azure.net/keys/disk-kek/0123456789abcdef0123456789abcdef
	for kid in 'https://evil.example/k?.vault.azure.net/keys/a/b' \
		   'https://evil.example/x.vault.azure.net/keys/a/0123456789abcdef0123456789abcdef' \
		   "$good/../../x" "${good}0" 'https://a.vault.azure.net.evil.example/keys/a/0123456789abcdef0123456789abcdef'; do
		rm -f "$work/az.calls"
		printf '{"op":"unwrap","key_id":"%s","alg":"RSA-OAEP-256","data":"AAAA"}' "$kid" |
			PATH=$az:$PATH "$top/examples/kms/vxts-kms-azure" > "$work/az.out" 2>&1
		grep -q '"error":"key id must be' "$work/az.out" ||
			{ why="key id $kid accepted: $(cat "$work/az.out")"; return 1; }
		[ ! -e "$work/az.calls" ] || { why="az called for $kid"; return 1; }
	done
	printf '{"op":"unwrap","key_id":"%s","alg":"RSA-OAEP-256","data":"AAAA"}' "$good" |
		PATH=$az:$PATH "$top/examples/kms/vxts-kms-azure" > "$work/az.out" 2>&1
	grep -q '"data":"QUJDRA=="' "$work/az.out" && grep -q -- "--id $good " "$work/az.calls" ||
		{ why="a real key version refused: $(cat "$work/az.out")"; return 1; }
}

# The threat of public-key KEKs, and the pin against it. Anyone with the RSA
# public key can make a header of their own (here: vxts format with the same
# vault key, which wraps with the public half) and give it the victim's UUID,
# re-MACed under their own volume key: it opens. --expect-key-check with the
# value recorded from the real volume refuses it.
t_key_check_pin() {
	local img=$work/kc.img kc kc2 dek2 uuid
	kms_key disk-kek-v2 3072
	mkimg "$img" 2
	cp "$img" "$work/kc-fake.img"
	vx format "$img" --header "$work/kc.hdr" --yes --kms-command "$KMS" --kms-key-id disk-kek-v2
	expect_rc 0 "format" || return 1
	vx dump "$img" --header "$work/kc.hdr" --kms-command "$KMS" --json
	kc=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("key_check", ""))' "$work/out")
	uuid=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["uuid"])' "$work/out")
	[ "${#kc}" -eq 32 ] || { why="dump --json has no key_check: $(head -c 300 "$work/out")"; return 1; }
	vx dump "$img" --header "$work/kc.hdr" --kms-command "$KMS"
	grep -q "^key check: *$kc\$" "$work/out" || { why="dump text lacks the key check"; return 1; }
	# the forgery
	vx format "$work/kc-fake.img" --header "$work/kc-forged.hdr" --yes --kms-command "$KMS" \
		--kms-key-id disk-kek-v2
	expect_rc 0 "forger's format" || return 1
	vx_key "$work/kc-fake.img" --header "$work/kc-forged.hdr" --kms-command "$KMS"
	dek2=$volume_key
	[ -n "$dek2" ] || { why="forged header's key"; return 1; }
	"$PY" - "$work/kc.hdr" "$work/kc-forged.hdr" "$dek2" <<'PYEOF' || { why="forging failed"; return 1; }
import hashlib, hmac, sys
real = open(sys.argv[1], "rb").read(8192)
b = bytearray(open(sys.argv[2], "rb").read(8192))
dek = bytes.fromhex(sys.argv[3])
def hkdf(ikm, salt, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]
for base in (0, 4096):
    b[base + 24:base + 40] = real[24:40]                    # the victim's UUID
    mk = hkdf(dek, bytes(b[base + 256:base + 288]), b"vxts header mac v1", 32)
    m = bytearray(b[base:base + 4064])
    m[448:480] = bytes(32)
    b[base + 448:base + 480] = hmac.new(mk, bytes(m), hashlib.sha256).digest()
    b[base + 4064:base + 4096] = hashlib.sha256(bytes(b[base:base + 4064])).digest()
open(sys.argv[2], "r+b").write(b)
PYEOF
	# without the pin the forged header opens (the threat is real) ...
	vx dump "$img" --header "$work/kc-forged.hdr" --kms-command "$KMS" --json
	expect_rc 0 "forged header, no pin" || return 1
	kc2=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["uuid"], d["key_check"])' "$work/out")
	[ "${kc2% *}" = "$uuid" ] || { why="forged header has not the victim's UUID: $kc2"; return 1; }
	[ "${kc2#* }" != "$kc" ] || { why="forged header has the same key check"; return 1; }
	# ... with it, it is refused, for every verb that unlocks
	vx dump "$img" --header "$work/kc-forged.hdr" --kms-command "$KMS" --expect-key-check "$kc"
	expect_rc 5 "forged header with the pin" || return 1
	expect_err "check value is ${kc2#* }, not $kc" "forged header with the pin" || return 1
	vx keyslot add "$img" --header "$work/kc-forged.hdr" --kms-command "$KMS" \
		--expect-key-check "$kc" --new-key-file /dev/null
	expect_rc 5 "keyslot add on the forged header with the pin" || return 1
	# the real header passes its pin (any case), and a malformed pin is usage
	vx dump "$img" --header "$work/kc.hdr" --kms-command "$KMS" \
		--expect-key-check "$(printf '%s' "$kc" | tr a-f A-F)"
	expect_rc 0 "real header with its pin" || return 1
	vx dump "$img" --header "$work/kc.hdr" --kms-command "$KMS" --expect-key-check abc
	expect_rc 2 "malformed pin" || return 1
}

# ---- kills at random moments -----------------------------------------------
# A fixed sleep before the kill misses a command that finishes sooner on a
# faster machine (CI once saw 15 runs and no kill). So the kill is aimed from
# the command's own measured run time (aim, below), and only a run whose exit
# status says SIGKILL (137) counts as killed.

exec {never_fd}<> <(:)
pause_us() { # <microseconds>: sleep without forking (read times out on a silent pipe)
	read -r -t "$(printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)))" -u "$never_fd" _ || true
}
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

# timed CMD...: run it quietly; $took_us is its wall time, $rc its status.
timed() {
	local s
	s=$(now_us)
	"$@" < /dev/null > /dev/null 2>&1
	rc=$?
	took_us=$(($(now_us) - s))
}

# kill_within <from_us> <to_us> CMD...: start CMD, SIGKILL it at a random
# moment between the two; $killed_now is 1 when the kill, not CMD, ended it.
kill_within() {
	local from=$1 to=$2 pid st
	shift 2
	"$@" < /dev/null > /dev/null 2>&1 &
	pid=$!
	pause_us $((from + (RANDOM * 32768 + RANDOM) % (to - from + 1)))
	kill -9 "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	st=$?
	killed_now=$([ "$st" = 137 ] && echo 1 || echo 0)
}

# Most of a short command's run is start-up and unlocking, and its run time
# varies from run to run, so one measurement does not place the writes. A
# campaign aims: each kill lands in [3/4 T, T]; a run that finished first
# moves T earlier, one killed before its writes began moves T later, so the
# kills gather just before the writes. A kill that came after they began
# (the header changed, or a key file appeared) is counted and reported, not
# required: on tmpfs the writes take microseconds of a ~20 ms run, so few
# random kills land inside them. Every single crash point of the header
# writes is covered exactly by tests/unit/test_keyslot_rotate.c, which fails
# each IO of rotate, add and remove in turn; these campaigns cover what only
# a real process shows (a SIGKILL between the files a command writes).
# aim <killed_now> <landed_now>: the next T (in $aim_us)
aim() {
	if [ "$1" = 0 ]; then
		aim_us=$((aim_us * 3 / 4))
	elif [ "$2" = 0 ]; then
		aim_us=$((aim_us * 9 / 8))
	fi
	[ "$aim_us" -ge 1000 ] || aim_us=1000
}
# A campaign runs at least 30 times and stops once 5 runs were killed, or at 60.
campaign_more() { # <run> <killed>
	[ "$1" -le 60 ] && { [ "$1" -le 30 ] || [ "$2" -lt 5 ]; }
}

# ---- rotation under SIGKILL -------------------------------------------------

t_rotate_sigkill() {
	local img=$work/s.img n ok_a ok_b before now landed=0
	head -c 64 /dev/urandom > "$work/ka"
	head -c 64 /dev/urandom > "$work/kb"
	mkimg "$img" 2
	vx format "$img" --header "$work/s.hdr" --yes --key-file "$work/ka"
	expect_rc 0 "format" || return 1
	vx_key "$img" --header "$work/s.hdr" --key-file "$work/ka"
	local k=$volume_key cur=kb new=ka killed=0 rotated=0
	# one whole rotation is the first aim (kb is current after it)
	timed "$VXTS" keyslot rotate "$img" --header "$work/s.hdr" --slot 0 \
		--key-file "$work/ka" --new-key-file "$work/kb"
	[ "$rc" = 0 ] || { why="an uninterrupted rotate failed: exit $rc"; return 1; }
	aim_us=$took_us
	n=1
	while campaign_more "$n" "$killed"; do
		before=$(sha "$work/s.hdr")
		# no `timeout` wrapper: the kill must hit vxts itself, not a parent
		kill_within $((aim_us * 3 / 4)) "$aim_us" "$VXTS" keyslot rotate "$img" \
			--header "$work/s.hdr" --slot 0 --key-file "$work/$cur" --new-key-file "$work/$new"
		now=0
		[ "$killed_now" = 1 ] && [ "$(sha "$work/s.hdr")" != "$before" ] && now=1
		killed=$((killed + killed_now)) landed=$((landed + now))
		aim "$killed_now" "$now"
		vx_key "$img" --header "$work/s.hdr" --key-file "$work/ka"
		ok_a=$([ "$volume_key" = "$k" ] && echo 1 || echo 0)
		vx_key "$img" --header "$work/s.hdr" --key-file "$work/kb"
		ok_b=$([ "$volume_key" = "$k" ] && echo 1 || echo 0)
		if [ "$ok_a$ok_b" != 10 ] && [ "$ok_a$ok_b" != 01 ]; then
			why="kill $n: old KEK opens=$ok_a, new KEK opens=$ok_b (want exactly one)"
			return 1
		fi
		[ "$ok_b" = 1 ] && [ "$cur" = ka ] && rotated=$((rotated + 1))
		[ "$ok_a" = 1 ] && [ "$cur" = kb ] && rotated=$((rotated + 1))
		[ "$ok_b" = 1 ] && { cur=kb; new=ka; } || { cur=ka; new=kb; }
		# the slot is always 0 after a rotate of slot 0 with one slot in use
		n=$((n + 1))
	done
	echo "# rotate_sigkill: $((n - 1)) runs (last aim ${aim_us} us): $killed killed, $landed after the header changed; $rotated rotations completed"
	[ "$killed" -gt 0 ] || { why="no run was killed: the test proved nothing"; return 1; }
}

# keyslot add --recovery-key-file under SIGKILL: a committed recovery slot
# always has its key in OUT or OUT.partial; OUT never holds a key that opens
# nothing.
t_recovery_sigkill() {
	local img=$work/rk.img n out slots_before slots_after f killed=0 opened before now landed=0
	head -c 64 /dev/urandom > "$work/krk"
	mkimg "$img" 2
	vx format "$img" --header "$work/rk.hdr" --yes --key-file "$work/krk"
	expect_rc 0 "format" || return 1
	# one whole add is the first aim; its slot is dropped below
	timed "$VXTS" keyslot add "$img" --header "$work/rk.hdr" --key-file "$work/krk" \
		--recovery-key-file "$work/rk.0"
	[ "$rc" = 0 ] || { why="an uninterrupted recovery add failed: exit $rc"; return 1; }
	tr -d '\n' < "$work/rk.0" >> "$secrets" && echo >> "$secrets"
	aim_us=$took_us
	rk_drop || return 1
	n=1
	while campaign_more "$n" "$killed"; do
		out=$work/rk.$n
		slots_before=$(rk_slots)
		before=$(sha "$work/rk.hdr")
		kill_within $((aim_us * 3 / 4)) "$aim_us" "$VXTS" keyslot add "$img" \
			--header "$work/rk.hdr" --key-file "$work/krk" --recovery-key-file "$out"
		# the key file is written before the slot: either counts as the writes begun
		now=0
		[ "$killed_now" = 1 ] && { [ -e "$out" ] || [ -e "$out.partial" ] ||
			[ "$(sha "$work/rk.hdr")" != "$before" ]; } && now=1
		killed=$((killed + killed_now)) landed=$((landed + now))
		aim "$killed_now" "$now"
		slots_after=$(rk_slots)
		for f in "$out" "$out.partial"; do
			[ -e "$f" ] && tr -d '\n' < "$f" >> "$secrets" && echo >> "$secrets"
		done
		if [ "$slots_after" -gt "$slots_before" ]; then
			opened=0
			for f in "$out" "$out.partial"; do
				[ -e "$f" ] || continue
				vx_key "$img" --header "$work/rk.hdr" --use-recovery-key "$f"
				[ -n "$volume_key" ] && opened=1
			done
			[ "$opened" = 1 ] || { why="run $n: a recovery slot was committed but no file opens it"; return 1; }
		elif [ -e "$out" ]; then
			why="run $n: $out exists but no recovery slot was added"
			return 1
		fi
		rk_drop || return 1
		n=$((n + 1))
	done
	echo "# recovery_sigkill: $((n - 1)) runs (last aim ${aim_us} us): $killed killed, $landed after the writes began"
	[ "$killed" -gt 0 ] || { why="no run was killed: the test proved nothing"; return 1; }
}

# rk_drop: remove every recovery slot of rk.img, making room for the next run.
rk_drop() {
	local f
	vx keyslot list "$work/rk.img" --header "$work/rk.hdr" --json
	expect_rc 0 "keyslot list" || return 1
	for f in $("$PY" -c 'import json,sys; print(" ".join(str(k["slot"]) for k in json.load(open(sys.argv[1]))["keyslots"] if k["type"] == "recovery"))' "$work/out"); do
		vx keyslot remove "$work/rk.img" --header "$work/rk.hdr" --key-file "$work/krk" --slot "$f" --yes
		expect_rc 0 "keyslot remove $f" || return 1
	done
}

rk_slots() {
	"$VXTS" keyslot list "$work/rk.img" --header "$work/rk.hdr" --json 2> /dev/null |
		"$PY" -c 'import json,sys; print(sum(k["type"] == "recovery" for k in json.load(sys.stdin)["keyslots"]))'
}

# ---- JSON schemas of what only this layer produces --------------------------

# cli/guide_schemas proves every schema property needed by a real output, but
# two only appear with a token or a re-key in progress: keyslot.json's
# pkcs11_uri and dump.json's new_volume_key. Here: `keyslot list --json` of a
# volume with key-file, PKCS#11 (AES and RSA) and KMS slots, and `dump
# --volume-key --json` of a re-key stopped half way, checked by the same
# checker, with those two properties the ones that must be proved needed.
t_json_schemas() {
	hsm_setup || return $?
	local img=$work/js.img hdr=$work/js.hdr pid i f p
	local samples=$work/js-samples.txt allow=$work/js-allow.txt
	head -c 64 /dev/urandom > "$work/js.k"
	kms_key disk-kek-v1
	mkimg "$img" 8
	vx format "$img" --header "$hdr" --yes --key-file "$work/js.k"
	expect_rc 0 "format" || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/js.k" "${P11[@]}" \
		--new-pkcs11-uri "pkcs11:token=vxts-test;object=kek-aes"
	expect_rc 0 "keyslot add (AES key in the token)" || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/js.k" "${P11[@]}" \
		--new-pkcs11-uri "pkcs11:token=vxts-test;object=kek-rsa"
	expect_rc 0 "keyslot add (RSA key pair in the token)" || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/js.k" \
		--kms-command "$KMS" --new-kms-key-id disk-kek-v1
	expect_rc 0 "keyslot add (KMS)" || return 1
	vx keyslot list "$img" --header "$hdr" --json
	expect_rc 0 "keyslot list" || return 1
	cp "$work/out" "$work/js-list.json"
	printf 'keyslot-list.json\t%s\n' "$work/js-list.json" > "$samples"
	# a re-key stopped at a commit point: the header holds both keys
	"$VXTS" reencrypt "$img" --header "$hdr" --key-file "$work/js.k" --yes --no-progress \
		--window-size 1M --rate-limit 1M < /dev/null > /dev/null 2> "$work/js-re.err" &
	pid=$!
	for i in $(seq 300); do
		kill -0 "$pid" 2> /dev/null || break
		vx status "$img" --header "$hdr" --interval 0 --json
		grep -q '"done_bytes":[1-9]' "$work/out" && break
		sleep 0.1
	done
	kill -INT "$pid" 2> /dev/null
	wait "$pid"
	rc=$?
	cat "$work/js-re.err" >> "$all_out"
	[ "$rc" = 7 ] || { why="the re-key was not stopped at a commit point: exit $rc ($(head -c 200 "$work/js-re.err"))"; return 1; }
	# the keys stay out of $all_out (the leak check's haystack)
	timeout 120 "$VXTS" dump "$img" --header "$hdr" --key-file "$work/js.k" --volume-key --json \
		< /dev/null > "$work/js-dump.json" 2> "$work/err"
	rc=$?
	cat "$work/err" >> "$all_out"
	expect_rc 0 "dump --volume-key during the re-key" || return 1
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["volume_key"]); print(d["new_volume_key"])' \
		"$work/js-dump.json" >> "$secrets" 2> /dev/null ||
		{ why="dump --volume-key --json during a re-key has no volume_key and new_volume_key"; return 1; }
	printf 'dump.json\t%s\n' "$work/js-dump.json" >> "$samples"
	# everything else is cli/guide_schemas's to prove
	for f in "$top"/docs/schema/*.json; do
		f=${f##*/}
		case $f in
		keyslot.json | dump.json)
			for p in $("$PY" -c 'import json,sys
def props(s):
    if isinstance(s, dict):
        if isinstance(s.get("properties"), dict):
            yield from s["properties"]
        for v in s.values():
            yield from props(v)
    elif isinstance(s, list):
        for v in s:
            yield from props(v)
print(" ".join(sorted(set(props(json.load(open(sys.argv[1])))))))' "$top/docs/schema/$f"); do
				case $f:$p in
				keyslot.json:pkcs11_uri | dump.json:new_volume_key) ;;
				*) echo "$f:$p" ;;
				esac
			done
			;;
		*) echo "$f:*" ;;
		esac
	done > "$allow"
	# the checker quotes offending values: keep the keys out of the report
	"$PY" "$top/tests/lib/schemacheck.py" "$top/docs/schema" "$samples" "$allow" 2>&1 |
		sed -E 's/[0-9a-fA-F]{64,}/<key>/g' > "$work/js-check.out"
	[ "${PIPESTATUS[0]}" = 0 ] ||
		{ why="$(grep -v '^[0-9]* samples' "$work/js-check.out" | head -n 3 | tr '\n' ' ')"; return 1; }
	echo "# json_schemas: $(tail -n 1 "$work/js-check.out")"
	grep -q '; 2 schema properties each proved needed' "$work/js-check.out" ||
		{ why="want pkcs11_uri and new_volume_key proved: $(tail -n 1 "$work/js-check.out")"; return 1; }
	rm -f "$work/js-dump.json"
}

# ---- tampering --------------------------------------------------------------

# patch <hdr> <offset in copy> <hex bytes>: edits both copies, then fixes the
# slot checksum of the entry it falls in and both copies' checksums, as an
# attacker with write access would: only the keyed MACs can catch it.
patch_hdr() {
	"$PY" - "$@" <<'PYEOF'
import hashlib, sys
path, off, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
fix_slot = len(sys.argv) < 5
b = bytearray(open(path, "rb").read(8192))
for base in (0, 4096):
    c = base + off
    b[c:c + len(data)] = data
    if 512 <= off < 2560 and fix_slot:
        e = base + 512 + (off - 512) // 256 * 256
        b[e + 224:e + 256] = hashlib.sha256(b[e:e + 224]).digest()
    b[base + 4064:base + 4096] = hashlib.sha256(b[base:base + 4064]).digest()
with open(path, "r+b") as f:
    f.write(b)
PYEOF
}

t_tampered_headers() {
	local img=$work/l.img hdr=$work/t.hdr
	[ -e "$work/l.hdr" ] || { why="needs kms_last_key_kept"; return 1; }
	# 1: the data size (steers conversion) of an authentic header
	cp "$work/l.hdr" "$hdr"
	patch_hdr "$hdr" 136 0000100000000000 || { why="patch failed"; return 1; }
	vx keyslot add "$img" --header "$hdr" --kms-command "$KMS" --new-key-file /dev/null
	expect_rc 5 "edited data_size" || return 1
	expect_err "fails authentication" "edited data_size" || return 1
	# 2: the key id stored in the KMS slot (its blob now goes to another key)
	cp "$work/l.hdr" "$hdr"
	patch_hdr "$hdr" $((512 + 56)) "$(printf 'disk-kek-v1' | xxd -p)" ||
		{ why="patch failed"; return 1; }
	kms_key disk-kek-v1
	vx keyslot add "$img" --header "$hdr" --kms-command "$KMS" --new-key-file /dev/null
	[ "$rc" -ne 0 ] || { why="slot pointing at another key was accepted"; return 1; }
	# 3: a byte of the wrapped blob in the continuation entry
	cp "$work/l.hdr" "$hdr"
	patch_hdr "$hdr" $((512 + 256 + 40)) 5a || { why="patch failed"; return 1; }
	vx keyslot add "$img" --header "$hdr" --kms-command "$KMS" --new-key-file /dev/null
	[ "$rc" -ne 0 ] || { why="edited blob accepted"; return 1; }
	# 4: a continuation byte changed, its entry checksum left wrong: damage
	cp "$work/l.hdr" "$hdr"
	patch_hdr "$hdr" $((512 + 256 + 40)) 5a noslot || { why="patch failed"; return 1; }
	vx keyslot add "$img" --header "$hdr" --kms-command "$KMS" --new-key-file /dev/null
	expect_rc 3 "damaged continuation entry" || return 1
}

# ---- option bounds ------------------------------------------------------------

# The CLI takes exactly the Argon2 costs the library will store and read back
# (keyslot.h VXTS_ARGON2_*): one above refused as usage, the maximum accepted.
t_argon2_bounds() {
	local img=$work/a2.img a
	mkimg "$img" 2
	printf 'argon2-bounds-pass\n' > "$work/a2.pass"
	for a in "--argon2-time 65" "--argon2-parallel 17" "--argon2-memory 4194305"; do
		# shellcheck disable=SC2086
		vx format "$img" --header "$work/a2.hdr" --yes --passphrase-file "$work/a2.pass" $a
		expect_rc 2 "format $a" || return 1
		expect_err "invalid ${a%% *} .*(from 1 to|from 8 to)" "format $a" || return 1
		[ ! -e "$work/a2.hdr" ] || { why="$a wrote a header"; return 1; }
	done
	vx format "$img" --header "$work/a2.hdr" --yes --passphrase-file "$work/a2.pass" \
		--argon2-time 64 --argon2-parallel 16 --argon2-memory 128
	expect_rc 0 "format at the largest time and lanes" || return 1
	vx keyslot list "$img" --header "$work/a2.hdr" --json
	grep -q '"type":"passphrase"' "$work/out" || { why="no passphrase slot: $(cat "$work/out")"; return 1; }
	vx_key "$img" --header "$work/a2.hdr" --passphrase-file "$work/a2.pass"
	[ -n "$volume_key" ] || { why="the slot written at the limits does not open: $(cat "$work/err")"; return 1; }
}

# ---- secrets stay out of argv, environment and output -----------------------

t_no_key_in_proc() {
	local img=$work/l.img pid h dek f i
	[ -e "$work/l.hdr" ] || { why="needs kms_last_key_kept"; return 1; }
	# a helper that is slow, so /proc of vxts and of the helper can be read
	# it waits for the go file (at most 20 s, inside vxts's 30 s helper timeout)
	rm -f "$work/slow.go"
	mkhelper slow "echo \$\$ > $work/slow.pid; i=0; while [ ! -e $work/slow.go ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i + 1)); done; exec $KMS"
	timeout 60 "$VXTS" dump --volume-key "$img" --header "$work/l.hdr" \
		--kms-command "$work/slow" < /dev/null > "$work/dek.out" 2> "$work/dek.err" &
	pid=$!
	# sample as soon as the helper is up; it goes on only once sampled
	for i in $(seq 600); do
		[ -s "$work/slow.pid" ] && break
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.05
	done
	h=$(cat "$work/slow.pid" 2> /dev/null)
	for f in "/proc/$pid/cmdline" "/proc/$pid/environ" "/proc/${h:-0}/cmdline" \
		 "/proc/${h:-0}/environ"; do
		{ tr '\0' '\n' < "$f" >> "$work/proc.txt"; } 2> /dev/null || true
	done
	# the helper's own argv, read while it ran (vxts's argv names it too)
	{ tr '\0' '\n' < "/proc/${h:-0}/cmdline" > "$work/proc-helper.txt"; } 2> /dev/null
	touch "$work/slow.go"
	wait "$pid" 2> /dev/null
	dek=$(sed -n 's/^volume_key: //p' "$work/dek.out")
	[ -n "$dek" ] || { why="slow helper unlock failed: $(cat "$work/dek.err")"; return 1; }
	echo "$dek" >> "$secrets"
	grep -qx "$work/slow" "$work/proc-helper.txt" 2> /dev/null ||
		{ why="the helper's /proc was not sampled while it ran (pid '${h}')"; return 1; }
	[ -s "$work/proc.txt" ] || { why="could not sample /proc"; return 1; }
	grep -q "$work/slow" "$work/proc.txt" || { why="sampled the wrong processes"; return 1; }
	cat "$work/proc.txt" >> "$all_out"
	# every key seen, as hex and as base64 (the helper protocol's encoding)
	while read -r s; do
		[ -n "$s" ] || continue
		local b64=""
		case $s in *[!0-9a-f]*) ;; *) b64=$(printf '%s' "$s" | xxd -r -p | base64 -w0) ;; esac
		for needle in "$s" ${b64:+"$b64"}; do
			if grep -qF -- "$needle" "$all_out"; then
				why="a secret (${needle:0:6}...) appears in argv, environ or output"
				return 1
			fi
		done
	done < "$secrets"
	[ "$(wc -l < "$secrets")" -ge 3 ] || { why="too few secrets collected to check"; return 1; }
}

# ---- run -------------------------------------------------------------------

cases=(pkcs11_aes_round_trip pkcs11_rsa_oaep_slot pkcs11_wrong_pin kms_happy_and_rotate
       kms_last_key_kept kms_timeout kms_lingering_child kms_signal_stops kms_garbage kms_bad_base64 kms_nonzero_exit
       kms_error_reply kms_not_runnable kms_reencrypt kms_seal_verified key_check_pin azure_key_id argon2_bounds rotate_sigkill recovery_sigkill json_schemas tampered_headers no_key_in_proc)
[ $# -gt 0 ] && cases=("$@")
failed=0
for c in "${cases[@]}"; do
	why=""
	"t_$c" < /dev/null
	case_rc=$?
	[ "$case_rc" -eq 77 ] && why="SoftHSM2 (softhsm2-util, pkcs11-tool) not installed"
	vxts_report_rc "$case_rc" "keys/$c" "${why:-exit $case_rc}"
	[ "$case_rc" -eq 1 ] && failed=1
done
exit $failed
