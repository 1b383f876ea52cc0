"""`python -m bench.ab --baseline-tree DIR --out OUT [sweep flags]`: A/B timing on one shared machine.

Measures the baseline checkout (DIR, e.g. a `git worktree` of the base commit) and the candidate
(this checkout, or --candidate-tree) in the same job, interleaved repeat by repeat in ABBA order
(A B, then B A, ...), so that machine drift lands on both sides alike and repeat r of one side
can be compared with repeat r of the other (bench.compare's paired test). Each side has its own
workers running its own code, fresh every round (--workers round, the default here), so that
every repeat is its own process. Every trial gets exactly --repeats repeats on both sides
(no adaptive stopping: the two samples stay the same size). Writes OUT/baseline and OUT/candidate
(ordinary run directories), then runs `bench.compare` on them and exits with its status
(0 no regression, 1 regression, 2 bad input). scripts/ab.sh does the git plumbing.

--mode icount counts instructions instead of timing (bench/icount.py: valgrind's callgrind, CPU
trials only): writes OUT/icount.json, prints the verdict table and exits 1 on any count more
than --threshold (default 0.01 there) above the baseline's.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid
from pathlib import Path

from bench import cli, icount
from bench.spec import PRESETS, SPEC_KEYS, SpecError, build_spec, load_toml
from mlp_core.enums import Device

DEFAULT_REPEATS = 10


def parser() -> argparse.ArgumentParser:
    """The command line: the A/B options plus the sweep's matrix and workload flags."""
    from bench.run import parser as run_parser

    p = cli.parser("python -m bench.ab", __doc__)
    p.add_argument("--baseline-tree", required=True, metavar="DIR", help="checkout of the baseline (A)")
    p.add_argument("--candidate-tree", metavar="DIR", help="checkout of the candidate (B); default: this one")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/baseline and DIR/candidate")
    p.add_argument("--preset", choices=sorted(PRESETS), help="base sweep (default: quick)")
    p.add_argument("--config", metavar="TOML", help="sweep file, as for bench.run")
    p.add_argument("--repeats", type=int, help="repeats per trial and side (default 10); processes per side for "
                   "--mode icount (default 2)")
    p.add_argument("--threshold", help="relative change that counts: passed to bench.compare (default 0.10); for "
                   "--mode icount the instruction-count threshold (default 0.01)")
    p.add_argument("--alpha", default="0.05", help="passed to bench.compare (default 0.05)")
    p.add_argument("--markdown", metavar="FILE", help="passed to bench.compare")
    p.add_argument("--mode", choices=["duet", "sequential", "icount"],
                   help="duet: both sides at the same time, each pinned to its own core with one thread, cores "
                   "swapped every round, so machine-wide noise lands on both sides of each pair (CPU trials, 2 or "
                   "more cores); sequential (default): one side after the other in ABBA order (also for GPU "
                   "trials and one core; README: the gate's calibration); icount: instructions per epoch under "
                   "valgrind's callgrind instead of time (CPU trials; README: the instruction-count gate)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    skip = {"--preset", "--config", "--repeats", "--max-repeats", "--target-ci", "--trial-budget", "--out",
            "--resume", "--shard", "--quiet", "--no-plots", "-h"}
    for action in run_parser()._actions:
        if action.option_strings and action.option_strings[0] not in skip:
            p.add_argument(*action.option_strings, dest=action.dest, help=action.help)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, measure A and B interleaved, compare."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    return cli.guarded("python -m bench.ab", lambda: _main(args, argv))


def _main(args, argv: list[str]) -> int:
    from bench.store.io import check_output

    out = check_output(args.out, "--out", directory=True)
    if args.markdown:
        check_output(args.markdown, "--markdown")
    # validation first: every bad input is an InputError (exit 2) before anything runs
    trees = [Path(args.baseline_tree), Path(args.candidate_tree or Path(__file__).resolve().parent.parent)]
    for name, tree in zip(("baseline_tree", "candidate_tree"), trees):
        if not (tree / "bench" / "worker.py").is_file():
            raise SpecError(name, str(tree), "not a checkout of this project (no bench/worker.py)")
    mode = args.mode or "sequential"
    repeats = args.repeats if args.repeats is not None else (icount.DEFAULT_PROCESSES if mode == "icount"
                                                              else DEFAULT_REPEATS)
    if repeats < (1 if mode == "icount" else 2):
        raise SpecError("repeats", repeats, "need at least 2 per side" if mode != "icount" else "need at least 1")
    threshold = args.threshold if args.threshold is not None else (
        str(icount.DEFAULT_THRESHOLD) if mode == "icount" else "0.10")
    layers = [{"preset": args.preset}]
    if args.config:
        layers.append(load_toml(args.config))
    flags = {k: getattr(args, k, None) for k in SPEC_KEYS}
    flags.update(min_repeats=repeats, max_repeats=repeats)
    if flags.get("workers") is None:
        flags["workers"] = "round"  # every repeat pair in fresh processes: the process is the unit
    if flags.get("peak_n") is None:
        flags["peak_n"] = 0  # a comparison needs no matmul ceiling (and older baselines cannot measure one)
    if mode == "icount":
        if flags.get("threads") not in (None, "1"):
            raise SpecError("threads", flags["threads"], "instructions are counted with one thread")
        flags["threads"] = "1"
        if flags.get("devices") is None:
            flags["devices"] = "cpu"  # the counted trials: the CPU ones
    layers.append(flags)
    spec = build_spec(*layers)
    cores = sorted(os.sched_getaffinity(0))
    # sequential is the default: it also serves GPU trials and one core, and on this project's machine the
    # duet did not measure better (README: the gate's calibration, two runs that disagree between modes)
    if mode == "icount":
        return _icount(spec, trees, out, repeats, threshold, args)
    if mode == "duet":
        if len(cores) < 2:
            raise SpecError("mode", "duet", f"needs 2 cores, this process may use {len(cores)}")
        if spec.devices != (Device.CPU,):
            raise SpecError("devices", ",".join(spec.devices), "a duet runs CPU trials only (one GPU cannot "
                            "host both sides fairly); use --mode sequential")
        if flags.get("threads") not in (None, "1"):
            raise SpecError("threads", flags["threads"], "a duet runs one thread per side on its own core")
        spec = build_spec(*layers[:-1], {**flags, "threads": "1"})
    for side in ("baseline", "candidate"):
        if (out / side / "meta.json").exists():
            raise SpecError("out", str(out / side), "already holds a run")

    from bench.schedule import Sweep

    sweeps = [Sweep(spec, out / side, argv=["python -m bench.ab", *argv], worker_tree=tree, progress=not args.quiet)
              for side, tree in zip(("baseline", "candidate"), trees)]
    for sweep in sweeps:
        sweep.run_dir.mkdir(parents=True, exist_ok=True)
    print(f"A/B ({mode}): baseline {trees[0]} -> {out / 'baseline'}, candidate {trees[1]} -> "
          f"{out / 'candidate'}", file=sys.stderr)
    if mode == "duet":
        half = len(cores) // 2
        duet(sweeps[0], sweeps[1], (frozenset(cores[:half]), frozenset(cores[half:2 * half])))
    else:
        interleave(sweeps[0], sweeps[1])
    from bench.compare import main as compare_main

    cmp_args = [str(out / "baseline"), str(out / "candidate"), "--threshold", threshold, "--alpha", args.alpha]
    if args.markdown:
        cmp_args += ["--markdown", args.markdown]
    return compare_main(cmp_args)


def _icount(spec, trees: list[Path], out: Path, processes: int, threshold: str, args) -> int:
    """The instruction-count gate: count both sides' CPU trials under callgrind, print and save the verdicts."""
    try:
        value = float(threshold)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise SpecError("threshold", threshold, "must be a fraction between 0 and 1 (0.01 = 1%)")
    if spec.devices != (Device.CPU,):
        raise SpecError("devices", ",".join(spec.devices), "instructions are counted on the CPU only (callgrind "
                        "cannot see GPU kernels); use --devices cpu")
    if spec.epochs < 2:
        raise SpecError("epochs", spec.epochs, "need at least 2 (the first is the warm-up)")
    for name, tree in zip(("baseline_tree", "candidate_tree"), trees):
        if "def make_trainer" not in _read(tree / "mlp_core" / "trainer.py"):
            raise SpecError(name, str(tree), "predates mlp_core.trainer.make_trainer, which the count needs")
    if (out / "icount.json").exists():
        raise SpecError("out", str(out / "icount.json"), "already holds a count")
    icount.valgrind()  # missing valgrind: a clear error before anything runs
    from dataclasses import asdict

    from bench.schedule import repeat_task
    from bench.spec import trials

    chosen = trials(spec)
    tasks = [asdict(repeat_task(t, 0, spec)) for t in chosen]  # repeat 0's weights, the run's data
    print(f"A/B (icount): {len(tasks)} configurations x {processes} processes per side under callgrind",
          file=sys.stderr)
    doc = icount.count(dict(zip(("baseline", "candidate"), trees)), tasks, [t.config_id for t in chosen], out,
                       processes=processes, threshold=value, parallel=len(os.sched_getaffinity(0)),
                       progress=not args.quiet)
    print(icount.table(doc), end="")
    if args.markdown:
        from bench.store.io import atomic_write

        atomic_write(Path(args.markdown), icount.table(doc, markdown=True), what="--markdown")
    return icount.status(doc)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def interleave(a, b) -> None:
    """Run two sweeps of the same spec repeat by repeat: A B for even rounds, B A for odd (ABBA)."""
    with a.session() as states_a, b.session() as states_b:
        pair_id = uuid.uuid4().hex
        for sweep, side in ((a, "baseline"), (b, "candidate")):
            sweep.meta["ab"] = {"id": pair_id, "side": side}  # bench.compare pairs repeat r of both sides
            sweep.save_meta()
        ids = [cid for cid in states_a if states_a[cid].status is None]
        random.Random(a.meta["order_seed"]).shuffle(ids)
        pending = {cid: [(a, states_a[cid]), (b, states_b[cid])] for cid in ids}
        with a.progress_bar([states_a[c] for c in ids] + [states_b[c] for c in ids]) as bar:
            round_no = 0
            while pending:
                for cid in list(pending):
                    sides = pending[cid] if round_no % 2 == 0 else pending[cid][::-1]
                    for sweep, state in list(sides):
                        if sweep.step(state, bar):
                            pending[cid] = [(s, st) for s, st in pending[cid] if st is not state]
                    if not pending[cid]:
                        del pending[cid]
                round_no += 1
                a.end_round()
                b.end_round()



def duet(a, b, cores: tuple[frozenset[int], frozenset[int]]) -> None:
    """Run two sweeps of the same spec at the same time, repeat r of both sides together, each side's
    workers pinned to its own cores and swapped every round (duet benchmarking, Bulej et al., ICPE 2020):
    noise that hits the machine hits both sides of a pair. Workers are fresh every round."""
    with a.session() as states_a, b.session() as states_b:
        pair_id = uuid.uuid4().hex
        for sweep, side in ((a, "baseline"), (b, "candidate")):
            sweep.meta["ab"] = {"id": pair_id, "side": side, "mode": "duet", "cores": [sorted(c) for c in cores]}
            sweep.save_meta()
        pending = [cid for cid in states_a if states_a[cid].status is None]
        random.Random(a.meta["order_seed"]).shuffle(pending)
        with a.progress_bar([states_a[c] for c in pending] + [states_b[c] for c in pending]) as bar:
            round_no = 0
            while pending:
                a.workers.cpus, b.workers.cpus = cores if round_no % 2 == 0 else cores[::-1]
                for cid in list(pending):
                    both = [(s, st) for s, st in ((a, states_a[cid]), (b, states_b[cid])) if st.status is None]
                    for sweep, state in both:  # both workers up and warm before either side is timed
                        sweep.ready(state)
                    started = [(sweep, state, sweep.start_repeat(state, bar)) for sweep, state in both]
                    for sweep, state, go in started:
                        if go is not None:
                            sweep.finish_repeat(state, go)
                    for sweep, state, _ in started:
                        sweep.after_repeat(state, bar)
                    if states_a[cid].status is not None and states_b[cid].status is not None:
                        pending.remove(cid)
                round_no += 1
                a.end_round()
                b.end_round()


if __name__ == "__main__":
    sys.exit(main())
