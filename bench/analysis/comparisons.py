"""The comparisons every answer rests on: two ok trials of a run that differ in one factor (the device, the
execution mode, the dtype), each with its interval, its adjusted p-value and its verdict (bench.analysis.evidence),
gathered in the families the answers use: GPU against CPU, every mode against the reference mode (and the fastest
against the runner-up), float64-cast against float32, each mixed-precision policy against float32."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis import evidence
from bench.format.derive import AXIS_NAMES as KEY
from mlp_core import modes
from mlp_core.workloads import MIXED_DTYPES

if TYPE_CHECKING:
    from bench.format import Run


def _key(row: Mapping[str, Any], fields: Iterable[str]) -> tuple:
    return tuple(row[f] for f in fields)


def plain(v: Any) -> Any:
    """NumPy scalars and whole floats (pandas' view of integer columns) as plain Python numbers."""
    if isinstance(v, bool | np.bool_ | str):
        return v if not isinstance(v, np.bool_) else bool(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return int(v) if float(v).is_integer() else float(v)
    return v


def speedups(run: Run, axis: str, reference: str, candidates: Sequence[str] | None = None, *,
             words: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """time(reference) / time(candidate) for every pair of ok trials that differ only in `axis`, each with its
    interval, its Benjamini-Hochberg-adjusted p-value over the whole list (one family) and its verdict against
    the run's margin (bench.analysis.evidence).

    For the device axis the thread setting is not matched (GPU trials run with TF's default threads):
    each CPU thread setting is paired with the GPU trial, and `threads` is the CPU's.
    """
    ok = run.ok
    others = [k for k in KEY if k != axis and not (axis == "device" and k == "threads")]
    refs: dict[tuple, list[Mapping[str, Any]]] = {}
    for _, row in ok[ok[axis] == reference].iterrows():
        refs.setdefault(_key(row, others), []).append(row)
    out = []
    for _, cand in ok[ok[axis] != reference].iterrows():
        if candidates is not None and cand[axis] not in candidates:
            continue
        for ref in refs.get(_key(cand, others), []):
            est = evidence.estimate(run, ref["config_id"], cand["config_id"], axis)
            entry = {k: plain(ref[k] if k == "threads" else cand[k]) for k in KEY if k != axis}
            ratio, low, high = est["time_ratio"], est["time_ratio_low"], est["time_ratio_high"]
            out.append({
                "axis": axis, "reference": reference, "candidate": cand[axis], **entry,
                "reference_config_id": ref["config_id"], "candidate_config_id": cand["config_id"],
                "reference_machine": ref["machine"] or None, "candidate_machine": cand["machine"] or None,
                "speedup": _inverse(ratio), "ci_low": _inverse(high), "ci_high": _inverse(low), **est,
            })
    return evidence.judge(out, margin=evidence.margin_of(run), words=words)


def _inverse(x: float | None) -> float | None:
    return None if x is None or x == 0 else 1.0 / x


def cast_overhead(run: Run) -> list[dict[str, Any]]:
    """Relative cost of the article's per-step float64 -> float32 cast: time(float64-cast)/time(float32) - 1,
    with its interval and verdict (costs, saves, no-difference, inconclusive)."""
    out = []
    for s in speedups(run, "dtype", "float32", ["float64-cast"], words=evidence.WORDS["cast"]):
        minus1 = {k: None if s[k] is None else s[k] - 1 for k in ("time_ratio", "time_ratio_low", "time_ratio_high")}
        out.append({"device": s["device"], "mode": s["mode"], "batch_size": s["batch_size"], "size": s["size"],
                    "threads": s["threads"], "float32_config_id": s["reference_config_id"],
                    "cast_config_id": s["candidate_config_id"], "overhead": minus1["time_ratio"],
                    "ci_low": minus1["time_ratio_low"], "ci_high": minus1["time_ratio_high"],
                    **{k: s[k] for k in ("time_ratio", "time_ratio_low", "time_ratio_high", "p", "p_adjusted",
                                         "n_reference", "n_candidate", "paired", "significant", "verdict",
                                         "repeats_to_decide", "reference_config_id", "candidate_config_id")}})
    return out


def mixed_precision(run: Run) -> list[dict[str, Any]]:
    """What each mixed-precision policy (mixed_float16, mixed_bfloat16) buys over float32 at the same
    configuration: time(float32) / time(mixed), one family, with intervals and verdicts."""
    return speedups(run, "dtype", "float32", list(MIXED_DTYPES))


def reference_mode(run: Run) -> str | None:
    """The mode every other is compared with: the clean eager loop; without it the article's loop; without
    both the slowest subject mode measured (the ways to run the user's model); None with under two modes."""
    one = run.one_device
    measured = list(dict.fromkeys(one["mode"]))
    if len(measured) < 2:
        return None
    for name in ("eager", "article"):
        if name in measured:
            return name
    subjects = [m for m in measured if _role(run, m) == "subject"] or measured
    return max(subjects, key=lambda m: float(one[one["mode"] == m]["median_s"].median()))


def _role(run: Run, mode: str) -> str:
    facts = (run.meta.get("modes") or {}).get(mode) or {}
    if facts.get("role"):
        return str(facts["role"])
    try:
        return modes.get(mode).role
    except KeyError:
        return "subject"


def mode_comparisons(run: Run) -> dict[str, Any]:
    """Every mode against the reference mode (one family), and the fastest subject mode against the runner-up
    (another), with each mode's role: what the modes answer rests on."""
    ref = reference_mode(run)
    if ref is None:
        return {"reference": None, "roles": {}, "vs_reference": [], "fastest": None, "vs_runner_up": []}
    family = speedups(run, "mode", ref)
    roles = {m: _role(run, m) for m in dict.fromkeys(run.one_device["mode"])}
    ranked = sorted((m for m, r in roles.items() if r == "subject" and m != ref),
                    key=lambda m: -float(np.median([c["speedup"] for c in family if c["candidate"] == m
                                                    and c["speedup"] is not None] or [0.0])))
    runner = speedups(run, "mode", ranked[1], [ranked[0]]) if len(ranked) >= 2 else []
    return {"reference": ref, "roles": roles, "vs_reference": family, "fastest": ranked[0] if ranked else None,
            "vs_runner_up": runner}
