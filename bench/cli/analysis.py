"""The few numbers a run answers with, from its files: speed-ups with intervals and verdicts, the
per-step overhead and per-sample cost of each device, the batch size where the GPU starts to win,
the cost of the float64 cast, and the fraction of the measured matmul ceiling each trial reaches.

`python -m bench.analysis RUN_DIR` writes RUN_DIR/analysis.json and prints the headline. No TensorFlow.

Conventions:
  * every comparison is a ratio of two trials that differ in one setting (geometric means of their
    per-repeat median epoch times, the warm-up left out), with a 95% t interval over repeats, a
    Benjamini-Hochberg-adjusted p-value and a verdict against the run's margin (docs/answers.md);
  * speed-up = time(reference) / time(candidate): above 1 the candidate is faster;
  * overhead of the float64 cast = time(float64-cast) / time(float32) - 1;
  * step time = median epoch time / steps per epoch, fitted as overhead + batch x per-sample cost
    (weighted least squares with equal relative errors, scipy.optimize.curve_fit).
"""

from __future__ import annotations

from bench import cli
from bench.format import load_run


def parser():
    """The command line."""
    p = cli.parser("python -m bench.analysis", __doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: analyse each run directory."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    from bench.analysis import findings  # NumPy, SciPy

    runs = [load_run(d) for d in args.run_dirs]  # every input checked before anything is written
    for run in runs:
        path, data = findings.write_analysis(run)
        print(f"{path}:")
        print(findings.format_headline(data["headline"]))
    return 0
