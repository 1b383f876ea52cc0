"""When does compiling pay off? The one-off cost of each mode (tracing, XLA compilation, first-call
allocation), read from the warm-up epoch the runner keeps apart, and the break-even point against the eager
loop: after how many epochs (and samples) the mode's total time drops below eager's.

Per repeat, one-off = warm-up epoch - that repeat's median steady epoch (the warm-up epoch does an epoch's
work too). A job of E epochs costs one-off + E x steady epoch; a mode with a shorter steady epoch than eager's
overtakes it after (one-off(mode) - one-off(eager)) / (steady(eager) - steady(mode)) epochs. Intervals: 95%,
the one-off's a t interval over repeats, the break-even's a bootstrap over each trial's repeats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.comparisons import plain

if TYPE_CHECKING:
    from bench.format import Run

RESAMPLES = 2000
AXES = ("device", "dtype", "batch_size", "size", "threads")


def _per_repeat(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """config_id -> (one-off per repeat, steady epoch per repeat) of every ok one-device trial."""
    ok = set(run.one_device["config_id"])
    reps = run.repeats[run.repeats["config_id"].isin(ok)]
    out = {}
    for cid, g in reps.groupby("config_id", sort=False):
        steady = g["median_epoch_s"].to_numpy(float)
        out[cid] = (g["warmup_s"].to_numpy(float) - steady, steady)
    return out


def _t_interval(x: np.ndarray) -> tuple[float | None, float | None]:
    from scipy import stats

    if len(x) < 2 or not np.all(np.isfinite(x)):
        return None, None
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    low, high = stats.t.interval(0.95, len(x) - 1, loc=float(np.mean(x)), scale=float(stats.sem(x)))
    return float(low), float(high)


def break_even(one_off: float, steady: float, ref_one_off: float, ref_steady: float) -> float:
    """Epochs after which the mode's total time is below the reference's: 0 when it is ahead from the first
    epoch, inf when its steady epoch is not shorter."""
    if steady >= ref_steady:
        return math.inf
    return max((one_off - ref_one_off) / (ref_steady - steady), 0.0)


def _bootstrap(mode: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray],
               seed: int) -> tuple[float | None, float | None]:
    if min(len(mode[0]), len(ref[0])) < 2:
        return None, None
    rng = np.random.default_rng(seed)

    def means(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(pair[0]), size=(RESAMPLES, len(pair[0])))
        return pair[0][idx].mean(axis=1), pair[1][idx].mean(axis=1)

    (c, t), (rc, rt) = means(mode), means(ref)
    gain = rt - t
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(gain > 0, np.maximum((c - rc) / np.where(gain > 0, gain, 1.0), 0.0), np.inf)
    low, high = np.quantile(e, [0.025, 0.975], method="inverted_cdf")  # (no interpolation between inf and inf)
    return float(low), (float(high) if math.isfinite(high) else None)


def compile_costs(run: Run, reference: str = "eager") -> list[dict[str, Any]]:
    """Per ok one-device trial of every mode but `reference`: its one-off cost and, where the reference was
    measured at the same configuration, the break-even point against it."""
    data = _per_repeat(run)
    one = run.one_device
    by_key = {(r["mode"], *(r[a] for a in AXES)): r["config_id"] for _, r in one.iterrows()}
    out = []
    for _, r in one[one["mode"] != reference].iterrows():
        cid = r["config_id"]
        c, t = data[cid]
        low, high = _t_interval(c)
        entry: dict[str, Any] = {"mode": r["mode"], "reference": reference, "config_id": cid,
                                 **{a: plain(r[a]) for a in AXES},
                                 "one_off_s": float(np.mean(c)), "one_off_low_s": low, "one_off_high_s": high,
                                 "steady_epoch_s": float(np.mean(t)), "repeats": len(c)}
        ref_id = by_key.get((reference, *(r[a] for a in AXES)))
        if ref_id is not None:
            rc, rt = data[ref_id]
            e = break_even(float(np.mean(c)), float(np.mean(t)), float(np.mean(rc)), float(np.mean(rt)))
            e_low, e_high = _bootstrap((c, t), (rc, rt), seed=len(out))
            entry.update({"reference_config_id": ref_id, "reference_one_off_s": float(np.mean(rc)),
                          "reference_steady_epoch_s": float(np.mean(rt)),
                          "break_even_epochs": e if math.isfinite(e) else None,
                          "break_even_epochs_low": e_low, "break_even_epochs_high": e_high,
                          "break_even_samples": e * run.n_train if math.isfinite(e) else None,
                          "pays": "never" if not math.isfinite(e) else "at once" if e == 0 else "after"})
        out.append(entry)
    return out


def describe(entry: Mapping[str, Any], size_name: str) -> str:
    """One line: 'function at batch 4, hidden 20 (cpu float32): one-off 120 ms [100, 140]; ...'."""
    def ms(x: float | None) -> str:
        return "?" if x is None else f"{x * 1e3:.3g} ms"

    head = (f"{entry['mode']} at batch {entry['batch_size']}, {size_name} {entry['size']} ({entry['device']} "
            f"{entry['dtype']}): one-off {ms(entry['one_off_s'])}"
            + (f" [{ms(entry['one_off_low_s'])}, {ms(entry['one_off_high_s'])}]" if entry["one_off_low_s"] is not None
               else ""))
    pays = entry.get("pays")
    if pays is None:
        return head + f"; no {entry['reference']} trial at this configuration to break even against"
    if pays == "never":
        return head + f"; its steady epoch is not shorter than {entry['reference']}'s: it never pays off"
    if pays == "at once":
        return head + f"; ahead of {entry['reference']} from the first epoch"
    lo, hi = entry["break_even_epochs_low"], entry["break_even_epochs_high"]
    ci = f" [{lo:.2g}, {'never' if hi is None else f'{hi:.2g}'}]" if lo is not None else ""
    return (head + f"; pays off against {entry['reference']} after {entry['break_even_epochs']:.2g} epochs{ci} "
            f"({entry['break_even_samples']:.0f} samples)")
