"""The figures the calibration and estimate scripts publish (results/gate, results/cluster), drawn from their
committed JSON: they read well (tests/figure_lint.py) and plot the numbers, checked against values computed here
by hand (detections k of n, the Wilson interval's formula, the medians of the ratios, hours in minutes)."""

import importlib.util
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tests.figure_lint import problems

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quantile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    i = int(pos)
    nxt = sorted_values[min(i + 1, len(sorted_values) - 1)]
    return sorted_values[i] + (pos - i) * (nxt - sorted_values[i])


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, from its formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_the_gate_calibration_figure_plots_measured_sizes_with_intervals():
    result = json.loads((ROOT / "results" / "gate" / "calibration.json").read_text())
    fig = _script("gate_calibration").draw(result)
    assert problems(fig, ["machine"]) == []
    (ax,) = fig.axes
    containers = ax.containers
    assert len(containers) == len(result["modes"])
    for res, bars in zip(result["modes"].values(), containers):
        line, (xbars, ybars) = bars.lines[0], bars.lines[2]
        for j, runs in enumerate(res["planted"].values()):
            rows = [r for run in runs for r in run]
            ratios = sorted(r["ratio"] for r in rows)
            (x0, _), (x1, _) = xbars.get_segments()[j]  # the quartiles of the ratios, by hand (linear rule)
            assert (x0, x1) == pytest.approx([100 * (_quantile(ratios, q) - 1) for q in (0.25, 0.75)])
            k, n = sum(r["verdict"] == "slower" for r in rows), len(rows)
            # x: the slowdown the plant caused (median ratio - 1), not the nominal size
            assert line.get_xdata()[j] == pytest.approx(100 * (np.median([r["ratio"] for r in rows]) - 1))
            assert line.get_ydata()[j] == pytest.approx(100 * k / n)
            (_, y0), (_, y1) = ybars.get_segments()[j]
            assert (y0, y1) == pytest.approx(tuple(100 * v for v in wilson(k, n)), abs=1e-6)
    legend = " ".join(t.get_text() for lg in fig.legends for t in lg.get_texts())
    assert "false alarms 0 of 80 (95% CI up to 4.6%)" in legend  # Wilson's upper end for 0 of 80: 4.58%
    assert wilson(0, 80)[1] == pytest.approx(0.0458, abs=1e-4)


def test_the_cluster_estimate_figure_labels_its_log_axis_at_every_scale():
    doc = json.loads((ROOT / "results" / "cluster" / "estimate.json").read_text())
    fig = _script("cluster_estimate").draw(doc["rows"], doc)
    assert problems(fig, [doc["probe_machine"]]) == []
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    labelled = [t for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(labelled) >= 3 and all(t.get_text().endswith(("min", "h")) for t in labelled)
    ray = next(line for line in ax.lines if line.get_label() == "bench.run --executor ray")
    np.testing.assert_allclose(ray.get_ydata(), [60 * r["ray_high_h"] for r in doc["rows"]])
    np.testing.assert_allclose(ray.get_xdata(), [r["nodes"] for r in doc["rows"]])
