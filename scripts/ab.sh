#!/usr/bin/env bash
# A/B performance gate: measure BASE_REF and the working tree interleaved on this machine, then
# compare (exit 1 on a regression, 0 otherwise, 2 for bad input).
#   bash scripts/ab.sh BASE_REF [OUT] [bench.ab flags...]
#   bash scripts/ab.sh origin/main results/ab --config scripts/ci.toml --markdown results/ab/comment.md
# BASE_REF is checked out with `git worktree` into a temporary directory (removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: bash scripts/ab.sh BASE_REF [OUT] [bench.ab flags...]}"
shift
out="results/ab/$(date -u +%Y%m%d-%H%M%S)"
if [[ $# -gt 0 && "$1" != --* ]]; then out="$1"; shift; fi
tree="$(mktemp -d)/baseline"
git worktree add --quiet --detach "$tree" "$base"
trap 'git worktree remove --force "$tree"' EXIT
make .venv/.installed >/dev/null
mkdir -p "$out"
.venv/bin/python -m bench.ab --baseline-tree "$tree" --out "$out" "$@"
