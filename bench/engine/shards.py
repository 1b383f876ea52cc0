"""Shards of one sweep joined into one run directory: the checks and the merged rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.format import load_run
from bench.format.errors import InputError
from bench.format.fields import META_FILE
from bench.format.io import Rows, Tables
from bench.format.runs import check_consistency, read_any, read_meta, spec_of
from bench.format.writer import write_run


def merge(out: Path, paths: list[Path]):
    """Shards 1..N of one sweep (`paths`) into the new run directory `out`; returns it loaded (bench.format.Run).
    InputError (exit 2) for inputs that are not such shards; the inputs are never written."""
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
        **({"modes": first["modes"]} if "modes" in first else {}),
        **({"workload": first["workload"]} if "workload" in first else {}),
        "order_seed": first["order_seed"], "started_at": min(m["started_at"] for m in metas),
        "finished_at": max(finished) if all(finished) else None, "git": first["git"], "host": first["host"],
        "tensorflow": next((m["tensorflow"] for m in metas if m.get("tensorflow")), None),
        "machines": machines, "peak": peaks,
        "merged_from": [{"run_id": m["run_id"], "shard": m["shard"], "path": str(p), "machines": sorted(m["machines"]),
                         "started_at": m["started_at"], "finished_at": m.get("finished_at")}
                        for p, m in zip(paths, metas)],
    }
    write_run(out, meta, Tables(**merged))
    return load_run(out)  # the merged directory passes the store's checks, or this is a bug


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

    rows = [{**r, "run_id": run_id} if "run_id" in r else dict(r) for shard in shards for r in shard]
    return Rows(rows=rows, lines=list(range(2, len(rows) + 2)))
