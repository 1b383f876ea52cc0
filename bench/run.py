"""`python -m bench.run`: train the MLP over a matrix of settings and record honest timings.

With no arguments it runs the `quick` preset (under 2 minutes on a 2-core CPU): devices cpu,gpu
(GPU trials skipped with the reason where none is visible), batch 4/32/256, hidden 20/256/2048,
dtype modes float32 and float64-cast, eager mode, the article's data sizes, 3 epochs a repeat.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import cli
from bench.spec import PRESETS, SPEC_KEYS, SpecError, build_spec, load_toml

EXAMPLES = """examples:
  python -m bench.run                                   # the quick preset
  python -m bench.run --preset article                  # the article's settings, article vs eager
  python -m bench.run --config scripts/sweep.example.toml --repeats 5
  python -m bench.run --devices cpu --modes eager,function,graph --threads 1,2
  python -m bench.run --devices cpu --modes numpy,numba,jax-step,jax-epoch  # no TensorFlow needed
  python -m bench.run --resume results/runs/20261124-101500-1a2b   # continue a killed run
  python -m bench.run --devices cpu --modes function --replicas 1,2,4 --batch-sizes 64,256   # scaling
  python -m bench.run --executor ray --ray-address 10.0.0.1:6379  # on the bench_slot nodes of a Ray cluster

exit status: 0 every trial ok or skipped; 1 a trial failed (status error); 2 bad input."""


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = cli.parser("python -m bench.run", __doc__, EXAMPLES)
    p.add_argument("--preset", choices=sorted(PRESETS), help="base sweep (default: quick)")
    p.add_argument("--config", metavar="TOML", help="sweep file with the same keys as the flags (see scripts/)")
    m = p.add_argument_group("matrix (comma-separated lists)")
    m.add_argument("--devices", help="cpu,gpu")
    m.add_argument("--batch-sizes", help="e.g. 4,32,256")
    m.add_argument("--hidden-sizes", help="e.g. 20,256,2048")
    m.add_argument("--dtypes", help="float32,float64-cast,float64")
    m.add_argument("--modes", help="article,eager,function,xla,graph (TensorFlow); numpy (the baseline), numba (the "
                   "compiled floor), jax-step, jax-epoch (the JAX peers; numba and JAX: optional extras)")
    m.add_argument("--threads", help="CPU intra/inter-op threads, 0 = TF default; e.g. 1,2")
    m.add_argument("--replicas", help="devices per trial, tf.distribute.MirroredStrategy (modes eager, function); "
                   "e.g. 1,2,4 (on a CPU: logical CPU devices sharing the cores)")
    m.add_argument("--scaling", choices=["strong", "weak"], help="strong (default): --batch-sizes are global batches "
                   "split over the replicas; weak: they are per replica (global = replicas x batch)")
    w = p.add_argument_group("workload")
    w.add_argument("--epochs", help="epochs per repeat, epoch 0 is the warm-up (default 5; the quick preset: 3)")
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
    r.add_argument("--workers", choices=["round", "run"],
                   help="'run': one worker process per thread setting (default); 'round': fresh workers every "
                   "round, so that each repeat is its own process (about 6 s a round here; what bench.compare "
                   "needs to test two runs; bench.ab's default)")
    r.add_argument("--peak-n", help="size n of the (n, n) matmul timed once per device as the GFLOP/s ceiling; "
                   "0 = skip (default 2048)")
    x = p.add_argument_group("executor (where trials run)")
    x.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: worker processes on this machine (default); ray: the nodes of a Ray cluster that "
                   "offer the bench_slot resource, one trial per node at a time (pip install "
                   "'eager-mlp-bench[cluster]'; see README: Past one machine)")
    x.add_argument("--ray-address", metavar="ADDR", help="the Ray cluster to join, e.g. 10.0.0.1:6379 or auto "
                   "(default: start a one-node Ray cluster here)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="run directory (default results/runs/<run-id>)")
    o.add_argument("--resume", metavar="DIR", help="continue a killed run in DIR with its recorded settings")
    o.add_argument("--shard", metavar="K/N", help="measure shard K of N of the matrix (every N-th trial, starting at "
                   "the K-th), e.g. one Slurm array task each; join the N run directories with python -m bench.merge")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument("--no-plots", action="store_true",
                   help="skip the figures in RUN_DIR/plots/ (python -m bench.plot draws them later); "
                   "analysis.json is written either way")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run, report."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    return cli.guarded("python -m bench.run", lambda: _main(args, argv))


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.spec import parse_shard

    shard = parse_shard(args.shard) if args.shard else None  # before anything is created
    run_dir, spec, resume = _resolve(args, parser())

    from bench.schedule import Sweep  # imports after validation, not for --help

    if args.ray_address and args.executor != "ray":
        raise SpecError("ray-address", args.ray_address, "needs --executor ray")
    kind = Sweep
    extra = {}
    if args.executor == "ray":
        from bench.cluster import RaySweep

        kind, extra = RaySweep, {"address": args.ray_address}
    print(f"run directory: {run_dir}", file=sys.stderr)
    rows = kind(spec, run_dir, argv=["python -m bench.run", *argv], resume=resume, progress=not args.quiet,
                shard=shard, **extra).run()
    _after(run_dir, plots=not args.no_plots)
    return 1 if any(r["status"] == "error" for r in rows) else 0


def _after(run_dir: Path, *, plots: bool) -> None:
    """The report, analysis.json, then the figures, all read back through the store; a failure here
    never costs the measurements (they are on disk)."""
    from bench.analysis import write_analysis
    from bench.report import report
    from bench.store import load_run

    def warn(what: str, exc: Exception, retry: str) -> None:
        print(f"python -m bench.run: warning: {what} failed ({type(exc).__name__}: {exc}); the measurements are "
              f"in {run_dir}; retry with: {retry}", file=sys.stderr)

    try:
        run = load_run(run_dir)
        print(report(run))
        print(f"{write_analysis(run)}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
        warn("analysis", exc, f"python -m bench.analysis {run_dir}")
        return
    if plots:
        from bench.plot import plot_runs

        try:
            plot_runs([run], log=lambda line: print(line, file=sys.stderr))
        except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
            warn("plots", exc, f"python -m bench.plot {run_dir}")


def _resolve(args: argparse.Namespace, p: argparse.ArgumentParser):
    """(run directory, spec, resume?) from the flags; SpecError for bad input."""
    flags = {key: getattr(args, key) for key in SPEC_KEYS}  # every spec flag's dest is its field name
    if args.resume:
        option = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings}
        given = [option[k] for k, v in vars(args).items()
                 if v not in (None, False) and k not in ("resume", "quiet", "no_plots", "executor", "ray_address")]
        if given:
            raise SpecError("resume", args.resume, f"takes the run's recorded settings; drop {', '.join(given)}")
        run_dir = Path(args.resume)
        from bench.schedule import spec_for_resume
        from bench.store import StoreError

        try:
            return run_dir, spec_for_resume(run_dir), True
        except StoreError as exc:
            raise SpecError("resume", args.resume, str(exc).removeprefix(f"{run_dir}: ")) from None
    layers = [{"preset": args.preset}]
    if args.config:
        layers.append(load_toml(args.config))
    layers.append(flags)
    spec = build_spec(*layers)
    from bench.schedule import new_run_id

    run_dir = Path(args.out) if args.out else Path("results") / "runs" / new_run_id()
    if (run_dir / "meta.json").exists():
        raise SpecError("out", str(run_dir), "already holds a run; use --resume to continue it")
    if run_dir.exists() and not run_dir.is_dir():
        raise SpecError("out", str(run_dir), "is a file, not a directory")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError("out", str(run_dir), f"cannot create: {exc.strerror}") from None
    if not os.access(run_dir, os.W_OK):
        raise SpecError("out", str(run_dir), "not writable")
    return run_dir, spec, False


if __name__ == "__main__":
    sys.exit(main())
