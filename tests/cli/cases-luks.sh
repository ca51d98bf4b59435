# LUKS interop cases (docs/LUKS.md), sourced by tests/cli/run.sh.
#
# Image files only: cryptsetup formats and dumps LUKS headers on files
# without device-mapper, so the export direction is checked end to end
# (same volume key, segment geometry) and the open direction up to the
# point where a mapping would be created (the refusals). Mapping both ways
# is VM scenario 41.

CS_FAST=(--batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000)

# luks_fmt <img> <passphrase file> <MiB> <luks1|luks2> <luksFormat args...>:
# a zeroed image formatted by cryptsetup, its passphrase in the file. On
# failure $why names the command (callers skip: cryptsetup, not vxts, failed).
luks_fmt() {
	local img=$1 lp=$2 mib=$3 type=$4
	shift 4
	printf 'luks pass' > "$lp"
	chmod 600 "$lp"
	mkimg "$img" "$mib" zero
	cryptsetup luksFormat --type "$type" "${CS_FAST[@]}" "$@" --key-file "$lp" "$img" \
		> /dev/null 2>&1 || { why="cryptsetup luksFormat --type $type $* failed"; return 1; }
}

# The LUKS volume key as hex, from `cryptsetup luksDump --dump-volume-key`:
# kept out of $all_out like vx_key output (the leak check must not see it
# as a leak of its own making).
luks_key() { # <header> <passphrase file>
	cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$2" "$1" 2> /dev/null |
		sed -n '/MK dump:/,$p' | sed 's/MK dump://' | tr -d ' \t\n'
}

luks_field() { # <header> <luksDump label>: first value after "<label>:"
	cryptsetup luksDump "$1" 2> /dev/null | sed -n "s/^[[:space:]]*$2:[[:space:]]*//p" | head -n 1
}

# new passphrase for exported slots: vxts drops one trailing newline from a
# passphrase file; cryptsetup --key-file takes the whole file
luks_pass_files() {
	printf 'exported passphrase\n' > "$work/lnp"
	printf 'exported passphrase' > "$work/lnp.cs"
	chmod 600 "$work/lnp" "$work/lnp.cs"
}

t_luks_export_key() {
	local unit img_sum k_vx k_luks mode
	luks_pass_files
	for unit in 512 4096; do
		encrypted_vol "lx$unit" 4 --sector-size "$unit" || return 1
		img_sum=$(sha "$img")
		vx luks export "$img" "$work/lx$unit.luks" --header "$hdr" --key-file "$work/k1" \
			--new-passphrase-file "$work/lnp" "${A2[@]}"
		expect_rc 0 "luks export ($unit)" || return 1
		grep -q "cryptsetup open --header $work/lx$unit.luks" "$work/out" ||
			{ why="export does not print the cryptsetup command"; return 1; }
		[ "$(sha "$img")" = "$img_sum" ] || { why="export changed the data ($unit)"; return 1; }
		mode=$(stat -c %a "$work/lx$unit.luks")
		[ "$mode" = 600 ] || { why="exported header mode $mode, want 600"; return 1; }
		vx_key dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key
		k_vx=$volume_key
		k_luks=$(luks_key "$work/lx$unit.luks" "$work/lnp.cs")
		[ ${#k_vx} -eq 128 ] && [ "$k_luks" = "$k_vx" ] ||
			{ why="LUKS2 volume key differs from vxts's ($unit: ${#k_luks} hex digits)"; return 1; }
		# the vxts passphrase of the unlock is not the LUKS one
		[ -z "$(luks_key "$work/lx$unit.luks" "$work/k1")" ] ||
			{ why="the vxts key file opens the exported header"; return 1; }
		[ "$(luks_field "$work/lx$unit.luks" sector)" = "$unit [bytes]" ] ||
			{ why="segment sector $(luks_field "$work/lx$unit.luks" sector), want $unit"; return 1; }
		[ "$(luks_field "$work/lx$unit.luks" offset)" = "0 [bytes]" ] ||
			{ why="segment offset $(luks_field "$work/lx$unit.luks" offset), want 0"; return 1; }
		[ "$(luks_field "$work/lx$unit.luks" length)" = "(whole device)" ] ||
			{ why="segment length is not the whole device"; return 1; }
		[ "$(luks_field "$work/lx$unit.luks" cipher)" = aes-xts-plain64 ] ||
			{ why="segment cipher $(luks_field "$work/lx$unit.luks" cipher)"; return 1; }
		# the segment as JSON: iv_tweak (not printed by luksDump) must be 0 like vxts's
		[ "$(cryptsetup luksDump --dump-json-metadata "$work/lx$unit.luks" 2> /dev/null |
		     "$PY" -c "import json,sys; s=json.load(sys.stdin)['segments']; x=s['0'];
print(len(s), x['type'], x['offset'], x['size'], x['iv_tweak'], x['sector_size'])")" = \
		  "1 crypt 0 dynamic 0 $unit" ] || { why="exported segment JSON differs ($unit)"; return 1; }
		[ "$(luks_field "$work/lx$unit.luks" PBKDF)" = argon2id ] ||
			{ why="keyslot PBKDF is not argon2id"; return 1; }
		vx keyslot list "$img" --header "$hdr" --json
		[ "$(luks_field "$work/lx$unit.luks" UUID)" = "$(json_get "d['uuid']")" ] ||
			{ why="LUKS UUID is not the vxts UUID"; return 1; }
		rm -f "$work/lx$unit.luks"
	done
}

t_luks_export_json() {
	luks_pass_files
	encrypted_vol lj 2 --sector-size 4096 || return 1
	vx luks export "$img" "$work/lj.luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}" --json
	expect_rc 0 "luks export --json" || return 1
	json_ok || return 1
	[ "$(json_get "d['ok'], d['file'], d['sector_size'], d['data_offset_sectors']")" = \
	  "True $work/lj.luks 4096 0" ] || { why="export JSON: $(head -c 300 "$work/out")"; return 1; }
	rm -f "$work/lj.luks"
}

t_luks_export_refusals() {
	local luks=$work/lr.luks
	luks_pass_files
	encrypted_vol lr 2 || return 1

	: > "$luks"
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 2 "export over an existing file" || return 1
	grep -q "exists" "$work/err" || { why="no 'exists' in: $(cat "$work/err")"; return 1; }
	[ ! -s "$luks" ] || { why="export wrote into an existing file"; return 1; }
	rm -f "$luks"
	ln -s "$work/elsewhere" "$luks"
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 2 "export through a dangling symlink" || return 1
	[ ! -e "$work/elsewhere" ] || { why="export followed a symlink"; return 1; }
	rm -f "$luks"

	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/wrong" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 3 "export with the wrong key" || return 1
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" "${A2[@]}"
	expect_rc 10 "export without a new passphrase and no TTY" || return 1
	[ ! -e "$luks" ] || { why="a refused export left $luks"; return 1; }

	# not fully encrypted: decrypted back to plaintext (header kept)
	vx decrypt "$img" --header "$hdr" --key-file "$work/k1" --no-progress
	expect_rc 0 "decrypt" || return 1
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 11 "export of a plaintext volume" || return 1
	grep -q "not fully encrypted" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ ! -e "$luks" ] || { why="a refused export left $luks"; return 1; }

	# an IV offset LUKS2 (through libcryptsetup) cannot carry
	encrypted_vol lri 2 --iv-offset 8 || return 1
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 9 "export with iv_offset 8" || return 1
	grep -q "IV offset" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }

	# a header at the end: the dynamic LUKS2 segment would cover it
	img=$work/lre.img
	mkimg "$img" 20 zero
	vx format "$img" --header-at-end --key-file "$work/k1" --yes "${A2[@]}"
	expect_rc 0 "format --header-at-end" || return 1
	vx luks export "$img" "$luks" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 9 "export of a header-at-end volume" || return 1
	grep -q "end of the device" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ ! -e "$luks" ] || { why="a refused export left $luks"; return 1; }

	# the device grew after format: the dynamic LUKS2 segment would map more
	encrypted_vol lrg 4 || return 1
	truncate -s 6M "$img"
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 9 "export when the data area is not the whole device" || return 1
	grep -q "not the rest of" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ ! -e "$luks" ] || { why="a refused export left $luks"; return 1; }
}

# A kill in the middle of export (argon2 running) leaves no file at FILE:
# the header is made unnamed and linked only when whole.
t_luks_export_kill() {
	local luks=$work/lk.luks pid i
	luks_pass_files
	encrypted_vol lk 2 || return 1
	"$VXTS" luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" --argon2-memory 65536 --argon2-time 64 \
		--argon2-parallel 1 < /dev/null > "$work/out" 2> "$work/err" &
	pid=$!
	# Kill once the unnamed header file is open and Argon2 is filling its
	# 64 MiB (resident set past 32 MiB): an event, not a guessed delay, so
	# the kill lands mid-export on a fast machine as on a slow one.
	for i in $(seq 600); do
		ls -l /proc/$pid/fd 2> /dev/null |
			grep -q -e "$work/.*(deleted)" -e "$work/\.vxts-luks" &&
			[ "$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status 2> /dev/null)" -ge 32768 ] 2> /dev/null &&
			break
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	rc=$?
	[ "$i" -lt 600 ] || { why="export never had its new header open with Argon2 running"; return 1; }
	[ "$rc" -eq 137 ] || { why="export ended (exit $rc) before the kill: $(head -c 200 "$work/err")"; return 1; }
	[ ! -e "$luks" ] && [ ! -L "$luks" ] ||
		{ why="a killed export left $luks ($(cryptsetup isLuks "$luks" && echo LUKS))"; return 1; }
	vx luks export "$img" "$luks" --header "$hdr" --key-file "$work/k1" \
		--new-passphrase-file "$work/lnp" "${A2[@]}"
	expect_rc 0 "export after a killed one" || return 1
	rm -f "$luks" "$work"/.vxts-luks-export.*
}

# The open direction up to the mapping: what dm-vxts cannot serve is refused
# before any key is asked for or loaded (no device-mapper needed for that).
t_luks_open_refusals() {
	local img=$work/lo.img lp=$work/lo.pass
	luks_fmt "$img" "$lp" 20 luks2 --cipher aes-xts-plain64 --key-size 256 || return 77
	local before
	before=$(sha "$img")
	vx open lo "$img" --key-file "$lp"	# auto-detected, no --luks
	expect_rc 9 "open of a 256-bit-key LUKS2 (auto-detected)" || return 1
	grep -q "512-bit" "$work/err" && grep -q "open it with cryptsetup" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$before" ] || { why="a refused open changed the LUKS image"; return 1; }

	luks_fmt "$img" "$lp" 20 luks2 --cipher aes-cbc-essiv:sha256 --key-size 256 || return 77
	before=$(sha "$img")
	vx open --luks lo "$img" --key-file "$lp"
	expect_rc 9 "open of an aes-cbc-essiv LUKS2" || return 1
	grep -q "cipher is aes-cbc-essiv:sha256" "$work/err" ||
		{ why="message: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$before" ] || { why="a refused open changed the LUKS image"; return 1; }

	luks_fmt "$img" "$lp" 20 luks2 --cipher aes-xts-plain64 --key-size 512 \
		--sector-size 2048 || return 77
	before=$(sha "$img")
	vx open lo "$img" --key-file "$lp"
	expect_rc 9 "open of a LUKS2 with 2048-byte sectors" || return 1
	[ "$(sha "$img")" = "$before" ] || { why="a refused open changed the LUKS image"; return 1; }

	vx open --luks lo "$work/nothing-here.img" --key-file "$lp"
	[ "$rc" -ne 0 ] || { why="open --luks of a missing file succeeded"; return 1; }
	mkimg "$work/lz.img" 2 zero
	local zsum
	zsum=$(sha "$work/lz.img")
	vx open --luks lo "$work/lz.img" --key-file "$lp"
	expect_rc 8 "open --luks of an image without a LUKS header" || return 1
	[ "$(sha "$work/lz.img")" = "$zsum" ] || { why="a refused open changed the image"; return 1; }
	# no LUKS, no --luks, no device-mapper (here): not "a device-mapper device"
	vx open lo "$work/lz.img" --key-file "$lp"
	[ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && ! grep -q "device-mapper device that is not" "$work/err" ||
		{ why="open of a plain image: exit $rc, $(cat "$work/err")"; return 1; }
}

# dm-integrity LUKS2: refused (exit 9). cryptsetup cannot make one everywhere
# (it needs the kernel's dm-integrity to wipe): then this case is a SKIP.
t_luks_open_integrity() {
	local img=$work/loi.img lp=$work/loi.pass before
	luks_fmt "$img" "$lp" 20 luks2 --cipher aes-xts-plain64 --key-size 512 \
		--integrity hmac-sha256 --integrity-no-wipe ||
		{ why="cryptsetup luksFormat --integrity fails on this host"; return 77; }
	before=$(sha "$img")
	vx open lo "$img" --key-file "$lp"
	expect_rc 9 "open of a LUKS2 with integrity" || return 1
	grep -q "integrity" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$before" ] || { why="a refused open changed the LUKS image"; return 1; }
}

# A LUKS2 header whose two copies disagree: crypt_load() would rewrite one,
# so open refuses it (exit 5, `cryptsetup repair`) and the image is unchanged.
# Both copies damaged is the same exit, not "no LUKS header" (8).
t_luks_open_damaged() {
	local img=$work/ld.img lp=$work/ld.pass sum where
	luks_fmt "$work/ld0.img" "$lp" 20 luks2 --cipher aes-xts-plain64 --key-size 512 || return 77
	# the secondary's JSON (16 KiB copies), the primary's JSON, the primary's magic
	for where in $((16384 + 4096 + 10)) $((4096 + 10)) 0 both; do
		cp "$work/ld0.img" "$img"
		if [ "$where" = both ]; then
			printf 'XXXXXXXX' | dd of="$img" bs=1 seek=$((4096 + 10)) conv=notrunc 2> /dev/null
			where=$((16384 + 4096 + 10))
		fi
		printf 'XXXXXXXX' | dd of="$img" bs=1 seek="$where" conv=notrunc 2> /dev/null
		sum=$(sha "$img")
		vx open lo "$img" --key-file "$lp"
		expect_rc 5 "open of a LUKS2 damaged at byte $where" || return 1
		grep -q "cryptsetup repair" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
		vx open --luks lo "$img" --key-file "$lp"
		expect_rc 5 "open --luks of a LUKS2 damaged at byte $where" || return 1
		[ "$(sha "$img")" = "$sum" ] ||
			{ why="open wrote to a damaged LUKS header (byte $where)"; return 1; }
	done
}

# The UUID goes into the logon key name and the dm table line: a LUKS1
# header (no checksum) with a UUID that would add table arguments is refused.
t_luks_open_uuid() {
	local img=$work/lu.img lp=$work/lu.pass sum
	luks_fmt "$img" "$lp" 20 luks1 --cipher aes-xts-plain64 --key-size 512 || return 77
	printf 'y 0 7:0 0 1 allow_discards:0 0 7:0 3276\0' |
		dd of="$img" bs=1 seek=168 conv=notrunc 2> /dev/null
	sum=$(sha "$img")
	vx open lo "$img" --key-file "$lp"
	expect_rc 9 "open of a LUKS1 with a table in its UUID" || return 1
	grep -q "not a canonical UUID" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	[ "$(sha "$img")" = "$sum" ] || { why="a refused open changed the LUKS image"; return 1; }
}

# --expect-key-check pins a vxts volume: a LUKS disk in its place is refused
# before any key is asked for (and before device-mapper is asked anything).
t_luks_open_pin() {
	local img=$work/lp.img lp=$work/lp.pass
	luks_fmt "$img" "$lp" 20 luks2 --cipher aes-xts-plain64 --key-size 512 || return 77
	vx open --expect-key-check 00000000000000000000000000000000 lo "$img" --key-file "$lp"
	expect_rc 5 "open --expect-key-check of a LUKS volume" || return 1
	grep -q "expect-key-check" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
	vx open --luks --expect-key-check 00000000000000000000000000000000 lo "$img" \
		--key-file "$lp"
	expect_rc 5 "open --luks --expect-key-check" || return 1
}

# A LUKS2 reencryption left unfinished is a state, not a layout: exit 11.
t_luks_open_reencrypt() {
	local img=$work/lre2.img lp=$work/lre2.pass
	luks_fmt "$img" "$lp" 40 luks2 --cipher aes-xts-plain64 --key-size 512 || return 77
	cryptsetup reencrypt --init-only --batch-mode --key-file "$lp" --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 "$img" > /dev/null 2>&1 ||
		{ why="cryptsetup reencrypt --init-only failed"; return 77; }
	vx open lo "$img" --key-file "$lp"
	expect_rc 11 "open of a LUKS2 in reencryption" || return 1
	grep -q "reencryption" "$work/err" || { why="message: $(cat "$work/err")"; return 1; }
}

extra_cases+=(luks_export_key luks_export_json luks_export_refusals luks_export_kill
	      luks_open_refusals luks_open_integrity luks_open_damaged luks_open_uuid luks_open_pin
	      luks_open_reencrypt)
