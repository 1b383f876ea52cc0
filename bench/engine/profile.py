"""Where the gate's two sides differ: per-function instruction counts from callgrind's dumps, and per-call counts
of Python-level calls (bench.engine.callgrind_worker --calls).

Reads callgrind's output format (valgrind's "Callgrind Format Specification"): names compressed as "(id) name"
the first time and "(id)" after (functions and called functions share one table, objects another); the cost
lines under a function are its own instructions (self); the cost line after a `calls=` line is the called
function's inclusive cost, charged to the caller's inclusive count only. One event (Ir) per cost line, its last
field. Names are as valgrind wrote them (C++ demangled); a function without a symbol is named by its address and
its object's file name. A recursive function's inclusive count counts its recursion again (as callgrind_annotate's
does); the self counts of all functions add up to the dump's total exactly.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_ID = re.compile(r"\((\d+)\)(?:\s+(.*))?\Z")
TOP = 8  # functions listed per configuration


def _resolve(value: str, table: dict[str, str]) -> str:
    match = _ID.match(value.strip())
    if not match:
        return value.strip()
    key, name = match.groups()
    if name is not None:
        table[key] = name
    return table.get(key, f"({key})")


def function_costs(paths: Sequence[Path]) -> dict[str, list[int]]:
    """name -> [self, inclusive] instructions, summed over the dumps."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in paths:
        names: dict[str, str] = {}
        objects: dict[str, str] = {}
        obj, fn, after_call = "", None, False
        with open(path, "rb") as fh:
            for raw in fh:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line or line.startswith("#"):
                    continue
                if line[0].isdigit() or line[0] in "+-*":
                    if fn is not None:
                        cost = int(line.split()[-1])
                        entry = out[fn]
                        entry[1] += cost
                        if not after_call:
                            entry[0] += cost
                    after_call = False
                    continue
                key, _, value = line.partition("=")
                if key in ("ob", "cob"):
                    name = _resolve(value, objects)
                    if key == "ob":
                        obj = name
                elif key in ("fn", "cfn"):
                    name = _resolve(value, names)
                    if key == "fn":
                        fn = name if not name.startswith("0x") and name != "???" else f"{name} ({Path(obj).name})"
                elif key == "calls":
                    after_call = True
    return dict(out)


def deltas(base: Sequence[Path], cand: Sequence[Path], *, top: int = TOP) -> dict[str, Any]:
    """Per counted epoch (each side's dumps averaged), the functions whose own instructions changed most, with
    their inclusive change and their share of the whole change (`total_delta`: the sum of every function's
    self change, which is exactly the change of the epochs' totals)."""
    b, c = function_costs(base), function_costs(cand)
    nb, nc = max(len(base), 1), max(len(cand), 1)
    rows = []
    for name in set(b) | set(c):
        sb, ib = b.get(name, (0, 0))
        sc, ic = c.get(name, (0, 0))
        rows.append({"function": name, "self_delta": sc / nc - sb / nb, "inclusive_delta": ic / nc - ib / nb,
                     "baseline_self": sb / nb, "candidate_self": sc / nc})
    total = sum(r["self_delta"] for r in rows)
    rows.sort(key=lambda r: (-abs(r["self_delta"]), r["function"]))
    listed = [r for r in rows[:top] if r["self_delta"]]
    for r in listed:
        r["share"] = r["self_delta"] / total if total else math.nan
    return {"total_delta": total, "functions": listed, "per": "counted epoch"}


def lines(found: dict[str, Any], *, limit: int = 5) -> list[str]:
    """The top entries as text: '+1,234 Ir/epoch (41%) self, +2,000 inclusive: name'."""
    out = []
    for r in found["functions"][:limit]:
        share = "" if math.isnan(r.get("share", math.nan)) else f" ({r['share']:.0%})"
        out.append(f"{r['self_delta']:+,.0f} Ir/epoch{share} self, {r['inclusive_delta']:+,.0f} inclusive: "
                   f"{r['function'][:160]}")
    return out


def call_deltas(base: Sequence[dict[str, int]], cand: Sequence[dict[str, int]], *, top: int = TOP) -> dict[str, Any]:
    """Per counted epoch (each side's epochs averaged), the Python-level calls ("callee @ call site") whose counts
    changed most."""
    def mean(epochs: Sequence[dict[str, int]]) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        for epoch in epochs:
            for key, n in epoch.items():
                total[key] += n / max(len(epochs), 1)
        return total

    b, c = mean(base), mean(cand)
    rows = [{"call": key, "delta": c.get(key, 0.0) - b.get(key, 0.0), "baseline": b.get(key, 0.0),
             "candidate": c.get(key, 0.0)} for key in set(b) | set(c)]
    rows = sorted((r for r in rows if r["delta"]), key=lambda r: (-abs(r["delta"]), r["call"]))
    return {"total_delta": sum(c.values()) - sum(b.values()), "calls": rows[:top], "per": "counted epoch"}


def call_lines(found: dict[str, Any], *, limit: int = 5) -> list[str]:
    """The top entries as text: 'tf.cast: +25 calls/epoch (mlp_core/tf_train.py, in sgd_step)'."""
    out = []
    for r in found["calls"][:limit]:
        callee, _, site = r["call"].partition(" @ ")
        out.append(f"{callee[:80]}: {r['delta']:+,.4g} calls/epoch ({site})")
    return out
