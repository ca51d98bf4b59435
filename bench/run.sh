#!/usr/bin/env bash
# make bench: every benchmark of the project, one after the other.
# Results go to bench/results/*.json; see bench/README.md for what each measures.
# Benchmarks, not tests: nothing here asserts a speed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/inplace.sh" "$@"
