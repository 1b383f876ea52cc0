"""`python -m bench.run`: train the MLP over a matrix of settings and record honest timings.

With no arguments it runs the `quick` preset (about 3 minutes on a 2-core CPU): devices cpu,gpu
(GPU trials skipped with the reason where none is visible), batch 4/32/256, hidden 20/256/2048,
dtype modes float32 and float64-cast, eager mode, the article's data sizes and 5 epochs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.spec import PRESETS, SPEC_KEYS, SpecError, build_spec, load_toml

EXAMPLES = """examples:
  python -m bench.run                                   # the quick preset
  python -m bench.run --preset article                  # the article's settings, article vs eager
  python -m bench.run --config scripts/sweep.example.toml --repeats 5
  python -m bench.run --devices cpu --modes eager,function,graph --threads 1,2
  python -m bench.run --resume results/runs/20261124-101500-1a2b   # continue a killed run

exit status: 0 every trial ok or skipped; 1 a trial failed (status error); 2 bad input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = _Parser(prog="python -m bench.run", description=__doc__, epilog=EXAMPLES,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), help="base sweep (default: quick)")
    p.add_argument("--config", metavar="TOML", help="sweep file with the same keys as the flags (see scripts/)")
    m = p.add_argument_group("matrix (comma-separated lists)")
    m.add_argument("--devices", help="cpu,gpu")
    m.add_argument("--batch-sizes", help="e.g. 4,32,256")
    m.add_argument("--hidden-sizes", help="e.g. 20,256,2048")
    m.add_argument("--dtypes", help="float32,float64-cast,float64")
    m.add_argument("--modes", help="article,eager,function,xla,graph,numpy")
    m.add_argument("--threads", help="CPU intra/inter-op threads, 0 = TF default; e.g. 1,2")
    w = p.add_argument_group("workload")
    w.add_argument("--epochs", help="epochs per repeat, epoch 0 is the warm-up (default 5)")
    w.add_argument("--n-train", help="training samples (default 800)")
    w.add_argument("--n-test", help="test samples (default 200)")
    w.add_argument("--learning-rate", help="default 1e-4")
    w.add_argument("--seed", help="data seed; repeat r draws weights from seed + r (default 0)")
    r = p.add_argument_group("repeats (adaptive: min, then until the CI is tight or the budget is spent)")
    r.add_argument("--repeats", dest="min_repeats", help="minimum repeats per trial (default 3)")
    r.add_argument("--max-repeats", help="default 30")
    r.add_argument("--target-ci", help="relative half-width of the median's 95%% CI to stop at (default 0.02)")
    r.add_argument("--trial-budget", dest="trial_budget_s",
                   help="seconds a trial may spend before it stops adding repeats (default 4)")
    r.add_argument("--trial-timeout", dest="trial_timeout_s",
                   help="seconds one repeat may take before its worker is killed (default 600)")
    r.add_argument("--peak-n", help="size n of the (n, n) matmul timed once per device as the GFLOP/s ceiling; "
                   "0 = skip (default 2048)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="run directory (default results/runs/<run-id>)")
    o.add_argument("--resume", metavar="DIR", help="continue a killed run in DIR with its recorded settings")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument("--no-plots", action="store_true",
                   help="skip analysis.json and the figures in RUN_DIR/plots/ (python -m bench.plot draws them later)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run, report."""
    argv = sys.argv[1:] if argv is None else argv
    cli = parser()
    args = cli.parse_args(argv)
    try:
        run_dir, spec, resume = _resolve(args, cli)
    except SpecError as exc:
        print(f"python -m bench.run: error: {exc}", file=sys.stderr)
        return 2

    from bench.report import report  # imports pandas/scipy: after validation, not for --help
    from bench.sweep import RunDirBusy, Sweep

    print(f"run directory: {run_dir}", file=sys.stderr)
    try:
        rows = Sweep(spec, run_dir, argv=["python -m bench.run", *argv], resume=resume,
                     progress=not args.quiet).run()
    except RunDirBusy as exc:
        print(f"python -m bench.run: error: {exc}", file=sys.stderr)
        return 2
    print(report(run_dir, rows))
    if not args.no_plots:
        _plots(run_dir)
    return 1 if any(r["status"] == "error" for r in rows) else 0


def _plots(run_dir: Path) -> None:
    """analysis.json and the figures; a failure here never costs the measurements (they are on disk)."""
    from bench.plot import plot_run_dirs

    try:
        plot_run_dirs([run_dir], log=lambda line: print(line, file=sys.stderr))
    except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
        print(f"python -m bench.run: warning: plots failed ({type(exc).__name__}: {exc}); the measurements are "
              f"in {run_dir}; retry with: python -m bench.plot {run_dir}", file=sys.stderr)


def _resolve(args: argparse.Namespace, cli: argparse.ArgumentParser):
    """(run directory, spec, resume?) from the flags; SpecError for bad input."""
    flags = {key: getattr(args, key) for key in SPEC_KEYS}  # every spec flag's dest is its field name
    if args.resume:
        option = {a.dest: a.option_strings[0] for a in cli._actions if a.option_strings}
        given = [option[k] for k, v in vars(args).items()
                 if v not in (None, False) and k not in ("resume", "quiet", "no_plots")]
        if given:
            raise SpecError("resume", args.resume, f"takes the run's recorded settings; drop {', '.join(given)}")
        run_dir = Path(args.resume)
        if not (run_dir / "meta.json").is_file():
            raise SpecError("resume", args.resume, "not a run directory (no meta.json)")
        from bench.sweep import spec_from_meta

        return run_dir, spec_from_meta(run_dir), True
    layers = [{"preset": args.preset}]
    if args.config:
        layers.append(load_toml(args.config))
    layers.append(flags)
    spec = build_spec(*layers)
    from bench.sweep import new_run_id

    run_dir = Path(args.out) if args.out else Path("results") / "runs" / new_run_id()
    if (run_dir / "meta.json").exists():
        raise SpecError("out", str(run_dir), "already holds a run; use --resume to continue it")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError("out", str(run_dir), f"cannot create: {exc.strerror}") from None
    return run_dir, spec, False


if __name__ == "__main__":
    sys.exit(main())
