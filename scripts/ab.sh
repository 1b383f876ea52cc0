#!/usr/bin/env bash
# A/B performance gate: BASE_REF against the working tree on this machine (python -m bench.continuous),
# exit 1 on a regression, 0 otherwise, 2 for bad input.
#   bash scripts/ab.sh BASE_REF [OUT] [bench.ab flags...]
#   bash scripts/ab.sh origin/main results/ab --config scripts/ci.toml --markdown results/ab/comment.md
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: bash scripts/ab.sh BASE_REF [OUT] [bench.ab flags...]}"
shift
out="results/ab/$(date -u +%Y%m%d-%H%M%S)"
if [[ $# -gt 0 && "$1" != --* ]]; then out="$1"; shift; fi
make .venv/.installed-run >/dev/null
mkdir -p "$out"
exec .venv/bin/python -m bench.continuous "$base" --out "$out" "$@"
