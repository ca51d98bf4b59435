#!/usr/bin/env bash
# Write <docs/benchmarks>/README.md: the newest full run's summary (charts
# linked into its directory) and a list of every recorded run.
#   bench/index.sh docs/benchmarks
set -euo pipefail
root=${1:?usage: bench/index.sh <docs/benchmarks>}
cd "$root"
runs=$(ls -d 2*/ 2>/dev/null | tr -d / | sort -r)
[ -n "$runs" ] || { echo "index.sh: no runs in $root" >&2; exit 1; }
latest=$(head -n 1 <<< "$runs")
{
	echo "# Benchmark results"
	echo
	echo "Written by \`make bench\` (bench/run.sh; how to read and rerun: bench/README.md)."
	echo "Each directory holds one full run: \`vm.json\` (kernel path), \`inplace.json\`"
	echo "(engine), \`summary.md\` and the charts. Compare ratios within one run, not"
	echo "absolute figures across runs: the machine is shared and under TCG."
	echo
	echo "## Newest run: $latest"
	echo
	sed -e 's/^### /#### /' -e 's/^## /### /' -e "s|^!\[\([^]]*\)\](\([^)]*\))|![\1]($latest/\2)|" "$latest/summary.md"
	echo
	echo "## All runs"
	echo
	for r in $runs; do
		echo "- [$r]($r/summary.md)"
	done
} > README.md
echo "index: $root/README.md (newest $latest)"
