# Shared setup of the native layers that run the vxts binary (sourced by bash
# runners after tests/lib/results.sh, with $top set to the repository).

# vxts_scratch <layer>: sets $work, a private scratch directory (tmpfs when
# /dev/shm exists) removed on exit, and $VXTS, a private copy of build/vxts:
# a concurrent `make` relinking build/vxts mid-run must not turn into failed
# cases (on a noexec tmpfs the original is used). Exits with a FAIL report
# when the binary is not built.
vxts_scratch() {
	VXTS=${VXTS:-$top/build/vxts}
	if [ ! -x "$VXTS" ]; then
		vxts_report FAIL "$1/build" "no $VXTS: run make"
		exit 1
	fi
	work=$(mktemp -d "${VXTS_TEST_TMP:-/dev/shm}/vxts-$1.XXXXXX" 2>/dev/null || mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cp "$VXTS" "$work/vxts" && "$work/vxts" help > /dev/null 2>&1 && VXTS=$work/vxts
}
