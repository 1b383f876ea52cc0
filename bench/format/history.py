"""Reading history.csv (results/history.csv, written by `python -m bench.history append`), checked.

The file is only ever replaced whole, so a torn line in it is an error, not a kill's leftover.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.format.fields import HISTORY, KNOWN_VERSIONS
from bench.format.io import StoreError, read_table, read_text
from bench.format.legacy import as_workload_rows, before_workloads
from bench.format.runs import check_config_ids

HISTORY_PATH = Path("results") / "history.csv"  # where bench.history keeps it, by default

# the history published on a data branch (`python -m bench.history publish`, the CI history job)
PAGES_REMOTE = "origin"
PAGES_BRANCH = "gh-pages"  # beside github-action-benchmark's dashboard
PAGES_PATH = "history/history.csv"  # on that branch
PAGES_DASHBOARD = "dev/bench/data.js"  # the action's default benchmark-data-dir-path, and its data file
PAGES_ATTEMPTS = 10  # pushes tried while the branch keeps moving (the action's own retry count)

# schema 5 and 6: the machine label's columns called machine and machine_id; 3 and 4: no workload either, the
# MLP's size called hidden; 2: no replicas column either; 1: no schema_version column either, recorded_utc first
LABEL_COLUMNS = {"machine_label": "machine", "machine_label_key": "machine_id"}  # schema 7 name -> older name
HISTORY_V6 = replace(HISTORY, fields=tuple(replace(f, name=LABEL_COLUMNS.get(f.name, f.name)) for f in HISTORY.fields))
HISTORY_V4 = before_workloads(HISTORY_V6)
HISTORY_V2 = replace(HISTORY_V4, fields=tuple(f for f in HISTORY_V4.fields if f.name != "replicas"))
HISTORY_V1 = replace(HISTORY_V2, fields=(HISTORY.field("recorded_utc"), *HISTORY_V2.fields[1:-1]))


def read_history(path: Path) -> list[dict[str, Any]]:
    """The history's rows, typed and checked ([] when the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    first = read_text(path).split("\n", 1)[0]
    v1 = first.split(",")[:1] != ["schema_version"] and "recorded_utc" in first
    header = first.split(",")
    table = HISTORY_V1 if v1 else HISTORY if "machine_label" in header else HISTORY_V6 if "workload" in header \
        else HISTORY_V4 if "replicas" in header else HISTORY_V2
    rows = read_table(path, table, torn_ok=False)
    as_workload_rows(rows.rows)
    for row in rows.rows:
        row.setdefault("replicas", 1)
        for name, old in LABEL_COLUMNS.items():
            if old in row:
                row[name] = row.pop(old)
    check_config_ids(rows)
    if v1:
        return [{"schema_version": 1, **r} for r in rows.rows]
    bad = [r["schema_version"] for r in rows.rows if r["schema_version"] not in KNOWN_VERSIONS]
    if bad:
        raise StoreError(f"{path}: schema_version {bad[0]} is not one this eager-mlp-bench reads "
                         f"({', '.join(map(str, KNOWN_VERSIONS))})")
    return rows.rows
