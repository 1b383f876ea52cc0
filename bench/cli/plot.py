"""`python -m bench.plot RUN_DIR [RUN_DIR ...]`: the figures of a run, PNG and SVG, in RUN_DIR/plots/.

Reads the run directory through bench.store and writes only figures (analysis.json is the run's,
or `python -m bench.analysis RUN_DIR`'s).

Every figure is titled, its axes carry units, error bars are the 95% confidence intervals of the
medians (intervals over repeats for ratios), and the machine fingerprint is in the title or legend.
With several run directories, each gets its own figures and the line figures (epoch time,
throughput, GFLOP/s, modes) are also drawn overlaid, one line style per run, into --out.

Figures (file stems):
  epoch_time          epoch time vs batch size, log-log; rows: execution mode, columns: hidden size
  throughput          samples/s vs batch size, same layout
  speedup_gpu_cpu     GPU/CPU speed-up heatmap over batch x hidden (only when GPU trials measured)
  speedup_modes       speed-up of each execution mode over eager, heatmaps
  speedup_dtype       speed-up of float32 over float64-cast (the cost of the article's cast), heatmaps
  cast_overhead       relative overhead of the float64 cast per configuration, with intervals
  mse                 do all devices, modes and dtypes train the same model? the reference's train MSE per
                      epoch (band: every series), and each series' largest relative difference, one row each
  gflops              achieved GFLOP/s vs FLOPs per step, the measured matmul ceilings drawn
  modes               execution modes side by side at the article's configuration, the floor marked
"""

from __future__ import annotations

from pathlib import Path

from bench import cli
from bench.format import load_run
from bench.format.io import check_output


def parser():
    """The command line."""

    p = cli.parser("python -m bench.plot", __doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by python -m bench.run")
    p.add_argument("--out", metavar="DIR", help="where overlays of several runs go (default RUN_DIR_1/plots/overlay)")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    from bench.analysis import plot  # matplotlib

    if args.out:
        check_output(args.out, "--out", directory=True)
    runs = [load_run(d) for d in args.run_dirs]  # every input checked before a figure is drawn
    for run in runs:
        check_output(run.path / "plots", "plots", directory=True)
    plot.plot_runs(runs, Path(args.out) if args.out else None)
    return 0
