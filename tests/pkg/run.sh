#!/usr/bin/env bash
# Packaging layer: what an operator installs.
#
#   - dkms_source_tree: `make dkms-src` stages exactly the files the module
#     needs, with dkms.conf's version filled in from VERSION;
#   - dkms_build_6.12, dkms_build_6.1: a real `dkms build` of that tree
#     against each Debian kernel's headers, in a private dkms tree (the host's
#     /var/lib/dkms and /usr/src are not touched; the signing key dkms makes
#     goes to the scratch directory too); the module's vermagic must name the
#     kernel;
#   - install_destdir: `make install DESTDIR=...` puts exactly the expected
#     files there, the installed vxts runs, an existing /etc/vxtstab is left
#     alone, `make uninstall` leaves no file;
#   - install_dkms: `make install` with DESTDIR empty (the dkms add, build
#     and install path) into private trees, then `make uninstall` (dkms
#     remove);
#   - install_no_headers: no headers for KVER is a clear error naming the
#     package to install; DKMS=0 installs without running dkms;
#   - install_dpkg_guard: with DESTDIR empty, `make install` and `make
#     uninstall` refuse files dpkg owns (a stub dpkg-query says it does),
#     FORCE=1 overrides, a DESTDIR install is not asked about;
#   - deb_build: `make deb` (dpkg-buildpackage in a copy of the tree) and the
#     packages' contents, versions and dependencies;
#   - man_render_*: every man page renders without a groff/man warning;
#   - man_verbs, man_options, man_exit_codes: every verb, option and exit
#     code the binary knows has an entry in vxts.8, and the page lists no
#     option or exit code the binary does not have;
#   - units_verify: `systemd-analyze verify` of the installed units and the
#     generator's presence (only when systemd/ has units).
# Each case is t_<name> returning 0 pass / 1 fail / 77 skip, $why on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/results.sh"
. "$top/tests/lib/scratch.sh"
vxts_scratch pkg
# dkms builds and package contents need a disk-backed scratch directory
# larger than a loaded /dev/shm may be; keep $work for small files only.
disk=$(mktemp -d "${TMPDIR:-/tmp}/vxts-pkg.XXXXXX")
trap 'rm -rf "$work" "$disk"' EXIT

cd "$top"
VERSION=$(cat VERSION)
KVER=${KVER:-$(ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)}
KVER_61=${KVER_61:-$(ls /lib/modules 2>/dev/null | grep '^6\.1\.' | sort -V | tail -n 1)}
# make's own messages must not depend on the caller's locale or jobs
export LC_ALL=C.UTF-8
unset MAKEFLAGS MFLAGS DESTDIR

# dkms signs modules with a MOK key it creates if missing: keep it private.
export mok_signing_key=$disk/mok.key mok_certificate=$disk/mok.pub

# ---- helpers -------------------------------------------------------------

# The files the DKMS source tree must hold, relative to vxts-<ver>/.
dkms_expected() {
	{
		echo dkms.conf
		echo Kbuild
		echo kmod/Kbuild
		ls kmod/*.c kmod/*.h | grep -v '\.mod\.c$'
	} | sort
}

# ko_check <ko file> <kernel>: the module is dm-vxts and built for <kernel>.
ko_check() {
	local ko=$1 kv=$2 magic name
	if [ ! -f "$ko" ]; then
		why="no module at $ko"
		return 1
	fi
	magic=$(modinfo -F vermagic "$ko" 2>&1)
	name=$(modinfo -F name "$ko" 2>&1)
	if [ "${magic%% *}" != "$kv" ]; then
		why="vermagic '$magic' does not name $kv"
		return 1
	fi
	if [ "$name" != dm_vxts ]; then
		why="module name '$name', want dm_vxts"
		return 1
	fi
}

# dkms_build <kernel>: dkms add + build of the staged tree in a private tree.
dkms_build() {
	local kv=$1 d=$disk/dkms-$1 ko log
	if [ -z "$kv" ] || [ ! -d "/lib/modules/$kv/build" ]; then
		why="no headers for '$kv' under /lib/modules (run make setup)"
		return 1
	fi
	stage || return 1
	mkdir -p "$d/src" "$d/tree"
	cp -r "$top/build/dkms-src/vxts-$VERSION" "$d/src/"
	log=$d/log
	if ! dkms build --dkmstree "$d/tree" --sourcetree "$d/src" \
		"vxts/$VERSION" -k "$kv" > "$log" 2>&1; then
		why="dkms build for $kv failed: $(grep -iE 'error|bad|fail' "$log" | head -n 3 | tr '\n' ' ')"
		cp "$log" "$top/build/pkg-dkms-$kv.log" 2>/dev/null
		return 1
	fi
	ko=$(ls "$d/tree/vxts/$VERSION/$kv"/*/module/dm-vxts.ko* 2>/dev/null | head -n 1)
	ko_check "${ko:-$d/tree/vxts/$VERSION/$kv/x86_64/module/dm-vxts.ko}" "$kv"
}

# The files `make install` must put under DESTDIR, from the tree as it is.
install_expected() {
	local f
	{
		echo usr/sbin/vxts
		for f in man/*.8; do [ -e "$f" ] && echo "usr/share/man/man8/${f#man/}"; done
		for f in man/*.5; do [ -e "$f" ] && echo "usr/share/man/man5/${f#man/}"; done
		for f in systemd/*.service systemd/*.target systemd/*.mount systemd/*.timer; do
			[ -e "$f" ] && echo "$unitdir/${f#systemd/}"
		done
		[ -e systemd/vxts-generator ] && echo "$gendir/vxts-generator"
		for f in README.md docs/*.md; do echo "usr/share/doc/vxts/${f##*/}"; done
		[ -e systemd/vxtstab.example ] && echo usr/share/doc/vxts/examples/vxtstab.example
		for f in examples/kms/*; do echo "usr/share/doc/vxts/examples/kms/${f##*/}"; done
		dkms_expected | sed "s|^|usr/src/vxts-$VERSION/|"
	} | sort
}
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
unitdir=${unitdir:-/lib/systemd/system}
unitdir=${unitdir#/}
gendir=$(pkg-config --variable=systemdsystemgeneratordir systemd 2>/dev/null)
gendir=${gendir:-/lib/systemd/system-generators}
gendir=${gendir#/}

# mk <log> ARGS...: make in the tree, quietly; output kept in <log>.
mk() {
	local log=$1
	shift
	make --no-print-directory -C "$top" "$@" > "$log" 2>&1
}

# The rendered man page, wide enough that no tag or option wraps.
man_text() { # <page>
	MANWIDTH=200 man -l "$1" 2> /dev/null | col -b
}
# man_section <text file> <HEADING>: the lines of one section.
man_section() {
	awk -v h="$2" '/^[A-Z]/ { on = ($0 == h); next } on' "$1"
}

# ---- cases ---------------------------------------------------------------

# stage: `make dkms-src` once per run (never a tree a previous run left).
staged=""
stage() {
	[ -n "$staged" ] && return 0
	if ! mk "$work/dkms-src.log" dkms-src; then
		why="make dkms-src failed: $(tail -n 3 "$work/dkms-src.log" | tr '\n' ' ')"
		return 1
	fi
	staged=1
}

t_dkms_source_tree() {
	local st=$top/build/dkms-src/vxts-$VERSION got want
	stage || return 1
	got=$(cd "$st" && find . -type f | sed 's|^\./||' | sort)
	want=$(dkms_expected)
	if [ "$got" != "$want" ]; then
		why="source tree differs: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
		return 1
	fi
	if ! grep -qx "PACKAGE_VERSION=\"$VERSION\"" "$st/dkms.conf"; then
		why="staged dkms.conf lacks PACKAGE_VERSION=\"$VERSION\""
		return 1
	fi
	if ! grep -qx 'AUTOINSTALL="yes"' "$st/dkms.conf"; then
		why="dkms.conf lacks AUTOINSTALL=\"yes\" (no rebuild on kernel upgrades)"
		return 1
	fi
}

t_dkms_build_6.12() { dkms_build "$KVER"; }
t_dkms_build_6.1() { dkms_build "$KVER_61"; }

t_install_destdir() {
	local d=$disk/destdir got want
	mkdir -p "$d/etc"
	printf '# the operator'"'"'s table\ndata UUID=1234 /root/h key-file=/root/k\n' > "$d/etc/vxtstab"
	cp "$d/etc/vxtstab" "$work/vxtstab.orig"
	if ! mk "$work/install.log" install DESTDIR="$d" PREFIX=/usr; then
		why="make install failed: $(tail -n 3 "$work/install.log" | tr '\n' ' ')"
		return 1
	fi
	got=$(cd "$d" && find . -type f ! -path ./etc/vxtstab | sed 's|^\./||' | sort)
	want=$(install_expected)
	if [ "$got" != "$want" ]; then
		why="installed files differ (< missing, > extra): $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 6 | tr '\n' ' ')"
		return 1
	fi
	if ! cmp -s "$d/etc/vxtstab" "$work/vxtstab.orig"; then
		why="make install changed an existing /etc/vxtstab"
		return 1
	fi
	if [ ! -x "$d/usr/sbin/vxts" ] || ! "$d/usr/sbin/vxts" --help < /dev/null 2>&1 | grep -q '^usage: vxts'; then
		why="installed vxts does not run --help"
		return 1
	fi
	if [ "$("$d/usr/sbin/vxts" --version 2>&1)" != "vxts $VERSION" ]; then
		why="installed vxts --version says '$("$d/usr/sbin/vxts" --version 2>&1)', want 'vxts $VERSION'"
		return 1
	fi
	if [ -e systemd/vxts-generator ] && [ ! -x "$d/$gendir/vxts-generator" ]; then
		why="generator not installed executable"
		return 1
	fi
	if ! mk "$work/uninstall.log" uninstall DESTDIR="$d" PREFIX=/usr; then
		why="make uninstall failed: $(tail -n 3 "$work/uninstall.log" | tr '\n' ' ')"
		return 1
	fi
	got=$(cd "$d" && find . -type f ! -path ./etc/vxtstab | sed 's|^\./||')
	if [ -n "$got" ]; then
		why="make uninstall left: $(echo "$got" | head -n 5 | tr '\n' ' ')"
		return 1
	fi
	if [ -e "$d/usr/share/doc/vxts" ] || [ -e "$d/usr/src/vxts-$VERSION" ]; then
		why="make uninstall left the doc or DKMS source directory"
		return 1
	fi
	if ! cmp -s "$d/etc/vxtstab" "$work/vxtstab.orig"; then
		why="make uninstall changed /etc/vxtstab"
		return 1
	fi
}

# DESTDIR empty: the dkms add/build/install path of `make install`, pointed
# at private trees through the variables the Makefile documents.
t_install_dkms() {
	local d=$disk/inst ko flags
	[ -n "$KVER" ] && [ -d "/lib/modules/$KVER/build" ] || { why="no 6.12 headers"; return 1; }
	mkdir -p "$d/src" "$d/tree" "$d/modules/$KVER"
	flags="--dkmstree $d/tree --sourcetree $d/src --installtree $d/modules --no-depmod"
	set -- PREFIX="$d/usr" DKMS_SRCDIR="$d/src" DKMS_FLAGS="$flags" \
		SYSTEMD_UNITDIR="$d/units" SYSTEMD_GENDIR="$d/generators" KVER="$KVER"
	if ! mk "$work/install-dkms.log" install "$@"; then
		why="make install (dkms path) failed: $(grep -iE 'error|no ' "$work/install-dkms.log" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	ko=$(ls "$d/modules/$KVER/updates/dkms"/dm-vxts.ko* 2>/dev/null | head -n 1)
	ko_check "${ko:-$d/modules/$KVER/updates/dkms/dm-vxts.ko}" "$KVER" || return 1
	if ! dkms status --dkmstree "$d/tree" -m vxts -v "$VERSION" 2> /dev/null | grep -q "$KVER.*installed"; then
		why="dkms status does not show vxts/$VERSION installed for $KVER"
		return 1
	fi
	# a second install (an upgrade in place) must work too
	if ! mk "$work/install-dkms2.log" install "$@"; then
		why="second make install failed: $(grep -iE 'error' "$work/install-dkms2.log" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	if ! mk "$work/uninstall-dkms.log" uninstall "$@"; then
		why="make uninstall (dkms path) failed: $(tail -n 3 "$work/uninstall-dkms.log" | tr '\n' ' ')"
		return 1
	fi
	if ls "$d/modules/$KVER/updates/dkms"/dm-vxts.ko* > /dev/null 2>&1; then
		why="make uninstall left the installed module"
		return 1
	fi
	if [ -e "$d/tree/vxts" ] && dkms status --dkmstree "$d/tree" -m vxts 2> /dev/null | grep -q .; then
		why="make uninstall left vxts in the dkms tree"
		return 1
	fi
	if [ -n "$(find "$d/usr" "$d/src" "$d/units" "$d/generators" -type f 2>/dev/null)" ]; then
		why="make uninstall left files under the private prefix"
		return 1
	fi
}

# make install with DESTDIR empty and no headers for KVER: a clear error
# naming the package; DKMS=0 installs without any dkms command.
t_install_no_headers() {
	local d=$disk/nohdr kv=0.0.0-vxts-none
	mkdir -p "$d/tree" "$d/src"
	set -- PREFIX="$d/usr" DKMS_SRCDIR="$d/src" SYSTEMD_UNITDIR="$d/units" \
		SYSTEMD_GENDIR="$d/generators" DKMS_FLAGS="--dkmstree $d/tree --sourcetree $d/src"
	if mk "$work/nohdr.log" install "$@" KVER=$kv; then
		why="make install for a kernel without headers succeeded"
		return 1
	fi
	if ! grep -q "no kernel headers for $kv.*apt-get install linux-headers-$kv.*DKMS=0" "$work/nohdr.log"; then
		why="no clear error: $(grep -v '^install -D\|^sed\|^mkdir\|^rm\|^cp' "$work/nohdr.log" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
	if ! mk "$work/dkms0.log" install "$@" KVER=$kv DKMS=0; then
		why="make install DKMS=0 failed: $(tail -n 2 "$work/dkms0.log" | tr '\n' ' ')"
		return 1
	fi
	if grep -q '^dkms ' "$work/dkms0.log" || [ -n "$(ls -A "$d/tree")" ]; then
		why="make install DKMS=0 ran dkms"
		return 1
	fi
	[ -f "$d/src/vxts-$VERSION/dkms.conf" ] || { why="DKMS=0 did not install the module source"; return 1; }
	mk "$work/nohdr-un.log" uninstall "$@" DKMS=0 || { why="make uninstall DKMS=0 failed"; return 1; }
}

t_deb_build() {
	local out=$top/build/deb deb dkmsdeb c info v x=$disk/debx
	if ! mk "$work/deb.log" deb; then
		cp "$work/deb.log" "$top/build/pkg-deb.log"
		why="make deb failed (build/pkg-deb.log): $(grep -iE 'error|missing' "$work/deb.log" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	v=$(dpkg-parsechangelog -l debian/changelog -S Version)
	if [ "$v" != "$VERSION" ]; then
		why="debian/changelog says $v, VERSION says $VERSION"
		return 1
	fi
	deb=$out/vxts_${VERSION}_$(dpkg --print-architecture).deb
	dkmsdeb=$out/vxts-dkms_${VERSION}_all.deb
	[ -f "$deb" ] && [ -f "$dkmsdeb" ] || { why="no $deb or $dkmsdeb"; return 1; }
	# vxts: the CLI, its man page, docs; no module source
	c=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
	for f in ./usr/sbin/vxts ./usr/share/doc/vxts/copyright man/*.[58]; do
		case $f in man/*.[58]) f=./usr/share/man/man${f##*.}/${f#man/}.gz ;; esac
		grep -qx "$f" <<< "$c" || { why="vxts.deb lacks $f"; return 1; }
	done
	for f in systemd/*.service systemd/*.target; do
		[ -e "$f" ] || continue
		grep -qx "./$unitdir/${f#systemd/}" <<< "$c" || { why="vxts.deb lacks unit ${f#systemd/}"; return 1; }
	done
	if [ -e systemd/vxts-generator ] && ! grep -qx "./$gendir/vxts-generator" <<< "$c"; then
		why="vxts.deb lacks the generator"
		return 1
	fi
	if grep -q '^\./usr/src' <<< "$c"; then
		why="vxts.deb carries module source (belongs in vxts-dkms)"
		return 1
	fi
	# vxts-dkms: exactly the DKMS source tree, version filled in
	c=$(dpkg-deb -c "$dkmsdeb" | awk '{ print $6 }' | sed -n "s|^\./usr/src/vxts-$VERSION/||p" | grep -v '/$' | grep . | sort)
	if [ "$c" != "$(dkms_expected)" ]; then
		why="vxts-dkms source tree differs: $(diff <(dkms_expected) <(echo "$c") | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
		return 1
	fi
	mkdir -p "$x" && dpkg-deb -x "$dkmsdeb" "$x"
	if ! grep -qx "PACKAGE_VERSION=\"$VERSION\"" "$x/usr/src/vxts-$VERSION/dkms.conf"; then
		why="vxts-dkms's dkms.conf has no PACKAGE_VERSION=\"$VERSION\""
		return 1
	fi
	info=$(dpkg-deb -f "$dkmsdeb" Depends)
	grep -qE '(^|, )dkms( |,|$)' <<< "$info" || { why="vxts-dkms Depends lacks dkms: $info"; return 1; }
	dpkg-deb --ctrl-tarfile "$dkmsdeb" | tar t | grep -qx './postinst' ||
		{ why="vxts-dkms has no postinst (dh_dkms did not run)"; return 1; }
	info=$(dpkg-deb -f "$deb" Depends)
	grep -q 'libc6' <<< "$info" || { why="vxts Depends lacks shared-library dependencies: $info"; return 1; }
	if grep -qE '(^|, )dkms' <<< "$info"; then
		why="vxts (the CLI) depends on dkms: $info"
		return 1
	fi
	[ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ] || { why="vxts.deb version is not $VERSION"; return 1; }
	dpkg-deb -x "$deb" "$x/cli"
	if [ "$("$x/cli/usr/sbin/vxts" --version 2>&1)" != "vxts $VERSION" ]; then
		why="packaged vxts --version is not 'vxts $VERSION'"
		return 1
	fi
	# installing or upgrading the CLI package must not start units (open volumes)
	mkdir -p "$x/ctl" && dpkg-deb -e "$deb" "$x/ctl"
	if cat "$x/ctl/postinst" "$x/ctl/preinst" 2> /dev/null | grep -qE 'deb-systemd-invoke|systemctl.*(start|restart)'; then
		why="vxts.deb's maintainer scripts start units on install"
		return 1
	fi
	if [ -e debian/files ] || [ -e debian/.debhelper ] || [ -e debian/vxts ]; then
		why="the deb build wrote into the working tree's debian/"
		return 1
	fi
}

man_render() { # <page>
	local err
	err=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 > /dev/null)
	if [ -n "$err" ]; then
		why="$1: $(head -n 3 <<< "$err" | tr '\n' ' ')"
		return 1
	fi
}

# The verbs of `vxts help`: the lowercase words that start each verb line.
help_verbs() {
	"$VXTS" help | awk '/^verbs:/ { on = 1; next } /^$/ { on = 0 } on' |
		awk '{ v = ""; for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++) v = v (v ? " " : "") $i; print v }'
}

t_man_verbs() {
	local verbs missing="" v
	man_text man/vxts.8 > "$work/man.txt"
	man_section "$work/man.txt" COMMANDS > "$work/man-commands.txt"
	verbs=$(help_verbs)
	[ "$(wc -l <<< "$verbs")" -ge 10 ] || { why="could not read the verbs of vxts help"; return 1; }
	while read -r v; do
		grep -qE "^ {7}$v( |\$)" "$work/man-commands.txt" || missing="$missing '$v'"
	done <<< "$verbs"
	if [ -n "$missing" ]; then
		why="vxts.8 COMMANDS has no entry for:$missing"
		return 1
	fi
	if ! grep -q "^\.TH VXTS 8 .*\"vxts $VERSION\"" man/vxts.8; then
		why="vxts.8's .TH line does not name vxts $VERSION (the VERSION file)"
		return 1
	fi
}

t_man_options() {
	local v opts missing="" o
	man_text man/vxts.8 > "$work/man.txt"
	man_section "$work/man.txt" OPTIONS > "$work/man-options.txt"
	opts=$(help_verbs | while read -r v; do
		# shellcheck disable=SC2086
		"$VXTS" $v --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'
	done | sort -u)
	[ "$(wc -l <<< "$opts")" -ge 10 ] || { why="could not read the options of vxts VERB --help"; return 1; }
	while read -r o; do
		grep -qE "^ {7}$o( |\$)" "$work/man-options.txt" || missing="$missing $o"
	done <<< "$opts"
	if [ -n "$missing" ]; then
		why="vxts.8 OPTIONS has no entry for:$missing"
		return 1
	fi
	# the other way: every option the page documents is one some verb takes
	local stale="" documented
	documented=$(sed -nE 's/^ {7}(--[a-z0-9-]+).*/\1/p' "$work/man-options.txt" | sort -u)
	[ "$(wc -l <<< "$documented")" -ge 10 ] || { why="could not read the options of vxts.8"; return 1; }
	while read -r o; do
		grep -qxF -- "$o" <<< "$opts" || stale="$stale $o"
	done <<< "$documented"
	if [ -n "$stale" ]; then
		why="vxts.8 OPTIONS documents what no \`vxts VERB --help\` lists:$stale"
		return 1
	fi
}

t_man_exit_codes() {
	local want got
	man_text man/vxts.8 > "$work/man.txt"
	want=$("$VXTS" help | awk '/^exit codes:/ { on = 1; next } on && /^ *[0-9]+ / { print $1 }' | sort -n)
	got=$(man_section "$work/man.txt" 'EXIT STATUS' | sed -nE 's/^ {7}([0-9]+)( .*)?$/\1/p' | sort -n)
	[ "$(wc -l <<< "$want")" -ge 10 ] || { why="could not read the exit codes of vxts help"; return 1; }
	if [ "$want" != "$got" ]; then
		why="EXIT STATUS codes differ from vxts help (< help only, > page only): $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
		return 1
	fi
}

t_units_verify() {
	local d=$disk/units-root units u err
	units=$(ls systemd/*.service systemd/*.target 2>/dev/null)
	[ -n "$units" ] || { why="systemd/ has no units yet"; return 77; }
	if ! mk "$work/units-install.log" install DESTDIR="$d" PREFIX=/usr; then
		why="make install failed: $(tail -n 3 "$work/units-install.log" | tr '\n' ' ')"
		return 1
	fi
	# --root: ExecStart= paths resolve inside the DESTDIR (the installed vxts)
	err=$(cd "$d/$unitdir" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
		--root="$d" --man=no $(for u in $units; do echo "${u#systemd/}"; done) 2>&1)
	# Only lines naming our units count; the host's own units may warn.
	err=$(grep -E 'vxts' <<< "$err")
	if [ -n "$err" ]; then
		why="systemd-analyze verify: $(head -n 3 <<< "$err" | tr '\n' ' ')"
		return 1
	fi
}

# ---- run -----------------------------------------------------------------

run() { # <name>
	local rc start=$SECONDS
	why=""
	"t_$1"
	rc=$?
	echo "  ($1: $((SECONDS - start)) s)"
	vxts_report_rc "$rc" "pkg/$1" "$why"
}

# The .deb owns /usr/sbin/vxts and /usr/src/vxts-VERSION: with DESTDIR empty
# install and uninstall must not touch them. A stub dpkg-query claims every
# path, so the check runs on any host; the private prefix keeps FORCE=1 (and
# a wrong refusal) away from the host's files.
t_install_dpkg_guard() {
	local d=$disk/guard stub=$disk/guard-bin
	mkdir -p "$d" "$stub"
	printf '#!/bin/sh\n[ "$1" = -S ] && shift && for p; do echo "vxts: $p"; done\n' \
		> "$stub/dpkg-query"
	chmod 755 "$stub/dpkg-query"
	set -- PREFIX="$d/usr" DKMS_SRCDIR="$d/src" SYSTEMD_UNITDIR="$d/units" \
		SYSTEMD_GENDIR="$d/generators" DKMS=0
	if PATH="$stub:$PATH" mk "$work/guard.log" install "$@"; then
		why="make install went over dpkg-owned files"
		return 1
	fi
	grep -q "Debian package owns" "$work/guard.log" && grep -q "FORCE=1" "$work/guard.log" ||
		{ why="install refusal: $(tail -n 2 "$work/guard.log" | tr '\n' ' ')"; return 1; }
	[ ! -e "$d/usr/sbin/vxts" ] || { why="the refused install wrote $d/usr/sbin/vxts"; return 1; }
	PATH="$stub:$PATH" mk "$work/guard.log" install "$@" FORCE=1 ||
		{ why="make install FORCE=1 failed: $(tail -n 2 "$work/guard.log" | tr '\n' ' ')"; return 1; }
	if PATH="$stub:$PATH" mk "$work/guard.log" uninstall "$@"; then
		why="make uninstall removed dpkg-owned files"
		return 1
	fi
	[ -x "$d/usr/sbin/vxts" ] || { why="the refused uninstall removed $d/usr/sbin/vxts"; return 1; }
	PATH="$stub:$PATH" mk "$work/guard.log" uninstall "$@" FORCE=1 ||
		{ why="make uninstall FORCE=1 failed"; return 1; }
	[ ! -e "$d/usr/sbin/vxts" ] || { why="uninstall FORCE=1 left $d/usr/sbin/vxts"; return 1; }
	# a staging install (DESTDIR set) is never refused
	PATH="$stub:$PATH" mk "$work/guard.log" install DESTDIR="$d/stage" PREFIX=/usr DKMS=0 ||
		{ why="make install DESTDIR= was refused: $(tail -n 2 "$work/guard.log" | tr '\n' ' ')"; return 1; }
}

cases=(dkms_source_tree dkms_build_6.12 dkms_build_6.1 install_destdir install_dkms
	install_no_headers install_dpkg_guard deb_build man_verbs man_options man_exit_codes units_verify)
for p in man/*.8 man/*.5; do
	[ -e "$p" ] || continue
	n=man_render_${p#man/}
	eval "t_$n() { man_render '$p'; }"
	cases+=("$n")
done
only=${VXTS_PKG_ONLY:-}
for c in "${cases[@]}"; do
	if [ -n "$only" ] && ! grep -qw -- "$c" <<< "$only"; then
		continue
	fi
	run "$c"
done
exit 0
