"""`python -m bench.workload`: the workloads the harness can measure, and the contract check for any of them.

  python -m bench.workload list                 # the built-ins and the installed entry points
  python -m bench.workload check cnn            # the contract check of a built-in
  python -m bench.workload check examples.keras_regression:workload --json out/check.json

`check SPEC` loads the workload as bench.run would (a built-in's name, an installed entry point's, or
package.module:factory) and runs the contract check (bench.engine.contract) on a small training: data and
initial weights deterministic for a seed, the train MSE falling, every TF mode the workload claims following the
eager loop's trajectory within a tolerance for its dtype (float32 1e-4, float64 1e-10, relative), and placement
honest on every device it claims (a device this machine lacks is a skip, with the reason). Prints one line per
check; exit 0 when none failed, 1 when one did, 2 for bad input (a workload that cannot be loaded included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from bench import cli
from bench.format.errors import InputError
from bench.format.io import check_output
from mlp_core import workloads

PROG = "python -m bench.workload"


def parser() -> argparse.ArgumentParser:
    """list | check SPEC [the small training's settings]."""
    p = cli.parser(PROG, __doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    sub.add_parser("list", help="the built-in workloads and the installed entry points")
    c = sub.add_parser("check", help="the contract check of one workload")
    c.add_argument("spec", metavar="SPEC", help="a built-in's name (mlp, cnn), an installed entry point's, or "
                   "package.module:factory")
    c.add_argument("--size", type=int, help="the size to build (default: the workload's first default size)")
    c.add_argument("--batch-size", type=int, default=32, help="samples per step (default 32)")
    c.add_argument("--n-train", type=int, default=256, help="training samples (default 256)")
    c.add_argument("--epochs", type=int, default=4, help="epochs per training (default 4)")
    c.add_argument("--seed", type=int, default=0, help="data and weight seed (default 0)")
    c.add_argument("--learning-rate", type=float, help="step size (default: the workload's)")
    c.add_argument("--dtypes", metavar="LIST", help="comma-separated dtype modes whose trajectories are checked "
                   "(default: every one the workload trains in)")
    c.add_argument("--json", metavar="FILE", help="also write every check's outcome and numbers as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return cli.command(parser, _main, argv)


def _positive(name: str, value, *, zero: bool = False) -> None:
    if value is not None and not (value >= 0 if zero else value > 0):
        raise InputError(f"{name}: {value!r}: expected a {'non-negative' if zero else 'positive'} number")


def _main(args: argparse.Namespace) -> int:
    if args.command == "list":
        for w in workloads.BUILTIN.values():
            print(f"{w.name:8} sizes {','.join(map(str, w.default_sizes)):12} {w.summary}")
        for name in workloads.names()[len(workloads.BUILTIN):]:
            print(f"{name:8} (installed entry point)")
        return 0
    for name, value in (("--size", args.size), ("--batch-size", args.batch_size), ("--n-train", args.n_train),
                        ("--learning-rate", args.learning_rate)):
        _positive(name, value)
    _positive("--seed", args.seed, zero=True)
    if args.epochs < 2:
        raise InputError(f"--epochs: {args.epochs!r}: need at least 2 (the MSE must be seen to fall)")
    if args.batch_size > args.n_train:
        raise InputError(f"--batch-size: {args.batch_size}: larger than --n-train ({args.n_train})")
    out = check_output(args.json, "--json") if args.json else None
    try:
        workload = workloads.get(args.spec)
    except workloads.WorkloadError as exc:
        raise InputError(f"SPEC: {exc}") from None
    dtypes = None
    if args.dtypes is not None:
        dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
        unknown = [d for d in dtypes if d not in workload.dtypes]
        if unknown or not dtypes:
            raise InputError(f"--dtypes: {args.dtypes!r}: workload {workload.name!r} trains in "
                             f"{', '.join(workload.dtypes)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's import: its start-up chatter
    from bench.engine.contract import Settings, check  # TensorFlow

    settings = Settings(size=args.size, batch_size=args.batch_size, n_train=args.n_train, n_test=64,
                        epochs=args.epochs, seed=args.seed, learning_rate=args.learning_rate, dtypes=dtypes)
    print(f"workload {workload.name} ({workload.spec}): {workload.summary}", flush=True)
    _, checks = check(args.spec, settings, progress=lambda what: print(f"  checking {what} ...", file=sys.stderr,
                                                                        flush=True))
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.outcome.upper():4}  {c.name:{width}}  {c.detail}")
    failed = [c for c in checks if c.outcome == "fail"]
    counts = {o: sum(c.outcome == o for c in checks) for o in ("pass", "fail", "skip")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    if out is not None:
        out.write_text(json.dumps({"workload": workload.facts(), "settings": asdict(settings),
                                   "checks": [asdict(c) for c in checks]}, indent=1, default=str) + "\n")
    return 1 if failed else 0
