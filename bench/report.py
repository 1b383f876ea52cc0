"""Text report at the end of a run: the speed-up table, statuses, and where the files are."""

from __future__ import annotations

from collections import Counter

from bench.store import META_FILE, RAW, REPEATS, SUMMARY, Run
from bench.table import speedup_table


def report(run: Run) -> str:
    """The table, a line on each kind of non-ok trial, and the file locations."""
    rows = run.summary.to_dict("records")
    lines = [speedup_table(rows, run.samples), ""]
    from bench.analysis import scaling

    scaled = scaling(run)
    if scaled:
        lines.append("scaling efficiency, time(1) / (N x time(N)) [95% CI] (1 = perfect):")
        for s in scaled:
            ci = "" if s["ci_low"] is None else f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
            lines.append(f"  {s['kind']:6} {s['device']} {s['mode']} {s['dtype']} h{s['hidden']} global batch "
                         f"{s['global_batch']}, {s['replicas']} replicas: {s['efficiency']:.2f}{ci}")
        lines.append("")
    counts = Counter(r["status"] for r in rows)
    lines.append("trials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    reasons = Counter((r["status"], r["reason"]) for r in rows if r["status"] != "ok")
    for (status, reason), n in sorted(reasons.items()):
        lines.append(f"  {n} {status}: {reason}")
    lines.append("files: " + ", ".join(str(run.path / name) for name in (META_FILE, RAW.file, REPEATS.file,
                                                                          SUMMARY.file)))
    return "\n".join(lines)
