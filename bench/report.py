"""Text report at the end of a run: the speed-up table, statuses, and where the files are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import results
from bench.table import speedup_table


def report(run_dir: Path, rows: Sequence[Mapping[str, Any]]) -> str:
    """The table, a line on each kind of non-ok trial, and the file locations."""
    from bench.analysis import load_run

    lines = [speedup_table(rows, load_run(run_dir).samples), ""]
    counts = Counter(r["status"] for r in rows)
    lines.append("trials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    reasons = Counter((r["status"], r["reason"]) for r in rows if r["status"] != "ok")
    for (status, reason), n in sorted(reasons.items()):
        lines.append(f"  {n} {status}: {reason}")
    lines.append(f"files: {run_dir / results.META}, {run_dir / results.RAW}, {run_dir / results.SUMMARY}")
    return "\n".join(lines)
