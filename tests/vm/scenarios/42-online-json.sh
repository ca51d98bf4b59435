#!/bin/sh
# The --json outputs of the online verbs, each sent to the host as a sample
# (json_sample), where tests/vm/run.sh validates them against docs/schema/
# (vm/json-schemas). The data device sits behind dm-delay (every IO 100 ms)
# and the converter may hold a window up to 60 s, so its windows grow from
# 256 KiB and it holds one nearly all the time: a window is caught held
# (the converter is stopped with SIGSTOP there and a read of the window
# waits on it), paused at the next edge, woken, finished; the decrypt is
# killed with a window held and resumed. Samples: status NAME (held window
# with a waiting bio, paused, running, idle, with --header, held by a dead
# converter, linear), open (converting and fresh), pause, resume, close (and
# their nothing-to-do forms), the results of encrypt --online and of a
# converting resume with their progress lines, and the error envelopes of a
# second converter (busy) and of a pause of a mapping that is gone.
. /vxts/guest-lib.sh
. /vxts/online-lib.sh
need_online

MIB=16
SECT=$((MIB << 11))
SLOW=/dev/mapper/slow
HOLD="--max-hold-ms 60000"
CONV=
# a failure while the converter is stopped must not leave it stopped
trap '[ -n "$CONV" ] && kill -CONT "$CONV" 2> /dev/null' EXIT

# vj <tag> <vxts args...>: stdout in <tag>.json, stderr in <tag>.err, exit in RC
vj() {
	local tag=$1
	shift
	vxts "$@" --json < /dev/null > "$tag.json" 2> "$tag.err"
	RC=$?
}

want() { # <tag> <exit> <grep -E pattern on <tag>.json> <what>
	[ "$RC" -eq "$2" ] && grep -Eq "$3" "$1.json" ||
		{ cat "$1.json" "$1.err"; fail "$4: exit $RC (want $2), or no /$3/ in the JSON"; }
}

# checked <schema> <tag> <exit> <pattern> <what> <vxts args...>: vj, want, and
# the output sent to the host as a sample of <schema>
checked() {
	local schema=$1 tag=$2 ex=$3 pat=$4 what=$5
	shift 5
	vj "$tag" "$@"
	want "$tag" "$ex" "$pat" "$what"
	json_sample "$schema" "$tag" "$tag.json"
}

# Until mapping on holds a window (prints "lo-hi"), at most 10 s; fails
# when the converter <pid> exits first.
wait_window() { # <pid>
	local i=0 w
	while [ "$i" -lt 200 ]; do
		w=$(dm_field on window)
		[ -n "$w" ] && [ "$w" != - ] && { echo "$w"; return 0; }
		kill -0 "$1" 2> /dev/null || return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

step "$MIB MiB of plaintext behind dm-delay (100 ms an IO), header in a file"
dev_zero /dev/ram0
rand_file init.img $((MIB << 20))
dev_write /dev/ram0 init.img
echo "0 $SECT delay /dev/ram0 0 100" > slow.tbl
dm_up slow slow.tbl

step "encrypt --online: a window caught held, a read waiting on it"
vxts encrypt --online on "$SLOW" --header hdr --key-file "$ONLINE_KEK" --force $HOLD \
	--json < /dev/null > enc.json 2> enc.err &
CONV=$!
wait_node on || { cat enc.err; fail "/dev/mapper/on did not appear"; }
caught=
for try in 1 2 3 4 5; do
	win=$(wait_window "$CONV") || { cat enc.err; fail "no window held while encrypting"; }
	kill -STOP "$CONV"
	w2=$(dm_field on window)
	[ "$w2" = "$win" ] && { caught=$win; break; }
	kill -CONT "$CONV"	# released between the look and the stop: again
done
[ -n "$caught" ] || fail "the converter never stayed stopped with a window held"
lo=${caught%-*}
dd if=/dev/mapper/on of=rd.bin bs=4096 skip=$((lo / 8)) count=1 iflag=direct status=none &
RD=$!
i=0
until [ "$(dm_field on held)" -ge 1 ] 2> /dev/null; do
	i=$((i + 1))
	[ "$i" -le 100 ] || { kill -CONT "$CONV"; fail "a read of held window $caught is not held"; }
	sleep 0.05
done
vj st-held status on
want st-held 0 '"window": *\{"lo": *'"$lo"'' "status with a held window"
grep -Eq '"held": *[1-9]' st-held.json && grep -Eq '"running": *true' st-held.json ||
	{ cat st-held.json; fail "status: no waiting bio or no running converter"; }
json_sample status-mapping.json status-held st-held.json

step "pause (the converter stops at the next edge), status, open, a second converter"
vxts pause on --json < /dev/null > pause.json 2> pause.err &
PP=$!
# the converter goes on once the pause is asked for (its flag file is there)
i=0
until [ -e "${VXTS_RUN_DIR:-/run/vxts}/on.pause" ]; do
	i=$((i + 1))
	[ "$i" -le 200 ] || { kill -CONT "$CONV"; fail "vxts pause never set its flag"; }
	sleep 0.05
done
kill -CONT "$CONV"
wait "$PP"
RC=$?
want pause 0 '"result": *"paused at sector [0-9]+ \(converter pid [0-9]+ waits\)"' "pause"
json_sample mapping-result.json pause pause.json
wait "$RD" || fail "the read of the held window failed"
vj st-paused status on
want st-paused 0 '"paused": *true' "status while paused"
grep -q '"hint": *"paused' st-paused.json || { cat st-paused.json; fail "status: no hint while paused"; }
json_sample status-mapping.json status-paused st-paused.json
checked open.json open-conv 0 '"converting": *true' "open of a converting mapping" \
	open on "$SLOW" --header hdr --key-file "$ONLINE_KEK"
checked error.json busy 4 '"exit_name": *"busy"' "a second converter" \
	encrypt --online on "$SLOW" --header hdr --key-file "$ONLINE_KEK" --force

step "resume wakes it; status while it runs; the result"
checked mapping-result.json resume-woke 0 '"result": *"resumed"' "resume of a paused converter" \
	resume on
checked status-mapping.json st-run 0 '"convert": *"encrypt"' "status while converting" status on
wait "$CONV"
RC=$?
[ "$RC" -eq 0 ] || { cat enc.err; fail "encrypt --online exited $RC"; }
want enc 0 '"verb": *"encrypt"' "encrypt --online result"
grep -Eq '"paused_sec": *[0-9.]*[1-9]' enc.json || { cat enc.json; fail "encrypt: paused_sec is 0"; }
json_sample online.json encrypt enc.json
grep -q '^{' enc.err || { cat enc.err; fail "encrypt --online --json printed no progress line"; }
json_sample progress.json encrypt-progress enc.err

step "idle mapping: status (with and without --header), pause, resume, close, open"
vj st-idle status on
want st-idle 0 '"convert": *"none"' "status of the finished mapping"
grep -q '"hint": *null' st-idle.json && grep -q '"header": *{' st-idle.json ||
	{ cat st-idle.json; fail "status: a hint, or no header, when finished"; }
json_sample status-mapping.json status-idle st-idle.json
checked status-mapping.json st-hdr 0 '"header_path": *"hdr"' "status --header" \
	status on --header hdr
checked mapping-result.json pause-none 0 '"result": *"no conversion in progress, nothing to do"' "pause when finished" \
	pause on
checked mapping-result.json resume-none 0 '"result": *"no conversion in progress, nothing to do"' "resume when finished" \
	resume on
checked mapping-result.json close 0 '"result": *"closed"' "close" close on
checked open.json open 0 '"converting": *false' "open" \
	open on "$SLOW" --header hdr --key-file "$ONLINE_KEK"
here=$PWD
(cd / && exec vxts status on --json < /dev/null > "$here/st-root.json" 2>&1)
grep -q '"header": *{' st-root.json ||
	{ cat st-root.json; fail "status from / does not find the header opened as 'hdr'"; }

step "decrypt --online killed with a window held; status; resume converts"
vxts decrypt --online on "$SLOW" --header hdr --key-file "$ONLINE_KEK" $HOLD \
	--json < /dev/null > dec.json 2> dec.err &
CONV=$!
wait_window "$CONV" > /dev/null || { cat dec.err; fail "no window held while decrypting"; }
kill -KILL "$CONV"
wait "$CONV" 2> /dev/null
if [ "$(dm_field on window)" = - ]; then
	# the kill landed between two windows: hold one the way a converter
	# killed right after its hold leaves it
	b=$(dm_field on boundary)
	dm_msg on hold "$b" $((b + 128)) || fail "hold $b $((b + 128)) refused"
	echo "   (the kill missed the hold: window held by hand)"
fi
vj st-dead status on
want st-dead 0 '"window": *\{' "status after the kill"
grep -q '"hint": *"window held and no converter' st-dead.json && grep -Eq '"running": *false' st-dead.json ||
	{ cat st-dead.json; fail "status: no 'window held and no converter' hint"; }
json_sample status-mapping.json status-dead-held st-dead.json
# from / as a resume unit runs it: the mapping's runtime record must name
# the header given as the relative path "hdr" by its absolute path
(cd / && exec vxts resume on --key-file "$here/$ONLINE_KEK" $HOLD --json \
	< /dev/null > "$here/resume.json" 2> "$here/resume.err")
RC=$?
want resume 0 '"verb": *"resume"' "resume that converts"
grep -q '"result": *"plaintext"' resume.json || { cat resume.json; fail "resume: not plaintext"; }
json_sample online.json resume resume.json
grep -q '^{' resume.err || { cat resume.err; fail "resume --json printed no progress line"; }
json_sample progress.json resume-progress resume.err
[ "$(dm_target_of on)" = linear ] || fail "on is not linear after the decrypt"
[ "$(dev_sum /dev/ram0 $((MIB << 20)))" = "$(file_sum init.img)" ] ||
	fail "the disk does not hold the original plaintext after encrypt and decrypt"

step "linear mapping: status, close twice, pause of a mapping that is gone"
checked status-mapping.json st-lin 0 '"target": *"other"' "status of the linear mapping" \
	status on
vj close2 close on
want close2 0 '"result": *"closed"' "close of the linear mapping"
checked mapping-result.json close-none 0 '"result": *"not open, nothing to do"' "close again" \
	close on
vj pause-gone pause on
grep -Eq '"ok": *false' pause-gone.json && [ "$RC" -ne 0 ] ||
	{ cat pause-gone.json pause-gone.err; fail "pause of a mapping that is gone: exit $RC"; }
json_sample error.json pause-gone pause-gone.json
dm_down slow
exit 0
