#!/usr/bin/env bash
# Crash layer: kill `vxts` at random instants, resume, and prove no byte is lost.
#
# A 128 MiB image of random data in tmpfs; its SHA-256 is recorded. A
# campaign runs one verb and SIGKILLs it after a random delay, re-running the
# same command after every kill until a run completes. Between runs `vxts
# status` must read the header (a kill may never leave it unreadable), and no
# run may end any other way than by the kill or by success. Campaigns repeat
# in rounds (encrypt, [reencrypt,] decrypt) until every verb has been killed
# KILLS times; after every round the plaintext must hash as the original.
# Scenarios: checksum and journal resilience with a detached header, and a
# header in the last 16 MiB of the image (header commits and data writes in
# the same file).
#
# What this proves: resume after a process dies at any point. What it does
# not: durability across power loss (the page cache survives SIGKILL); the
# unit layer's torn-write injection and the VM layer's dm-log-writes cover
# that.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
. "$top/tests/lib/scratch.sh"
vxts_scratch crash
KILLS=${VXTS_CRASH_KILLS:-24}		# SIGKILLs per campaign
MIB=${VXTS_CRASH_MIB:-128}
img=$work/crash.img
hdr=$work/crash.hdr
head -c 64 /dev/urandom > "$work/key" && chmod 600 "$work/key"
HDR=(--header "$hdr")			# empty: header in the last 16 MiB of the image
KEY=("${HDR[@]}" --key-file "$work/key")


# A killed vxts keeps its flock until the kernel has torn its io_uring down
# (asynchronously, up to ~200 ms here). Waiting for that before the next run
# keeps the delay measured from a comparable start; the CLI itself would
# wait too (see cli_open()), but inside the random delay.
wait_unlocked() { # <files...>
	local f i
	for f in "$@"; do
		[ -e "$f" ] || continue
		for i in $(seq 150); do
			flock -n -x "$f" true && break
			sleep 0.02
		done
	done
}
now_ms() { date +%s%3N; }

percent() { # boundary of the conversion in progress, 0-100 (integer)
	"$VXTS" status "$img" "${HDR[@]}" --interval 0 --json 2> /dev/null |
		grep -o '"percent":[0-9.]*' | head -n 1 | cut -d: -f2 | cut -d. -f1
}

in_progress() { # a conversion is recorded in the header
	"$VXTS" status "$img" "${HDR[@]}" --interval 0 --json 2> /dev/null |
		grep -q '"in_progress":true'
}

# Per verb: SIGKILLs that landed, and the current delay scale (ms).
declare -A kills_by delay_by moved_by runs_by

# campaign <verb> <args...>: run the verb, SIGKILL it after a random delay,
# re-run, until a run completes (then it stops killing only because there is
# nothing left to kill). The delay scale adapts to this machine's speed and
# load: a kill that left the boundary where it was (too early: startup or
# the first window) widens it, a kill after a large step narrows it, so the
# kills spread over the whole conversion instead of bunching at either end.
declare -A FORCE=([encrypt]=--force)
campaign() {
	local verb=$1 d=${delay_by[$1]:-30} rc pid delay pct last st step n=0 mid=0
	last=$(percent); last=${last:-0}
	while :; do
		runs_by[$verb]=$((${runs_by[$verb]:-0} + 1))
		# per pass, not per case: the rounds of one case add up
		n=$((n + 1))
		if [ "$n" -gt $((KILLS * 10)) ]; then
			why="$verb: no completion after $n runs of one pass"; return 1
		fi
		wait_unlocked "$img" "$hdr"
		# random test data carries no plaintext signature: encrypt needs --force
		"$VXTS" "$verb" "$img" "${KEY[@]}" "${@:2}" ${FORCE[$verb]:-} < /dev/null \
			> "$work/run.out" 2> "$work/run.err" &
		pid=$!
		delay=$((d / 2 + RANDOM % (d + 1)))
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -KILL "$pid" 2> /dev/null
		wait "$pid" 2> /dev/null
		rc=$?
		case $rc in
		0) d=$((d * 3 / 4 + 1)); break ;;
		137) kills_by[$verb]=$((${kills_by[$verb]:-0} + 1)) ;;
		*) why="run ${runs_by[$verb]} of $verb exited $rc: $(head -c 300 "$work/run.err")"; return 1 ;;
		esac
		"$VXTS" status "$img" "${HDR[@]}" --interval 0 > "$work/st.out" 2>&1
		st=$?
		# killed before the first header was written: "no volume" (8) is right
		[ "$st" -eq 8 ] && [ "$verb" = encrypt ] && [ "$last" = 0 ] && st=0
		[ "$st" -eq 0 ] || { why="status after a kill of $verb exited $st: $(cat "$work/st.out")"; return 1; }
		pct=$(percent); pct=${pct:-0}
		[ "$pct" = "$last" ] || moved_by[$verb]=$((${moved_by[$verb]:-0} + 1))
		# reencrypt is not idempotent (run again on a finished volume it
		# starts another re-key): a run killed after its final commit has
		# completed this pass, or a loaded machine restarts passes forever.
		if [ "$verb" = reencrypt ]; then
			if in_progress; then
				mid=1
			elif [ "$mid" = 1 ]; then
				break
			fi
		fi
		# Aim at about KILLS kills per pass over the device: shorten the
		# delay when a run got further than that, lengthen it when it got
		# nowhere or crawled (a loaded machine: else the pass never ends).
		step=$((pct - last))
		if [ "$step" -gt $((100 / KILLS)) ]; then
			d=$((d * 2 / 3 + 1))
		elif [ "$step" -ge 0 ] && [ "$step" -le $((100 / KILLS / 2)) ]; then
			d=$((d + d / 4 + 3))
		fi
		[ -z "${VXTS_CRASH_DEBUG:-}" ] || echo "    $verb: delay $delay ms, d $d, at $last% -> $pct%"
		last=$pct
	done
	delay_by[$verb]=$d
}

# rounds <names...> -- runs the campaigns "verb args" in turn, as rounds,
# until every verb has taken KILLS kills; the plaintext must be back to the
# original after each round (the last campaign of a round is a decrypt).
rounds() {
	local round c v done_all
	for round in $(seq 12); do
		for c in "$@"; do
			# shellcheck disable=SC2086
			campaign $c || return 1
		done
		[ "$(data_sha)" = "$orig" ] ||
			{ why="round $round: plaintext differs from the original"; return 1; }
		done_all=1
		for c in "$@"; do
			v=${c%% *}
			[ "${kills_by[$v]:-0}" -ge "$KILLS" ] || done_all=0
		done
		[ "$done_all" = 1 ] && break
	done
	for c in "$@"; do
		v=${c%% *}
		echo "    $v: ${kills_by[$v]:-0} kills in ${runs_by[$v]:-0} runs over $round round(s), boundary moved ${moved_by[$v]:-0} times"
		[ "${kills_by[$v]:-0}" -ge "$KILLS" ] ||
			{ why="$v: only ${kills_by[$v]:-0} kills landed in $round rounds"; return 1; }
		[ "${moved_by[$v]:-0}" -ge $((KILLS / 4)) ] ||
			{ why="$v: kills bunched, the boundary moved only ${moved_by[$v]:-0} times"; return 1; }
	done
}

# signal_case <signal> <count>: SIGINT/SIGTERM stop cleanly with exit 7, even
# when sent twice; the next run resumes where the first stopped.
signal_case() {
	local sig=$1 n=$2 pid rc pct i
	"$VXTS" encrypt "$img" "${KEY[@]}" --force --resilience journal --window-size 1M \
		--rate-limit 16M < /dev/null > "$work/sig.out" 2> "$work/sig.err" &
	pid=$!
	# signal once the first windows are committed (percent > 0), not after a
	# guessed start-up time: 8 s of work at 16 MiB/s leave room for the rest
	for i in $(seq 300); do
		kill -0 "$pid" 2> /dev/null || break
		[ "$(percent)" -gt 0 ] 2> /dev/null && break
		sleep 0.1
	done
	for i in $(seq "$n"); do
		kill "-$sig" "$pid" 2> /dev/null
		sleep 0.05
	done
	wait "$pid"
	rc=$?
	[ "$rc" -eq 7 ] || { why="SIG$sig x$n: exit $rc, want 7 ($(head -c 200 "$work/sig.err"))"; return 1; }
	grep -q "re-run" "$work/sig.err" || { why="no resume hint: $(cat "$work/sig.err")"; return 1; }
	pct=$(percent)
	[ "${pct:-0}" -gt 0 ] && [ "${pct:-100}" -lt 100 ] ||
		{ why="stopped at ${pct}%: not mid-run"; return 1; }
	"$VXTS" encrypt "$img" "${KEY[@]}" --force < /dev/null > "$work/sig.out" 2> "$work/sig.err"
	rc=$?
	[ "$rc" -eq 0 ] || { why="resume after SIG$sig exited $rc"; return 1; }
	grep -q "resuming encrypt at" "$work/sig.err" || { why="re-run did not resume: $(cat "$work/sig.err")"; return 1; }
}

failed=0
report() { # <name> <rc>
	if [ "$2" -eq 0 ]; then
		vxts_report PASS "crash/$1"
	else
		vxts_report FAIL "crash/$1" "$why"
		failed=1
	fi
}

# SHA-256 of the data area: the whole image, or all but the 16 MiB header
# area at its end
data_sha() { head -c $((MIB << 20)) "$img" | sha256sum | cut -d' ' -f1; }

fresh() { # [at-end]: new random image, no header; sets $orig
	rm -f "$img" "$hdr"
	head -c $((MIB << 20)) /dev/urandom > "$img"
	orig=$(data_sha)
	if [ "${1:-}" = at-end ]; then
		truncate -s $(((MIB + 16) << 20)) "$img"
		HDR=()
	else
		HDR=(--header "$hdr")
	fi
	KEY=("${HDR[@]}" --key-file "$work/key")
}

t0=$SECONDS
reset_counts() { kills_by=(); runs_by=(); moved_by=(); }

# 1. checksum resilience: encrypt under kills, decrypt under kills
fresh; why=""; reset_counts
rounds "encrypt --resilience checksum --window-size 2M" "decrypt --window-size 2M"
report kill_encrypt_decrypt_checksum $?

# 2. journal resilience, a re-key under kills, then decrypt under kills
fresh; why=""; reset_counts
rounds "encrypt --resilience journal --window-size 1M" "reencrypt --window-size 1M" \
	"decrypt --window-size 1M"
report kill_encrypt_reencrypt_decrypt_journal $?

# 3. header at the end of the device: header commits share the data file
fresh at-end; why=""; reset_counts
rounds "encrypt --resilience checksum --window-size 2M" "decrypt --window-size 2M"
report kill_encrypt_decrypt_header_at_end $?

# 4. signals: clean stop (exit 7) and resume, then back to plaintext
for s in "INT 1" "TERM 2"; do
	fresh
	why=""
	# shellcheck disable=SC2086
	signal_case $s &&
		"$VXTS" decrypt "$img" "${KEY[@]}" < /dev/null > /dev/null 2>&1 &&
		{ [ "$(data_sha)" = "$orig" ] || { why="plaintext differs"; false; }; }
	report "sig${s% *}_x${s#* }_resume" $?
done
echo "    crash layer: $((SECONDS - t0)) s"
exit $failed
