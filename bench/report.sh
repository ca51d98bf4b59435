#!/usr/bin/env bash
# Turn benchmark JSON into a Markdown summary and PNG charts.
#
#   bench/report.sh --vm build/bench/vm-X.json               text summary on stdout
#   bench/report.sh --vm V.json --inplace I.json --out DIR   DIR/summary.md + DIR/*.png
#
# --vm takes the JSON of bench/vm.sh, --inplace that of bench/inplace.sh;
# either may be left out. Charts need gnuplot (gnuplot-nox); without it the
# summary says so and has no images. Only reads the JSON: every ratio shown is
# the one computed in the run itself.
set -euo pipefail

vm= inplace= dir=
while [ $# -gt 0 ]; do
	case $1 in
	--vm) vm=$2; shift 2 ;;
	--inplace) inplace=$2; shift 2 ;;
	--out) dir=$2; shift 2 ;;
	*) echo "usage: $0 [--vm F] [--inplace F] [--out DIR]" >&2; exit 2 ;;
	esac
done
[ -n "$vm$inplace" ] || { echo "report.sh: nothing to report (--vm or --inplace)" >&2; exit 2; }

# Median MB/s per workload and target, with ratios; one Markdown table.
vm_tables() { # <json>
	jq -r '
	def f(x): if x == null then "–" elif x >= 100 then (x | round | tostring)
		elif x >= 10 then ((x * 10 | round) / 10 | tostring) else ((x * 100 | round) / 100 | tostring) end;
	def r(x): if x == null then "–" else (x | tostring) + "×" end;
	. as $d | $d.params.targets as $tl
	| def med($w; $t; $k): ($d.summary[] | select(.workload == $w and .target == $t) | .[$k]) // null;
	  def rat($w; $p; $k): ($d.ratios[] | select(.workload == $w and .peer == $p) | .[$k]) // null;
	  def peers: ["crypt", "crypt-tuned", "crypt-best", "linear"] | map(select(. as $p | $d.ratios | any(.peer == $p)));
	"### Throughput (MB/s, median of \($d.params.repeat); min in brackets)\n",
	"| workload | " + ($tl | join(" | ")) + " | " + (peers | map("vxts ÷ " + .) | join(" | ")) + " |",
	"|---|" + ($tl | map("---:") | join("|")) + "|" + (peers | map("---:") | join("|")) + "|",
	($d.params.workloads[] as $w
	 | "| \($w) | " + ($tl | map(. as $t | med($w; $t; "mb_s") as $m
		| if $m == null then "–" else "\(f($m.median)) (\(f($m.min)))" end) | join(" | "))
	 + " | " + (peers | map(r(rat($w; .; "mb_s")))| join(" | ")) + " |"),
	"",
	"### 4 KiB IOPS (median)\n",
	"| workload | " + ($tl | join(" | ")) + " |",
	"|---|" + ($tl | map("---:") | join("|")) + "|",
	($d.params.workloads[] | select(test("rand|lat")) as $w
	 | "| \($w) | " + ($tl | map(. as $t | f(med($w; $t; "iops").median)) | join(" | ")) + " |"),
	"",
	"### Completion latency (µs, median over repeats: p50 / p99)\n",
	"| workload | " + ($tl | join(" | ")) + " | p99 vxts ÷ " + (peers | join(" | p99 vxts ÷ ")) + " |",
	"|---|" + ($tl | map("---:") | join("|")) + "|" + (peers | map("---:") | join("|")) + "|",
	($d.params.workloads[] | select(test("lat")) as $w
	 | "| \($w) | " + ($tl | map(. as $t | "\(f(med($w; $t; "p50_us").median)) / \(f(med($w; $t; "p99_us").median))") | join(" | "))
	 + " | " + (peers | map(r(rat($w; .; "p99_us"))) | join(" | ")) + " |"),
	"",
	"### Guest CPU seconds per GiB moved (median; lower is better)\n",
	"| workload | " + ($tl | join(" | ")) + " | " + (peers | map("vxts ÷ " + .) | join(" | ")) + " |",
	"|---|" + ($tl | map("---:") | join("|")) + "|" + (peers | map("---:") | join("|")) + "|",
	($d.params.workloads[] as $w
	 | "| \($w) | " + ($tl | map(. as $t | f(med($w; $t; "cpu_s_per_gib").median)) | join(" | "))
	 + " | " + (peers | map(r(rat($w; .; "cpu_s_per_gib"))) | join(" | ")) + " |"),
	"",
	"Crypto drivers: " + ($d.targets | map(select(.name != "linear") | "\(.name) `\(.crypto_driver)`") | join(", ")) + ".",
	(if $d.tcrypt then "tcrypt (`mode=600 alg=xts(aes) klen=64`, driver `\($d.tcrypt.driver)`), 4096-byte blocks: "
	  + ($d.tcrypt.results | map(select(.block == 4096) | "\(.op) \(f(.mb_s)) MB/s") | join(", ")) + " (one vCPU)." else "tcrypt: not run." end),
	(if ($d.errors | length) > 0 then "\n**Errors:** " + ($d.errors | map("\(.what): \(.message)") | join("; ")) else empty end)
	' "$1"
}

vm_header() { # <json>
	jq -r '"Kernel path: guest \(.guest.kernel // "?") under **\(.accelerator)** (\(.guest.vcpus // "?") vCPUs, guest CPU flags: \(.guest.cpu_flags // [] | join(" "))), \(.params.device_mib) MiB brd RAM disk prefilled, \(.params.repeat) repeats of \(.params.runtime_s) s (+\(.params.ramp_s) s ramp) per workload and target, target order rotated per repeat. Host \(.host.cpu_model), \(.host.nproc) cores, load average \(.host.loadavg_start) at the start, \(.host.loadavg_end) at the end; \(.seconds) s. Module: `\(.params.vxts_ko)` (sha256 \(.params.vxts_ko_sha256 // "-")), tree \(.params.git)\(if .params.kmod_dirty then " + uncommitted kmod/ changes" else "" end)."' "$1"
}

inplace_tables() { # <json>
	jq -r '
	def f(x): if x == null then "–" else (x | round | tostring) end;
	def r(x): if x == null then "–" else (x | tostring) + "×" end;
	. as $d
	| "### In-place encryption (MB/s, median of \($d.params.repeat); \($d.params.size_mib) MiB image)\n",
	"| location | raw copy | cryptsetup checksum | cryptsetup journal | cryptsetup none | vxts checksum | vxts journal |",
	"|---|---:|---:|---:|---:|---:|---:|",
	($d.summary | group_by(.location)[] | . as $g
	 | def m($t; $mo): ($g[] | select(.tool == $t and .mode == $mo) | .mb_s.median) // null;
	 "| \($g[0].location) | \(f(m("raw"; "copy"))) | \(f(m("cryptsetup"; "checksum"))) | \(f(m("cryptsetup"; "journal"))) | \(f(m("cryptsetup"; "none"))) | **\(f(m("vxts"; "checksum")))** | **\(f(m("vxts"; "journal")))** |"),
	"",
	"### Ratios (vxts ÷ peer, medians of the same run)\n",
	"| location | vxts mode | ÷ cryptsetup checksum | ÷ cryptsetup journal | ÷ cryptsetup none | ÷ raw copy |",
	"|---|---|---:|---:|---:|---:|",
	($d.ratios | group_by(.location + .vxts_mode)[] | . as $g
	 | def q($p): ($g[] | select(.peer == $p) | .ratio) // null;
	 "| \($g[0].location) | \($g[0].vxts_mode) | \(r(q("cryptsetup checksum"))) | \(r(q("cryptsetup journal"))) | \(r(q("cryptsetup none"))) | \(r(q("raw copy"))) |"),
	"",
	(if $d.openssl then "Crypto limit: `\($d.openssl.command)`: \(f($d.openssl.mb_s)) MB/s on one core (OpenSSL \($d.openssl.version))." else "OpenSSL speed: not run." end),
	"Host \($d.machine.cpu), kernel \($d.machine.kernel), aes=\($d.machine.cpu_aes) vaes=\($d.machine.cpu_vaes); load average \($d.machine.loadavg_start) at the start, \($d.machine.loadavg_end) at the end.",
	(if ([$d.rows[] | select(.ok | not)] | length) > 0 then "\n**Failed runs:** " + ([$d.rows[] | select(.ok | not) | "\(.location) \(.tool) \(.mode) run \(.run): \(.error)"] | join("; ")) else empty end)
	' "$1"
}

# gnuplot clustered bars: <data file> <png> <title> <y label> <log?>
bars() {
	local data=$1 png=$2 title=$3 ylabel=$4 logy=$5
	gnuplot 2> "$png.err" <<-EOF
		set terminal pngcairo size 960,480 noenhanced font ",10"
		set output "$png"
		set title "$title"
		set ylabel "$ylabel"
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.85 border -1
		set boxwidth 0.9
		set key top right
		set grid ytics
		set yrange [0:*]
		$( [ "$logy" = log ] && echo 'set logscale y; set yrange [*:*]' )
		set xtics nomirror
		plot for [i=2:*] "$data" using i:xtic(1) title columnheader
	EOF
	# A chart with no data (every value NaN) is no chart: say so, keep going.
	if [ -s "$png.err" ] || [ ! -s "$png" ]; then
		echo "report.sh: no chart $png: $(tail -n 1 "$png.err")" >&2
		rm -f "$png" "$png.err"
		return 1
	fi
	rm -f "$png.err"
}

vm_charts() { # <json> <dir>
	local t k r=0
	for k in mb_s cpu_s_per_gib; do
		jq -r --arg k "$k" '. as $d | $d.params.targets as $tl
			| (["workload"] + $tl | join("\t")),
			  ($d.params.workloads[] as $w | ([$w] + ($tl | map(. as $t
				| (($d.summary[] | select(.workload == $w and .target == $t) | .[$k].median) // "NaN") | tostring))) | join("\t"))' \
			"$1" > "$2/.kernel-$k.dat"
	done
	t=$(jq -r '"\(.accelerator), \(.guest.kernel), median of \(.params.repeat)"' "$1")
	bars "$2/.kernel-mb_s.dat" "$2/kernel-throughput.png" "Kernel path: MB/s per workload ($t)" "MB/s (log scale)" log || r=1
	bars "$2/.kernel-cpu_s_per_gib.dat" "$2/kernel-cpu.png" "Kernel path: guest CPU seconds per GiB moved ($t; lower is better)" "CPU s / GiB (log scale)" log || r=1
	rm -f "$2"/.kernel-*.dat
	return $r
}

inplace_charts() { # <json> <dir>
	jq -r '. as $d | ["raw copy", "cryptsetup checksum", "cryptsetup journal", "cryptsetup none", "vxts checksum", "vxts journal"] as $cols
		| (["location"] + ($cols | map(gsub(" "; "_"))) | join("\t")),
		  ($d.summary | group_by(.location)[] | . as $g
		   | ([$g[0].location] + ($cols | map(. as $c
			| (($g[] | select((.tool + " " + .mode) == ($c | sub("raw copy"; "raw copy"))) | .mb_s.median) // "NaN") | tostring))) | join("\t"))' \
		"$1" > "$2/.engine.dat"
	bars "$2/.engine.dat" "$2/engine-inplace.png" "In-place encryption, $(jq -r '.params.size_mib' "$1") MiB image: MB/s (median)" "MB/s (log scale)" log
	rm -f "$2/.engine.dat"
}

summary() {
	if [ -n "$vm" ]; then
		echo "## Kernel path: dm-vxts vs dm-crypt and dm-linear"
		echo
		vm_header "$vm"
		echo
		vm_tables "$vm"
		echo
	fi
	if [ -n "$inplace" ]; then
		echo "## Engine: in-place encryption vs cryptsetup reencrypt and a raw copy"
		echo
		inplace_tables "$inplace"
		echo
	fi
}

if [ -z "$dir" ]; then
	summary
	exit 0
fi
mkdir -p "$dir"
charts=()
if command -v gnuplot > /dev/null; then
	if [ -n "$vm" ]; then
		vm_charts "$vm" "$dir" || true
		for c in kernel-throughput.png kernel-cpu.png; do
			[ -s "$dir/$c" ] && charts+=("$c")
		done
	fi
	if [ -n "$inplace" ]; then
		inplace_charts "$inplace" "$dir" && charts+=(engine-inplace.png)
	fi
fi
{
	summary
	if [ ${#charts[@]} -gt 0 ]; then
		echo "## Charts"
		echo
		for c in "${charts[@]}"; do
			echo "![${c%.png}]($c)"
			echo
		done
	else
		echo "(no charts: gnuplot missing)"
	fi
} > "$dir/summary.md"
echo "report: $dir/summary.md ${charts[*]}"
