"""`python -m bench.plot RUN_DIR [RUN_DIR ...]`: the figures of a run, PNG and SVG, in RUN_DIR/plots/.

Reads the run directory through bench.store and writes only figures (analysis.json is the run's,
or `python -m bench.analysis RUN_DIR`'s).

Every figure is titled, its axes carry units, error bars are the 95% confidence intervals of the
medians (intervals over repeats for ratios), and the machine fingerprint is in the title or legend.
With several run directories, each gets its own figures and the modes, epoch time and GFLOP/s
figures are also drawn overlaid, a marker per run, into --out.

Figures (file stems), one per question; the first eight by default, each under its answer in report.html:
  modes               which execution mode is fastest at the article's configuration (the floor marked)
  speedup_modes       speed-up of each execution mode over eager, heatmaps over batch x size
  cast_overhead       the cost of the float64 cast per configuration, with intervals
  speedup_gpu_cpu     GPU/CPU speed-up heatmaps (only when GPU trials measured)
  epoch_time          epoch time vs batch size, log-log; rows: execution mode, columns: size
  mse                 do all devices, modes and dtypes train the same model?
  gflops              achieved GFLOP/s vs FLOPs per step, the measured matmul ceilings drawn
  scaling             scaling efficiency over replicas (only when --replicas measured several)
On request (--figures):
  throughput          samples/s vs batch size (epoch_time's numbers turned over)
  speedup_dtype       the cast's cost as heatmaps over batch x size (cast_overhead's question)
Speed-up heatmaps share one colour scale in every run (log2, 1/2x to 2x); a cell is coloured only where
its comparison is decided, hatched grey where it is no different or inconclusive.
"""

from __future__ import annotations

from pathlib import Path

from bench import cli
from bench.format import load_run
from bench.format.errors import InputError
from bench.format.io import check_output


def parser():
    """The command line."""

    p = cli.parser("python -m bench.plot", __doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by python -m bench.run")
    p.add_argument("--out", metavar="DIR", help="where overlays of several runs go (default RUN_DIR_1/plots/overlay)")
    p.add_argument("--figures", metavar="NAMES", help="comma-separated figure stems to draw (default: the first "
                   "eight above; 'all': every figure)")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    from bench.analysis import plot  # matplotlib

    names = plot.FIGURES
    if args.figures:
        names = list(plot.FIGURE_FUNCS) if args.figures.strip() == "all" else \
            [n.strip() for n in args.figures.split(",") if n.strip()]
        unknown = [n for n in names if n not in plot.FIGURE_FUNCS]
        if unknown or not names:
            raise InputError(f"--figures: unknown figure {', '.join(map(repr, unknown)) or repr(args.figures)}; "
                             f"known: {', '.join(plot.FIGURE_FUNCS)}, all")
    if args.out:
        check_output(args.out, "--out", directory=True)
    runs = [load_run(d) for d in args.run_dirs]  # every input checked before a figure is drawn
    for run in runs:
        check_output(run.path / "plots", "plots", directory=True)
    plot.plot_runs(runs, Path(args.out) if args.out else None, figures=names)
    return 0
