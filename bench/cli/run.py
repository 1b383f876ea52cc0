"""`python -m bench.run`: train the MLP over a matrix of settings and record honest timings.

With no arguments it runs the `quick` preset (under 2 minutes on a 2-core CPU): devices cpu,gpu
(GPU trials skipped with the reason where none is visible), batch 4/32/256, hidden 20/256/2048,
dtype modes float32 and float64-cast, eager mode, the article's data sizes, 3 epochs a repeat.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from bench import cli
from bench.cli import options
from bench.engine.session import new_run_id, spec_for_resume
from bench.engine.stop import Interrupted, StopRequest
from bench.format import StoreError
from bench.format.io import WriteError
from bench.format.spec import SpecError, parse_shard

PROG = "python -m bench.run"
EXAMPLES = """examples:
  python -m bench.run                                   # the quick preset
  python -m bench.run --preset article                  # the article's settings, article vs eager
  python -m bench.run --config scripts/sweep.example.toml --min-repeats 5
  python -m bench.run --devices cpu --modes eager,function,graph --threads 1,2
  python -m bench.run --devices cpu --modes numpy,numba,jax-step,jax-epoch  # no TensorFlow needed
  python -m bench.run --resume results/runs/20261124-101500-1a2b   # continue a stopped or killed run
  python -m bench.run --devices cpu --modes function --replicas 1,2,4 --batch-sizes 64,256   # scaling
  python -m bench.run --executor ray --ray-address 10.0.0.1:6379  # on the bench_slot nodes of a Ray cluster

Ctrl-C (SIGINT) or SIGTERM: the repeat under way finishes and is recorded, then the run stops (a second
signal stops at once); `--resume DIR` finishes it.

exit status: 0 every trial ok or skipped; 1 a trial failed (status error), or the disk filled; 2 bad input;
130 / 143 stopped by SIGINT / SIGTERM (resumable)."""


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = cli.parser(PROG, __doc__, EXAMPLES)
    options.add_sweep_options(p)
    options.add_exact_repeats(p)
    x = p.add_argument_group("executor (where trials run)")
    x.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: worker processes on this machine (default); ray: the nodes of a Ray cluster that "
                   "offer the bench_slot resource, one trial per node at a time (pip install "
                   "'eager-mlp-bench[cluster]'; see README: Past one machine)")
    x.add_argument("--ray-address", metavar="ADDR", help="the Ray cluster to join, e.g. 10.0.0.1:6379 or auto "
                   "(default: start a one-node Ray cluster here)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="run directory (default results/runs/<run-id>)")
    o.add_argument("--resume", metavar="DIR", help="continue a stopped or killed run in DIR with its recorded "
                   "settings")
    o.add_argument("--shard", metavar="K/N", help="measure shard K of N of the matrix (every N-th trial, starting at "
                   "the K-th), e.g. one Slurm array task each; join the N run directories with python -m bench.merge")
    options.add_quiet(o)
    o.add_argument("--no-plots", action="store_true",
                   help="skip the figures in RUN_DIR/plots/ (python -m bench.plot draws them later); "
                   "analysis.json is written either way")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run, report."""
    return cli.command(parser, _main, argv)


def _main(args: argparse.Namespace) -> int:
    shard = parse_shard(args.shard) if args.shard else None  # before anything is created
    if args.ray_address and args.executor != "ray":
        raise SpecError("ray-address", args.ray_address, "needs --executor ray")
    run_dir, spec, resume = _resolve(args)

    from bench.engine import loop  # after validation: not for --help (tqdm)

    executor = None
    if args.executor == "ray":
        from bench.engine.cluster import RayExecutor  # Ray, an optional extra

        executor = RayExecutor(spec, args.ray_address)
    print(f"run directory: {run_dir}", file=sys.stderr)
    stop = StopRequest()
    try:
        with stop.installed():
            rows, done = loop.run_sweep(spec, run_dir, argv=args.command_line, resume=resume, shard=shard,
                                        executor=executor, progress=not args.quiet, stop=stop)
    except WriteError as exc:
        print(f"{PROG}: error: {exc}; what was measured before is kept: free some space, then resume with: "
              f"{PROG} --resume {run_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a SIGINT before the handler was in place, or after it was gone
        stop.signum, done = signal.SIGINT, False
    except Interrupted as exc:
        stop.signum, done = exc.signum, False
    if not done:
        name = signal.Signals(stop.signum).name
        print(f"{PROG}: stopped by {name}; every finished repeat is on disk in {run_dir}; resume with: "
              f"{PROG} --resume {run_dir}", file=sys.stderr)
        return 128 + stop.signum
    from bench.analysis import report  # pandas, SciPy, matplotlib

    report.after_run(run_dir, plots=not args.no_plots, prog=PROG)
    if rows and not any(r["status"] == "ok" for r in rows):  # a run that measured nothing does not exit 0
        print(f"{PROG}: error: no trial was measured ({', '.join(_reasons(rows))}); the run is kept in {run_dir}",
              file=sys.stderr)
        return 1
    return 1 if any(r["status"] == "error" for r in rows) else 0


def _reasons(rows: list[dict]) -> list[str]:
    """Each distinct (status, reason) of the trials, counted: why nothing was measured."""
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["status"], r.get("reason") or "")
        counts[key] = counts.get(key, 0) + 1
    return [f"{n} {status}: {reason}" if reason else f"{n} {status}" for (status, reason), n in counts.items()]


def _resolve(args: argparse.Namespace) -> tuple[Path, object, bool]:
    """(run directory, spec, resume?) from the flags; SpecError for bad input."""
    if args.resume is not None and not args.resume.strip():
        raise SpecError("resume", args.resume, "empty: name the run directory to continue")
    if args.resume:
        given = options.given_options(args) + [f for f, v in (("--out", args.out), ("--shard", args.shard)) if v]
        if given:
            raise SpecError("resume", args.resume, f"takes the run's recorded settings; drop {', '.join(given)}")
        run_dir = Path(args.resume)
        try:
            return run_dir, spec_for_resume(run_dir), True
        except StoreError as exc:
            raise SpecError("resume", args.resume, str(exc).removeprefix(f"{run_dir}: ")) from None
    spec = options.spec_from(args)
    if args.out is not None and not args.out.strip():
        raise SpecError("out", args.out, "empty: name a run directory (or leave --out out: results/runs/<run-id>)")
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
