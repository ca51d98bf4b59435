# shellcheck shell=bash
# Cases for the boot table (/etc/vxtstab, docs/BOOT.md), sourced by
# tests/cli/run.sh (its vx, expect_rc, json_ok, json_get, $work, $VXTS, $PY).
#
# tab_check_errors   malformed tables are refused with the file, line and fix
#                    (exit 2); a table others may write is refused; a missing
#                    device fails its entry (exit 8) unless nofail; a key file
#                    readable by others is a warning
# tab_json           tab check / tab open --json: one object, a volumes array
#                    of {name, device, state, result, exit}
# tab_no_prompt      an entry with a prompted key, stdin not a TTY: no prompt,
#                    no hang, a non-zero exit naming the entry
# tab_generate       the generator's units and links for a sample table, the
#                    unit names systemd-escaped like systemd-escape does, and
#                    `systemd-analyze verify` of the static + generated units

tab_write() { # <file> <mode>: the table from stdin
	cat > "$1"
	chmod "$2" "$1"
}

# A key file on the root filesystem (tab check warns about one elsewhere):
# $work may be on /dev/shm. Sets $tk.
tab_rootkey() {
	mkdir -p "$top/build/tab-test"
	tk=$top/build/tab-test/tk.$$
	printf 'k' > "$tk"
	chmod 600 "$tk"
}

t_tab_check_errors() {
	local t=$work/tab line want tk
	mkimg "$work/t1.img" 1 zero
	tab_rootkey
	# <line> <piece of the message>: each on line 3, after a comment and a good line
	while IFS='|' read -r line want; do
		printf '# c\ngood %s - key-file=%s\n%s\n' "$work/t1.img" "$tk" "$line" |
			tab_write "$t" 600
		vx tab check --tab "$t"
		expect_rc 2 "tab check of '$line'" || return 1
		grep -q "$t line 3: .*$want" "$work/err" ||
			{ why="'$line': no '$t line 3: ...$want' in: $(cat "$work/err")"; return 1; }
	done <<-EOF
		x /dev/sda -|fields, want NAME DEVICE HEADER KEY
		x /dev/sda - - nofail,bogus|unknown option 'bogus'
		x /dev/sda - - timeout=soon|timeout=soon: want a whole number
		x /dev/sda - hunter2|is not a key source
		x /dev/sda - key-file=rel/k|not an absolute path
		good /dev/sdb - -|used on line 2 already
		x UUID=abc /h key-file=/k|UUID= with a detached header
		-x /dev/sdb - -|starts with '-'
		x /dev/sdb - - rate-limit=1M,nofail,rate-limit=2M|option 'rate-limit=' is given twice
		a$(printf '%.0s+' $(seq 60)) /dev/sdb - -|too long for a systemd unit name
	EOF
	# a FIFO at the table path: refused at once, no hang
	rm -f "$t" && mkfifo "$t"
	timeout 10 "$VXTS" tab check --tab "$t" > "$work/out" 2> "$work/err"
	rc=$?
	expect_rc 2 "tab check of a FIFO" || return 1
	grep -q "not a regular file" "$work/err" || { why="FIFO: $(cat "$work/err")"; return 1; }
	rm -f "$t"
	# a table others may write: refused whatever it holds
	printf 'good %s - key-file=%s\n' "$work/t1.img" "$tk" | tab_write "$t" 602
	vx tab check --tab "$t"
	expect_rc 2 "world-writable table" || return 1
	grep -q "writable by others.*chmod o-w" "$work/err" ||
		{ why="world-writable: $(cat "$work/err")"; return 1; }
	vx tab open --tab "$t"
	expect_rc 2 "tab open of a world-writable table" || return 1
	# a missing device: exit 8 naming the entry; nofail makes it a warning
	printf 'good %s - key-file=%s\nlost %s/nope - key-file=%s\n' "$work/t1.img" \
		"$tk" "$work" "$tk" | tab_write "$t" 644
	vx tab check --tab "$t"
	expect_rc 8 "missing device" || return 1
	grep -q "^lost (line 2): no device: ERROR device $work/nope not found" "$work/out" ||
		{ why="missing device: $(cat "$work/out")"; return 1; }
	grep -q "^good (line 1): $work/t1.img, ok" "$work/out" ||
		{ why="good entry: $(cat "$work/out")"; return 1; }
	sed -i 's/^lost .*/& nofail/' "$t"
	vx tab check --tab "$t"
	expect_rc 0 "missing nofail device" || return 1
	grep -q "^lost (line 2): no device: warning" "$work/out" ||
		{ why="nofail: $(cat "$work/out")"; return 1; }
	# a key file others can read: a warning naming the fix
	chmod 644 "$tk"
	vx tab check --tab "$t" good
	expect_rc 0 "readable key file" || return 1
	grep -q "key file $tk is readable by group/others.*chmod 600" "$work/out" ||
		{ why="key mode: $(cat "$work/out")"; return 1; }
	# NAME not in the table
	vx tab check --tab "$t" nosuch
	expect_rc 2 "unknown NAME" || return 1
	grep -q "no volume 'nosuch' in $t" "$work/err" || { why="$(cat "$work/err")"; return 1; }
	# no table at all
	vx tab check --tab "$work/none"
	expect_rc 2 "no table" || return 1
	grep -q "cannot open $work/none" "$work/err" || { why="$(cat "$work/err")"; return 1; }
}

t_tab_json() {
	local t=$work/tab tk v
	mkimg "$work/t1.img" 1 zero
	tab_rootkey
	printf 'good %s - key-file=%s\nlost %s/nope - key-file=%s nofail,timeout=0\n' "$work/t1.img" \
		"$tk" "$work" "$tk" | tab_write "$t" 600
	vx tab check --tab "$t" --json
	expect_rc 0 "tab check --json" || return 1
	json_ok || return 1
	[ "$(json_get 'd["verb"], d["ok"], d["exit_code"], len(d["volumes"])')" = "tab check True 0 2" ] ||
		{ why="check json: $(cat "$work/out")"; return 1; }
	[ "$(json_get '[(v["name"], v["state"], v["exit"], v["device"]) for v in d["volumes"]]')" = \
	  "[('good', 'ok', 0, '$work/t1.img'), ('lost', 'warning', 0, None)]" ] ||
		{ why="check volumes: $(cat "$work/out")"; return 1; }
	# open: each volume's state, result and exit; "lost" fails (nofail), "good"
	# is not a block device here, so it fails too and sets the exit code
	vx tab open --tab "$t" --json
	[ "$rc" -ne 0 ] || { why="tab open of an image file succeeded"; return 1; }
	json_ok || return 1
	[ "$(json_get 'd["verb"], d["ok"], d["exit_code"] == '"$rc"', [v["name"] for v in d["volumes"]]')" = \
	  "tab open False True ['good', 'lost']" ] || { why="open json: $(cat "$work/out")"; return 1; }
	[ "$(json_get 'd["volumes"][1]["state"], d["volumes"][1]["exit"], d["volumes"][1]["nofail"]')" = \
	  "failed 8 True" ] || { why="open json, lost: $(cat "$work/out")"; return 1; }
	[ "$(json_get 'sorted(d["volumes"][0].keys())')" = \
	  "['device', 'exit', 'line', 'name', 'nofail', 'result', 'state']" ] ||
		{ why="open json keys: $(cat "$work/out")"; return 1; }
	# the nofail entry named (what vxts-open@lost.service runs): its real exit,
	# so systemctl --failed shows it; nofail is Wants= in the generated units
	vx tab open --tab "$t" --json lost
	expect_rc 8 "tab open of a failing nofail entry by name" || return 1
	[ "$(json_get 'd["ok"], d["volumes"][0]["state"], d["volumes"][0]["exit"]')" = "False failed 8" ] ||
		{ why="open json, nofail by name: $(cat "$work/out")"; return 1; }
	# all entries (the busybox boot): a failing nofail entry leaves the exit 0
	sed -i '/^good /d' "$t"
	vx tab open --tab "$t" --json
	expect_rc 0 "tab open of all entries, only a nofail one failing" || return 1
	[ "$(json_get 'd["ok"], d["volumes"][0]["name"], d["volumes"][0]["exit"]')" = "True lost 8" ] ||
		{ why="open json, all: $(cat "$work/out")"; return 1; }
	# an unknown NAME: exit 2 and no volumes (not the entries before it)
	for v in check open close; do
		vx tab "$v" --tab "$t" --json lost nosuch
		if [ "$v" = close ]; then
			# close falls back to the mapping's name: neither is open
			expect_rc 0 "tab close --json of an unknown NAME" || return 1
			[ "$(json_get '[(x["name"], x["state"]) for x in d["volumes"]]')" = \
			  "[('lost', 'closed'), ('nosuch', 'closed')]" ] ||
				{ why="close json unknown: $(cat "$work/out")"; return 1; }
			continue
		fi
		expect_rc 2 "tab $v --json of an unknown NAME" || return 1
		json_ok || return 1
		[ "$(json_get 'd["ok"], d["exit_code"], d["volumes"]')" = "False 2 []" ] ||
			{ why="tab $v json with an unknown NAME: $(cat "$work/out")"; return 1; }
	done
}

# tab close NAME without a usable entry closes the mapping by NAME (a line
# removed or a table broken before shutdown must not leave it mapped);
# tab close of all entries still needs the table.
t_tab_close_fallback() {
	local t=$work/tab
	printf 'x /dev/sda - - bogus\n' | tab_write "$t" 600
	vx tab close --tab "$t" gone1
	expect_rc 0 "tab close NAME with a broken table" || return 1
	grep -q "closing gone1 by name" "$work/err" || { why="no warning: $(cat "$work/err")"; return 1; }
	grep -q "^gone1: closed, not open" "$work/out" || { why="$(cat "$work/out")"; return 1; }
	vx tab close --tab "$t"
	expect_rc 2 "tab close of all entries with a broken table" || return 1
	printf 'a /dev/sda - -\n' | tab_write "$t" 600
	vx tab close --tab "$t" gone2
	expect_rc 0 "tab close NAME not in the table" || return 1
	grep -q "no such entry in $t: closing the mapping gone2 by name" "$work/err" ||
		{ why="no warning: $(cat "$work/err")"; return 1; }
}

# Key and header files off the root filesystem: a warning (they cannot be
# mounted before vxts-open@ runs). KMS helper / PKCS#11 module that others may
# change: tab check errors, tab open refuses before running it.
t_tab_files() {
	local t=$work/tab h=$work/helper d
	mkimg "$work/t1.img" 1 zero
	printf 'k' > "$work/wk"
	chmod 600 "$work/wk"
	if [ "$(stat -c %d "$work")" != "$(stat -c %d /)" ]; then
		printf 'w %s - key-file=%s\n' "$work/t1.img" "$work/wk" | tab_write "$t" 600
		vx tab check --tab "$t"
		expect_rc 0 "tab check, key off the root fs" || return 1
		grep -q "key-file $work/wk is not on the root filesystem" "$work/out" ||
			{ why="no root-fs warning: $(cat "$work/out")"; return 1; }
	fi
	d=$(mktemp -d "$top/build/tab-test/kms.XXXXXX")
	printf '#!/bin/sh\nexit 1\n' > "$d/helper"
	chmod 755 "$d/helper" "$d"
	printf 'h %s - kms=%s _netdev\n' "$work/t1.img" "$d/helper" | tab_write "$t" 600
	vx tab check --tab "$t"
	[ "$rc" -ne 16 ] || { why="a root-owned 0755 helper refused: $(cat "$work/out")"; return 1; }
	for how in "chmod 775 $d/helper" "chmod 757 $d" "chown 4242 $d/helper"; do
		chmod 755 "$d/helper" "$d"
		chown 0 "$d/helper"
		$how
		vx tab check --tab "$t"
		expect_rc 16 "tab check after $how" || return 1
		grep -Eq "KMS helper $d/helper: .*(writable by group/others|owned by uid 4242)" "$work/out" ||
			{ why="$how: $(cat "$work/out")"; return 1; }
		vx tab open --tab "$t"
		expect_rc 16 "tab open after $how" || return 1
		grep -Eq "tab open h: KMS helper .*(chmod go-w|chown root|move it under a directory)" "$work/err" ||
			{ why="$how: $(cat "$work/err")"; return 1; }
	done
	# under a sticky world-writable directory (/dev/shm, /tmp) only an
	# entry's owner may replace it: a root-owned directory there is fine,
	# one owned by someone else is not
	if [ "$(stat -c %a "$(dirname "$work")")" = 1777 ]; then
		cp "$d/helper" "$h"
		chmod 755 "$h"
		printf 'h %s - kms=%s _netdev\n' "$work/t1.img" "$h" | tab_write "$t" 600
		vx tab check --tab "$t"
		[ "$rc" -ne 16 ] || { why="helper in a root-owned dir under a sticky one: $(cat "$work/out")"; return 1; }
		chown 4242 "$work"
		vx tab open --tab "$t"
		chown 0 "$work"
		expect_rc 16 "tab open of a helper in a foreign dir under a sticky one" || return 1
		grep -q "owned by uid 4242" "$work/err" || { why="foreign dir: $(cat "$work/err")"; return 1; }
	fi
	rm -rf "$d"
}

t_tab_no_prompt() {
	local t=$work/tab t0
	encrypted_vol tp 2 || return 1
	printf 'ask %s %s -\n' "$img" "$hdr" | tab_write "$t" 600
	t0=$SECONDS
	vx tab open --tab "$t"
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { why="tab open with a prompted key: exit $rc"; return 1; }
	[ $((SECONDS - t0)) -lt 20 ] || { why="tab open took $((SECONDS - t0)) s"; return 1; }
	grep -qi 'passphrase:' "$work/out" "$work/err" && { why="it prompted"; return 1; }
	grep -q "^ask: failed (exit $rc" "$work/out" ||
		{ why="no result line for ask: $(cat "$work/out")"; return 1; }
	# tab resume goes the same way: no prompt, no hang
	vx tab resume --tab "$t" ask
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { why="tab resume with a prompted key: exit $rc"; return 1; }
	grep -qi 'passphrase:' "$work/out" "$work/err" && { why="tab resume prompted"; return 1; }
	return 0
}

# The unit file name systemd gives a path or a string (systemd-escape).
tab_esc() { # [-p] <string>
	systemd-escape "$@"
}

t_tab_generate() {
	local t=$work/tab g=$work/gen u=$work/units f want link
	command -v systemd-escape > /dev/null && command -v systemd-analyze > /dev/null ||
		{ why="systemd-escape/systemd-analyze missing (systemd package)"; return 77; }
	rm -rf "$g" "$u"
	mkdir -p "$g" "$u"
	tab_write "$t" 644 <<-EOF
		# sample
		data      UUID=3b0c1f3e-6a2d-4c47-9e1b-8f5a2d7c9e01  -  key-file=/etc/vxts/data.key
		db-01     /dev/disk/by-id/virtio-db\\x20x  /etc/vxts/db.hdr  kms=/usr/lib/vxts/kms  _netdev,kms-timeout=20,timeout=120
		scratch   PARTUUID=6a8f1c2e-01  -  key-file=/k  nofail
		old.luks  UUID=0c5e7d91-2b3a-4f68-9d1c-7e2f4a6b8c0d  -  passphrase-file=/p  luks
	EOF
	vx tab generate --tab "$t" "$g" "$g" "$g"
	expect_rc 0 "tab generate" || return 1
	[ "$(readlink "$g/remote-fs.target.wants/vxts.target")" = /usr/lib/systemd/system/vxts.target ] ||
		{ why="vxts.target not wanted by remote-fs.target"; return 1; }
	for f in data db-01 scratch old.luks; do
		local inst unit dev
		inst=$(tab_esc "$f")
		unit="vxts-open@$inst.service"
		if [ "$f" = scratch ]; then want=vxts.target.wants; else want=vxts.target.requires; fi
		link=$(readlink "$g/$want/$unit") ||
			{ why="no $want/$unit"; ls -R "$g" >&2; return 1; }
		[ "$link" = /usr/lib/systemd/system/vxts-open@.service ] ||
			{ why="$want/$unit -> $link"; return 1; }
		dev=$(tab_esc -p "/dev/mapper/$f").device
		[ -L "$g/$dev.wants/$unit" ] || { why="no $dev.wants/$unit"; return 1; }
		[ -f "$g/$unit.d/50-vxtstab.conf" ] || { why="no drop-in for $unit"; return 1; }
		grep -q "^SourcePath=$t$" "$g/$unit.d/50-vxtstab.conf" ||
			{ why="$unit: no SourcePath=$t"; return 1; }
	done
	f=$g/vxts-open@$(tab_esc db-01).service.d/50-vxtstab.conf
	want=$(tab_esc -p '/dev/disk/by-id/virtio-db\x20x').device
	grep -qxF "BindsTo=$want" "$f" && grep -qxF "After=network-online.target" "$f" &&
		grep -qxF "Before=remote-fs-pre.target" "$f" && grep -qxF "TimeoutStartSec=440" "$f" ||
		{ why="db-01 drop-in: $(cat "$f")"; return 1; }
	f=$g/vxts-open@data.service.d/50-vxtstab.conf
	grep -q '^BindsTo=' "$f" && { why="a vxts UUID= is bound to a device unit udev never makes"; return 1; }
	grep -qxF "Before=local-fs-pre.target" "$f" || { why="data drop-in: $(cat "$f")"; return 1; }
	f=$g/vxts-open@$(tab_esc old.luks).service.d/50-vxtstab.conf
	want=$(tab_esc -p /dev/disk/by-uuid/0c5e7d91-2b3a-4f68-9d1c-7e2f4a6b8c0d).device
	grep -qxF "BindsTo=$want" "$f" || { why="luks drop-in: $(cat "$f")"; return 1; }
	f=$g/vxts-open@scratch.service.d/50-vxtstab.conf
	want=$(tab_esc -p /dev/disk/by-partuuid/6a8f1c2e-01).device
	grep -qxF "BindsTo=$want" "$f" || { why="scratch drop-in: $(cat "$f")"; return 1; }
	# the static units, with ExecStart pointed at this build, and the generated ones
	for f in "$top"/systemd/*.service "$top"/systemd/*.target; do
		sed "s|/usr/sbin/vxts|$VXTS|g" "$f" > "$u/$(basename "$f")"
	done
	SYSTEMD_UNIT_PATH=$g:$u: systemd-analyze verify --man=no "$u/vxts.target" \
		"vxts-open@data.service" "vxts-open@$(tab_esc db-01).service" \
		"vxts-open@scratch.service" "vxts-open@$(tab_esc old.luks).service" \
		"vxts-resume@data.service" > "$work/verify" 2>&1 ||
		{ why="systemd-analyze verify: $(head -c 600 "$work/verify")"; return 1; }
	# anything it says about our units is a finding, even with exit 0
	grep -E 'vxts|50-vxtstab' "$work/verify" && { why="verify: $(head -c 600 "$work/verify")"; return 1; }
	# the generator script: valid sh; units from a good table; exit 0 with a
	# message for a bad table and silently without one
	sh -n "$top/systemd/vxts-generator" || { why="vxts-generator is not valid sh"; return 1; }
	rm -rf "$g" && mkdir -p "$g"
	VXTS_GENERATOR_BIN=$VXTS VXTSTAB=$t sh "$top/systemd/vxts-generator" "$g" "$g" "$g" \
		> "$work/out" 2> "$work/err"
	expect_rc 0 "vxts-generator on a good table" || return 1
	[ -L "$g/vxts.target.requires/vxts-open@data.service" ] || { why="generator: no units"; return 1; }
	grep -q 'ExecStart=.*tab open -- %I' "$top/systemd/vxts-open@.service" &&
		grep -q 'ExecStop=.*tab close -- %I' "$top/systemd/vxts-open@.service" &&
		grep -q 'ExecStart=.*tab resume -- %I' "$top/systemd/vxts-resume@.service" ||
		{ why="the units do not end options before %I"; return 1; }
	grep -qx 'Restart=on-abnormal' "$top/systemd/vxts-resume@.service" ||
		{ why="vxts-resume@ is not restarted after a crash"; return 1; }
	rm -rf "$g" && mkdir -p "$g"
	printf 'x /dev/sda - - bogus\n' > "$work/badtab"
	chmod 600 "$work/badtab"
	VXTS_GENERATOR_BIN=$VXTS VXTSTAB=$work/badtab sh "$top/systemd/vxts-generator" "$g" \
		> "$work/out" 2> "$work/err"
	expect_rc 0 "vxts-generator on a bad table" || return 1
	grep -q "line 1: unknown option 'bogus'" "$work/err" && grep -q "daemon-reload" "$work/err" ||
		{ why="generator, bad table: $(cat "$work/err")"; return 1; }
	[ -z "$(ls -A "$g")" ] || { why="units written for a broken table"; return 1; }
	VXTS_GENERATOR_BIN=$VXTS VXTSTAB=$work/none sh "$top/systemd/vxts-generator" "$g" \
		> "$work/out" 2> "$work/err"
	expect_rc 0 "vxts-generator without a table" || return 1
	[ ! -s "$work/err" ] || { why="generator, no table: $(cat "$work/err")"; return 1; }
	# a header on its own block device: bound to and ordered after it
	printf 'hd PARTUUID=ab-01 /dev/disk/by-partlabel/hdr key-file=/k\n' | tab_write "$t" 600
	vx tab generate --tab "$t" "$g"
	want=$(tab_esc -p /dev/disk/by-partlabel/hdr).device
	grep -qxF "BindsTo=$want" "$g/vxts-open@hd.service.d/50-vxtstab.conf" &&
		grep -qxF "After=$want" "$g/vxts-open@hd.service.d/50-vxtstab.conf" ||
		{ why="header device: $(cat "$g/vxts-open@hd.service.d/50-vxtstab.conf")"; return 1; }
	# an entry whose units cannot be written costs only that entry
	rm -rf "$g" && mkdir -p "$g"
	printf 'a1 /dev/sda - -\na2 /dev/sdb - -\n' | tab_write "$t" 600
	mkdir -p "$g/vxts-open@a1.service.d/50-vxtstab.conf"
	vx tab generate --tab "$t" "$g"
	expect_rc 1 "tab generate with one entry unwritable" || return 1
	grep -q "line 1 (a1): cannot write" "$work/err" || { why="$(cat "$work/err")"; return 1; }
	[ -f "$g/vxts-open@a2.service.d/50-vxtstab.conf" ] || { why="a2 got no units"; return 1; }
	printf 'x /dev/sda - - bogus\n' | tab_write "$t" 644
	# a broken table: exit 2 naming the line, no units written
	rm -rf "$g" && mkdir -p "$g"
	printf 'x /dev/sda - - bogus\n' | tab_write "$t" 644
	vx tab generate --tab "$t" "$g"
	expect_rc 2 "tab generate of a broken table" || return 1
	[ -z "$(ls -A "$g")" ] || { why="units written for a broken table"; return 1; }
	# no table: nothing to do, exit 0
	vx tab generate --tab "$work/none" "$g"
	expect_rc 0 "tab generate without a table"
}

extra_cases+=(tab_check_errors tab_json tab_no_prompt tab_generate tab_close_fallback tab_files)
