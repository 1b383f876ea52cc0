"""`python -m bench.bisect GOOD BAD --out DIR [sweep flags]`: which commit made training do more work?

Bisects the commits between GOOD and BAD (BAD's first-parent line) with the instruction-count gate on a
small matrix (the sweep flags or --config, e.g. scripts/icount.toml): GOOD is counted once, each tested
commit is checked out into a temporary `git worktree` and counted under callgrind, and a commit is bad when
any configuration counts more than --threshold (default 0.01) above GOOD's. Counts are deterministic, so
the search is exact: about log2(N) commits are counted. A commit that cannot be counted (it does not import,
its trainer fails, its processes disagree) is skipped, as `git bisect skip` does. Prints the first bad
commit with the count ratios that convict it (against its parent and against GOOD), writes DIR/bisect.json
with every counted commit, and exits 0 when a first bad commit was found, 1 when none was (BAD is not
slower, or only skipped commits are left), 2 for bad input.

  python -m bench.bisect v1.2 HEAD --out results/bisect --config scripts/icount.toml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import cli
from bench.cli import options
from bench.cli.ab import ICOUNT_DEFAULTS, TIMED_DEFAULTS, icount_plan
from bench.engine import checkout, icount, profile
from bench.engine.bisect import bisect
from bench.engine.icount import DEFAULT_THRESHOLD
from bench.format.io import check_output

PROG = "python -m bench.bisect"


def parser() -> argparse.ArgumentParser:
    """The command line: GOOD, BAD, where to write, the count's options and the sweep's."""
    p = cli.parser(PROG, __doc__)
    p.add_argument("good", metavar="GOOD", help="a git ref whose counts are the reference")
    p.add_argument("bad", metavar="BAD", help="a later git ref (a descendant of GOOD) that counts more")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/bisect.json and each commit's dumps")
    p.add_argument("--repo", metavar="DIR", help="the git repository to bisect (default: this checkout)")
    p.add_argument("--threshold", type=options.threshold_value, help=f"a commit is bad above GOOD's count x (1 + "
                   f"this) in any configuration (default {DEFAULT_THRESHOLD:g}; per execution mode as for bench.ab: "
                   "0.005,function=0.01)")
    p.add_argument("--processes", type=int, metavar="N", help="processes per commit (default 1: counts are "
                   "deterministic; 2 also checks that they are)")
    p.add_argument("--instrument", choices=icount.INSTRUMENT, help="what callgrind instruments (default counted; "
                   "see python -m bench.ab --help)")
    options.add_quiet(p)
    options.add_sweep_options(p, command_defaults={**TIMED_DEFAULTS, **ICOUNT_DEFAULTS},
                              skip=("min_repeats", "max_repeats", "target_ci", "trial_budget_s", "workers",
                                    *options.ANSWER_KEYS))
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _main(args: argparse.Namespace) -> int:
    out = check_output(args.out, "--out", directory=True)
    tasks, ids, threshold, processes = icount_plan(args, default_processes=1)
    icount.valgrind()
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    repo = Path(args.repo) if args.repo else checkout.ROOT
    doc = bisect(args.good, args.bad, tasks, ids, out, threshold=threshold, processes=processes,
                 parallel=len(os.sched_getaffinity(0)), instrument=args.instrument or "counted", repo=repo, log=log)
    found = doc["first_bad"]
    if found is None:
        print(f"no first bad commit: {doc['reason']}")
        return 1
    probe = next(p for p in doc["tested"] if p["commit"] == found)
    if doc["parent"]:
        print(f"first bad commit: {found} {probe['subject']}")
        against = f"its parent {doc['parent'][:12]}"
    else:  # skipped commits in between: the culprit is among them or this one
        print(f"first bad commit not pinned down: {doc['reason']}")
        print(f"first known bad commit: {found} {probe['subject']}")
        against = f"the last good commit counted, {doc['last_good'][:12]}"
    print(f"  instructions per epoch vs {against} and vs good {doc['good'][:12]}:")
    for cid in ids:
        print(f"  {cid:34} x{doc['ratios_vs_last_good'][cid]:.4f} vs {'parent' if doc['parent'] else 'last good'}"
              f"   x{probe['ratios'][cid]:.4f} vs good")
    for cid, found in doc.get("explained", {}).items():
        print(f"  where {cid}'s count grew, per counted epoch:")
        print("\n".join(profile.as_text(found, indent="    ")))
    print(f"{len(doc['tested'])} commits counted in {doc['seconds']:.0f} s; {out / 'bisect.json'}")
    return 0 if doc["parent"] else 1
