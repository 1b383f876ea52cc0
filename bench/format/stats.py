"""Robust statistics of timing samples (scipy.stats; no TensorFlow)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95

# Every statistic summarize() returns, in the order summary.csv and the table use them.
FIELDS = ("n", "median_s", "iqr_s", "ci_low_s", "ci_high_s", "ci_rel_halfwidth", "mean_s", "std_s", "min_s", "max_s")


DEFAULT_THRESHOLD = 0.10  # bench.compare: the smallest relative change in time that counts
DEFAULT_ALPHA = 0.05  # bench.compare and the answers: significance level, after the Benjamini-Hochberg adjustment
DEFAULT_MARGIN = 0.05  # the answers: a difference in time smaller than +-5% counts as no difference


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


@dataclass(frozen=True, slots=True)
class LogRatio:
    """time(candidate) / time(reference) as a ratio of geometric means, with its t interval and p-value."""

    ratio: float
    low: float  # NaN: too few values for an interval
    high: float
    p: float  # two-sided, against a ratio of 1 (1.0 where there is no evidence)
    se: float  # standard error of the log ratio (NaN: none)
    df: float
    n_reference: int
    n_candidate: int
    paired: bool


def log_ratio(reference: Sequence[float], candidate: Sequence[float], *, paired: bool = False,
              confidence: float = CONFIDENCE) -> LogRatio:
    """Welch's t-test on log times (or, `paired`, the one-sample test of the per-pair log differences: the
    sequences aligned, value i of each measured back to back). The values are per-repeat times: the unit of
    replication, never the epochs of one repeat. Too few values (under 2 a side, or pairs): NaN bounds, p 1.
    No spread at all (synthetic or quantised data): the shift is exact."""
    from scipy import stats

    x, y = np.log(np.asarray(reference, float)), np.log(np.asarray(candidate, float))
    if paired and len(x) != len(y):
        raise ValueError(f"paired values must align: {len(x)} reference, {len(y)} candidate")
    nan = math.nan
    if not len(x) or not len(y):
        return LogRatio(nan, nan, nan, 1.0, nan, nan, len(x), len(y), paired)
    diffs = y - x if paired else None
    shift = float(np.mean(diffs)) if paired else float(np.mean(y) - np.mean(x))
    ratio = math.exp(shift)
    if (len(x) < 2) if paired else (len(x) < 2 or len(y) < 2):
        return LogRatio(ratio, nan, nan, 1.0, nan, nan, len(x), len(y), paired)
    spread = float(np.ptp(diffs)) if paired else max(float(np.ptp(x)), float(np.ptp(y)))
    if spread < 1e-12:  # (rounding of identical values: no noise to test against)
        return LogRatio(ratio, ratio, ratio, 0.0 if shift != 0 else 1.0, 0.0, math.inf, len(x), len(y), paired)
    if paired:
        res = stats.ttest_1samp(diffs, 0.0)
        se, df = float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs)), len(diffs) - 1.0
    else:
        res = stats.ttest_ind(y, x, equal_var=False)
        vx, vy = float(np.var(x, ddof=1)) / len(x), float(np.var(y, ddof=1)) / len(y)
        se = math.sqrt(vx + vy)
        df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if vx + vy > 0 else len(x) + len(y) - 2.0
    ci = res.confidence_interval(confidence_level=confidence)
    return LogRatio(ratio, math.exp(ci.low), math.exp(ci.high), float(res.pvalue), se, float(df), len(x), len(y),
                    paired)


VERDICTS = ("slower", "faster", "no-difference", "inconclusive")


def p_beyond(est: LogRatio, margin: float) -> float:
    """The p-value of the claim a decided verdict makes: that the ratio lies beyond the margin on the side of its
    estimate (H0: |log ratio| <= log(1 + margin)), two-sided in form so that p < alpha exactly when the
    (1 - alpha) interval lies wholly beyond 1 + margin (or below 1 / (1 + margin)). 1 where it cannot be claimed."""
    from scipy import stats

    if math.isnan(est.ratio) or math.isnan(est.se):
        return 1.0
    gap = abs(math.log(est.ratio)) - math.log1p(margin)
    if gap <= 0:
        return 1.0
    if est.se == 0:
        return 0.0
    return float(min(1.0, 2 * stats.t.sf(gap / est.se, est.df)))


def verdict_of(low: float, high: float, p_adjusted: float, *, margin: float, alpha: float) -> str:
    """What an interval of a time ratio (candidate / reference) supports, against a margin:
    `slower` / `faster`: the claim "beyond the margin" (p_beyond) holds after the multiple-comparison adjustment
    (`p_adjusted`), so the whole interval lies beyond 1 + margin (below 1 / (1 + margin)); `no-difference`: the
    whole interval inside [1 / (1 + margin), 1 + margin] (equivalence, as in two one-sided tests);
    `inconclusive`: neither."""
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    up, down = 1 + margin, 1 / (1 + margin)
    if p_adjusted < alpha and low > up:
        return "slower"
    if p_adjusted < alpha and high < down:
        return "faster"
    if low >= down and high <= up:
        return "no-difference"
    return "inconclusive"


MOST_REPEATS = 10_000  # past this, "no practical number of repeats decides it"


def repeats_to_decide(est: LogRatio, *, margin: float, confidence: float = CONFIDENCE) -> int | None:
    """About how many repeats a side would take this comparison out of `inconclusive` at the noise it
    measured: the standard error shrinks as 1/sqrt(n) (and the t quantile with the degrees of freedom n gives)
    until the interval clears the margin on the nearer side (inside it for a small effect, beyond it for a
    large one). None: no noise estimate, or more than MOST_REPEATS (the estimate sits on the margin)."""
    from scipy import stats

    if math.isnan(est.low) or math.isnan(est.high) or math.isnan(est.se) or est.se == 0:
        return None
    n0 = min(est.n_reference, est.n_candidate)
    gap = abs(abs(math.log(est.ratio)) - math.log1p(margin))
    q = 0.5 + confidence / 2

    def clears(n: int) -> bool:
        df = n - 1 if est.paired else 2 * n - 2  # (Welch's, with equal spreads and sizes)
        return stats.t.ppf(q, df) * est.se * math.sqrt(n0 / n) < gap

    if not clears(MOST_REPEATS):
        return None
    lo, hi = n0, MOST_REPEATS  # clears(hi); find the least n that does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return max(hi, n0 + 1)
