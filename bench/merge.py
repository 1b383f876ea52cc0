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

import sys
from pathlib import Path
from typing import Any

from bench import cli
from bench.errors import InputError


def parser():
    """The command line."""
    p = cli.parser("python -m bench.merge", __doc__)
    p.add_argument("out", metavar="OUT", help="the merged run directory (must not hold anything yet)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="the shard run directories, 1..N of the same sweep")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, check, merge."""
    args = parser().parse_args(argv)
    return cli.guarded("python -m bench.merge", lambda: _main(Path(args.out), [Path(r) for r in args.runs]))


def _main(out: Path, paths: list[Path]) -> int:
    from bench.store import load_run
    from bench.store.fields import META_FILE
    from bench.store.run import Tables, check_consistency, read_any, read_meta, spec_of
    from bench.store.writer import write_run

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"OUT: {out}: exists and is not an empty directory (bench.merge never overwrites)")
    if any(out.resolve() == p.resolve() for p in paths):
        raise InputError(f"OUT: {out}: is one of the inputs")
    metas = [read_meta(p) for p in paths]
    check(paths, metas)
    parts, machines, peaks = [], {}, []
    for i, (path, meta) in enumerate(zip(paths, metas)):  # each input read once, through every check load_run makes
        meta, tables = read_any(path, meta)  # an older schema's rows get their machine here
        metas[i] = meta
        machines.update(meta["machines"])
        (only,) = meta["machines"] if meta["schema_version"] < 3 else (None,)
        peaks += [{**p, "machine": p.get("machine", only)} for p in meta.get("peak", [])]
        # the epochs of committed repeats only (a shard killed mid-repeat leaves others behind: not carried over)
        raw, _ = check_consistency(path, meta, spec_of(meta, path / META_FILE), tables)
        parts.append({"raw": raw, "repeats": tables.repeats.rows, "summary": tables.summary.rows})
    run_id = out.name
    merged = {name: _rows([part[name] for part in parts], run_id) for name in ("raw", "repeats", "summary")}
    first = metas[0]
    finished = [m.get("finished_at") for m in metas]
    meta = {
        "run_id": run_id, "command": ["python -m bench.merge", str(out), *map(str, paths)], "spec": first["spec"],
        "order_seed": first["order_seed"], "started_at": min(m["started_at"] for m in metas),
        "finished_at": max(finished) if all(finished) else None, "git": first["git"], "host": first["host"],
        "tensorflow": next((m["tensorflow"] for m in metas if m.get("tensorflow")), None),
        "machines": machines, "peak": peaks,
        "merged_from": [{"run_id": m["run_id"], "shard": m["shard"], "path": str(p), "machines": sorted(m["machines"]),
                         "started_at": m["started_at"], "finished_at": m.get("finished_at")}
                        for p, m in zip(paths, metas)],
    }
    write_run(out, meta, Tables(**merged))
    run = load_run(out)  # the merged directory passes the store's checks, or this is a bug
    print(f"merged {len(paths)} shards into {out}: {len(run.summary)} trials "
          f"({', '.join(f'{n} {s}' for s, n in run.summary['status'].value_counts().items())})"
          + ("" if meta["finished_at"] else "; not every shard finished: `bench.run --resume` each, then merge again"))
    return 0


def check(paths: list[Path], metas: list[dict[str, Any]]) -> None:
    """InputError unless the runs are shards 1..N of one sweep, measured by one code version."""
    first = metas[0]
    for path, meta in zip(paths, metas):
        if "shard" not in meta:
            raise InputError(f"{path}: not a shard (no `shard` in meta.json; made without bench.run --shard)")
        if meta["schema_version"] != first["schema_version"]:
            raise InputError(f"{path}: schema version {meta['schema_version']}, but {paths[0]} has "
                             f"{first['schema_version']} (python -m bench.store upgrade first)")
        if meta["spec"] != first["spec"]:
            key = next(k for k in sorted(set(meta["spec"]) | set(first["spec"]))
                       if meta["spec"].get(k) != first["spec"].get(k))
            raise InputError(f"{path}: a different sweep: spec.{key} is {meta['spec'].get(key)!r} there, "
                             f"{first['spec'].get(key)!r} in {paths[0]}")
        if (meta.get("git") or {}).get("commit") != (first.get("git") or {}).get("commit"):
            raise InputError(f"{path}: measured by commit {(meta.get('git') or {}).get('commit')}, {paths[0]} by "
                             f"{(first.get('git') or {}).get('commit')}: one run is one version of the code")
    counts = {m["shard"]["count"] for m in metas}
    if len(counts) > 1:
        raise InputError(f"shards of different counts: {sorted(counts)} (one sweep is split one way)")
    n = counts.pop()
    seen: dict[int, Path] = {}
    for path, meta in zip(paths, metas):
        k = meta["shard"]["index"]
        if k in seen:
            raise InputError(f"{path}: shard {k}/{n} again (also {seen[k]})")
        seen[k] = path
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise InputError(f"shards {', '.join(f'{k}/{n}' for k in missing)} missing: a merge joins all {n}")


def _rows(shards: list[list[dict[str, Any]]], run_id: str) -> Any:
    """One table's rows from every shard, run_id rewritten to the merged run's."""
    from bench.store.io import Rows

    rows = [{**r, "run_id": run_id} if "run_id" in r else dict(r) for shard in shards for r in shard]
    return Rows(rows=rows, lines=list(range(2, len(rows) + 2)))


if __name__ == "__main__":
    sys.exit(main())
