#!/usr/bin/env bash
# Reproduce the published reference run in one command: measure (about 30 minutes on 2 CPU cores),
# then analysis.json and every figure in OUT/plots/.
#   bash scripts/reproduce_reference.sh                 # writes results/reference-<date>/
#   bash scripts/reproduce_reference.sh results/mine --devices cpu,gpu   # extra flags go to bench.run
#   bash scripts/reproduce_reference.sh --check         # a 2-minute subset: does this machine reproduce it?
# Run it on an otherwise idle machine: other load shows up in the timings.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--check" ]; then
    shift
    make .venv/.installed-run >/dev/null
    exec .venv/bin/python scripts/reproduce_check.py "$@"
fi
out="${1:-results/reference-$(date -u +%Y%m%d)}"
shift || true
make .venv/.installed-run >/dev/null
exec .venv/bin/python -m bench.run --config scripts/reference.toml --out "$out" "$@"
