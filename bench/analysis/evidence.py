"""What the data supports, comparison by comparison: the layer between a run's measurements and every answer.

A comparison is two ok trials that differ in one factor (the device, the execution mode, the dtype). Its
estimate is the ratio of the geometric means of the two trials' per-repeat median epoch times, with a t
interval on the log scale: the repeat, not the epoch, is the unit (the epochs of one repeat share its
weights, its process state and the machine's mood of that moment). Where the run's design measured the two
trials back to back in every round (the sweep's `pairing`, in meta.json's spec), the interval comes from the
per-round paired ratios.

The comparisons behind one answer form a family; the family's p-values are adjusted together
(Benjamini-Hochberg: among the comparisons called decided, the expected share of false ones stays under
alpha), and each comparison gets one of four verdicts against the margin (bench.format.stats.verdict_of):
`slower` / `faster` (decided), `no-difference` (the whole interval inside +-margin) or `inconclusive`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bench.format.stats import DEFAULT_ALPHA, DEFAULT_MARGIN, log_ratio, p_beyond, repeats_to_decide, verdict_of
from mlp_core import modes

if TYPE_CHECKING:
    from bench.format import Run

DECIDED = ("slower", "faster")
# how each family names a decided verdict of its candidate (the cast: what the float64 data costs)
WORDS = {"cast": {"slower": "costs", "faster": "saves"}}
ORDER = {"decided": 0, "no-difference": 1, "inconclusive": 2}


def margin_of(run: Run) -> float:
    """The run's margin (its sweep's `margin`)."""
    return float(run.spec.margin)


_UNITS: list[tuple[Run, dict, dict]] = []  # the last run read (its comparisons ask many times)


def _read(run: Run) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, tuple]]]:
    if _UNITS and _UNITS[0][0] is run:
        return _UNITS[0][1], _UNITS[0][2]
    ok = set(run.ok["config_id"])
    reps = run.repeats[run.repeats["config_id"].isin(ok)]
    units, where = {}, {}
    for cid, g in reps.groupby("config_id", sort=False):
        units[cid] = dict(zip(g["repeat"].astype(int), g["median_epoch_s"].astype(float)))
        where[cid] = dict(zip(g["repeat"].astype(int), zip(g["node"].astype(str), g["worker_pid"])))
    _UNITS[:] = [(run, units, where)]
    return units, where


def repeat_units(run: Run) -> dict[str, dict[int, float]]:
    """config_id -> {repeat: its median epoch time (s)} of every ok trial."""
    return _read(run)[0]


def paired_repeats(run: Run, reference_id: str, candidate_id: str) -> list[int]:
    """The repeats of two trials that ran back to back: the same repeat number, measured by the same worker
    process on the same node (a pair split by a kill and --resume, a lost node's retry or bench.merge is not)."""
    units, where = _read(run)
    a, b = where.get(reference_id, {}), where.get(candidate_id, {})
    return [r for r in sorted(set(units.get(reference_id, {})) & set(units.get(candidate_id, {})))
            if a.get(r) == b.get(r) and a.get(r) is not None]


def paired_axes(run: Run) -> tuple[str, ...]:
    """The axes whose trials the run measured back to back in every round (its sweep's `pairing`; runs from
    before it: none)."""
    return (run.spec.pairing,) if run.spec.pairing != "none" and "pairing" in run.meta["spec"] else ()


def estimate(run: Run, reference_id: str, candidate_id: str, axis: str) -> dict[str, Any]:
    """time(candidate) / time(reference) with its interval and p-value: the fields every comparison carries."""
    units = repeat_units(run)
    ref, cand = units.get(reference_id, {}), units.get(candidate_id, {})
    common = paired_repeats(run, reference_id, candidate_id) if axis in paired_axes(run) else []
    paired = len(common) >= 2
    if paired:
        est = log_ratio([ref[r] for r in common], [cand[r] for r in common], paired=True)
    else:
        est = log_ratio(list(ref.values()), list(cand.values()))
    return {"time_ratio": finite(est.ratio), "time_ratio_low": finite(est.low),
            "time_ratio_high": finite(est.high), "p": est.p, "n_reference": est.n_reference,
            "n_candidate": est.n_candidate, "paired": est.paired, "_est": est}


def judge(family: Sequence[dict[str, Any]], *, margin: float = DEFAULT_MARGIN, alpha: float = DEFAULT_ALPHA,
          words: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Adjust the family's p-values together (Benjamini-Hochberg) and give each comparison its verdict
    (`words` renames the decided ones, e.g. slower -> costs), `significant` (adjusted p against a ratio of 1 <
    alpha) and, where it is inconclusive, about how many repeats a side would decide it (`repeats_to_decide`).
    A decided verdict rests on the p-value of its own claim, "beyond the margin" (bench.format.stats.p_beyond),
    adjusted over the family: among the comparisons called decided, the expected share of false ones stays
    under alpha."""
    from scipy import stats

    if not family:
        return []
    ests = [c.pop("_est") for c in family]
    for c in family:  # a p-value that could not be computed (a zero or missing time) is no evidence
        c["p"] = c["p"] if c["p"] is not None and math.isfinite(c["p"]) else 1.0
    adjusted = stats.false_discovery_control([c["p"] for c in family], method="bh")
    beyond = stats.false_discovery_control([p_beyond(e, margin) for e in ests], method="bh")
    for c, est, p_adj, b_adj in zip(family, ests, adjusted, beyond):
        low, high = (math.nan if c[k] is None else c[k] for k in ("time_ratio_low", "time_ratio_high"))
        v = verdict_of(low, high, float(b_adj), margin=margin, alpha=alpha)
        c["p_adjusted"] = float(p_adj)
        c["p_beyond_margin_adjusted"] = float(b_adj)
        c["significant"] = bool(p_adj < alpha)
        c["verdict"] = (words or {}).get(v, v)
        c["repeats_to_decide"] = repeats_to_decide(est, margin=margin) if v == "inconclusive" else None
    return list(family)


def kind(verdict: str) -> str:
    """'decided', 'no-difference' or 'inconclusive'."""
    return verdict if verdict in ("no-difference", "inconclusive") else "decided"


def by_evidence(family: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Decided first, then no-difference (each in the order of the matrix: device, mode, dtype, size, batch), then
    inconclusive (narrowest interval first)."""
    def key(c: Mapping[str, Any]) -> tuple:
        k = kind(c["verdict"])
        if k == "inconclusive":
            low, high = c["time_ratio_low"], c["time_ratio_high"]
            width = high / low if low and high else math.inf
            return ORDER[k], (), width
        where = tuple(str(c.get(a, "")) if a in ("device", "dtype") else c.get(a, 0) or 0
                      for a in ("device", "dtype", "size", "batch_size"))
        return ORDER[k], (modes.order_key(str(c.get("mode", c.get("candidate", "")))), where), 0.0
    return sorted(family, key=key)


def chance_line(n: int, alpha: float = DEFAULT_ALPHA) -> str:
    """What chance alone would give in a family of n comparisons, and what the adjustment does about it."""
    return (f"with {n} comparisons, chance alone would make about {n * alpha:.2g} look significant at "
            f"{alpha:.0%}; after Benjamini-Hochberg the expected share of false ones among those decided is under "
            f"{alpha:.0%}")


def finite(x: float | None) -> float | None:
    """JSON has no NaN: None instead."""
    return None if x is None or not math.isfinite(float(x)) else float(x)
