"""Comparison of two measurements (run directories or pytest-benchmark files): ratios, tests, verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bench.analysis.inputs import CompareError, Measured, load  # noqa: F401 - load: the inputs, for callers of compare
from bench.format.stats import DEFAULT_ALPHA, DEFAULT_THRESHOLD, log_ratio

FINGERPRINT_FIELDS = ("cpu_model", "gpu", "tensorflow")
NO_VERDICT = "no verdict"  # one process per side
ONE_PROCESS = ("one process per side: code and process noise cannot be told apart, so this is a ratio, not a "
               "verdict. For a verdict on your change: python -m bench.continuous REF --out DIR (this working tree "
               "against a git ref, each side in fresh processes); or give each side several processes (a run "
               "measured with --workers round; a folder of pytest-benchmark files, one process each)")


def check_machines(a: Measured, b: Measured) -> list[str]:
    """The fingerprint fields that differ, as 'field: baseline != candidate', then the configurations
    measured on different machines in the two runs (runs over several machines record each trial's)."""
    out = [f"{k}: {a.fingerprint.get(k)!r} != {b.fingerprint.get(k)!r}" for k in FINGERPRINT_FIELDS
           if a.fingerprint.get(k) != b.fingerprint.get(k)]
    several = len(set(a.machine_of.values())) > 1 or len(set(b.machine_of.values())) > 1  # (one each: as above)
    moved = [c for c in a.units if several and c in b.units and a.machine_of.get(c) and b.machine_of.get(c)
             and a.machine_of[c] != b.machine_of[c]]
    if moved:
        out.append(f"{len(moved)} configuration(s) measured on different machines, e.g. {moved[0]}: "
                   f"{a.machine_of[moved[0]]} != {b.machine_of[moved[0]]}")
    return out


def paired(a: Measured, b: Measured) -> bool:
    """Whether the two sides are one bench.ab run (repeat r of each ran back to back)."""
    return a.ab_id is not None and a.ab_id == b.ab_id


def compare(a: Measured, b: Measured, *, threshold: float = DEFAULT_THRESHOLD,
            alpha: float = DEFAULT_ALPHA) -> list[dict[str, Any]]:
    """One row per configuration measured in both: ratio, interval, p-values, verdict. CompareError for two
    different models under one workload name (their configuration ids would match)."""
    from scipy import stats

    if a.workload and b.workload and a.workload[0] == b.workload[0] and a.workload[1] != b.workload[1]:
        raise CompareError(f"workload: both runs call theirs {a.workload[0]!r}, loaded from {a.workload[1]!r} and "
                           f"{b.workload[1]!r}: two models under one name; give them different names")

    is_paired = paired(a, b)
    one_process = a.one_process or b.one_process
    rows = []
    for cid in (c for c in a.units if c in b.units):
        ua, ub = a.units[cid], b.units[cid]
        common = sorted(set(ua) & set(ub))
        ref, cand = ([ua[r] for r in common], [ub[r] for r in common]) if is_paired else \
            (list(ua.values()), list(ub.values()))
        x, y = np.log(ref), np.log(cand)
        # the ratio is of geometric means (paired: over the common repeats), and so are the columns shown
        est = log_ratio(ref, cand, paired=is_paired, confidence=1 - alpha)
        if one_process:  # rounds of one process per side: no test can tell the code from the process
            p, low, high, detect = math.nan, math.nan, math.nan, math.nan
        else:  # too few repeats: no evidence either way (p 1, no interval); no noise at all: the shift is exact
            p, low, high = est.p, est.low, est.high
            detect = math.nan if math.isnan(est.se) else 1 + threshold if est.se == 0 else \
                detectable_at(est.se, est.df, alpha=alpha, threshold=threshold)
        rows.append({"config": cid, "paired": is_paired, "baseline_geomean_s": float(np.exp(np.mean(x))),
                     "candidate_geomean_s": float(np.exp(np.mean(y))), "baseline_n": len(ua),
                     "candidate_n": len(ub), "ratio": est.ratio, "ci_low": low, "ci_high": high, "p": p,
                     "detectable": detect,
                     # what each side trained to (run directories): a faster side that learns less is not faster
                     **{f"{side}_{k.replace(' ', '_')}": v for side, m in (("baseline", a), ("candidate", b))
                        for k, v in m.quality.get(cid, {}).items()}})
    if one_process:
        for r in rows:
            r["p_adjusted"], r["verdict"] = math.nan, NO_VERDICT
    elif rows:
        adjusted = stats.false_discovery_control([r["p"] for r in rows], method="bh")
        for r, p_adj in zip(rows, adjusted):
            r["p_adjusted"] = float(p_adj)
            r["verdict"] = verdict(r["ratio"], float(p_adj), threshold=threshold, alpha=alpha)
    return rows


DETECT_POWER = 0.8  # "could have detected": with this probability


def detectable(diffs, x, y, *, alpha: float, threshold: float = 0.0, power: float = DETECT_POWER) -> float:
    """The smallest slowdown (a time ratio) this configuration would be flagged `slower` for with probability
    `power`, at the noise it measured. `slower` needs the measured log ratio past both the test's critical
    value (t_{1-alpha/2} x se, the standard error of the log ratio) and log(1 + threshold); a true shift of
    that bound + t_{power} x se gets past it with probability `power`: exp(max(log(1 + threshold),
    t_{1-alpha/2} se) + t_{power} se). The paired t-test (`diffs`: log candidate - log baseline per pair) or
    Welch's (`x`, `y`: log times); per configuration, before the Benjamini-Hochberg adjustment (which only
    makes detection harder when many configurations are compared)."""
    if diffs is not None:
        n = len(diffs)
        se, df = float(np.std(diffs, ddof=1)) / math.sqrt(n), n - 1
    else:
        vx, vy = float(np.var(x, ddof=1)) / len(x), float(np.var(y, ddof=1)) / len(y)
        se = math.sqrt(vx + vy)
        df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if vx + vy > 0 else len(x) + len(y) - 2
    return detectable_at(se, df, alpha=alpha, threshold=threshold, power=power)


def detectable_at(se: float, df: float, *, alpha: float, threshold: float = 0.0,
                  power: float = DETECT_POWER) -> float:
    """`detectable` from the standard error of the log ratio and its degrees of freedom (bench.format.stats'
    LogRatio carries both)."""
    from scipy import stats

    bound = max(math.log1p(threshold), stats.t.ppf(1 - alpha / 2, df) * se)
    return math.exp(bound + stats.t.ppf(power, df) * se)


def verdict(ratio: float, p_adjusted: float, *, threshold: float, alpha: float) -> str:
    """'slower', 'faster' or 'same' (see the module docstring)."""
    if p_adjusted < alpha and ratio > 1 + threshold:
        return "slower"
    if p_adjusted < alpha and ratio < 1 / (1 + threshold):
        return "faster"
    return "same"


VERDICT_ORDER = {"slower": 0, "faster": 1, "same": 2, NO_VERDICT: 3}


def by_verdict(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows as a reader wants them: slower first, then faster, same, no verdict; by configuration within."""
    return sorted(rows, key=lambda r: (VERDICT_ORDER[r["verdict"]], r["config"]))


def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:.4g}"


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows formatted for the terminal and markdown tables: the two times are the geometric means whose
    ratio is the ratio column (never a median beside a ratio of means)."""
    out = []
    for r in rows:
        ci = "" if math.isnan(r["ci_low"]) else f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        det = r.get("detectable", math.nan)
        out.append({"configuration": r["config"], "baseline ms (geo. mean)": _fmt_ms(r["baseline_geomean_s"]),
                    "candidate ms (geo. mean)": _fmt_ms(r["candidate_geomean_s"]),
                    "n": f"{r['baseline_n']}/{r['candidate_n']}", "ratio [95% CI]": f"{r['ratio']:.3f}{ci}",
                    "p (BH)": "-" if math.isnan(r["p_adjusted"]) else f"{r['p_adjusted']:.2g}",
                    "detectable": "-" if math.isnan(det) else f"+{det - 1:.0%}",
                    **{f"{name.replace('_', ' ')} (base/cand)":
                       f"{r[f'baseline_{name}']:.4g}/{r[f'candidate_{name}']:.4g}"
                       for name in QUALITY if f"baseline_{name}" in r and f"candidate_{name}" in r},
                    "verdict": r["verdict"]})  # last: scripts read the verdict from the row's end
    return out


QUALITY = ("test_loss", "test_accuracy", "test_mae")  # shown beside the times where both sides have them


def loss_mismatch(a: Measured, b: Measured) -> list[str]:
    """A line where the two runs train different losses (their test losses cannot be compared)."""
    if a.loss and b.loss and a.loss != b.loss:
        return [f"loss: {a.loss!r} != {b.loss!r}: the test-loss column compares different losses"]
    return []


def summary_line(rows: Sequence[Mapping[str, Any]], *, threshold: float, alpha: float) -> str:
    """'2 slower, 0 faster, 10 same of 12 (threshold ..., how)', or the one-process explanation."""
    if rows and rows[0]["verdict"] == NO_VERDICT:
        return f"NO VERDICT for {len(rows)} configurations (this is not a pass; ratios only): {ONE_PROCESS}"
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("slower", "faster", "same")}
    how = "paired A/B repeats" if rows and rows[0]["paired"] else "unpaired runs"
    line = (f"{counts['slower']} slower, {counts['faster']} faster, {counts['same']} same of {len(rows)} "
            f"configurations (threshold {threshold:.0%}, alpha {alpha} after Benjamini-Hochberg; {how})")
    det = [r["detectable"] for r in rows if not math.isnan(r.get("detectable", math.nan))]
    if det:
        line += (f". `same` is not evidence of no change: at this run's noise a slowdown had to reach "
                 f"+{float(np.median(det)) - 1:.0%} (median over configurations; +{min(det) - 1:.0%} to "
                 f"+{max(det) - 1:.0%}) to be detected 4 times in 5 (column `detectable`)")
    return line


def markdown(rows: Sequence[Mapping[str, Any]], a: Measured, b: Measured, *, threshold: float, alpha: float,
             extra: Sequence[str] = ()) -> str:
    """A pull-request comment."""
    if any(r["verdict"] == "slower" for r in rows):
        head = "**Regression**: "
    elif rows and all(r["verdict"] == NO_VERDICT for r in rows):
        head = "**No verdict**: "
    else:
        head = "No regression found: "
    head += summary_line(rows, threshold=threshold, alpha=alpha)
    lines = ["### Training-time comparison", "", head, "",
             f"baseline: `{a.source}`" + (f" ({a.commit[:10]})" if a.commit else ""),
             f"candidate: `{b.source}`" + (f" ({b.commit[:10]})" if b.commit else ""),
             f"machine: {b.fingerprint['cpu_model']}, GPU {b.fingerprint['gpu']}, TF {b.fingerprint['tensorflow']}",
             ""]
    table = table_rows(by_verdict(rows))
    if table:
        cols = list(table[0])
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        lines += ["| " + " | ".join(t[c] for c in cols) + " |" for t in table]
    lines += [f"- {e}" for e in extra]
    return "\n".join(lines) + "\n"
