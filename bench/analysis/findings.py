"""What a run found: speed-ups with intervals, fitted step costs, crossovers, scaling, fraction of peak
(analysis.json)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis import compile_cost, evidence, noise
from bench.analysis.comparisons import cast_overhead, mixed_precision, mode_comparisons, plain, speedups
from bench.analysis.evidence import finite
from bench.format import ANALYSIS_FILE, SCHEMA_VERSION, Run, write_json
from bench.format.derive import AXIS_NAMES as KEY
from bench.format.derive import size_letter
from bench.format.stats import ratio_of_medians_ci
from mlp_core import modes
from mlp_core.enums import DTypeMode
from mlp_core.flops import steps_per_epoch

if TYPE_CHECKING:
    import pandas as pd

ARTICLE_POINT = {"batch_size": 4, "size": 20, "dtype": "float64-cast"}


def _ci_excludes(low: float | None, high: float | None, value: float) -> bool:
    return low is not None and high is not None and (low > value or high < value)


# ---- step-cost model and crossover -------------------------------------------------------------
def step_times(run: Run) -> pd.DataFrame:
    """Per ok trial: steps per epoch, mean samples per step, median step time."""
    ok = run.one_device.copy()
    n = run.n_train
    ok["steps"] = np.ceil(n / ok["batch_size"])
    ok["mean_batch"] = n / ok["steps"]  # the ragged last batch makes the mean batch a bit smaller
    ok["median_step_s"] = ok["median_s"] / ok["steps"]
    return ok


def fit_line(batch: Sequence[float], step_s: Sequence[float]) -> dict[str, Any]:
    """Least-squares fit of step_s = overhead_s + batch * per_sample_s, equal relative weights.

    Standard errors need three or more batch sizes (None with two); RMS relative residual as a check.
    """
    from scipy import optimize

    x, y = np.asarray(batch, float), np.asarray(step_s, float)
    if len(np.unique(x)) < 2:
        raise ValueError("need at least two distinct batch sizes to fit")
    with warnings.catch_warnings():  # two points: an exact fit, no covariance (reported as None)
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        p, cov = optimize.curve_fit(lambda b, a, c: a + c * b, x, y, p0=(float(y.min()), 0.0), sigma=y)
    resid = (y - (p[0] + p[1] * x)) / y
    err = np.sqrt(np.diag(cov)) if len(x) > 2 and np.all(np.isfinite(cov)) else (math.nan, math.nan)
    return {"overhead_s": float(p[0]), "overhead_stderr_s": finite(err[0]),
            "per_sample_s": float(p[1]), "per_sample_stderr_s": finite(err[1]),
            "rms_rel_residual": float(np.sqrt(np.mean(resid**2))), "batches": sorted(int(b) for b in set(x))}


def step_cost_fits(run: Run) -> list[dict[str, Any]]:
    """One fit per device x mode x dtype x hidden x threads (x machine, in a run over several) with two
    or more batch sizes."""
    st = step_times(run)
    out = []
    keys = ["device", "mode", "dtype", "size", "threads", "machine"]
    for key, g in st.groupby(keys, sort=True):  # (step_times: one-device trials only)
        if g["batch_size"].nunique() < 2:
            continue
        out.append({**dict(zip(keys, _plain(key))),
                    **fit_line(g["mean_batch"], g["median_step_s"])})
    return out


def crossover(cpu: Mapping[str, Any], gpu: Mapping[str, Any]) -> dict[str, Any]:
    """Where the fitted GPU step time drops below the CPU's, within the measured batch range.

    cpu(B) - gpu(B) = (a_c - a_g) + (b_c - b_g) B: the GPU wins where that is positive.
    """
    lo = max(min(cpu["batches"]), min(gpu["batches"]))
    hi = min(max(cpu["batches"]), max(gpu["batches"]))
    da = cpu["overhead_s"] - gpu["overhead_s"]
    db = cpu["per_sample_s"] - gpu["per_sample_s"]
    gpu_wins_at = lambda b: da + db * b > 0  # noqa: E731
    root = -da / db if db != 0 else math.inf
    if lo <= root <= hi:
        kind = "gpu_wins_above" if db > 0 else "gpu_wins_below"
        text = f"GPU faster above batch {root:.3g}" if db > 0 else f"GPU faster below batch {root:.3g}"
        return {"batch": float(root), "kind": kind, "range": [lo, hi], "text": text}
    if gpu_wins_at(lo) and gpu_wins_at(hi):
        return {"batch": None, "kind": "gpu_always", "range": [lo, hi],
                "text": f"no crossover in range: GPU faster over batch {lo}..{hi}"}
    return {"batch": None, "kind": "cpu_always", "range": [lo, hi],
            "text": f"no crossover in range: CPU faster over batch {lo}..{hi}"}


def crossovers(fits: Sequence[Mapping[str, Any]], gpu_vs_cpu: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per mode x dtype x hidden (x CPU threads): the fitted crossover and the first measured win.

    `measured_win_from`: the smallest measured batch from which every larger one has a GPU speed-up
    whose interval lies above 1 (None when there is no such batch).
    """
    gpu = {(f["mode"], f["dtype"], f["size"]): f for f in fits if f["device"] == "gpu"}
    out = []
    for f in fits:
        if f["device"] != "cpu" or (f["mode"], f["dtype"], f["size"]) not in gpu:
            continue
        g = gpu[(f["mode"], f["dtype"], f["size"])]
        wins = sorted((s["batch_size"], s["ci_low"] is not None and s["ci_low"] > 1) for s in gpu_vs_cpu
                      if (s["mode"], s["dtype"], s["size"], s["threads"]) ==
                      (f["mode"], f["dtype"], f["size"], f["threads"]))
        first = None
        for batch, win in reversed(wins):
            if not win:
                break
            first = batch
        out.append({"mode": f["mode"], "dtype": f["dtype"], "size": f["size"], "threads": f["threads"],
                    "cpu_machine": f["machine"] or None, "gpu_machine": g["machine"] or None,
                    **crossover(f, g), "measured_win_from": first})
    return out


# ---- multi-device scaling ------------------------------------------------------------------------
def scaling(run: Run) -> list[dict[str, Any]]:
    """Scaling efficiency time(1) / (N x time(N)) of every ok trial on N > 1 replicas, against the one-device
    trial of the same settings: strong (the same global batch, so each replica gets 1/N of it) and weak
    (the one-device batch is the per-replica batch, B / N), wherever the matrix has that partner. 1 is
    perfect; the interval is the bootstrap interval of the ratio of medians, divided by N.

    With a fixed data set, an epoch of N replicas at global batch B does the work of an epoch of one
    device at B (strong), or takes N x fewer steps of N x the samples (weak): in both cases perfect
    scaling is an N x shorter epoch, so one formula serves."""
    ok = run.ok
    single = {(r["device"], r["mode"], r["dtype"], r["size"], r["threads"], r["batch_size"]): r
              for _, r in ok[ok["replicas"] == 1].iterrows()}
    out = []
    for _, r in ok[ok["replicas"] > 1].iterrows():
        n = int(r["replicas"])
        partners = [("strong", int(r["batch_size"]))]
        if r["batch_size"] % n == 0:
            partners.append(("weak", int(r["batch_size"]) // n))
        for kind, batch in partners:
            ref = single.get((r["device"], r["mode"], r["dtype"], r["size"], r["threads"], batch))
            if ref is None:
                continue
            ratio, low, high = ratio_of_medians_ci(run.samples[ref["config_id"]], run.samples[r["config_id"]])
            out.append({
                "kind": kind, "device": r["device"], "mode": r["mode"], "dtype": r["dtype"],
                "size": plain(r["size"]), "threads": plain(r["threads"]), "replicas": n,
                "global_batch": plain(r["batch_size"]), "per_replica_batch": plain(r["batch_size"]) / n,
                "one_device_batch": batch, "reference_config_id": ref["config_id"],
                "candidate_config_id": r["config_id"], "speedup": finite(ratio),
                "efficiency": finite(ratio / n), "ci_low": finite(low / n), "ci_high": finite(high / n),
                "machine": r["machine"] or None,
            })
    return out


# ---- fraction of the measured ceiling ----------------------------------------------------------
def peaks(run: Run) -> list[dict[str, Any]]:
    """The run's measured matmul ceilings that succeeded."""
    return [p for p in run.meta.get("peak", []) if p.get("status") == "ok"]


def peak_for(run: Run, device: str, compute_dtype: str, threads: int, machine: str = "") -> float | None:
    """Best GFLOP/s of the ceiling matmul for a trial's device, compute dtype and thread setting, measured
    on its machine (ceilings of schema 2 and older runs name none: the run's one machine)."""
    for p in peaks(run):
        if p.get("machine", machine) != machine:
            continue
        if (p["device"], p["dtype"], int(p["threads"])) == (device, compute_dtype, 0 if device == "gpu" else threads):
            return float(p["gflops_best"])
    return None


def fraction_of_peak(run: Run) -> list[dict[str, Any]]:
    """Achieved GFLOP/s of every ok trial over its device's measured ceiling (None without one)."""
    out = []
    for _, r in run.one_device.iterrows():  # (a ceiling is one device's)
        peak = peak_for(run, r["device"], DTypeMode(r["dtype"]).compute_dtype, int(r["threads"]), r["machine"])
        out.append({"config_id": r["config_id"], **{k: plain(r[k]) for k in KEY},
                    # the workload's FLOPs of an epoch, as the store derived GFLOP/s from them, over its steps
                    "flops_per_step": finite(r["gflops"] * 1e9 * r["median_s"]
                                              / steps_per_epoch(run.n_train, int(r["batch_size"]))),
                    "gflops": finite(r["gflops"]), "peak_gflops": peak,
                    "fraction": None if peak is None else finite(r["gflops"] / peak)})
    return out


def _plain(values: Iterable[Any]) -> tuple:
    return tuple(plain(v) for v in values)


# ---- the whole analysis ------------------------------------------------------------------------
def analyse(run: Run) -> dict[str, Any]:
    """Everything above, plus a few headline numbers, as one JSON-ready dict."""
    gpu_vs_cpu = speedups(run, "device", "cpu")
    fits = step_cost_fits(run)
    data = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.meta.get("run_id"),
        "machine": run.label,
        "machines": run.machines,
        "workload": dataclasses.asdict(run.workload),
        "conventions": {
            "speedup": "time(reference) / time(candidate), geometric means of each trial's per-repeat median epoch "
                       "time (the warm-up epoch left out); >1: candidate faster; time_ratio is its inverse",
            "interval": "95% t interval of the log ratio over repeats (paired by round where the sweep's pairing "
                        "names the axis); p: Welch's (or the paired) t-test against 1, p_adjusted: "
                        "Benjamini-Hochberg within each list (each answer's family)",
            "margin": evidence.margin_of(run),
            "alpha": evidence.DEFAULT_ALPHA,
            "verdict": "slower/faster (costs/saves for the cast): the interval of time_ratio wholly beyond 1 + margin "
                       "(below 1 / (1 + margin)) and p_adjusted < alpha; no-difference: the whole interval inside "
                       "[1 / (1 + margin), 1 + margin]; inconclusive: neither (repeats_to_decide: about how many "
                       "repeats a side would decide it at the noise measured)",
            "cast_overhead": "time(float64-cast) / time(float32) - 1",
            "fit": "median step time = overhead_s + mean batch * per_sample_s (curve_fit, equal relative errors)",
            "scaling": "efficiency = time(1 device) / (N x time(N replicas)); strong: same global batch, weak: "
                       "one-device batch = per-replica batch; interval: bootstrap of the ratio, / N",
        },
        "peaks": peaks(run),
        "gpu_vs_cpu": gpu_vs_cpu,
        "modes": mode_comparisons(run),
        "cast_overhead": cast_overhead(run),
        "mixed_precision": mixed_precision(run),
        "step_cost_fits": fits,
        "crossover": crossovers(fits, gpu_vs_cpu),
        "fraction_of_peak": fraction_of_peak(run),
        "scaling": scaling(run),
    }
    ref = data["modes"]["reference"]
    # the older name (analysis.json before the answers' verdicts): every mode against eager, where eager is the
    # reference
    data["mode_vs_eager"] = data["modes"]["vs_reference"] if ref == "eager" else []
    data["compile_cost"] = compile_cost.compile_costs(run, "eager" if "eager" in data["modes"]["roles"] else ref) \
        if ref else []
    families = [*gpu_vs_cpu, *data["modes"]["vs_reference"], *data["cast_overhead"], *data["mixed_precision"]]
    data["noise"] = noise.noise(run, families)
    data["headline"] = headline(run, data)
    return data


def headline(run: Run, data: Mapping[str, Any]) -> dict[str, Any]:
    """The handful of numbers the README and the issue notes quote."""
    out: dict[str, Any] = {}
    eager = [f for f in data["step_cost_fits"] if f["mode"] == "eager"]
    if eager:
        out["eager_overhead_per_step_s"] = {f"{f['device']}-{f['dtype']}-{_letter(run)}{f['size']}-t{f['threads']}":
                                            f["overhead_s"] for f in eager}
    casts = [c["overhead"] for c in data["cast_overhead"] if c["overhead"] is not None]
    if casts:
        out["cast_overhead_median"] = float(np.median(casts))
        out["cast_overhead_range"] = [float(min(casts)), float(max(casts))]
        out["cast_overhead_decided"] = sum(c["verdict"] in ("costs", "saves") for c in data["cast_overhead"])
        out["cast_overhead_significant"] = sum(c["significant"] for c in data["cast_overhead"])  # (against 0)
        out["cast_overhead_compared"] = len(data["cast_overhead"])
    point = article_point(run)
    if point is not None:
        one = run.one_device
        rows = one[(one["batch_size"] == point["batch_size"]) & (one["size"] == point["size"])
                   & (one["dtype"] == point["dtype"]) & (one["device"] == "cpu")]
        out["modes_at"] = point
        out["modes_epoch_s"] = {r["mode"]: float(r["median_s"]) for _, r in rows.iterrows()}
        # every mode against the baseline (NumPy: a plain loop of the same work) and the floor (numba), by
        # their roles in the mode registry
        for key, role in (("modes_over_baseline", "baseline"), ("modes_over_floor", "floor")):
            ref = next((m for m in modes.with_role(role) if out["modes_epoch_s"].get(m)), None)
            if ref:
                out[key] = {m: t / out["modes_epoch_s"][ref] for m, t in out["modes_epoch_s"].items()}
    if data["crossover"]:
        out["crossover"] = {f"{c['mode']}-{c['dtype']}-{_letter(run)}{c['size']}": c["text"] for c in data["crossover"]}
    return out


def _letter(run: Run) -> str:
    """The size's letter in headline keys, as in configuration ids: h for the MLP's hidden width, s otherwise."""
    return size_letter(run.workload.name)


def article_point(run: Run) -> dict[str, Any] | None:
    """The article's configuration if the run has it, else the ok (batch, hidden, dtype) with the most modes."""
    ok = run.one_device[run.one_device["device"] == "cpu"]
    if ok.empty:
        ok = run.one_device
    if ok.empty:
        return None
    counts = ok.groupby(["batch_size", "size", "dtype"])["mode"].nunique()
    art = (ARTICLE_POINT["batch_size"], ARTICLE_POINT["size"], ARTICLE_POINT["dtype"])
    if run.workload.own_trainers and art in counts.index and counts[art] == counts.max():
        b, h, d = art
    else:
        best = counts[counts == counts.max()].index.min()  # smallest batch, then hidden, among the widest
        b, h, d = best
    return {"batch_size": int(b), "size": int(h), "size_name": run.workload.size_name, "dtype": str(d)}


def write_analysis(run: Run) -> tuple[Path, dict[str, Any]]:
    """analysis.json in the run directory (strict JSON: null, never NaN); returns (its path, its content)."""
    data = analyse(run)
    return write_json(run.path / ANALYSIS_FILE, data, what=ANALYSIS_FILE), data






def format_headline(head: Mapping[str, Any]) -> str:
    """The headline as a few readable lines."""
    lines = []
    for name, value in (head.get("eager_overhead_per_step_s") or {}).items():
        lines.append(f"  eager overhead per step, {name}: {value * 1e6:.0f} us")
    if "cast_overhead_median" in head:
        lo, hi = head["cast_overhead_range"]
        lines.append(f"  float64 cast overhead: median {head['cast_overhead_median']:+.1%} (range {lo:+.1%} to "
                     f"{hi:+.1%}; {head['cast_overhead_decided']} of {head['cast_overhead_compared']} "
                     f"configurations significant)")
    if "modes_epoch_s" in head:
        at = head["modes_at"]
        ref, name = ((head["modes_over_floor"], "the numba floor") if "modes_over_floor" in head
                     else (head.get("modes_over_baseline", {}), "the NumPy baseline"))
        parts = [f"{m} {t * 1e3:.3g} ms" + (f" ({ref[m]:.1f}x {name})" if m in ref else "")
                 for m, t in sorted(head["modes_epoch_s"].items(), key=lambda kv: -kv[1])]
        lines.append(f"  epoch time at batch {at['batch_size']}, {at['size_name']} {at['size']}, {at['dtype']}: "
                     + ", ".join(parts))
    for name, text in (head.get("crossover") or {}).items():
        lines.append(f"  crossover {name}: {text}")
    return "\n".join(lines) or "  (nothing to compare)"
