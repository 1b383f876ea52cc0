"""Robust statistics of timing samples (scipy.stats; no TensorFlow)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95

# Every statistic summarize() returns, in the order summary.csv and the table use them.
FIELDS = ("n", "median_s", "iqr_s", "ci_low_s", "ci_high_s", "ci_rel_halfwidth", "mean_s", "std_s", "min_s", "max_s")


DEFAULT_THRESHOLD = 0.10  # bench.compare: the smallest relative change in time that counts
DEFAULT_ALPHA = 0.05  # bench.compare: significance level, after the Benjamini-Hochberg adjustment


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics, binomial).

    NaN bounds when there are too few samples for the confidence asked (fewer than 6 at 95%).
    """
    from scipy import stats  # here, not at import: modules that only need FIELDS stay light

    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    ci = stats.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """median, IQR, CI of the median, mean, std, min, max of the samples, keyed as FIELDS."""
    from scipy import stats

    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return {f: (0 if f == "n" else math.nan) for f in FIELDS}
    median = float(np.median(x))
    low, high = median_ci(x)
    half = max(median - low, high - median) if not (math.isnan(low) or math.isnan(high)) else math.nan
    return {
        "n": int(x.size),
        "median_s": median,
        "iqr_s": float(stats.iqr(x)),
        "ci_low_s": low,
        "ci_high_s": high,
        "ci_rel_halfwidth": half / median if median > 0 else math.nan,
        "mean_s": float(x.mean()),
        "std_s": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        "min_s": float(x.min()),
        "max_s": float(x.max()),
    }


def ratio_of_medians_ci(
    numerator: Sequence[float], denominator: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float, float]:
    """median(numerator) / median(denominator) with a bootstrap CI (independent samples).

    Returns (ratio, low, high); the bounds are NaN when either side has fewer than 2 samples.
    """
    from scipy import stats

    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    ratio = float(np.median(a) / np.median(b))
    if a.size < 2 or b.size < 2:
        return ratio, math.nan, math.nan
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.median(x, axis=axis) / np.median(y, axis=axis),
        confidence_level=confidence,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def stop_reason(
    samples: Sequence[float], repeats: int, elapsed_s: float, *, min_repeats: int, max_repeats: int,
    target_ci: float, budget_s: float,
) -> str | None:
    """Why a trial may stop now ('precision', 'budget', 'max_repeats'), or None to go on."""
    if repeats < min_repeats:
        return None
    rel = summarize(samples)["ci_rel_halfwidth"]
    if not math.isnan(rel) and rel <= target_ci:
        return "precision"
    if repeats >= max_repeats:
        return "max_repeats"
    if elapsed_s >= budget_s:
        return "budget"
    return None
