"""`python -m bench.ab --baseline-tree DIR --out OUT [sweep flags]`: did the candidate make training slower?

Measures the baseline checkout (DIR, e.g. a `git worktree` of the base commit) and the candidate
(this checkout, or --candidate-tree) in the same job on this machine, each side by its own code in its
own worker processes, and exits with the verdict (scripts/ab.sh does the git plumbing). Methods
(--method):

  sequential (default)  one side after the other, repeat by repeat, in ABBA order (A B, then B A, ...),
                        so machine drift lands on both sides alike and repeat r of one side is compared
                        with repeat r of the other (bench.compare's paired test); also for GPU trials
  duet                  both sides at the same time, each pinned to its own cores with one thread, the
                        cores swapped every round (CPU trials, 2 or more cores)
  icount                instructions per timed epoch under valgrind's callgrind instead of time (CPU
                        trials): OUT/icount.json and the verdict table; exit 1 on any count more than
                        --threshold (default 0.01 here) above the baseline's; a count close to the
                        threshold is confirmed by one more process a side, and every `slower` one
                        lists where its count grew (TF ops, calls, functions)

For the timed methods every trial gets exactly --repeats repeats on both sides (no adaptive stopping:
the two samples stay the same size), in fresh processes every round (--workers round, the default
here): the process is the unit of replication. Writes OUT/baseline and OUT/candidate (ordinary run
directories), then compares them (bench.compare) and exits with its status: 0 no regression found,
1 regression (or no verdict), 2 bad input. Both sides run on this machine: a Ray cluster (bench.run
--executor ray) would need each side's checkout on every node.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path

from bench import cli
from bench.cli import options
from bench.cli.compare import main as compare_main
from bench.engine import icount, icount_table
from bench.engine.icount import DEFAULT_PROCESSES
from bench.engine.icount import DEFAULT_THRESHOLD as DEFAULT_ICOUNT_THRESHOLD
from bench.engine.session import repeat_task
from bench.engine.stop import Interrupted, StopRequest
from bench.format.io import atomic_write, check_output
from bench.format.spec import SpecError, trials
from mlp_core import modes
from mlp_core.enums import Device

PROG = "python -m bench.ab"
DEFAULT_REPEATS = 10  # per trial and side, for the timed methods
# what bench.ab applies unless a flag says otherwise: shown in --help from here
# fresh processes every round; no ceiling needed to compare; each trial in its own place in the order (the
# sides are what an A/B pairs, not dtypes)
TIMED_DEFAULTS = {"workers": "round", "peak_n": 0, "pairing": "none"}
ICOUNT_DEFAULTS = {"devices": "cpu", "threads": "1"}  # counted on the CPU, one thread (a spinning pool's spins)


def parser() -> argparse.ArgumentParser:
    """The command line: the A/B options plus the sweep's."""
    p = cli.parser(PROG, __doc__)
    p.add_argument("--baseline-tree", required=True, metavar="DIR", help="checkout of the baseline (A)")
    p.add_argument("--candidate-tree", metavar="DIR", help="checkout of the candidate (B); default: this one")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/baseline and DIR/candidate (icount: "
                   "DIR/icount.json)")
    p.add_argument("--method", choices=["sequential", "duet", "icount"], default="sequential",
                   help="how the two sides are measured (see above; default sequential)")
    p.add_argument("--repeats", type=int, metavar="N", help=f"repeats per trial and side, exactly (default "
                   f"{DEFAULT_REPEATS}; not for --method icount)")
    p.add_argument("--processes", type=int, metavar="N", help=f"--method icount: processes per side (default "
                   f"{DEFAULT_PROCESSES})")
    p.add_argument("--instrument", choices=icount.INSTRUMENT, help="--method icount: what callgrind instruments: "
                   "counted (default), only the counted epochs, so imports and set-up run at valgrind's "
                   "uninstrumented speed; all, the whole process (the same counts, slower; for checking)")
    p.add_argument("--explain", choices=icount.EXPLAIN, help="--method icount: which configurations list the "
                   "functions whose instruction counts changed most (default slower; all; none)")
    p.add_argument("--confirm", choices=("on", "off"), help="--method icount: a count within +-threshold/2 of a "
                   "verdict's boundary gets one more process a side before its verdict (default on; off judges "
                   "the first processes alone)")
    options.add_verdict_options(p, per_mode=True, threshold_help=f"; --method icount: the instruction-count "
                                f"threshold, default {DEFAULT_ICOUNT_THRESHOLD:g}, also per execution mode: "
                                "0.005,function=0.01 holds function mode to 1%% and the others to 0.5%%")
    options.add_markdown(p)
    options.add_quiet(p)
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="local only: both sides run on "
                   "this machine (ray is refused: each side's checkout would be needed on every node)")
    options.add_sweep_options(p, command_defaults={**TIMED_DEFAULTS, "min_repeats": DEFAULT_REPEATS,
                                                   "max_repeats": DEFAULT_REPEATS},
                              skip=("min_repeats", "max_repeats", "target_ci", "trial_budget_s", *options.ANSWER_KEYS))
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, measure both sides, give the verdict."""
    return cli.command(parser, _main, argv)


def _main(args: argparse.Namespace) -> int:
    # validation first: every bad input is an InputError (exit 2) before anything runs
    if args.executor != "local":
        raise SpecError("executor", args.executor, "bench.ab measures both sides on this machine (each side's "
                        "checkout would be needed on every node of a cluster); use --executor local")
    out = check_output(args.out, "--out", directory=True)
    if args.markdown:
        check_output(args.markdown, "--markdown")
    trees = [Path(args.baseline_tree), Path(args.candidate_tree or Path(__file__).resolve().parents[2])]
    for name, tree in zip(("baseline_tree", "candidate_tree"), trees):
        if not (tree / "bench" / "worker.py").is_file():
            raise SpecError(name, str(tree), "not a checkout of this project (no bench/worker.py)")
    if args.method == "icount":
        return _icount(args, trees, out)
    if args.instrument is not None:
        raise SpecError("instrument", args.instrument, "is for --method icount")
    for name in ("explain", "confirm"):
        if getattr(args, name) is not None:
            raise SpecError(name, getattr(args, name), "is for --method icount")
    if args.processes is not None:
        raise SpecError("processes", args.processes, "counts processes of --method icount; the timed methods take "
                        "--repeats")
    repeats = DEFAULT_REPEATS if args.repeats is None else args.repeats
    if repeats < 2:
        raise SpecError("repeats", repeats, "need at least 2 per side")
    if isinstance(args.threshold, dict):
        raise SpecError("threshold", options.threshold_text(args.threshold), "a threshold per "
                        "execution mode is for --method icount; a timed A/B takes one number")
    threshold = options.check_threshold(args.threshold, options.DEFAULT_THRESHOLD, upper=10)
    defaults = dict(TIMED_DEFAULTS)
    cores = sorted(os.sched_getaffinity(0))
    if args.method == "duet":
        if args.threads not in (None, "1"):
            raise SpecError("threads", args.threads, "a duet runs one thread per side on its own core")
        defaults["threads"] = "1"
    args.repeats = repeats
    spec = options.spec_from(args, defaults)
    if args.method == "duet":
        if len(cores) < 2:
            raise SpecError("method", "duet", f"needs 2 cores, this process may use {len(cores)}")
        if spec.devices != (Device.CPU,):
            raise SpecError("devices", ",".join(spec.devices), "a duet runs CPU trials only (one GPU cannot "
                            "host both sides fairly); use --method sequential")
    dirs = [out / "baseline", out / "candidate"]
    for d in dirs:
        if (d / "meta.json").exists():
            raise SpecError("out", str(d), "already holds a run")
        d.mkdir(parents=True, exist_ok=True)

    from bench.engine import loop  # after validation: not for --help (tqdm)

    half = len(cores) // 2
    policy = loop.Duet(cores=(frozenset(cores[:half]), frozenset(cores[half:2 * half]))) if args.method == "duet" \
        else loop.ABBA()
    print(f"A/B ({args.method}): baseline {trees[0]} -> {dirs[0]}, candidate {trees[1]} -> {dirs[1]}",
          file=sys.stderr)
    stop = StopRequest()
    try:
        with stop.installed():
            done = loop.run_ab(spec, dirs, trees, argv=args.command_line, policy=policy, progress=not args.quiet,
                               stop=stop)
    except Interrupted as exc:
        stop.signum, done = exc.signum, False
    if not done:
        print(f"{PROG}: stopped by {stop.signum and os.strsignal(stop.signum)}; nothing was compared",
              file=sys.stderr)
        return 128 + (stop.signum or 2)
    cmp_args = [str(dirs[0]), str(dirs[1]), "--threshold", str(threshold), "--alpha", str(args.alpha)]
    if args.markdown:
        cmp_args += ["--markdown", args.markdown]
    return compare_main(cmp_args)


def icount_plan(args: argparse.Namespace, default_processes: int = DEFAULT_PROCESSES):
    """(tasks, config ids, threshold, processes) of an instruction count from the command line, checked: CPU
    trials, one thread, one device (bench.ab --method icount, bench.bisect). The threshold is one number, or
    {config id: number} where --threshold set different ones per execution mode."""
    if getattr(args, "repeats", None) is not None:
        raise SpecError("repeats", args.repeats, "instruction counts take processes, not repeats: use --processes")
    processes = default_processes if args.processes is None else args.processes
    if processes < 1:
        raise SpecError("processes", processes, "need at least 1")
    per_mode = args.threshold if isinstance(args.threshold, dict) else {"*": args.threshold}
    if args.threads not in (None, "1"):
        raise SpecError("threads", args.threads, "instructions are counted with one thread")
    spec = options.spec_from(args, {**TIMED_DEFAULTS, **ICOUNT_DEFAULTS})
    if spec.devices != (Device.CPU,):
        raise SpecError("devices", ",".join(spec.devices), "instructions are counted on the CPU only (callgrind "
                        "cannot see GPU kernels); use --devices cpu")
    if spec.replicas != (1,):
        raise SpecError("replicas", ",".join(map(str, spec.replicas)), "instructions are counted on one device "
                        "(replicas 1): tf.distribute's copies run on threads callgrind would count as one")
    chosen = trials(spec)
    unknown = sorted(set(per_mode) - {"*"} - set(modes.names()))  # a mode this count does not train: unused
    if unknown:
        raise SpecError("threshold", ",".join(unknown), f"names no execution mode (the modes: "
                        f"{', '.join(modes.names())})")
    thresholds = {t.config_id: options.check_threshold(per_mode.get(str(t.mode), per_mode.get("*")),
                                                       DEFAULT_ICOUNT_THRESHOLD, upper=1) for t in chosen}
    threshold = thresholds if len(set(thresholds.values())) > 1 else next(iter(thresholds.values()))
    tasks = [asdict(repeat_task(t, 0, spec)) for t in chosen]  # repeat 0's weights, the run's data
    return tasks, [t.config_id for t in chosen], threshold, processes


def _icount(args: argparse.Namespace, trees: list[Path], out: Path) -> int:
    """The instruction-count gate: count both sides' CPU trials under callgrind, print and save the verdicts."""
    tasks, ids, threshold, processes = icount_plan(args)
    for name, tree in zip(("baseline_tree", "candidate_tree"), trees):
        why = icount.uncountable(tree)
        if why:
            raise SpecError(name, str(tree), why)
    if (out / "icount.json").exists():
        raise SpecError("out", str(out / "icount.json"), "already holds a count")
    icount.valgrind()  # missing valgrind: a clear error before anything runs
    print(f"A/B (icount): {len(tasks)} configurations x {processes} processes per side under callgrind",
          file=sys.stderr)
    doc = icount.count(dict(zip(("baseline", "candidate"), trees)), tasks, ids, out,
                       processes=processes, threshold=threshold, parallel=len(os.sched_getaffinity(0)),
                       progress=not args.quiet, instrument=args.instrument or "counted",
                       explain=args.explain or "slower", confirm=args.confirm != "off")
    print(icount_table.table(doc), end="")
    if args.markdown:
        atomic_write(Path(args.markdown), icount_table.table(doc, markdown=True), what="--markdown")
    return icount.status(doc)


