"""How noisy the machine was, and what that noise left undecided: one statement for the whole run instead of a
warning on every trial.

Two readings: the probe the runner takes before measuring (meta.json `noise`: a fixed NumPy kernel's spread,
the load average, steal time where the kernel reports it), and the spread of each trial's repeats as they came
(the coefficient of variation of its per-repeat median epoch times). With the comparisons' verdicts, it says
how many answers the noise left inconclusive and about how many repeats, and how long here, would decide them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.evidence import repeat_units
from bench.format.derive import duration

if TYPE_CHECKING:
    from bench.format import Run

OUTLIER = 3.0  # a trial whose repeats vary this many times the run's median spread is named


def repeat_spread(run: Run) -> dict[str, float]:
    """config_id -> coefficient of variation of its per-repeat median epoch times (ok trials, 2+ repeats)."""
    out = {}
    for cid, values in sorted(repeat_units(run).items()):
        x = np.fromiter(values.values(), float)
        if len(x) >= 2 and x.mean() > 0:
            out[cid] = float(x.std(ddof=1) / x.mean())
    return out


def noise(run: Run, comparisons: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """analysis.json `noise`: the probe, the repeats' spread, and what it left undecided."""
    spread = repeat_spread(run)
    cvs = sorted(spread.values())
    median_cv = float(np.median(cvs)) if cvs else None
    outliers = sorted(c for c, v in spread.items() if median_cv and v > OUTLIER * median_cv and v > 0.05)
    undecided = [c for c in comparisons if c.get("verdict") == "inconclusive"]
    need = [c["repeats_to_decide"] for c in undecided if c.get("repeats_to_decide")]
    wall = run.repeats.groupby("config_id")["wall_s"].median().to_dict() if len(run.repeats) else {}
    seconds = 0.0
    for c in undecided:
        if c.get("repeats_to_decide"):
            for side, n in (("reference_config_id", "n_reference"), ("candidate_config_id", "n_candidate")):
                extra = max(c["repeats_to_decide"] - c[n], 0)
                seconds += extra * float(wall.get(c[side], 0.0) or 0.0)
    return {
        "probe": run.meta.get("noise"),
        "repeat_cv_median": median_cv,
        "repeat_cv_range": [cvs[0], cvs[-1]] if cvs else None,
        "noisy_trials": outliers,
        "comparisons": len(comparisons),
        "inconclusive": len(undecided),
        "repeats_to_decide_median": int(np.median(need)) if need else None,
        "undecidable": len(undecided) - len(need),
        "max_repeats": run.spec.max_repeats,
        # a rough sum over the undecided comparisons' trials (a trial in two comparisons counts twice)
        "seconds_to_decide": seconds if need else None,
    }


def covers(workers: str) -> str:
    """What a run's intervals cover, by its worker policy (one sentence)."""
    if workers == "round":
        return ("The intervals cover the variation between this run's repeats, each from a fresh worker process; "
                "not between machines.")
    return ("The intervals cover the variation between this run's repeats, which came from one worker process per "
            "thread setting: not between processes, runs or machines (--workers round for that; docs/answers.md).")


def statement(n: Mapping[str, Any], margin: float) -> str:
    """The run's noise in one line, and what would decide what it left open."""
    parts = []
    if n["repeat_cv_median"] is not None:
        lo, hi = n["repeat_cv_range"]
        parts.append(f"repeats of one trial varied by a median {n['repeat_cv_median']:.0%} (coefficient of "
                     f"variation; {lo:.0%} to {hi:.0%} over trials)")
    probe = n.get("probe") or {}
    if probe.get("cv") is not None:
        extra = [f"load average {probe['load_average'][0]:.2g}"] if probe.get("load_average") else []
        if probe.get("steal_fraction") is not None:
            extra.append(f"steal {probe['steal_fraction']:.1%}")
        parts.append(f"a fixed kernel varied by {probe['cv']:.1%} before measuring" + (f" ({', '.join(extra)})"
                                                                                      if extra else ""))
    head = "Noise: " + ("; ".join(parts) if parts else "not measured (fewer than 2 repeats a trial)") + "."
    if not n["comparisons"]:
        return head
    if not n["inconclusive"]:
        return head + (f" Every one of the {n['comparisons']} comparisons was decided, or shown within the "
                       f"+-{margin:.0%} margin.")
    tail = f" It left {n['inconclusive']} of {n['comparisons']} comparisons inconclusive at the +-{margin:.0%} margin"
    need = n["repeats_to_decide_median"]
    if need:
        flags = f"--min-repeats {need}" + (f" --max-repeats {need}" if need > n.get("max_repeats", need) else "")
        tail += (f"; about {need} repeats a trial (median) would decide them, about "
                 f"{duration(n['seconds_to_decide'])} more here: {flags}")
        if n["undecidable"]:
            tail += (f" ({n['undecidable']} have too few repeats for an interval, or an estimate on the margin that "
                     "no practical number of repeats decides)")
    else:
        tail += " (too few repeats for an interval, or estimates on the margin)"
    return head + tail + "."

