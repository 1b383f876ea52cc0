"""Performance over commits: `python -m bench.history {append,plot,export,publish,recorded}`.

  append RUN_DIR      add the run's ok trials to results/history.csv, keyed by commit and machine
  publish RUN_DIR     the same on a data branch of a remote (gh-pages: history/history.csv), as the CI history
                      job does: a commit already there adds nothing (re-runs), a push rejected because the
                      branch moved is retried from a fresh fetch (bursts of pushes); the work tree is untouched
  recorded COMMIT     whether the data branch already holds COMMIT, as GITHUB_OUTPUT lines (history=true|false,
                      and dashboard=true|false for github-action-benchmark's data.js with --dashboard-name)
  plot                epoch time over commits per configuration and machine, change points marked
  export RUN_DIR      github-action-benchmark's `customSmallerIsBetter` JSON (name, unit, value,
                      range, extra): the median epoch time in ms, rounded to two significant digits
                      of its 95% CI, the CI's two sides as the range; its `pytest` reader would use
                      the mean. A run with no ok trial is refused (the action fails on an empty list)

Change points come from ruptures (PELT with the least-absolute-deviation cost on log epoch time,
segments of at least 3 commits), with a penalty scaled by the series' own noise (a robust sigma
from successive differences, times log n): a single outlier moves no segment median, so it makes
no change; a level that lasts 3 or more commits does. A change is reported with the shift of the
segment medians around it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import cli
from bench.analysis import publish
from bench.format import history as pages
from bench.format.history import HISTORY_PATH
from bench.format.io import atomic_write, check_output, dumps_json


def parser():
    """The command line."""
    p = cli.parser("python -m bench.history", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("append", help="add a run's ok trials to the history")
    a.add_argument("run_dir", metavar="RUN_DIR")
    a.add_argument("--history", default=str(HISTORY_PATH), help=f"default {HISTORY_PATH}")
    pl = sub.add_parser("plot", help="epoch time over commits with change points")
    pl.add_argument("--history", default=str(HISTORY_PATH), help=f"default {HISTORY_PATH}")
    pl.add_argument("--out", default="results/history-plots", help="default results/history-plots")
    pl.add_argument("--config-id", action="append", metavar="CONFIG_ID", help="only this configuration, e.g. "
                    "cpu-eager-float32-b32-h20-t0 (repeatable)")
    e = sub.add_parser("export", help="github-action-benchmark customSmallerIsBetter JSON")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--out", help="file to write (default: stdout)")
    pu = sub.add_parser("publish", help="append a run to the history on a data branch and push it")
    pu.add_argument("run_dir", metavar="RUN_DIR")
    _branch_options(pu)
    pu.add_argument("--attempts", type=int, default=pages.PAGES_ATTEMPTS,
                    help=f"pushes to try while the branch keeps moving (default {pages.PAGES_ATTEMPTS})")
    r = sub.add_parser("recorded", help="is a commit already on the data branch? (GITHUB_OUTPUT lines)")
    r.add_argument("commit", metavar="COMMIT")
    _branch_options(r)
    r.add_argument("--dashboard", default=pages.PAGES_DASHBOARD,
                   help=f"github-action-benchmark's data.js on the branch (default {pages.PAGES_DASHBOARD})")
    r.add_argument("--dashboard-name", metavar="NAME", help="the action's `name` input: also check the dashboard")
    return p


def _branch_options(p) -> None:
    p.add_argument("--remote", default=pages.PAGES_REMOTE, help=f"default {pages.PAGES_REMOTE}")
    p.add_argument("--branch", default=pages.PAGES_BRANCH, help=f"default {pages.PAGES_BRANCH}")
    p.add_argument("--path", default=pages.PAGES_PATH, help=f"history.csv on the branch (default {pages.PAGES_PATH})")


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    from bench.analysis import history  # pandas, ruptures, matplotlib

    if args.command == "append":
        n = history.append(Path(args.run_dir), Path(args.history))
        print(f"{args.history}: {n} rows added from {args.run_dir}")
    elif args.command == "plot":
        check_output(args.out, "--out", directory=True)
        changes = history.detect(Path(args.history))
        files = history.plot(Path(args.history), Path(args.out), args.config_id, changes)
        for c in changes:
            print(f"change point: {c['config_id']} at {c['commit'][:10] or c['run_id']}: "
                  f"{c['before_s'] * 1e3:.4g} -> {c['after_s'] * 1e3:.4g} ms ({c['change']:+.1%})")
        print("\n".join(str(f) for f in files))
    elif args.command == "publish":
        done = publish.publish(Path(args.run_dir), remote=args.remote, branch=args.branch, path=args.path,
                           attempts=args.attempts)
        where = f"{args.remote}/{args.branch}:{args.path}"
        if done.added:
            print(f"{where}: {done.added} rows of {done.commit[:12]} added (push {done.attempts})")
        else:
            print(f"{where}: {done.commit[:12]} is already in the history; nothing added")
    elif args.command == "recorded":
        found = publish.recorded(args.commit, remote=args.remote, branch=args.branch, path=args.path,
                         dashboard=args.dashboard, name=args.dashboard_name)
        for k, v in found.items():
            print(f"{k}={'true' if v else 'false'}")
    else:
        if args.out:
            check_output(args.out, "--out")
        text = dumps_json(history.export(Path(args.run_dir)))
        if args.out:
            atomic_write(Path(args.out), text, what="--out")
        else:
            sys.stdout.write(text)
    return 0
