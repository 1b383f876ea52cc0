"""`python -m bench.report RUN... [--out FILE]`: the HTML report of one or several runs.

One self-contained file (no external requests; figures inline): the answers first (is the GPU worth
it, which mode and dtype is fastest and by how much, where the time goes, each with its 95% interval),
then the warnings (imprecise, skipped, failed trials and what to do), every trial, the figures, the
machine and software, and the command. Every run writes RUN/report.html; this command redraws it for
an existing run, or writes one report of several runs (--out needed) with their overlays.
"""

from __future__ import annotations

from pathlib import Path

from bench import cli
from bench.format import load_run
from bench.format.errors import InputError
from bench.format.io import check_output

PROG = "python -m bench.report"


def parser():
    """The command line."""
    p = cli.parser(PROG, __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories written by python -m bench.run")
    p.add_argument("--out", metavar="FILE", help="where the report goes (default RUN/report.html; needed for "
                   "several runs)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, read every run (checked), write the report."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    if len(args.runs) > 1 and not args.out:
        raise InputError("--out: needed when several runs are given")
    if args.out:
        check_output(args.out, "--out")
    runs = [load_run(r) for r in args.runs]  # every input checked before anything is written
    from bench.analysis import html  # Jinja2, matplotlib, pandas, SciPy

    print(html.write_report(runs, Path(args.out) if args.out else None))
    return 0
