"""Statistics against hand-computed order statistics and NumPy."""

import math

import numpy as np
import pytest

from bench.format.stats import median_ci, ratio_of_medians_ci, stop_reason, summarize


@pytest.mark.parametrize(("n", "lo_rank", "hi_rank"), [(10, 2, 9), (20, 6, 15), (6, 1, 6)])
def test_median_ci_is_the_binomial_order_statistic_interval(n, lo_rank, hi_rank):
    # Hand-computed: largest k with P(Bin(n, 1/2) <= k - 1) <= 0.025 gives [x_(k), x_(n-k+1)]
    # n=10: P(<=1) = 11/1024 = 0.011, P(<=2) = 0.055 -> k=2;  n=20: P(<=5) = 0.021 -> k=6;  n=6: k=1
    x = np.random.default_rng(n).permutation(np.arange(1.0, n + 1) ** 1.5)
    low, high = median_ci(x)
    s = np.sort(x)
    assert (low, high) == (s[lo_rank - 1], s[hi_rank - 1])


def test_median_ci_needs_enough_samples():
    assert all(math.isnan(v) for v in median_ci([1.0, 2.0, 3.0]))


def test_summarize_hand_computed():
    st = summarize([5.0, 1.0, 3.0, 2.0, 4.0, 9.0, 7.0, 8.0, 6.0])
    assert st["n"] == 9 and st["median_s"] == 5.0
    assert st["iqr_s"] == 4.0  # 75th (7) - 25th (3), linear interpolation
    assert st["mean_s"] == 5.0 and st["std_s"] == pytest.approx(math.sqrt(7.5))
    assert (st["min_s"], st["max_s"]) == (1.0, 9.0)
    assert (st["ci_low_s"], st["ci_high_s"]) == (2.0, 8.0)  # n=9: k=2 (P(<=1) = 10/512)
    assert st["ci_rel_halfwidth"] == pytest.approx(3 / 5)


def test_summarize_empty():
    st = summarize([])
    assert st["n"] == 0 and math.isnan(st["median_s"])


def test_ratio_of_medians():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 0.5, 40), rng.normal(5, 0.25, 40)
    ratio, low, high = ratio_of_medians_ci(a, b)
    assert ratio == pytest.approx(np.median(a) / np.median(b))
    assert low < ratio < high and low > 1.8 and high < 2.2
    assert ratio_of_medians_ci([2.0] * 5, [1.0] * 5) == (2.0, 2.0, 2.0)
    assert math.isnan(ratio_of_medians_ci([2.0], [1.0])[1])


def test_stop_reason_rules():
    tight = [1.0, 1.001, 0.999, 1.0, 1.0, 1.002, 0.998, 1.0]
    loose = [1.0, 2.0, 0.5, 1.5, 0.7, 1.9, 0.6, 1.2]
    kw = dict(min_repeats=3, max_repeats=10, target_ci=0.02, budget_s=5.0)
    assert stop_reason(tight, 2, 0.1, **kw) is None  # below the minimum, whatever the precision
    assert stop_reason(tight, 3, 0.1, **kw) == "precision"
    assert stop_reason(loose, 3, 0.1, **kw) is None
    assert stop_reason(loose, 3, 5.0, **kw) == "budget"
    assert stop_reason(loose, 10, 0.1, **kw) == "max_repeats"
