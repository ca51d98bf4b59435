# shellcheck shell=bash
# Cases for CLI bugs found while writing docs/OPERATIONS.md, sourced by
# tests/cli/run.sh (its vx, mkimg, expect_rc, encrypted_vol, $work, $VXTS).
#
# fix_json_unique_keys   no --json object has a member twice (status with
#                        --header, luks export, and every JSON line any case
#                        run before this one printed)
# fix_restore_stale      a stale header backup exits 11 with the fix, not 4
# fix_backup_exists      header backup to an existing FILE exits 2
# fix_keyslot_busy       keyslot add while a conversion holds the lock exits
#                        4; --recovery-key-file OUT with OUT there exits 2
# fix_small_fs_blocks    offline encrypt refuses ext4 -b 1024 under 4096-byte
#                        units (exit 9, names --sector-size 512)
# fix_damaged_slot_json  keyslot list --json lists a damaged slot
# fix_tab_json_parse     tab check|open|close --json print the failure object
#                        when the table does not parse
# fix_help_texts         help names every key source; the end header is 16 MiB
# fix_status_small_file  status on a small non-vxts file exits 8

# Prints every JSON object in file $1 (one per line) that repeats a member.
fix_dupkeys() {
	"$PY" - "$1" << 'EOF'
import json, sys
def hook(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError("member %r twice" % k)
        seen.add(k)
    return dict(pairs)
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        json.loads(line, object_pairs_hook=hook)
    except ValueError as e:
        if "twice" in str(e):
            print("%s: %s" % (e, line[:160]))
EOF
}

# fix_schema <schema.json>: the last run's stdout validates against docs/schema/
fix_schema() {
	local msg
	msg=$("$PY" - "$top/docs/schema" "$1" "$work/out" 2>&1 << 'EOF'
import json, os, sys
from jsonschema import Draft202012Validator, RefResolver
sdir, name, out = sys.argv[1:4]
store = {f: json.load(open(os.path.join(sdir, f))) for f in os.listdir(sdir) if f.endswith(".json")}
v = Draft202012Validator(store[name], resolver=RefResolver("", store[name], store=store))
for e in v.iter_errors(json.load(open(out))):
    print(e.message)
EOF
)
	[ -z "$msg" ] || { why="$1: $(echo "$msg" | head -n 2 | tr '\n' ' ')"; return 1; }
}

t_fix_json_unique_keys() {
	local bad
	: > "$work/dup.json"
	encrypted_vol dk 16 || return 1
	vx status "$img" --header "$hdr" --json
	expect_rc 0 "status --header --json" && json_ok || return 1
	cat "$work/out" >> "$work/dup.json"
	[ "$(json_get 'd["header_path"], type(d["header"]).__name__')" = "$hdr dict" ] ||
		{ why="status: header_path/header: $(head -c 300 "$work/out")"; return 1; }
	fix_schema status.json || return 1
	for v in dump "keyslot list"; do
		# shellcheck disable=SC2086
		vx $v "$img" --header "$hdr" --json
		cat "$work/out" >> "$work/dup.json"
	done
	vx header backup "$img" "$work/dk.bak" --header "$hdr" --json
	cat "$work/out" >> "$work/dup.json"
	vx status "$work/nonexistent.img" --header "$hdr" --json
	cat "$work/out" >> "$work/dup.json"
	if command -v cryptsetup > /dev/null; then
		vx luks export "$img" "$work/dk.luks" --header "$hdr" --key-file "$work/k1" \
			--new-passphrase-file "$work/p1" "${A2[@]}" --json
		expect_rc 0 "luks export --json" || return 1
		cat "$work/out" >> "$work/dup.json"
	fi
	cat "$all_out" >> "$work/dup.json"
	bad=$(fix_dupkeys "$work/dup.json")
	[ -z "$bad" ] || { why="duplicate JSON members: $(echo "$bad" | head -n 3 | tr '\n' ' ')"; return 1; }
}

t_fix_restore_stale() {
	encrypted_vol rs 16 || return 1
	vx header backup "$img" "$work/rs.bak" --header "$hdr"
	expect_rc 0 "header backup" || return 1
	vx reencrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 0 "reencrypt" || return 1
	vx header restore "$img" "$work/rs.bak" --header "$hdr" --yes --json
	expect_rc 11 "restore of a pre-re-key backup" || return 1
	grep -q "re-keyed" "$work/err" || { why="no reason: $(cat "$work/err")"; return 1; }
	grep -q "wait for the other user" "$work/err" &&
		{ why="stale backup called busy: $(cat "$work/err")"; return 1; }
	grep -q "header backup" "$work/err" ||
		{ why="no fix named: $(cat "$work/err")"; return 1; }
	[ "$(json_get 'd["exit_name"]')" = wrong_state ] || { why="json: $(cat "$work/out")"; return 1; }
	fix_schema error.json || return 1

	# taken mid-conversion, the live header gone: 11 naming --force
	img=$work/rm.img hdr=$work/rm.hdr
	mkimg "$img" 32
	bg_encrypt "$img" "$hdr" 4M || return 1
	bg_stop INT
	[ "$rc" -eq 7 ] || { why="the background encrypt was not stopped mid-way by SIGINT"; return 1; }
	vx header backup "$img" "$work/rm.bak" --header "$hdr"
	expect_rc 0 "header backup mid-conversion" || return 1
	dd if=/dev/zero of="$hdr" bs=4096 count=2 conv=notrunc status=none
	vx header restore "$img" "$work/rm.bak" --header "$hdr" --yes
	expect_rc 11 "restore of a mid-conversion backup without --force" || return 1
	grep -q -- "--force" "$work/err" || { why="no --force named: $(cat "$work/err")"; return 1; }
}

t_fix_backup_exists() {
	encrypted_vol be 16 || return 1
	: > "$work/be.bak"
	vx header backup "$img" "$work/be.bak" --header "$hdr" --json
	expect_rc 2 "header backup to an existing file" || return 1
	grep -q "be.bak exists: choose another name" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	[ "$(json_get 'd["exit_name"]')" = usage ] || { why="json: $(cat "$work/out")"; return 1; }
}

t_fix_keyslot_busy() {
	local add_rc
	img=$work/kb.img hdr=$work/kb.hdr
	mkimg "$img" 32
	bg_encrypt "$img" "$hdr" 4M || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --new-key-file "$work/k2"
	add_rc=$rc
	bg_stop INT
	# 7: still running (holding its lock) when the add ran
	[ "$rc" -eq 7 ] || { why="the background encrypt was not running through the keyslot add"; return 1; }
	rc=$add_rc
	expect_rc 4 "keyslot add during a conversion" || return 1
	grep -q "locked by another vxts process" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	: > "$work/kb.rk"
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --recovery-key-file "$work/kb.rk"
	expect_rc 2 "recovery key file exists" || return 1
	grep -q "kb.rk exists" "$work/err" && ! grep -q "vxts status" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	# encrypt and format check OUT before they write a header
	mkimg "$work/kb2.img" 16
	vx encrypt "$work/kb2.img" --header "$work/kb2.hdr" --key-file "$work/k1" \
		--recovery-key-file "$work/kb.rk"
	expect_rc 2 "encrypt, recovery key file exists" || return 1
	[ ! -e "$work/kb2.hdr" ] || { why="encrypt wrote a header before refusing OUT"; return 1; }
	vx format "$work/kb2.img" --header "$work/kb2.hdr" --key-file "$work/k1" --yes \
		--recovery-key-file "$work/kb.rk"
	expect_rc 2 "format, recovery key file exists" || return 1
	[ ! -e "$work/kb2.hdr" ] || { why="format wrote a header before refusing OUT"; return 1; }
	rm -f "$work/kb.rk"
}

t_fix_small_fs_blocks() {
	command -v mkfs.ext4 > /dev/null || { why="no mkfs.ext4"; return 77; }
	img=$work/sf.img hdr=$work/sf.hdr
	mkimg "$img" 16 zero
	mkfs.ext4 -q -F -b 1024 "$img" > /dev/null 2>&1 || { why="mkfs.ext4 failed"; return 77; }
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1"
	expect_rc 9 "offline encrypt of ext4 -b 1024 (4096-byte units)" || return 1
	grep -q -- "--sector-size 512" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ ! -e "$hdr" ] || { why="a header was written before the refusal"; return 1; }
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1" --sector-size 512
	expect_rc 0 "offline encrypt with --sector-size 512" || return 1
}

t_fix_damaged_slot_json() {
	encrypted_vol ds 16 || return 1
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --new-key-file "$work/k2" --slot 3
	expect_rc 0 "keyslot add" || return 1
	# damage slot 3's entry in both copies, keeping the copy checksums valid
	"$PY" - "$hdr" << 'EOF'
import hashlib, sys
f = open(sys.argv[1], "r+b")
for base in (0, 4096):
    f.seek(base); c = bytearray(f.read(4096))
    c[512 + 3 * 256 + 100] ^= 0xff
    c[4064:4096] = hashlib.sha256(bytes(c[:4064])).digest()
    f.seek(base); f.write(c)
EOF
	vx keyslot list "$img" --header "$hdr"
	grep -q "3: damaged" "$work/out" || { why="text list: $(cat "$work/out")"; return 1; }
	vx keyslot list "$img" --header "$hdr" --json
	expect_rc 0 "keyslot list --json" && json_ok || return 1
	[ "$(json_get '[(s["slot"], s["type"]) for s in d["keyslots"]]')" = "[(0, 'keyfile'), (3, 'damaged')]" ] ||
		{ why="keyslots: $(json_get 'd["keyslots"]')"; return 1; }
	fix_schema keyslot-list.json || return 1
	vx dump "$img" --header "$hdr" --json
	expect_rc 0 "dump --json" || return 1
	fix_schema dump.json
}

t_fix_tab_json_parse() {
	local v
	printf 'this is not a vxtstab line\n' > "$work/bad.tab"
	for v in check open close; do
		vx tab "$v" --tab "$work/bad.tab" --json
		expect_rc 2 "tab $v on an unparsable table" && json_ok || return 1
		[ "$(json_get 'd["ok"], d["verb"], d["exit_code"], d["exit_name"]')" = "False tab $v 2 usage" ] ||
			{ why="tab $v: $(cat "$work/out")"; return 1; }
		grep -q "line 1" <<< "$(json_get 'd["error"]')" ||
			{ why="tab $v error does not name the line: $(cat "$work/out")"; return 1; }
		fix_schema error.json || return 1
	done
}

t_fix_help_texts() {
	vx help
	grep -q "Keys come only from --key-file, --passphrase-file or a prompt" "$work/out" &&
		{ why="help still names only three key sources"; return 1; }
	grep -q -- "--pkcs11-uri" "$work/out" && grep -q -- "--kms" "$work/out" &&
		grep -q -- "--recovery-key-file" "$work/out" ||
		{ why="help does not name PKCS#11, KMS and recovery keys"; return 1; }
	vx encrypt --help
	grep -q "last MiB" "$work/out" && { why="encrypt --help says last MiB"; return 1; }
	grep -q "last 16 MiB" "$work/out" || { why="encrypt --help lacks 16 MiB"; return 1; }
}

t_fix_status_small_file() {
	head -c 4096 /dev/urandom > "$work/small.img"
	vx status "$work/small.img"
	expect_rc 8 "status on a 4 KiB random file" || return 1
	vx status "$work/small.img" --json
	expect_rc 8 "status --json on a 4 KiB random file" && json_ok || return 1
	rm -f "$work/small.img"
}

extra_cases+=(fix_json_unique_keys fix_restore_stale fix_backup_exists fix_keyslot_busy
	      fix_small_fs_blocks fix_damaged_slot_json fix_tab_json_parse fix_help_texts
	      fix_status_small_file)
