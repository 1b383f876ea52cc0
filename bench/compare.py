"""`python -m bench.compare BASELINE CANDIDATE`: did the candidate make training slower?

BASELINE and CANDIDATE are run directories of `python -m bench.run` / `python -m bench.ab`, or
pytest-benchmark JSON files saved with --benchmark-save-data (the raw rounds are needed), or
folders of such files (e.g. pytest-benchmark's --benchmark-autosave storage), one process each.

The unit of replication is the process: a run measured with fresh workers every round (bench.run's
default, --workers round) gives each repeat of a trial its own process, and the median epoch time
of each repeat is one value. Epochs of one repeat, or repeats of one process, share a state and
are not independent, so a test on them would be overconfident. Per configuration ok in both:

  paired (an A/B run of bench.ab, whose repeat r of both sides ran back to back): the ratio is the
    geometric mean of the per-repeat ratios candidate/baseline, tested with a one-sample t-test
    on their logs (scipy.stats.ttest_1samp); machine drift cancels within each pair;
  unpaired (two separate runs, or folders of pytest-benchmark files, where each file's median
    round is a value): the ratio of the geometric means, tested with Welch's t-test on the logs
    (scipy.stats.ttest_ind);
  one process per side (a single pytest-benchmark file per side): the rounds of one process share
    its state, so code and process noise cannot be told apart: the ratio of geometric means is
    reported with verdict "no verdict" and exit status 0, never "slower".

The table shows, per side, the geometric mean whose ratio is the ratio column.

The ratio's 95% interval is the test's confidence interval, exponentiated. The p-values of all
configurations are adjusted together (Benjamini-Hochberg, scipy.stats.false_discovery_control):
when nothing changed, the chance of any false alarm stays at alpha. Verdicts:

  slower  ratio > 1 + threshold and adjusted p < alpha   (a regression: exit status 1)
  faster  ratio < 1 / (1 + threshold) and adjusted p < alpha
  same    otherwise: within the threshold, or not distinguishable from noise

Runs whose machines differ in CPU model, GPU or TensorFlow version are refused (exit 2) unless
--allow-different-machines. Exit status: 0 no regression, 1 regression, 2 bad input.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import cli
from bench.measured import CompareError, Measured, load  # noqa: F401 - load: the inputs, for callers of compare

FINGERPRINT_FIELDS = ("cpu_model", "gpu", "tensorflow")
DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.05
NO_VERDICT = "no verdict"  # one process per side
ONE_PROCESS = ("one process per side: code and process noise cannot be told apart, so this is a ratio, not a "
               "verdict; give each side several processes (a folder of pytest-benchmark files, one process each; "
               "a run measured with --workers round)")


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
    """One row per configuration measured in both: ratio, interval, p-values, verdict."""
    from scipy import stats

    is_paired = paired(a, b)
    one_process = a.one_process or b.one_process
    rows = []
    for cid in (c for c in a.units if c in b.units):
        ua, ub = a.units[cid], b.units[cid]
        if is_paired:
            common = sorted(set(ua) & set(ub))
            x, y = np.log([ua[r] for r in common]), np.log([ub[r] for r in common])
            diffs = y - x
            spread = float(np.ptp(diffs)) if len(common) else 0.0
            enough = len(common) >= 2
            test = functools.partial(stats.ttest_1samp, diffs, 0.0)
        else:
            x, y = np.log(list(ua.values())), np.log(list(ub.values()))
            spread = float(max(np.ptp(x), np.ptp(y)))
            enough = len(x) >= 2 and len(y) >= 2
            test = functools.partial(stats.ttest_ind, y, x, equal_var=False)
        # the ratio is of geometric means (paired: over the common repeats), and so are the columns shown
        shift = float(np.mean(y) - np.mean(x)) if len(x) and len(y) else math.nan
        if one_process:  # rounds of one process per side: no test can tell the code from the process
            p, low, high = math.nan, math.nan, math.nan
        elif not enough:  # too few repeats: no evidence either way
            p, low, high = 1.0, math.nan, math.nan
        elif spread == 0:  # no noise at all (synthetic or quantised data): the shift is exact
            p, low, high = (0.0 if shift != 0 else 1.0), math.exp(shift), math.exp(shift)
        else:
            res = test()
            ci = res.confidence_interval(confidence_level=1 - alpha)
            p, low, high = float(res.pvalue), math.exp(ci.low), math.exp(ci.high)
        rows.append({"config": cid, "paired": is_paired, "baseline_geomean_s": float(np.exp(np.mean(x))),
                     "candidate_geomean_s": float(np.exp(np.mean(y))), "baseline_n": len(ua),
                     "candidate_n": len(ub), "ratio": math.exp(shift), "ci_low": low, "ci_high": high, "p": p})
    if one_process:
        for r in rows:
            r["p_adjusted"], r["verdict"] = math.nan, NO_VERDICT
    elif rows:
        adjusted = stats.false_discovery_control([r["p"] for r in rows], method="bh")
        for r, p_adj in zip(rows, adjusted):
            r["p_adjusted"] = float(p_adj)
            r["verdict"] = verdict(r["ratio"], float(p_adj), threshold=threshold, alpha=alpha)
    return rows


def verdict(ratio: float, p_adjusted: float, *, threshold: float, alpha: float) -> str:
    """'slower', 'faster' or 'same' (see the module docstring)."""
    if p_adjusted < alpha and ratio > 1 + threshold:
        return "slower"
    if p_adjusted < alpha and ratio < 1 / (1 + threshold):
        return "faster"
    return "same"


def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:.4g}"


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows formatted for the terminal and markdown tables: the two times are the geometric means whose
    ratio is the ratio column (never a median beside a ratio of means)."""
    out = []
    for r in rows:
        ci = "" if math.isnan(r["ci_low"]) else f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        out.append({"configuration": r["config"], "baseline ms (geo. mean)": _fmt_ms(r["baseline_geomean_s"]),
                    "candidate ms (geo. mean)": _fmt_ms(r["candidate_geomean_s"]),
                    "n": f"{r['baseline_n']}/{r['candidate_n']}", "ratio [95% CI]": f"{r['ratio']:.3f}{ci}",
                    "p (BH)": "-" if math.isnan(r["p_adjusted"]) else f"{r['p_adjusted']:.2g}",
                    "verdict": r["verdict"]})
    return out


def summary_line(rows: Sequence[Mapping[str, Any]], *, threshold: float, alpha: float) -> str:
    """'2 slower, 0 faster, 10 same of 12 (threshold ..., how)', or the one-process explanation."""
    if rows and rows[0]["verdict"] == NO_VERDICT:
        return f"{len(rows)} configurations, ratios only: {ONE_PROCESS}"
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("slower", "faster", "same")}
    how = "paired A/B repeats" if rows and rows[0]["paired"] else "unpaired runs"
    return (f"{counts['slower']} slower, {counts['faster']} faster, {counts['same']} same of {len(rows)} "
            f"configurations (threshold {threshold:.0%}, alpha {alpha} after Benjamini-Hochberg; {how})")


def markdown(rows: Sequence[Mapping[str, Any]], a: Measured, b: Measured, *, threshold: float, alpha: float,
             extra: Sequence[str] = ()) -> str:
    """A pull-request comment."""
    head = ("**Regression**: " if any(r["verdict"] == "slower" for r in rows) else "No regression: ") + \
        summary_line(rows, threshold=threshold, alpha=alpha)
    lines = ["### Training-time comparison", "", head, "",
             f"baseline: `{a.source}`" + (f" ({a.commit[:10]})" if a.commit else ""),
             f"candidate: `{b.source}`" + (f" ({b.commit[:10]})" if b.commit else ""),
             f"machine: {b.fingerprint['cpu_model']}, GPU {b.fingerprint['gpu']}, TF {b.fingerprint['tensorflow']}",
             ""]
    order = {"slower": 0, "faster": 1, "same": 2, NO_VERDICT: 3}
    table = table_rows(sorted(rows, key=lambda r: (order[r["verdict"]], r["config"])))
    if table:
        cols = list(table[0])
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        lines += ["| " + " | ".join(t[c] for c in cols) + " |" for t in table]
    lines += [f"- {e}" for e in extra]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    p = cli.parser("python -m bench.compare", __doc__)
    p.add_argument("baseline", metavar="BASELINE", help="run directory or pytest-benchmark JSON")
    p.add_argument("candidate", metavar="CANDIDATE", help="run directory or pytest-benchmark JSON")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="smallest relative change that counts (default 0.10 = 10%%)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="significance level (default 0.05)")
    p.add_argument("--allow-different-machines", action="store_true",
                   help="compare even when CPU model, GPU or TensorFlow version differ")
    p.add_argument("--markdown", metavar="FILE", help="also write the result as markdown (a PR comment)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args(argv)
    return cli.guarded(p.prog, lambda: _main(args))


def _main(args) -> int:
    from bench.store.io import atomic_write, check_output, dumps_json

    if not 0 < args.threshold < 10:
        raise CompareError(f"threshold: {args.threshold!r}: expected a relative change between 0 and 10")
    if not 0 < args.alpha < 1:
        raise CompareError(f"alpha: {args.alpha!r}: expected a probability between 0 and 1")
    for name in ("markdown", "json"):
        if getattr(args, name):
            check_output(getattr(args, name), f"--{name}")
    a, b = load(args.baseline), load(args.candidate)
    differ = check_machines(a, b)
    if differ and not args.allow_different_machines:
        raise CompareError("machines differ (" + "; ".join(differ) + "); timings are not comparable "
                           "(--allow-different-machines to compare anyway)")
    rows = compare(a, b, threshold=args.threshold, alpha=args.alpha)
    if not rows:
        raise CompareError("configurations: no configuration is ok in both runs; nothing to compare")
    import pandas as pd

    only = sorted(set(a.units) ^ set(b.units))
    extra = [f"not compared (measured on one side only): {', '.join(only)}"] if only else []
    if differ:
        extra.append("machines differ: " + "; ".join(differ))
    print(pd.DataFrame(table_rows(rows)).to_string(index=False))
    slower = [r["config"] for r in rows if r["verdict"] == "slower"]
    print("\n" + summary_line(rows, threshold=args.threshold, alpha=args.alpha))
    for line in extra:
        print(line)
    if args.markdown:
        atomic_write(Path(args.markdown), markdown(rows, a, b, threshold=args.threshold, alpha=args.alpha,
                                                   extra=extra), what="--markdown")
    if args.json:
        atomic_write(Path(args.json), dumps_json(rows), what="--json")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
