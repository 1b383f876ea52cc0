"""`python -m bench.merge OUT RUN...`: join the shards of one sweep into one run directory.

Each RUN is a run directory of `python -m bench.run --shard K/N` (e.g. the tasks of a Slurm array
job); together they must be shards 1..N of the same N, each once, of the same sweep (identical
resolved spec), the same schema version and the same code (git commit). Shards may come from
different machines: every row names the machine that measured it (schema 3; a schema 2 shard's
one machine is fingerprinted from its meta.json), and the merged meta.json's `machines` holds them
all, so analysis and tables label each trial with its machine. Every input is read through the
store's checks and never written; OUT must be new (or an empty directory) and is written through
the store: meta.json with `merged_from` (each shard's run id, shard, path, machines, start and
finish), and the shards' rows, their run_id set to OUT's. The merged run reads like one unsharded
run.
"""

from __future__ import annotations

from pathlib import Path

from bench import cli
from bench.engine import shards


def parser():
    """The command line."""
    p = cli.parser("python -m bench.merge", __doc__)
    p.add_argument("out", metavar="OUT", help="the merged run directory (must not hold anything yet)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="the shard run directories, 1..N of the same sweep")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, check, merge."""
    return cli.command(parser, _main, argv)


def _main(args) -> int:
    out, paths = Path(args.out), [Path(r) for r in args.runs]
    run = shards.merge(out, paths)
    finished = run.meta["finished_at"]
    print(f"merged {len(paths)} shards into {out}: {len(run.summary)} trials "
          f"({', '.join(f'{n} {s}' for s, n in run.summary['status'].value_counts().items())})"
          + ("" if finished else "; not every shard finished: `bench.run --resume` each, then merge again"))
    return 0
