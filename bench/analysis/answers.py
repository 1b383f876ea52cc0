"""The answers a person reads first, from analysis.json's numbers: is the GPU worth it, which mode and dtype
is fastest and by how much, where a step's time goes; and the warnings that say which numbers to trust
less (pyperf's habit: an unstable or budget-stopped trial is named, with what to do about it).

One source for the terminal summary at the end of a run and the HTML report. Plain text (the HTML
template escapes it); every estimate carries its 95% interval.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.format import Run
from mlp_core import modes as registry


@dataclass(frozen=True, slots=True)
class Answer:
    """One question and the lines that answer it (`verdict`: the one-line answer, first)."""

    question: str
    verdict: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Caution:
    """Numbers to trust less: what, which trials, what to do."""

    what: str
    trials: tuple[str, ...]
    advice: str


@dataclass(slots=True)
class Summary:
    """What a person reads first about a run."""

    answers: list[Answer] = field(default_factory=list)
    warnings: list[Caution] = field(default_factory=list)


def ratio_text(value: float | None, low: float | None, high: float | None) -> str:
    """'2.31x [2.10, 2.52]'; the interval left out where there is none."""
    if value is None:
        return "n/a"
    ci = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return f"{value:.2f}x{ci}"


def _point(r: Mapping[str, Any], size: str) -> str:
    return f"batch {r['batch_size']}, {size} {r['size']}"


def gpu_answer(run: Run, data: Mapping[str, Any]) -> Answer:
    """Is the GPU worth it, by batch and size, with intervals."""
    q = "Is the GPU worth it?"
    pairs = data["gpu_vs_cpu"]
    if not pairs:
        gpu = run.summary[run.summary["device"] == "gpu"]
        if gpu.empty:
            return Answer(q, "No answer: the sweep had no GPU trial (add --devices cpu,gpu).")
        reasons = Counter(str(r) for r in gpu["reason"] if r)
        why = "; ".join(f"{reason} ({n} trials)" for reason, n in reasons.most_common(3)) or "see the table"
        return Answer(q, f"No answer: no GPU trial finished ok: {why}.")
    lines = []
    wins = sum(1 for p in pairs if p["significant"] and p["speedup"] > 1)
    losses = sum(1 for p in pairs if p["significant"] and p["speedup"] < 1)
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for p in pairs:
        groups[(p["mode"], p["dtype"], p["size"])].append(p)
    for (mode, dtype, size_value), ps in sorted(groups.items(),
                                                key=lambda kv: (registry.order_key(kv[0][0]), kv[0][1:])):
        cells = ", ".join(f"batch {p['batch_size']}: {ratio_text(p['speedup'], p['ci_low'], p['ci_high'])}"
                          for p in sorted(ps, key=lambda p: p["batch_size"]))
        lines.append(f"{mode} {dtype}, {run.workload.size_name} {size_value}: GPU/CPU speed-up {cells}")
    for c in data["crossover"]:
        lines.append(f"{c['mode']} {c['dtype']}, {run.workload.size_name} {c['size']}: {c['text']}")
    verdict = (f"The GPU was faster in {wins} of {len(pairs)} configurations and slower in {losses} (95% interval "
               f"excluding 1); {len(pairs) - wins - losses} could not be told apart.")
    return Answer(q, verdict, tuple(lines))


def modes_answer(data: Mapping[str, Any]) -> Answer | None:
    """Which execution mode is fastest, and by how much (against the clean eager loop)."""
    pairs = data["mode_vs_eager"]
    if not pairs:
        return None
    by_mode: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for p in pairs:
        if p["speedup"] is not None:
            by_mode[p["candidate"]].append(p)
    lines = []
    for mode in sorted(by_mode, key=registry.order_key):
        ps = by_mode[mode]
        vals = [p["speedup"] for p in ps]
        best = max(ps, key=lambda p: p["speedup"])
        lines.append(f"{mode}: median {np.median(vals):.2f}x eager over {len(ps)} configurations (range "
                     f"{min(vals):.2f}-{max(vals):.2f}x); at {_point(best, data['workload']['size_name'])} "
                     f"{best['device']} {best['dtype']}: "
                     f"{ratio_text(best['speedup'], best['ci_low'], best['ci_high'])}")
    fastest = max(by_mode, key=lambda m: np.median([p["speedup"] for p in by_mode[m]]))
    med = float(np.median([p["speedup"] for p in by_mode[fastest]]))
    verdict = (f"Fastest: {fastest}, a median {med:.2f}x the eager loop's speed." if med > 1 else
               "Nothing beat the eager loop here.")
    return Answer("Which execution mode is fastest?", verdict, tuple(lines))


def dtype_answer(data: Mapping[str, Any]) -> Answer | None:
    """What the article's float64 data cast to float32 in every step costs."""
    casts = [c for c in data["cast_overhead"] if c["overhead"] is not None]
    if not casts:
        return None
    vals = [c["overhead"] for c in casts]
    sig = [c for c in casts if c["significant"]]
    lines = [f"{c['device']} {c['mode']}, {_point(c, data['workload']['size_name'])}: {c['overhead']:+.1%}"
             + (f" [{c['ci_low']:+.1%}, {c['ci_high']:+.1%}]" if c["ci_low"] is not None else "")
             for c in sorted(casts, key=lambda c: -abs(c["overhead"]))[:6]]
    verdict = (f"Casting float64 data in every step costs a median {np.median(vals):+.1%} (range {min(vals):+.1%} "
               f"to {max(vals):+.1%}); significant in {len(sig)} of {len(casts)} configurations.")
    if any(c["overhead"] > 0 for c in sig):
        verdict += " Where it costs, store the data as float32 (dtype float32) instead."
    elif not sig:
        verdict += " No measurable cost here."
    return Answer("What does the float64 cast cost?", verdict, tuple(lines))


def _span(values: Sequence[float], unit: str) -> str:
    """'12 us', or '12-25 us' over a range."""
    lo, hi = min(values), max(values)
    return f"{lo:.0f} {unit}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f} {unit}"


def time_answer(run: Run, data: Mapping[str, Any]) -> Answer | None:
    """Where a step's time goes: the fixed cost per step against the cost per sample."""
    fits = data["step_cost_fits"]
    if not fits:
        return None
    groups: dict[tuple[str, str], list[tuple[Mapping[str, Any], float]]] = defaultdict(list)
    for f in fits:
        b = min(f["batches"])
        step = f["overhead_s"] + b * f["per_sample_s"]
        groups[(f["device"], f["mode"])].append((f, f["overhead_s"] / step if step > 0 else math.nan))
    lines, shares = [], []
    for (device, mode), fs in sorted(groups.items(), key=lambda kv: (kv[0][0], registry.order_key(kv[0][1]))):
        over = [f["overhead_s"] * 1e6 for f, _ in fs]
        per = [f["per_sample_s"] * 1e9 for f, _ in fs]
        part = [s for _, s in fs if math.isfinite(s)]
        shares += part
        lines.append(f"{device} {mode}: {_span(over, 'us')} per step + {_span(per, 'ns')} per sample over {len(fs)} "
                     f"dtype x {run.workload.size_name} fits"
                     + (f"; the fixed part is {min(part):.0%}-{max(part):.0%} of a step at the smallest batch"
                        if part else ""))
    finite = shares
    verdict = (f"At the smallest batch measured, the fixed cost per step (Python, op dispatch, the input pipeline) "
               f"is a median {np.median(finite):.0%} of a step: small models here measure overhead, not arithmetic."
               if finite else "The fits have no finite step time.")
    return Answer("Where does the time go?", verdict, tuple(lines))


def warnings_of(run: Run) -> list[Caution]:
    """Trials whose numbers deserve less trust, and trials that measured nothing, grouped, with what to do."""
    s = run.summary
    out = []
    target = run.spec.target_ci
    loose = s[(s["status"] == "ok") & (s["ci_rel_halfwidth"] > target)]
    for reason, advice in (("budget", "give them more time: --trial-budget S (or --min-repeats N)"),
                           ("max_repeats", "allow more repeats: --max-repeats N")):
        rows = loose[loose["stop_reason"] == reason]
        if len(rows):
            widest = float(rows["ci_rel_halfwidth"].max())
            limit = "time budget" if reason == "budget" else "repeat limit"
            out.append(Caution(f"{len(rows)} trial(s) stopped on their {limit} with a 95% interval wider than "
                               f"+-{target:.0%} of the median (up to +-{widest:.0%}): their medians are imprecise",
                               tuple(rows["config_id"]), advice))
    for status, advice in (("skipped", "the reason says what is missing"), ("error", "see the reason; rerun those "
                           "trials with --resume after fixing it"), ("diverged", "a smaller --learning-rate")):
        rows = s[s["status"] == status]
        for reason, g in rows.groupby("reason", sort=True):
            out.append(Caution(f"{len(g)} trial(s) {status}: {reason}", tuple(g["config_id"]), advice))
    if run.warnings:
        out.append(Caution("the run directory had leftovers: " + "; ".join(run.warnings), (), "--resume repairs them"))
    return out


def summarize(run: Run, data: Mapping[str, Any]) -> Summary:
    """The answers (those the run's matrix can give) and the warnings."""
    answers = [a for a in (gpu_answer(run, data), modes_answer(data), dtype_answer(data), time_answer(run, data))
               if a is not None]
    return Summary(answers, warnings_of(run))


def text(summary: Summary, *, width: int = 100) -> str:
    """The summary as terminal text: each question, its answer, its lines; then the warnings."""
    out = []
    for a in summary.answers:
        out += [a.question, f"  {a.verdict}", *(f"    {line}" for line in a.lines[:12])]
        if len(a.lines) > 12:
            out.append(f"    ... {len(a.lines) - 12} more in report.html")
    if summary.warnings:
        out.append("Warnings:")
        for w in summary.warnings:
            ids = ", ".join(w.trials[:4]) + (f" and {len(w.trials) - 4} more" if len(w.trials) > 4 else "")
            out.append(f"  WARNING: {w.what}" + (f" ({ids})" if ids else "") + f"; {w.advice}")
    return "\n".join(out)


def trial_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    """'12 trials: 10 ok, 2 skipped'."""
    counts = Counter(str(r["status"]) for r in rows)
    return f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
