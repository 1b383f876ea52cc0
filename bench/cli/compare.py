"""`python -m bench.compare BASELINE CANDIDATE`: did the candidate make training slower?

BASELINE and CANDIDATE are run directories of `python -m bench.run` / `python -m bench.ab`, or
pytest-benchmark JSON files saved with --benchmark-save-data (the raw rounds are needed), or
folders of such files (e.g. pytest-benchmark's --benchmark-autosave storage), one process each.

The unit of replication is the process: a run measured with fresh workers every round (bench.ab's
default; bench.run --workers round) gives each repeat of a trial its own process, and the median epoch time
of each repeat is one value. Epochs of one repeat, or repeats of one process, share a state and
are not independent, so a test on them would be overconfident. Per configuration ok in both:

  paired (an A/B run of bench.ab, whose repeat r of both sides ran back to back): the ratio is the
    geometric mean of the per-repeat ratios candidate/baseline, tested with a one-sample t-test
    on their logs (scipy.stats.ttest_1samp); machine drift cancels within each pair;
  unpaired (two separate runs, or folders of pytest-benchmark files, where each file's median
    round is a value): the ratio of the geometric means, tested with Welch's t-test on the logs
    (scipy.stats.ttest_ind);
  one process per side (a single pytest-benchmark file per side): the rounds of one process share
    its state, so code and process noise cannot be told apart: the ratio of geometric means is
    reported with verdict "no verdict" and exit status 0, never "slower".

The table shows, per side, the geometric mean whose ratio is the ratio column.

The ratio's 95% interval is the test's confidence interval, exponentiated. The p-values of all
configurations are adjusted together (Benjamini-Hochberg, scipy.stats.false_discovery_control):
when nothing changed, the chance of any false alarm stays at alpha. Verdicts:

  slower  ratio > 1 + threshold and adjusted p < alpha   (a regression: exit status 1)
  faster  ratio < 1 / (1 + threshold) and adjusted p < alpha
  same    otherwise: within the threshold, or not distinguishable from noise

Runs whose machines differ in CPU model, GPU or TensorFlow version are refused (exit 2) unless
--allow-different-machines. Exit status: 0 no regression, 1 regression, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

from bench import cli
from bench.cli import options
from bench.format.errors import InputError
from bench.format.io import atomic_write, check_output, dumps_json
from bench.format.stats import DEFAULT_THRESHOLD


def parser():
    """The command line."""
    p = cli.parser("python -m bench.compare", __doc__)
    p.add_argument("baseline", metavar="BASELINE", help="run directory or pytest-benchmark JSON")
    p.add_argument("candidate", metavar="CANDIDATE", help="run directory or pytest-benchmark JSON")
    options.add_verdict_options(p)
    p.add_argument("--allow-different-machines", action="store_true",
                   help="compare even when CPU model, GPU or TensorFlow version differ")
    options.add_markdown(p)
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    import pandas as pd

    from bench.analysis import compare  # NumPy, SciPy

    args.threshold = options.check_threshold(args.threshold, DEFAULT_THRESHOLD, upper=10)
    if not 0 < args.alpha < 1:
        raise InputError(f"alpha: {args.alpha!r}: expected a probability between 0 and 1")
    for name in ("markdown", "json"):
        if getattr(args, name):
            check_output(getattr(args, name), f"--{name}")
    a, b = compare.load(args.baseline), compare.load(args.candidate)
    differ = compare.check_machines(a, b)
    if differ and not args.allow_different_machines:
        raise InputError("machines differ (" + "; ".join(differ) + "); timings are not comparable "
                           "(--allow-different-machines to compare anyway)")
    rows = compare.compare(a, b, threshold=args.threshold, alpha=args.alpha)
    if not rows:
        raise InputError("configurations: no configuration is ok in both runs; nothing to compare")
    only = sorted(set(a.units) ^ set(b.units))
    extra = [f"not compared (measured on one side only): {', '.join(only)}"] if only else []
    if differ:
        extra.append("machines differ: " + "; ".join(differ))
    extra += compare.loss_mismatch(a, b)
    print(pd.DataFrame(compare.table_rows(rows)).to_string(index=False))
    slower = [r["config"] for r in rows if r["verdict"] == "slower"]
    print("\n" + compare.summary_line(rows, threshold=args.threshold, alpha=args.alpha))
    for line in extra:
        print(line)
    if args.markdown:
        atomic_write(Path(args.markdown), compare.markdown(rows, a, b, threshold=args.threshold, alpha=args.alpha,
                                                   extra=extra), what="--markdown")
    if args.json:
        atomic_write(Path(args.json), dumps_json(rows), what="--json")
    return 1 if slower else 0
