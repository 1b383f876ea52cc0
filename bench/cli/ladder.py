"""`python -m bench.ladder RUN... [--out DIR]`: the overhead ladder of runs, from the compiled floor up.

Each RUN is a run directory of `python -m bench.run` holding CPU trials of several execution modes
(README: "The overhead ladder" has the commands). For each (batch, hidden) of its float32 trials
with the fewest threads, every mode's median epoch time per step, as a multiple of the numba
floor's (the same work, compiled whole), and for each TensorFlow mode where its step's time goes,
measured now in this process (bench.engine.breakdown): the tf.data pipeline alone, the step on pre-made
tensors, and of that, the arithmetic: the time of the fastest non-TF implementation of the same
step at that point (the numba floor at small sizes; at large ones NumPy's BLAS or JAX's XLA, both
multithreaded, can beat one core's compiled loops). Writes DIR/ladder.json,
DIR/ladder.md (the table) and DIR/ladder.png|svg (the figure). Default DIR: RUN/ladder (one RUN).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import cli
from bench.engine.breakdown import ROUNDS
from bench.format import load_run
from bench.format.errors import InputError
from bench.format.io import atomic_write, check_output, write_json


def parser():
    """The command line."""
    p = cli.parser("python -m bench.ladder", __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directory with CPU trials of several modes")
    p.add_argument("--out", metavar="DIR", help="where ladder.json, ladder.md and the figure go (default RUN/ladder; "
                   "needed for several runs)")
    p.add_argument("--rounds", type=int, default=ROUNDS, help=f"breakdown rounds per TF mode (default {ROUNDS})")
    p.add_argument("--no-breakdown", action="store_true", help="the ladder only (no TensorFlow needed)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, read, measure, write."""
    return cli.command(parser, _main, argv, parse="intermixed")  # RUN... and options in any order


def _main(args) -> int:
    from bench.analysis import ladder  # pandas, matplotlib
    from bench.engine import breakdown  # TensorFlow, when there is a breakdown to measure

    if args.rounds < 3:
        raise InputError(f"--rounds: {args.rounds}: need at least 3 (the first is the warm-up)")
    if len(args.runs) > 1 and not args.out:
        raise InputError("--out: needed when several runs are given")
    runs = [load_run(r) for r in args.runs]
    for run in runs:  # the ladder's rungs (the breakdown, the numba floor) are the MLP's own code
        if not run.workload.own_trainers:
            raise InputError(f"{run.path}: workload {run.workload.name!r}: the ladder is the article MLP's (its "
                             "breakdown and its numba floor train the MLP); measure that workload's modes with "
                             "python -m bench.run --workload and read its report")
    out = check_output(args.out or Path(args.runs[0]) / "ladder", "--out", directory=True)
    docs = []
    for path, run in zip(args.runs, runs):
        doc = ladder.ladder(run)
        if not doc["points"]:
            raise InputError(f"{path}: no ok float32 CPU trial to build a ladder from")
        if not args.no_breakdown:
            breakdown.add_breakdown(run, doc, rounds=args.rounds)
        docs.append(doc)
    doc = {"runs": [d["run"] for d in docs], "machine": docs[0]["machine"], "n_train": docs[0]["n_train"],
           "points": [p for d in docs for p in d["points"]]}
    write_json(out / "ladder.json", doc, what="--out")
    atomic_write(out / "ladder.md", ladder.table(doc), what="--out")
    ladder.figure(doc, out)
    print(ladder.table(doc), end="")
    print(f"wrote {out}/ladder.json, ladder.md, ladder.png, ladder.svg", file=sys.stderr)
    return 0
