"""Each question a run answers, worded from analysis.json's comparisons and verdicts (bench.analysis.evidence):
is the GPU worth it, which execution mode is fastest, what the float64 cast costs, when compiling pays off,
where a step's time goes. Decided comparisons first, then those shown to make no difference, the inconclusive
ones counted on one line with what would decide them, and what chance alone would give; baselines, floors
and peers as what they are. Plain text (the HTML template escapes it); every estimate carries its 95%
interval. A question whose axis was not swept gets no answer here (bench.analysis.answers says how to ask it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.analysis import compile_cost, evidence
from bench.format import Run
from mlp_core import modes as registry
from mlp_core.workloads import MIXED_DTYPES


@dataclass(frozen=True, slots=True)
class Answer:
    """One question and the lines that answer it (`verdict`: the one-line answer, first)."""

    question: str
    verdict: str
    lines: tuple[str, ...] = ()
    topic: str = ""  # which question: gpu, modes, cast, compile, time (report.html puts its figure under it)


def ratio_text(value: float | None, low: float | None, high: float | None) -> str:
    """'2.31x [2.10, 2.52]'; the interval left out where there is none."""
    if value is None:
        return "n/a"
    ci = f" [{low:.3g}, {high:.3g}]" if low is not None and high is not None else " [no interval: too few repeats]"
    return f"{value:.3g}x{ci}"


def percent_text(value: float | None, low: float | None, high: float | None) -> str:
    """'+12.0% [+8.1%, +16.3%]'."""
    if value is None:
        return "n/a"
    ci = f" [{low:+.1%}, {high:+.1%}]" if low is not None and high is not None else " [no interval: too few repeats]"
    return f"{value:+.1%}{ci}"


def _point(r: Mapping[str, Any], size: str) -> str:
    return f"batch {r['batch_size']}, {size} {r['size']}"


def _counts(family: Sequence[Mapping[str, Any]]) -> Counter:
    return Counter(evidence.kind(c["verdict"]) for c in family)


def _inconclusive_line(family: Sequence[Mapping[str, Any]], margin: float) -> str | None:
    """pyperf's 'hidden because not significant (N)': the inconclusive ones on one line, with what would
    decide them."""
    open_ = [c for c in family if c["verdict"] == "inconclusive"]
    if not open_:
        return None
    widths = [(c["time_ratio_high"] / c["time_ratio_low"]) ** 0.5 - 1 for c in open_
              if c["time_ratio_low"] and c["time_ratio_high"]]
    line = f"Inconclusive in {len(open_)} configuration{'s' if len(open_) > 1 else ''}"
    if widths:
        line += (f": intervals from +-{min(widths):.0%} to +-{max(widths):.0%} wide, against a +-{margin:.0%} "
                 "margin")
    else:
        line += ": too few repeats for an interval (--min-repeats 3 or more)"
    need = [c["repeats_to_decide"] for c in open_ if c.get("repeats_to_decide")]
    if need:
        line += f"; about {int(np.median(need))} repeats a trial (median) would decide them (--min-repeats)"
    return line + "."


def _family_lines(family: Sequence[Mapping[str, Any]], describe: Callable[[Mapping[str, Any]], str],
                  margin: float, *, limit: int = 12) -> list[str]:
    """Decided first, then no-difference, each described; the inconclusive ones counted on one line; then what
    chance alone would give."""
    ordered = evidence.by_evidence(family)
    shown = [c for c in ordered if c["verdict"] != "inconclusive"]
    lines = [describe(c) for c in shown[:limit]]
    if len(shown) > limit:
        lines.append(f"... and {len(shown) - limit} more decided or no-difference (analysis.json has every one)")
    rest = _inconclusive_line(family, margin)
    if rest:
        lines.append(rest)
    if len(family) > 1:
        lines.append(_sentence(evidence.chance_line(len(family))))
    return lines


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def gpu_answer(run: Run, data: Mapping[str, Any]) -> Answer | None:
    """Is the GPU worth it, by batch and size, with intervals and verdicts (None: the sweep had no GPU)."""
    q = "Is the GPU worth it?"
    if "gpu" not in {str(d) for d in run.spec.devices}:
        return None
    pairs = data["gpu_vs_cpu"]
    margin = data["conventions"]["margin"]
    if not pairs:
        gpu = run.summary[run.summary["device"] == "gpu"]
        if (gpu["status"] == "ok").any():
            return Answer(q, "No answer: no configuration has both an ok GPU trial and an ok CPU trial to compare it "
                          "with (add cpu to --devices, or see why the CPU trials failed).", topic="gpu")
        reasons = Counter(str(r) for r in gpu["reason"] if r)
        why = "; ".join(f"{reason} ({n} trials)" for reason, n in reasons.most_common(3)) or "see the table"
        return Answer(q, f"No answer: no GPU trial finished ok: {why}.", topic="gpu")
    n = _counts(pairs)
    faster = sum(c["verdict"] == "faster" for c in pairs)
    slower = sum(c["verdict"] == "slower" for c in pairs)
    size = run.workload.size_name

    def describe(c: Mapping[str, Any]) -> str:
        return (f"{c['mode']} {c['dtype']}, {_point(c, size)}: the GPU runs at "
                f"{ratio_text(c['speedup'], c['ci_low'], c['ci_high'])} the CPU's speed: {_gpu_word(c['verdict'])}")

    verdict = (f"The GPU was faster in {faster} of {len(pairs)} configurations and slower in {slower} (beyond the "
               f"+-{margin:.0%} margin, after Benjamini-Hochberg); no difference in {n['no-difference']}; "
               f"{n['inconclusive']} inconclusive.")
    lines = _family_lines(pairs, describe, margin)
    lines += [f"{c['mode']} {c['dtype']}, {size} {c['size']}: {c['text']} (fitted step costs)"
              for c in data["crossover"]]
    return Answer(q, verdict, tuple(lines), topic="gpu")


def _gpu_word(verdict: str) -> str:
    return {"faster": "GPU faster", "slower": "GPU slower", "no-difference": "no difference"}.get(verdict, verdict)


ROLE_TEXT = {"baseline": "the NumPy baseline: a plain loop of the same work, not a way to run a TensorFlow model",
             "floor": "the floor: the whole epoch compiled, what the hardware allows",
             "peer": "a peer: the model rewritten in another library",
             "article": "the article's loop as written, faults kept"}


def modes_answer(data: Mapping[str, Any]) -> Answer | None:
    """Which way to run the model is fastest (the subject modes, against the reference mode); baselines, floors
    and peers shown apart as what they are. None with fewer than two modes."""
    m = data["modes"]
    ref, family = m["reference"], m["vs_reference"]
    if ref is None:
        return None
    q = "Which execution mode is fastest?"
    margin = data["conventions"]["margin"]
    size = data["workload"]["size_name"]
    by_mode: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for c in family:
        if c["speedup"] is not None:
            by_mode[c["candidate"]].append(c)
    ref_name = "the eager loop" if ref == "eager" else "the article's loop" if ref == "article" else ref

    def summary(mode: str) -> str:
        cs = by_mode[mode]
        vals = [c["speedup"] for c in cs]
        n = _counts(cs)
        word = Counter(c["verdict"] for c in cs if evidence.kind(c["verdict"]) == "decided")
        decided = ", ".join(f"{v} in {k}" for v, k in sorted(word.items())) or "decided in none"
        best = max(cs, key=lambda c: c["speedup"])
        return (f"{mode}: a median {np.median(vals):.3g}x {ref_name}'s speed over {len(cs)} configurations (range "
                f"{min(vals):.3g}-{max(vals):.3g}x): {decided}, no difference in {n['no-difference']}, "
                f"{n['inconclusive']} inconclusive; at {_point(best, size)} {best['device']} {best['dtype']}: "
                f"{ratio_text(best['speedup'], best['ci_low'], best['ci_high'])}")

    roles = m["roles"]
    ways = [x for x in sorted(by_mode, key=registry.order_key) if roles.get(x) == "subject"]
    apart = [x for x in sorted(by_mode, key=registry.order_key) if roles.get(x) != "subject"]
    fastest = m["fastest"]
    if fastest is None or fastest not in by_mode:
        verdict = f"Only {ref} among the ways to run the model was measured; the others are shown for scale."
    else:
        cs = by_mode[fastest]
        wins = sum(c["verdict"] == "faster" for c in cs)
        med = float(np.median([c["speedup"] for c in cs]))
        if wins == 0:
            verdict = (f"Nothing measured was decidedly faster than {ref_name} (beyond the +-{margin:.0%} margin); the "
                       f"best, {fastest}, ran at a median {med:.3g}x its speed.")
        else:
            verdict = (f"Fastest: {fastest}, a median {med:.3g}x {ref_name}'s speed; decidedly faster in {wins} of "
                       f"{len(cs)} configurations.")
            runner = m["vs_runner_up"]
            if runner:
                second = runner[0]["reference"]
                ahead = sum(c["verdict"] == "faster" for c in runner)
                behind = sum(c["verdict"] == "slower" for c in runner)
                if ahead == len(runner):
                    verdict += f" Ahead of {second}, the runner-up, in every configuration."
                else:
                    verdict += (f" Ahead of {second}, the runner-up, in {ahead} of {len(runner)} configurations"
                                + (f", behind it in {behind}" if behind else "")
                                + (f"; {len(runner) - ahead - behind} not decided" if len(runner) - ahead - behind
                                   else "") + ".")
    lines = [summary(x) for x in ways]
    for x in apart:
        lines.append(f"{x} ({ROLE_TEXT.get(roles.get(x, ''), roles.get(x, ''))}): " + summary(x).split(": ", 1)[1])
    if len(family) > 1:
        lines.append(_sentence(evidence.chance_line(len(family))))
    return Answer(q, verdict, tuple(lines), topic="modes")


def dtype_answer(data: Mapping[str, Any], run: Run | None = None) -> Answer | None:
    """What the article's float64 data cast to float32 in every step costs, as far as the data says (None: the
    sweep did not ask; "No answer" where it asked and no configuration has both trials ok)."""
    casts = [c for c in data["cast_overhead"] if c["overhead"] is not None]
    if not casts:
        asked = run is not None and {"float32", "float64-cast"} <= {str(d) for d in run.spec.dtypes}
        return Answer("What does the float64 cast cost?", "No answer: no configuration has both an ok float32 trial "
                      "and an ok float64-cast trial (see the warnings).", topic="cast") if asked else None
    margin = data["conventions"]["margin"]
    size = data["workload"]["size_name"]
    costs = [c for c in casts if c["verdict"] == "costs"]
    saves = [c for c in casts if c["verdict"] == "saves"]
    same = [c for c in casts if c["verdict"] == "no-difference"]
    open_ = [c for c in casts if c["verdict"] == "inconclusive"]
    n = len(casts)
    if costs:
        med = float(np.median([c["overhead"] for c in costs]))
        verdict = (f"It costs a median {med:+.0%} in the {len(costs)} of {n} configurations where the cost is decided "
                   f"(beyond +-{margin:.0%}, after Benjamini-Hochberg); there, store the data as float32 (--dtypes "
                   "float32).")
        if saves or same or open_:
            verdict += f" Saves time in {len(saves)}, no measurable cost in {len(same)}, {len(open_)} inconclusive."
    elif saves:
        verdict = (f"Casting was decidedly faster in {len(saves)} of {n} configurations (a surprise worth a second "
                   f"run); no measurable cost in {len(same)}, {len(open_)} inconclusive.")
    elif same and not open_:
        verdict = f"No measurable cost: within +-{margin:.0%} in all {n} configurations."
    elif same:
        verdict = (f"No measurable cost (within +-{margin:.0%}) in {len(same)} of {n} configurations; the other "
                   f"{len(open_)} inconclusive.")
    else:
        lows = [c["ci_low"] for c in open_ if c["ci_low"] is not None]
        highs = [c["ci_high"] for c in open_ if c["ci_high"] is not None]
        span = f" the intervals run from {min(lows):+.0%} to {max(highs):+.0%}" if lows and highs else \
            " no interval (too few repeats)"
        verdict = (f"Inconclusive: at this run's noise{span}, so neither a cost beyond +-{margin:.0%} nor its "
                   f"absence is shown in any of the {n} configurations.")

    def describe(c: Mapping[str, Any]) -> str:
        cost = percent_text(c["overhead"], c["ci_low"], c["ci_high"])
        return f"{c['device']} {c['mode']}, {_point(c, size)}: {cost}: {c['verdict']}"

    return Answer("What does the float64 cast cost?", verdict, tuple(_family_lines(casts, describe, margin)),
                  topic="cast")


def mixed_answer(data: Mapping[str, Any], run: Run | None = None) -> Answer | None:
    """What a mixed-precision policy buys over float32, as far as the data says (None: the sweep did not ask)."""
    family = [c for c in data.get("mixed_precision") or [] if c["speedup"] is not None]
    question = "What does mixed precision buy here?"
    if not family:
        asked = run is not None and "float32" in {str(d) for d in run.spec.dtypes} and \
            bool(set(MIXED_DTYPES) & {str(d) for d in run.spec.dtypes})
        return Answer(question, "No answer: no configuration has both an ok float32 trial and an ok mixed-precision "
                      "trial (see the warnings).", topic="mixed") if asked else None
    margin = data["conventions"]["margin"]
    size = data["workload"]["size_name"]
    parts = []
    for policy in MIXED_DTYPES:
        mine = [c for c in family if c["candidate"] == policy]
        if not mine:
            continue
        faster = [c for c in mine if c["verdict"] == "faster"]
        slower = [c for c in mine if c["verdict"] == "slower"]
        same = [c for c in mine if c["verdict"] == "no-difference"]
        open_ = len(mine) - len(faster) - len(slower) - len(same)
        said = []
        if faster:
            said.append(f"faster in {len(faster)} (a median "
                        f"{float(np.median([c['speedup'] for c in faster])):.2g}x float32's speed)")
        if slower:
            said.append(f"slower in {len(slower)} (a median "
                        f"{float(np.median([c['speedup'] for c in slower])):.2g}x float32's speed)")
        if same:
            said.append(f"within +-{margin:.0%} in {len(same)}")
        if open_:
            said.append(f"inconclusive in {open_}")
        parts.append(f"{policy} against float32: {', '.join(said)} of {len(mine)} configurations")
    verdict = "; ".join(parts) + f" (decided beyond +-{margin:.0%}, after Benjamini-Hochberg)."

    def describe(c: Mapping[str, Any]) -> str:
        return (f"{c['device']} {c['mode']} {c['candidate']}, {_point(c, size)}: "
                f"{ratio_text(c['speedup'], c['ci_low'], c['ci_high'])}: {c['verdict']}")

    return Answer(question, verdict, tuple(_family_lines(family, describe, margin)), topic="mixed")


def compile_answer(run: Run, data: Mapping[str, Any]) -> Answer | None:
    """When does compiling pay off: each compiled mode's one-off cost and its break-even against eager."""
    entries = [e for e in data.get("compile_cost", []) if e.get("pays") is not None
               and (data["modes"]["roles"].get(e["mode"]) in ("subject", "peer"))]
    if not entries:
        return None
    by_mode: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in entries:
        by_mode[e["mode"]].append(e)
    parts = []
    for mode in sorted(by_mode, key=registry.order_key):
        es = by_mode[mode]
        finite = [e["break_even_epochs"] for e in es if e["break_even_epochs"] is not None]
        never = len(es) - len(finite)
        one_off = float(np.median([e["one_off_s"] for e in es]))
        text = f"{mode} (one-off a median {one_off * 1e3:.3g} ms)"
        if finite:
            text += (f" pays off after {_span_epochs(finite)} epoch{'s' if max(finite) != 1 else ''}"
                     + (f", never in {never}" if never else ""))
        else:
            text += " never pays off here (its steady epoch is not shorter)"
        parts.append(text)
    ref = entries[0]["reference"]
    verdict = (f"Against {'the eager loop' if ref == 'eager' else ref} (point estimates; each line has its 95% "
               "interval): " + "; ".join(parts) + ".")
    lines = [compile_cost.describe(e, run.workload.size_name) for e in
             sorted(entries, key=lambda e: (registry.order_key(e["mode"]), e["batch_size"], e["size"]))]
    return Answer("When does compiling pay off?", verdict, tuple(lines), topic="compile")


def _span_epochs(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g}-{hi:.2g}"


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
    return Answer("Where does the time go?", verdict, tuple(lines), topic="time")
