#!/bin/sh
# Malformed table lines, table-driven: each must be refused (create fails,
# no device left behind) with a readable error in the kernel log, no oops.
# Each row: <expected log: vxts|any> | <table line, with K = a valid hex key,
# D = /dev/ram0, L = 65536>. "any": device-mapper core may refuse the line
# itself (device too small, start not aligned to the lower device's logical
# block size) before or after the target's constructor has its say.
. /vxts/guest-lib.sh
need_vxts

key_new key
K=$(key_hex key)
D=/dev/ram0
L=65536
cat > cases.txt <<'CASES'
vxts|0 L vxts aes-cbc-essiv:sha256 K 0 D 0
vxts|0 L vxts aes-xts-plain K 0 D 0
vxts|0 L vxts serpent-xts-plain64 K 0 D 0
vxts|0 L vxts aes-xts-plain64 K126 0 D 0
vxts|0 L vxts aes-xts-plain64 K130 0 D 0
vxts|0 L vxts aes-xts-plain64 K64 0 D 0
vxts|0 L vxts aes-xts-plain64 KNONHEX 0 D 0
vxts|0 L vxts aes-xts-plain64 K abc D 0
vxts|0 L vxts aes-xts-plain64 K 12x D 0
vxts|0 L vxts aes-xts-plain64 K -1 D 0
vxts|0 L vxts aes-xts-plain64 K 99999999999999999999999 D 0
vxts|0 L vxts aes-xts-plain64 K 0 D 0x
vxts|0 L vxts aes-xts-plain64 K 0 D -8
any|0 L vxts aes-xts-plain64 K 0 D 18446744073709551615
vxts|0 L vxts aes-xts-plain64 K 0 D 0 7
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 bogus_option
vxts|0 L vxts aes-xts-plain64 K 0 D 0 2 allow_discards allow_discards
vxts|0 L vxts aes-xts-plain64 K 0 D 0 2 sector_size:4096 sector_size:512
vxts|0 L vxts aes-xts-plain64 K 0 D 0 2 allow_discards
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 allow_discards sector_size:4096
vxts|0 L vxts aes-xts-plain64 K 0 D 0 -1 allow_discards
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 sector_size:1024
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 sector_size:0
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 sector_size:abc
vxts|0 L vxts aes-xts-plain64 K 0 D 0 1 sector_size:4096x
any|0 L vxts aes-xts-plain64 K 0 D 1 1 sector_size:4096
vxts|0 L vxts aes-xts-plain64 K 5 D 0 1 sector_size:4096
vxts|0 65535 vxts aes-xts-plain64 K 0 D 0 1 sector_size:4096
vxts|0 L vxts aes-xts-plain64 K 0 /dev/nonexistent 0
vxts|0 L vxts aes-xts-plain64 :64:logon: 0 D 0
vxts|0 L vxts aes-xts-plain64 :64:logon 0 D 0
vxts|0 L vxts aes-xts-plain64 :abc:logon:vxts:x 0 D 0
vxts|0 L vxts aes-xts-plain64 :0:logon:vxts:x 0 D 0
vxts|0 L vxts aes-xts-plain64 K 0 D
vxts|0 L vxts aes-xts-plain64
vxts|0 L vxts
any|0 L vxts aes-xts-plain64 K 0 D 200000
CASES

line_of() { # <template>: the table line with K/D/L substituted
	local k126 k130 k64 knon
	k126=$(echo "$K" | cut -c1-126)
	k130=${K}ab
	k64=$(echo "$K" | cut -c1-64)
	knon=$(echo "$K" | cut -c1-127)g
	echo "$1" | sed -e "s/ K126 / $k126 /" -e "s/ K130 / $k130 /" -e "s/ K64 / $k64 /" \
		-e "s/ KNONHEX / $knon /" -e "s/ K / $K /" -e "s/ K\$/ $K/" \
		-e "s| D | $D |" -e "s| D\$| $D|" -e "s/^0 L /0 $L /" -e "s/ vxts / $VX /" -e "s/ vxts\$/ $VX/"
}

n=0
bad=0
while IFS='|' read -r want tmpl; do
	n=$((n + 1))
	line_of "$tmpl" > t.tbl
	klog_mark "case$n"
	if ! dm_up_refused bad t.tbl; then
		echo "case $n ACCEPTED: $tmpl"
		bad=$((bad + 1))
		continue
	fi
	msg=$(klog_since "case$n" | grep 'device-mapper: table:' | head -n 1 | sed 's/^\[[^]]*\] //')
	echo "case $n refused: $tmpl"
	echo "    $msg"
	case "$want" in
	vxts) echo "$msg" | grep -q -E "$VX: [A-Za-z]" || { echo "    ^ no $VX error message"; bad=$((bad + 1)); } ;;
	*) [ -n "$msg" ] || { echo "    ^ no error message"; bad=$((bad + 1)); } ;;
	esac
done < cases.txt
echo "$n malformed lines, $bad not handled as expected"
dmesg | grep -q "$K" && fail "the kernel log contains the key of a refused table"
[ "$n" -ge 20 ] || fail "only $n cases ran"
[ "$bad" -eq 0 ] || fail "$bad of $n malformed lines were accepted or gave no message"
exit 0
