# shellcheck shell=bash
# Cases for docs/OPERATIONS.md (the operator guide) and docs/schema/, sourced
# by tests/cli/run.sh (its vx, vx_key, mkimg, expect_rc, $work, $VXTS, $PY).
#
# guide_exit_codes   the guide's exit-code table has exactly the codes and
#                    meanings `vxts help` prints
# guide_schemas      each docs/schema/*.json validates the real --json output
#                    of its verbs on image files; deleting any member from an
#                    output, or any property from a schema, makes validation
#                    fail (checked for every member, every run); the
#                    online verbs' schemas: vm/json-schemas (tests/vm)
# guide_walkthrough  the guide's ```sh {test} blocks run in order on an ext4
#                    image in tmpfs (DISK and the directories substituted);
#                    every command must succeed

guide=$top/docs/OPERATIONS.md
schema_dir=$top/docs/schema

# ---- exit codes ------------------------------------------------------------

# `vxts help` lines " N  meaning" against the guide's rows "| N | name | meaning | ...".
t_guide_exit_codes() {
	[ -f "$guide" ] || { why="no $guide"; return 1; }
	vx help
	expect_rc 0 "vxts help" || return 1
	sed -n 's/^ *\([0-9][0-9]*\)  \(.*\)$/\1|\2/p' "$work/out" > "$work/codes.help"
	awk -F'|' '/^<!-- exit-codes -->/ { on = 1; next } /^<!-- \/exit-codes -->/ { on = 0 }
		on && $2 ~ /^ *[0-9]+ *$/ {
			c = $2; m = $4; gsub(/^ +| +$/, "", c); gsub(/^ +| +$/, "", m)
			print c "|" m }' "$guide" > "$work/codes.guide"
	[ "$(wc -l < "$work/codes.help")" -ge 17 ] ||
		{ why="vxts help lists only $(wc -l < "$work/codes.help") exit codes"; return 1; }
	diff "$work/codes.help" "$work/codes.guide" > "$work/codes.diff" || {
		why="exit codes differ (< vxts help, > OPERATIONS.md): $(grep '^[<>]' "$work/codes.diff" | head -n 4 | tr '\n' ' ')"
		return 1
	}
}

# ---- JSON schemas ------------------------------------------------------------

# The checker is tests/lib/schemacheck.py (shared with the VM layer's
# vm/json-schemas check of the online verbs).
checker=$top/tests/lib/schemacheck.py

# save <schema> <name>: the last vx run's stdout becomes a sample
save() {
	cp "$work/out" "$work/s-$2.json"
	printf '%s\t%s\n' "$1" "$work/s-$2.json" >> "$work/samples.txt"
}

t_guide_schemas() {
	local img=$work/gs.img hdr=$work/gs.hdr img2=$work/gs2.img kms=$top/examples/kms/vxts-kms-local
	"$PY" -c 'import jsonschema' 2> /dev/null || { why="no python3-jsonschema (scripts/setup.sh)"; return 1; }
	ls "$schema_dir"/*.json > /dev/null 2>&1 || { why="no $schema_dir/*.json"; return 1; }
	local f
	for f in "$schema_dir"/*.json; do	# each schema is linked from the guide
		grep -q "(schema/${f##*/})" "$guide" || { why="OPERATIONS.md does not link schema/${f##*/}"; return 1; }
	done
	[ -f "$checker" ] || { why="no $checker"; return 1; }
	: > "$work/samples.txt"
	mkimg "$img" 32
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1" --json --rate-limit 32M \
		--resilience journal --label guide
	expect_rc 0 "encrypt --json" && save convert.json encrypt || return 1
	cp "$work/err" "$work/s-progress.jsonl"
	printf 'progress.json\t%s\n' "$work/s-progress.jsonl" >> "$work/samples.txt"
	vx encrypt "$img" --header "$hdr" --key-file "$work/k1" --json
	expect_rc 0 "encrypt again" && save convert.json encrypt-noop || return 1
	vx status "$img" --header "$hdr" --json
	expect_rc 0 "status --json" && save status.json status || return 1
	vx dump "$img" --header "$hdr" --json
	expect_rc 0 "dump --json" && save dump.json dump || return 1
	vx dump "$img" --header "$hdr" --key-file "$work/k1" --json
	expect_rc 0 "dump --key-file --json" && save dump.json dump-key || return 1
	# the volume key: kept out of $all_out, recorded for the leak check
	timeout 60 "$VXTS" dump "$img" --header "$hdr" --key-file "$work/k1" --volume-key --json \
		< /dev/null > "$work/s-dump-vk.json" 2> "$work/err"
	rc=$?
	expect_rc 0 "dump --volume-key --json" || return 1
	"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume_key"])' \
		"$work/s-dump-vk.json" >> "$keys" || { why="no volume_key in dump --volume-key --json"; return 1; }
	printf 'dump.json\t%s\n' "$work/s-dump-vk.json" >> "$work/samples.txt"
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --new-passphrase-file "$work/p1" \
		"${A2[@]}" --json
	expect_rc 0 "keyslot add passphrase" && save keyslot-change.json add-pass || return 1
	if command -v openssl > /dev/null && [ -x "$kms" ]; then
		export VXTS_KMS_DIR=$work/kms
		mkdir -p "$VXTS_KMS_DIR"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
			-out "$VXTS_KMS_DIR/guide-kek.pem" 2> /dev/null || { why="openssl genpkey"; return 1; }
		vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --kms-command "$kms" \
			--new-kms-key-id guide-kek --json
		expect_rc 0 "keyslot add kms" && save keyslot-change.json add-kms || return 1
	fi
	vx keyslot add "$img" --header "$hdr" --key-file "$work/k1" --recovery-key-file "$work/gs.rec" --json
	expect_rc 0 "keyslot add recovery" && save keyslot-change.json add-rec || return 1
	vx keyslot list "$img" --header "$hdr" --json
	expect_rc 0 "keyslot list" && save keyslot-list.json list || return 1
	vx keyslot rotate "$img" --header "$hdr" --key-file "$work/k1" --slot 0 --new-key-file "$work/k2" --json
	expect_rc 0 "keyslot rotate" && save keyslot-change.json rotate || return 1
	vx keyslot remove "$img" --header "$hdr" --use-recovery-key "$work/gs.rec" --slot 1 --yes --json
	expect_rc 0 "keyslot remove" && save keyslot-change.json remove || return 1
	vx header backup "$img" "$work/gs.bak" --header "$hdr" --json
	expect_rc 0 "header backup" && save header-file.json backup || return 1
	vx header restore "$img" "$work/gs.bak" --header "$hdr" --yes --json
	expect_rc 0 "header restore" && save header-file.json restore || return 1
	vx reencrypt "$img" --header "$hdr" --key-file "$work/k2" --json
	expect_rc 0 "reencrypt" && save convert.json reencrypt || return 1
	vx luks export "$img" "$work/gs.luks" --header "$hdr" --key-file "$work/k2" \
		--new-key-file "$work/k1" "${A2[@]}" --json
	expect_rc 0 "luks export" && save luks-export.json luks-export || return 1
	# a status while a decrypt runs: rate measured, advancing
	timeout 60 "$VXTS" decrypt "$img" --header "$hdr" --key-file "$work/k2" --rate-limit 16M \
		--json < /dev/null > "$work/dec.out" 2> "$work/dec.err" &
	local pid=$! i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.2
		vx status "$img" --header "$hdr" --json --interval 300
		grep -q '"advancing"' "$work/out" && break
	done
	wait "$pid"
	grep -q '"advancing"' "$work/out" && save status.json status-running ||
		{ why="no status with a measured rate during decrypt: $(head -c 300 "$work/out")"; return 1; }
	cp "$work/dec.out" "$work/out"
	grep -q '"ok":true' "$work/out" && save convert.json decrypt ||
		{ why="decrypt --json: $(head -c 300 "$work/dec.err")"; return 1; }
	mkimg "$img2" 32 zero
	vx format "$img2" --key-file "$work/k1" --json --yes
	expect_rc 0 "format --json" && save dump.json format || return 1
	vx status "$img2" --json
	expect_rc 0 "status, header at the end" && save status.json status-end || return 1
	vx decrypt "$img2" --key-file "$work/wrong" --json
	expect_rc 3 "wrong key" && save error.json wrong-key || return 1
	vx status "$work/nonexistent.img" --json
	expect_rc 1 "status of a missing file" && save error.json missing || return 1
	# the boot table: one entry found, one whose UUID no device has (nofail:
	# a warning, exit 0; without: an error, exit 8)
	printf '%s\n' "v1 $img $hdr key-file=$work/k2" \
		"v2 UUID=00000000-0000-4000-8000-000000000000 - key-file=$work/k2 nofail" > "$work/gs.tab"
	chmod 600 "$work/gs.tab"
	vx tab check --tab "$work/gs.tab" --json
	expect_rc 0 "tab check, a nofail device missing" && save tab.json tab-check || return 1
	sed -i 's/ nofail$//' "$work/gs.tab"
	vx tab check --tab "$work/gs.tab" --json
	expect_rc 8 "tab check, a device missing" && save tab.json tab-check-error || return 1
	# schema properties no image-file run can produce. The online verbs'
	# schemas need dm-vxts: tests/vm/run.sh checks them (vm/json-schemas)
	# on outputs of VM scenario 42-online-json.
	cat > "$work/allow.txt" <<- EOF
		online.json:*         vm/json-schemas
		status-mapping.json:* vm/json-schemas
		open.json:*           vm/json-schemas
		mapping-result.json:* vm/json-schemas
		keyslot.json:pkcs11_uri  proved by keys/json_schemas (SoftHSM token)
		dump.json:new_volume_key proved by keys/json_schemas (a re-key stopped half way)
	EOF
	[ -n "${VXTS_KMS_DIR:-}" ] || printf '%s\n' keyslot.json:kms_key_id keyslot.json:mechanism >> "$work/allow.txt"
	"$PY" "$checker" "$schema_dir" "$work/samples.txt" "$work/allow.txt" \
		> "$work/check.out" 2>&1 ||
		{ why="$(grep -v '^[0-9]* samples' "$work/check.out" | head -n 3 | tr '\n' ' ')"; return 1; }
	echo "    $(tail -n 1 "$work/check.out")"
	rm -f "$img2" "$work"/s-*.json "$work/gs.rec" "$work/gs.luks"
}

# ---- the walkthrough -----------------------------------------------------------

# The ```sh {test} blocks of the guide, in order, as one bash script with
# errexit; its first block sets DISK, VX and BK, which are substituted.
t_guide_walkthrough() {
	local d=$work/walk
	[ -f "$guide" ] || { why="no $guide"; return 1; }
	command -v mkfs.ext4 > /dev/null || { why="no mkfs.ext4"; return 77; }
	rm -rf "$d"; mkdir -p "$d/bin" "$d/etc" "$d/bk"
	ln -s "$VXTS" "$d/bin/vxts"
	mkimg "$d/disk.img" 64 zero
	# 4 KiB blocks (step 3 of the guide): encrypt refuses 1 KiB ones
	mkfs.ext4 -q -F -b 4096 "$d/disk.img" 48M || { why="mkfs.ext4"; return 1; }
	awk '/^```sh \{test\}/ { on = 1; n++; print "# ---- block " n; next }
	     /^```/ { on = 0 } on' "$guide" > "$d/walk.sh"
	[ "$(grep -c '^# ---- block' "$d/walk.sh")" -ge 5 ] ||
		{ why="fewer than 5 {test} blocks in the guide"; return 1; }
	sed -i -e "s|^DISK=.*|DISK=$d/disk.img|" -e "s|^VX=.*|VX=$d/etc|" \
		-e "s|^BK=.*|BK=$d/bk|" "$d/walk.sh"
	grep -q "^DISK=$d/disk.img" "$d/walk.sh" || { why="no DISK= line in the first block"; return 1; }
	(cd "$d" && PATH=$d/bin:$PATH timeout 300 bash -eu -o pipefail -x walk.sh) \
		< /dev/null > "$d/walk.out" 2>&1
	rc=$?
	cat "$d/walk.out" >> "$all_out"
	[ "$rc" -eq 0 ] || {
		why="walkthrough failed (exit $rc) at: $(grep '^+' "$d/walk.out" | tail -n 1) / $(tail -n 2 "$d/walk.out" | tr '\n' ' ')"
		return 1
	}
	rm -rf "$d"
}

extra_cases+=(guide_exit_codes guide_schemas guide_walkthrough)
