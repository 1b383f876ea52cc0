"""The overhead ladder: per-step times and multiples of the floor by hand, the breakdown's parts, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analysis.ladder import ladder, table
from bench.format import load_run
from tests.synthetic import N_TRAIN, make_run, step_time

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("ladder") / "run", devices="cpu", modes="eager,graph,numpy,numba")


def test_ladder_by_hand(run_dir):
    doc = ladder(load_run(run_dir))
    points = {(p["batch_size"], p["hidden"]): p for p in doc["points"]}
    assert len(points) == 4 * 2  # batch 16..1024 x hidden 8, 64; float32 only
    p = points[(16, 8)]
    assert p["steps"] == N_TRAIN // 16 and p["floor_mode"] == "numba"
    assert list(p["modes"]) == ["numba", "numpy", "graph", "eager"]  # from the floor up
    for mode, x in (("eager", 40.0), ("graph", 10.0), ("numpy", 4.0), ("numba", 1.0)):
        assert p["modes"][mode]["per_step_s"] == pytest.approx(step_time("cpu", mode, "float32", 16, 8), rel=1e-12)
        assert p["modes"][mode]["x_floor"] == pytest.approx(x, rel=1e-12)
    assert "| eager | 116 | 40 |" in table(doc)  # (1e-4 + 16 x 1e-6) s = 116 us


def test_no_floor_no_multiples(tmp_path):
    doc = ladder(load_run(make_run(tmp_path / "r", devices="cpu")))
    assert all(m["x_floor"] is None for p in doc["points"] for m in p["modes"].values())


def test_cli_writes_the_table_the_figure_and_json(run_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "bench.ladder", str(run_dir), "--no-breakdown", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "ladder.json").read_text())
    assert len(doc["points"]) == 8 and (out / "ladder.png").stat().st_size > 10_000
    assert (out / "ladder.md").read_text() == proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--rounds", "2"], "--rounds"),
    (["--no-breakdown", "RUN2"], "--out"),
])
def test_bad_input_exit_2(run_dir, args, message):
    args = [str(run_dir) if a == "RUN2" else a for a in args]
    proc = subprocess.run([sys.executable, "-m", "bench.ladder", str(run_dir), *args], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_run_without_cpu_float32_trials_is_refused(tmp_path):
    run = make_run(tmp_path / "gpu-only", devices="gpu", modes="eager,graph")
    proc = subprocess.run([sys.executable, "-m", "bench.ladder", str(run), "--no-breakdown"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2 and "no ok float32 CPU trial" in proc.stderr, proc.stderr


@pytest.mark.parametrize("mode", ["eager", "function", "graph"])
def test_breakdown_measures_every_part(mode):
    pytest.importorskip("tensorflow")
    from bench.engine.breakdown import PARTS, measure
    from mlp_core import TrainConfig, make_data

    res = measure(make_data(0, n_train=64, n_test=8), TrainConfig(batch_size=8, size=8, dtype="float32", mode=mode),
                  rounds=3)
    assert res["steps"] == 8
    assert all(len(res["rounds_s"][p]) == 3 and all(t > 0 for t in res["rounds_s"][p]) for p in PARTS)


def test_graph_breakdown_needs_whole_batches():
    pytest.importorskip("tensorflow")
    from bench.engine.breakdown import measure
    from mlp_core import TrainConfig, make_data

    with pytest.raises(ValueError, match="whole batches"):
        measure(make_data(0, n_train=60, n_test=8), TrainConfig(batch_size=8, size=8, mode="graph"), rounds=3)


def test_the_ladder_figure_reads_well(tmp_path, monkeypatch):
    """The committed ladder drawn again: dots with intervals on the log axis (no bars), nothing colliding."""
    import json

    import matplotlib
    import matplotlib.pyplot as plt

    from bench.analysis import ladder as ladder_module
    from tests.figure_lint import problems

    matplotlib.use("Agg")
    doc = json.loads((Path(__file__).resolve().parent.parent / "results" / "ladder" / "ladder.json").read_text())
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    ladder_module.figure(doc, tmp_path)
    drawn = [f for f in figs if f is not None and hasattr(f, "axes")]
    assert drawn and all(problems(fig, [doc["machine"].split()[0]]) == [] for fig in drawn)


def test_breakdown_arithmetic_on_a_fake_clock():
    """Planted part times, read through a fake clock in the rotated order the breakdown measures in: the
    per-step medians leave round 0 (the warm-up) out, and the parts' sum over the total is their ratio."""
    pytest.importorskip("tensorflow")
    from bench.engine.breakdown import PARTS, measure
    from mlp_core import TrainConfig, make_data

    steps, rounds = 8, 4
    planted = {"total": [9.0, 1.0, 1.2, 1.1], "pipeline": [5.0, 0.3, 0.5, 0.4], "premade": [7.0, 0.6, 0.8, 0.7]}
    ticks, now = [], 0.0
    for r in range(rounds):  # the breakdown's order: PARTS rotated by the round
        for part in PARTS[r % 3:] + PARTS[:r % 3]:
            ticks += [now, now + planted[part][r] * steps]
            now += planted[part][r] * steps + 1.0
    clock = iter(ticks).__next__
    res = measure(make_data(0, n_train=64, n_test=8), TrainConfig(batch_size=8, size=8, dtype="float32",
                                                                  mode="eager"), rounds=rounds, clock=clock)
    assert res["steps"] == steps
    # by hand: the medians of rounds 1..3
    assert res["per_step_s"] == pytest.approx({"total": 1.1, "pipeline": 0.4, "premade": 0.7})
    assert res["sum_over_total"] == pytest.approx((0.4 + 0.7) / 1.1)
    assert res["rounds_s"]["total"] == pytest.approx(planted["total"])


def test_the_published_parts_add_up_as_the_docs_say():
    """docs/ladder.md: the parts add up to the measured total within 0.85-1.07 (results/ladder/ladder.json)."""
    root = Path(__file__).resolve().parent.parent
    doc = json.loads((root / "results" / "ladder" / "ladder.json").read_text())
    ratios = [m["breakdown"]["sum_over_total"] for p in doc["points"] for m in p["modes"].values()
              if "sum_over_total" in m.get("breakdown", {})]
    assert ratios and min(ratios) >= 0.85 - 0.005 and max(ratios) <= 1.07 + 0.005, ratios
    assert "0.85-1.07" in (root / "docs" / "ladder.md").read_text()


def test_the_harness_cost_ratio_on_planted_timings():
    """scripts/harness_cost.py's published ratio: the geometric mean of the pairs' ratios, and its t interval,
    by hand on planted pairs (ratios 1.01, 1.02 and 1.04 of the bare loop)."""
    import importlib.util
    import math

    path = Path(__file__).resolve().parent.parent / "scripts" / "harness_cost.py"
    spec = importlib.util.spec_from_file_location("harness_cost", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bare = [0.010, 0.020, 0.015]
    harness = [0.010 * 1.01, 0.020 * 1.02, 0.015 * 1.04]
    t975 = 4.302652729911275  # the t distribution's 97.5% point, 2 degrees of freedom (tables)
    ratio, (lo, hi) = module.paired_ratio(harness, bare, t975)
    logs = [math.log(1.01), math.log(1.02), math.log(1.04)]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    assert ratio == pytest.approx((1.01 * 1.02 * 1.04) ** (1 / 3), rel=1e-12)
    half = t975 * sd / math.sqrt(3)
    assert (lo, hi) == pytest.approx((math.exp(mean - half), math.exp(mean + half)))
    assert lo < 1.0 < hi  # three pairs this close cannot tell 2% from nothing: the published claim needs many pairs
