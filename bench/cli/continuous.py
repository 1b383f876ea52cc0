"""`python -m bench.continuous REF [bench.ab options]`: did my change make training slower than REF?

Checks REF (a branch, tag or commit, e.g. origin/main or HEAD~1) out into a temporary `git worktree`,
measures it and this working tree (uncommitted changes included) on this machine with `bench.ab`
(interleaved repeat by repeat, each side in its own fresh processes every round: the process is the
unit, so the comparison can give a verdict), prints the verdict table and exits with its status:
0 no regression found, 1 regression (or no verdict), 2 bad input. The worktree is removed afterwards.
Every bench.ab option applies (--method icount for instruction counts; the sweep flags for the matrix).

  python -m bench.continuous origin/main --out results/ab/mine --config scripts/ci.toml
  python -m bench.continuous HEAD~1 --out results/ab/last --devices cpu --modes eager,graph --repeats 6
"""

from __future__ import annotations

import sys

from bench import cli
from bench.cli import ab
from bench.engine import checkout

PROG = "python -m bench.continuous"


def parser():
    """The command line: REF, then bench.ab's own options (see python -m bench.ab --help)."""
    p = cli.parser(PROG, __doc__)
    p.add_argument("ref", metavar="REF", help="the baseline: any git ref of this checkout")
    p.add_argument("ab_args", nargs="*", metavar="OPTION", help="bench.ab options (--out DIR is required)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Check REF out, run bench.ab against this working tree, remove the checkout."""
    return cli.command(parser, _main, argv, parse="known")


def _main(args) -> int:
    ref, ab_args = args.ref, [*args.ab_args, *args.rest]
    if "--baseline-tree" in ab_args or "--candidate-tree" in ab_args:
        raise cli.InputError("ref: the baseline is REF's checkout and the candidate this working tree; "
                             "use python -m bench.ab for other trees")
    print(f"{PROG}: baseline {ref} = {checkout.resolve(ref)[:12]}, candidate: this working tree", file=sys.stderr)
    with checkout.worktree(ref) as tree:
        return ab.main(["--baseline-tree", str(tree), *ab_args])
