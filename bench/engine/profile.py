"""Where the gate's two sides differ: per-function instruction counts from callgrind's dumps, and per-call counts
of Python-level calls (bench.engine.callgrind_worker --calls).

Reads callgrind's output format (valgrind's "Callgrind Format Specification"): names compressed as "(id) name"
the first time and "(id)" after (functions and called functions share one table, objects another); the cost
lines under a function are its own instructions (self); the cost line after a `calls=` line is the called
function's inclusive cost, charged to the caller's inclusive count only. One event (Ir) per cost line, its last
field. Names are as valgrind wrote them (C++ demangled); code without a symbol is counted as one function per
object, "(no symbol) (object file name)". A recursive function's inclusive count counts its recursion again (as
callgrind_annotate's does); the self counts of all functions add up to the dump's total exactly.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_ID = re.compile(r"\((\d+)\)(?:\s+(.*))?\Z")
_KERNEL = re.compile(r"(?:void )?tensorflow::(?:\(anonymous namespace\)::)?(.+)::Compute(?:Async)?\("
                     r"tensorflow::OpKernelContext\*(?:, std::function<void \(\)>)?\)(?:'\d+)?\Z")
_NOT_KERNELS = ("AsyncOpKernel",)  # its Compute only calls the kernel's ComputeAsync, which is counted
_PLUMBING = ("RetvalOp", "ArgOp")  # a function's arguments and results: every eager op runs one, naming none
TOP = 8  # functions listed per configuration


def _resolve(value: str, table: dict[str, str]) -> str:
    match = _ID.match(value.strip())
    if not match:
        return value.strip()
    key, name = match.groups()
    if name is not None:
        table[key] = name
    return table.get(key, f"({key})")


def read(paths: Sequence[Path]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """(name -> [self, inclusive] instructions, name -> calls received), summed over the dumps. The calls a
    function received are the counts of the `calls=` lines naming it as the called function."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    received: dict[str, int] = defaultdict(int)
    for path in paths:
        names: dict[str, str] = {}
        objects: dict[str, str] = {}
        obj, callee_obj, fn, callee, calls = "", "", None, "", 0
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
                        if not calls:
                            entry[0] += cost
                        else:
                            received[callee] += calls
                    calls = 0
                    continue
                key, _, value = line.partition("=")
                if key in ("ob", "cob"):
                    callee_obj = _resolve(value, objects)  # cob: the next called function's object
                    if key == "ob":
                        obj = callee_obj
                elif key in ("fn", "cfn"):
                    name = _resolve(value, names)
                    if key == "fn":
                        fn = _named(name, obj)
                    else:
                        callee = _named(name, callee_obj)
                    callee_obj = obj
                elif key == "calls":
                    calls = int(value.split()[0]) or 1  # a call line's count (0 would read as "no call")
    return dict(out), dict(received)


def _named(name: str, obj: str) -> str:
    """A function's name; code without a symbol is counted as one per object: its addresses differ from process
    to process (anonymous mappings move), so two sides' same code would otherwise show as one gone, one come."""
    return name if not name.startswith("0x") and name != "???" else f"(no symbol) ({Path(obj).name})"


def function_costs(paths: Sequence[Path]) -> dict[str, list[int]]:
    """name -> [self, inclusive] instructions, summed over the dumps."""
    return read(paths)[0]


def kernel(name: str) -> str | None:
    """The TensorFlow op kernel a function runs, when it is one's Compute (or ComputeAsync) method: its class,
    without the namespace ('IdentityOp', 'BinaryOp<Eigen::ThreadPoolDevice, tensorflow::functor::mul<float> >');
    None otherwise. A device's Compute(kernel, context), which runs every kernel, is not one."""
    match = _KERNEL.match(name)
    return match.group(1) if match and match.group(1) not in _NOT_KERNELS else None


def deltas(base: Sequence[Path], cand: Sequence[Path], *, top: int = TOP) -> dict[str, Any]:
    """Per counted epoch (each side's dumps averaged): the functions whose own instructions changed most, with
    their inclusive change and their share of the whole change (`total_delta`: the sum of every function's
    self change, which is exactly the change of the epochs' totals); and `ops`, the TensorFlow op kernels whose
    number of runs changed (their Compute methods' calls), most changed first, the arguments' and results'
    kernels (which every eager op runs) last."""
    (b, b_calls), (c, c_calls) = read(base), read(cand)
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
    runs: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for side, (received, n) in enumerate(((b_calls, nb), (c_calls, nc))):
        for name, count in received.items():
            op = kernel(name)
            if op is not None:
                runs[op][side] += count / n
    ops = sorted(({"op": op, "delta": cr - br, "baseline": br, "candidate": cr}
                  for op, (br, cr) in runs.items() if cr != br),
                 key=lambda r: (r["op"] in _PLUMBING, -abs(r["delta"]), r["op"]))
    return {"total_delta": total, "functions": listed, "ops": ops[:top], "per": "counted epoch"}


def op_lines(found: dict[str, Any], *, limit: int = 5) -> list[str]:
    """The TensorFlow op kernels whose runs changed, as text: 'IdentityOp: +16 runs/epoch (1 -> 17)'."""
    return [f"{r['op'][:100]}: {r['delta']:+,.4g} runs/epoch ({r['baseline']:,.4g} -> {r['candidate']:,.4g})"
            for r in found.get("ops", [])[:limit]]


def lines(found: dict[str, Any], *, limit: int = 5) -> list[str]:
    """The top entries as text: '+1,234 Ir/epoch (41%) self, +2,000 inclusive: name'."""
    out = []
    for r in found["functions"][:limit]:
        share = "" if math.isnan(r.get("share", math.nan)) else f" ({r['share']:.0%})"
        out.append(f"{r['self_delta']:+,.0f} Ir/epoch{share} self, {r['inclusive_delta']:+,.0f} inclusive: "
                   f"{r['function'][:160]}")
    return out


def call_deltas(base: Sequence[dict[str, int]], cand: Sequence[dict[str, int]], *, top: int = TOP,
                own: Callable[[str], bool] = lambda _file: False,
                lines: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Per counted epoch (each side's epochs averaged), the Python-level calls ("callee @ file, in function")
    whose counts changed most; the calls made from the checkout's own code (`own(file)`: the call site's file
    is one of the checkout's) first, as they name the edit, then the library's calls they set off. `lines`: the
    text of the lines a call was made on (the checkout's), kept with its row."""
    def mean(epochs: Sequence[dict[str, int]]) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        for epoch in epochs:
            for key, n in epoch.items():
                total[key] += n / max(len(epochs), 1)
        return total

    b, c = mean(base), mean(cand)
    rows = [{"call": key, "delta": c.get(key, 0.0) - b.get(key, 0.0), "baseline": b.get(key, 0.0),
             "candidate": c.get(key, 0.0), "own": own(key.partition(" @ ")[2].partition(", in ")[0]),
             **({"lines": (lines or {})[key]} if (lines or {}).get(key) else {})}
            for key in set(b) | set(c)]
    rows = sorted((r for r in rows if r["delta"]), key=lambda r: (not r["own"], -abs(r["delta"]), r["call"]))
    return {"total_delta": sum(c.values()) - sum(b.values()), "calls": rows[:top], "per": "counted epoch"}


def call_lines(found: dict[str, Any], *, limit: int = 5, own: bool | None = None) -> list[str]:
    """The top entries as text: 'tf.cast: +25 calls/epoch (mlp_core/tf_train.py, in sgd_step)'; `own`: only the
    calls from the checkout's code (True) or only the others (False)."""
    out = []
    for r in [r for r in found["calls"] if own is None or r.get("own", False) == own][:limit]:
        callee, _, site = r["call"].partition(" @ ")
        said = "; ".join(f"`{text[:80]}`" for text in r.get("lines", []))
        out.append(f"{callee[:80]}: {r['delta']:+,.4g} calls/epoch ({site}{': ' + said if said else ''})")
    return out


def sections(found: dict[str, Any], *, limit: int = 5) -> list[tuple[str, list[str]]]:
    """An explained configuration ({"functions": deltas(), "calls": call_deltas() or "calls_error": why}) as
    headed groups of lines, the likeliest cause first: the TensorFlow ops run more or less often, the calls made
    from the checkout's code, the library calls, the functions' own instructions."""
    out = [("TensorFlow op kernels run", op_lines(found["functions"], limit=limit))]
    if found.get("calls"):
        out += [("calls from the checkout's code", call_lines(found["calls"], limit=limit, own=True)),
                ("other Python-level calls", call_lines(found["calls"], limit=limit, own=False))]
    elif found.get("calls_error"):
        out.append(("Python-level calls", [f"not counted: {found['calls_error']}"]))
    out.append(("functions, by their own instructions", lines(found["functions"], limit=limit)))
    return [(head, found_lines) for head, found_lines in out if found_lines]


def as_text(found: dict[str, Any], *, indent: str = "  ") -> list[str]:
    """sections() as indented lines of text (the terminal's form)."""
    out = []
    for heading, found_lines in sections(found):
        out += [f"{indent}{heading}:", *(f"{indent}  {x}" for x in found_lines)]
    return out
