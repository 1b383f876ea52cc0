"""Adding an execution mode takes one backend and one registry entry: this file is both.

Imported as a plug-in (EMB_PLUGINS=tests.test_toy_mode) by every process of a run, it registers the
mode `toy`: the NumPy baseline's loop with a different name, role, colour and order. The tests then
see it flow through `bench.run` (its workers build it from the registry), the store (rows that read
anywhere, the plug-in loaded or not), analysis.json, the figures, and the pytest-benchmark suite.
Its numbers are checked against the NumPy baseline measured in the same run (the same arithmetic in
float64: the same MSEs to the last bit), not against its own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_core import modes
from mlp_core.reference import NumpyTrainer

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = {**os.environ, modes.PLUGINS_ENV: "tests.test_toy_mode", "PYTHONPATH": str(ROOT)}
TOY_COLOR = "#123456"


class ToyTrainer(NumpyTrainer):
    """The toy mode's backend: the NumPy baseline's training, unchanged."""


modes.register(modes.Mode(
    name="toy", summary="a toy mode registered by a test", library="NumPy", install="pip install numpy",
    needs_tensorflow=False, cpu_only=True, role="peer", order=65, color=TOY_COLOR, step_cost_s=5e-5,
    trainer="tests.test_toy_mode:ToyTrainer"))


def _sweep(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.run", "--devices", "cpu", "--modes", "numpy,toy", "--dtypes", "float64",
         "--batch-sizes", "16,64", "--hidden-sizes", "8", "--n-train", "256", "--n-test", "32", "--epochs", "3",
         "--repeats", "2", "--peak-n", "0", "--quiet", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=PLUGIN, timeout=300)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    proc = _sweep(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_the_toy_mode_is_in_the_help_and_validated():
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=PLUGIN, timeout=60)
    assert "toy (a toy mode registered by a test)" in " ".join(proc.stdout.split())
    without = {k: v for k, v in PLUGIN.items() if k != modes.PLUGINS_ENV}
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--modes", "toy", "--out", "/nonexistent/x"],
                          capture_output=True, text=True, cwd=ROOT, env=without, timeout=60)
    assert proc.returncode == 2 and "modes: 'toy': unknown value" in proc.stderr and "Traceback" not in proc.stderr


def test_the_toy_mode_through_the_runner_and_the_store(toy_run):
    from bench.format import load_run

    out, _ = toy_run
    run = load_run(out)
    assert set(run.summary["mode"]) == {"numpy", "toy"} and set(run.summary["status"]) == {"ok"}
    toy = run.repeats[run.repeats["mode"] == "toy"].sort_values(["batch_size", "repeat"])
    ref = run.repeats[run.repeats["mode"] == "numpy"].sort_values(["batch_size", "repeat"])
    # the same float64 arithmetic from the same weights and sample order: the baseline's MSEs exactly
    assert list(toy["test_loss"]) == list(ref["test_loss"]) and len(toy) == 4
    assert set(toy["device_actual"]) == {"cpu:0"}
    # the rows read anywhere: a process without the plug-in checks the directory
    without = {k: v for k, v in PLUGIN.items() if k != modes.PLUGINS_ENV}
    proc = subprocess.run([sys.executable, "-m", "bench.store", "check", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env=without, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_toy_mode_in_analysis_and_figures(toy_run):
    from bench.analysis.plot import FIGURE_FUNCS
    from bench.format import load_run

    out, _ = toy_run
    analysis = json.loads((out / "analysis.json").read_text())
    head = analysis["headline"]
    assert set(head["modes_epoch_s"]) == {"numpy", "toy"}
    # against the baseline, from the same run's medians
    run = load_run(out)
    at = head["modes_at"]
    rows = run.summary[(run.summary["batch_size"] == at["batch_size"]) & (run.summary["size"] == at["size"])]
    med = dict(zip(rows["mode"], rows["median_s"]))
    assert head["modes_over_baseline"]["toy"] == pytest.approx(med["toy"] / med["numpy"], rel=1e-9)
    # the modes figure draws it, in its registry colour
    import matplotlib
    import matplotlib.colors as mcolors

    matplotlib.use("Agg")
    fig = FIGURE_FUNCS["modes"]([run])
    dots = [mcolors.to_hex(c.lines[0].get_color()) for ax in fig.axes for c in ax.containers]
    assert TOY_COLOR in dots
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
    labels += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("toy" in label for label in labels), labels


def test_the_toy_mode_in_the_benchmark_suite():
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-k", "toy", "--benchmark-disable", "-q",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=ROOT, env=PLUGIN, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "4 passed" in proc.stdout  # cpu x 2 dtypes x 2 points; no GPU case for a CPU-only mode
