# Shared reporting for every test layer (sourced by bash runners).
#
# A layer reports each test as one line on stdout and appends the same line to
# $VXTS_RESULTS (when set), so `tests/run.sh` can total all layers:
#     PASS <layer>/<name>
#     FAIL <layer>/<name>: <reason>
#     SKIP <layer>/<name>: <reason>
# Exit codes of single tests follow the usual convention: 0 pass, 1 fail, 77 skip.

vxts_report() { # <PASS|FAIL|SKIP> <layer/name> [reason]
	local verdict=$1 name=$2 reason=${3:-}
	local line="$verdict $name${reason:+: $reason}"
	echo "$line"
	if [ -n "${VXTS_RESULTS:-}" ]; then
		echo "$line" >> "$VXTS_RESULTS"
	fi
}

vxts_report_rc() { # <rc> <layer/name> [reason on failure]
	case "$1" in
	0) vxts_report PASS "$2" ;;
	77) vxts_report SKIP "$2" "${3:-skipped}" ;;
	*) vxts_report FAIL "$2" "${3:-exit code $1}" ;;
	esac
}

vxts_summary() { # <results file>: prints the closing line; returns 1 on any failure
	local f=$1 p f_ s
	p=$(grep -c '^PASS ' "$f" 2>/dev/null) || true
	f_=$(grep -c '^FAIL ' "$f" 2>/dev/null) || true
	s=$(grep -c '^SKIP ' "$f" 2>/dev/null) || true
	echo "${p:-0} passed, ${f_:-0} failed, ${s:-0} skipped"
	[ "${f_:-0}" -eq 0 ] && [ "${p:-0}" -gt 0 ]
}
