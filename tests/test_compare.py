"""The comparison gate: verdicts on runs with known answers, machine checks, inputs, and real A/B runs."""

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.analysis.compare import compare, load, table_rows, verdict
from bench.cli.compare import main
from bench.format import load_run
from bench.format.spec import build_spec
from tests.synthetic import make_run

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.serial  # see pyproject.toml's markers


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cmp") / "base", devices="cpu")


def test_a_run_against_itself_is_the_same_everywhere(base, capsys):
    rows = compare(load(base), load(base))
    assert len(rows) == 3 * 2 * 4 * 2  # modes x dtypes x batches x hidden
    assert {r["verdict"] for r in rows} == {"same"}
    assert all(r["ratio"] == 1.0 and r["p_adjusted"] == 1.0 for r in rows)
    assert main([str(base), str(base)]) == 0
    assert "0 slower, 0 faster, 48 same of 48" in capsys.readouterr().out


@pytest.mark.parametrize(("factor", "expected"), [(1.15, "slower"), (1.05, "same"), (0.8, "faster")])
def test_planted_change_in_the_graph_trials(tmp_path, base, factor, expected):
    cand = make_run(tmp_path / "cand", devices="cpu", slowdown=lambda t: factor if t["mode"] == "graph" else 1.0)
    rows = {r["config"]: r for r in compare(load(base), load(cand))}
    for cid, r in rows.items():
        want = expected if "-graph-" in cid else "same"
        assert r["verdict"] == want, (cid, r)
        if "-graph-" in cid:
            assert r["ratio"] == pytest.approx(factor) and r["ci_low"] < factor < r["ci_high"]
            assert r["baseline_n"] == r["candidate_n"] == 3  # the unit is the repeat, not the epoch
    md = tmp_path / "comment.md"
    status = main([str(base), str(cand), "--markdown", str(md), "--json", str(tmp_path / "rows.json")])
    assert status == (1 if expected == "slower" else 0)
    text = md.read_text()
    assert text.startswith("### Training-time comparison") and "| configuration |" in text
    assert ("**Regression**: 16 slower" in text) == (expected == "slower")
    assert len(json.loads((tmp_path / "rows.json").read_text())) == 48


def test_paired_ab_runs_use_the_per_repeat_ratios(tmp_path, base):
    """Both sides of one bench.ab run: repeat r of each is a pair, and a shift as small as the
    per-repeat noise is still found because the noise is shared within a pair."""
    a = make_run(tmp_path / "a", devices="cpu")
    b = make_run(tmp_path / "b", devices="cpu", slowdown=lambda t: 1.12 if t["mode"] == "graph" else 1.0)
    for side, path in (("baseline", a), ("candidate", b)):
        meta = json.loads((path / "meta.json").read_text())
        meta["ab"] = {"id": "same-ab-run", "side": side}
        (path / "meta.json").write_text(json.dumps(meta))
    rows = {r["config"]: r for r in compare(load(a), load(b))}
    assert all(r["paired"] for r in rows.values())
    for cid, r in rows.items():
        assert r["verdict"] == ("slower" if "-graph-" in cid else "same")
        assert r["ratio"] == pytest.approx(1.12 if "-graph-" in cid else 1.0)


def test_repeats_of_one_worker_process_are_a_ratio_not_a_verdict(tmp_path, capsys):
    """Runs measured with one worker process per side (--workers run): the repeats share that process's
    state, so even a 2x slowdown gets a ratio and no verdict; fresh workers per round make it a test."""
    a = make_run(tmp_path / "a", devices="cpu", one_worker=True)
    b = make_run(tmp_path / "b", devices="cpu", one_worker=True, slowdown=lambda t: 2.0)
    rows = compare(load(a), load(b))
    assert {r["verdict"] for r in rows} == {"no verdict"} and all(r["ratio"] == pytest.approx(2.0) for r in rows)
    assert main([str(a), str(b)]) == 0 and "one process per side" in capsys.readouterr().out
    fresh = make_run(tmp_path / "c", devices="cpu", slowdown=lambda t: 2.0)  # a process per repeat
    assert {r["verdict"] for r in compare(load(make_run(tmp_path / "d", devices="cpu")), load(fresh))} == {"slower"}


def test_too_few_repeats_is_never_a_verdict(tmp_path):
    a = make_run(tmp_path / "a", devices="cpu", repeats=1)
    b = make_run(tmp_path / "b", devices="cpu", repeats=1, slowdown=lambda t: 2.0)
    rows = compare(load(a), load(b))  # one repeat is also one process per side
    assert {r["verdict"] for r in rows} == {"no verdict"} and all(math.isnan(r["p"]) for r in rows)
    a2 = make_run(tmp_path / "a2", devices="cpu", repeats=2)
    rows = compare(load(a2), load(b))  # two processes against one: still one process on a side
    assert {r["verdict"] for r in rows} == {"no verdict"}


def test_verdict_needs_size_and_significance():
    assert verdict(1.5, 0.2, threshold=0.1, alpha=0.05) == "same"  # big but not significant
    assert verdict(1.08, 1e-9, threshold=0.1, alpha=0.05) == "same"  # significant but under the threshold
    assert verdict(1.11, 0.01, threshold=0.1, alpha=0.05) == "slower"
    assert verdict(0.90, 0.01, threshold=0.1, alpha=0.05) == "faster"  # 1/0.90 = 1.11 > 1.1


def test_different_machines_are_refused_unless_allowed(tmp_path, base, capsys):
    other = make_run(tmp_path / "other", devices="cpu", cpu_model="Another CPU")
    assert main([str(base), str(other)]) == 2
    err = capsys.readouterr().err
    assert "cpu_model: 'Synthetic CPU @ 1.00GHz' != 'Another CPU'" in err and "Traceback" not in err
    assert main([str(base), str(other), "--allow-different-machines"]) == 0


def test_a_trial_measured_on_another_machine_is_refused_unless_allowed(tmp_path, capsys):
    """Runs over two machines (a Ray cluster, merged shards): the same sets of machines, but each trial must
    have been measured on the same one in both runs."""
    split = make_run(tmp_path / "a", machine_of=lambda t: "aaaaaaaa" if t["device"] == "cpu" else "bbbbbbbb")
    same = make_run(tmp_path / "b", machine_of=lambda t: "aaaaaaaa" if t["device"] == "cpu" else "bbbbbbbb")
    swapped = make_run(tmp_path / "c", machine_of=lambda t: "bbbbbbbb" if t["device"] == "cpu" else "aaaaaaaa")
    assert main([str(split), str(same)]) == 0
    capsys.readouterr()
    assert main([str(split), str(swapped)]) == 2
    err = capsys.readouterr().err
    assert "configuration(s) measured on different machines, e.g. cpu-" in err and "aaaaaaaa != bbbbbbbb" in err
    assert main([str(split), str(swapped), "--allow-different-machines"]) == 0


def _pytest_benchmark_json(path, data=True, scale=1.0, wobble=(0.98, 1, 1.02)):
    benches = [{"name": f"test_epoch[{c}]", "fullname": f"benchmarks/test_epoch.py::test_epoch[{c}]",
                "stats": {"median": 0.01 * scale, **({"data": [0.01 * scale * f for f in wobble * 4]}
                                                     if data else {})}}
               for c in ("cpu-eager-float32-b32-h20-t0", "cpu-numpy-float32-b32-h20-t0")]
    path.write_text(json.dumps({"machine_info": {"cpu": {"brand_raw": "X"}, "tensorflow": "2.21.0", "gpus": []},
                                "commit_info": {"id": "abc"}, "benchmarks": benches}))
    return path


def test_one_pytest_benchmark_file_per_side_is_a_ratio_not_a_verdict(tmp_path, capsys):
    """The issue's false alarm: two files of the same code read 1.156, 'slower', exit 1. A file's rounds
    are one process: a ratio, an explanation, never a verdict."""
    a = _pytest_benchmark_json(tmp_path / "a.json")
    b = _pytest_benchmark_json(tmp_path / "b.json", scale=1.156)
    capsys.readouterr()
    assert main([str(a), str(b), "--json", str(tmp_path / "rows.json")]) == 0
    out = capsys.readouterr().out
    assert "no verdict" in out and "one process per side: code and process noise cannot be told apart" in out
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert {r["verdict"] for r in rows} == {"no verdict"} and all(r["p"] is None for r in rows)
    assert all(r["ratio"] == pytest.approx(1.156) for r in rows)
    no_data = _pytest_benchmark_json(tmp_path / "c.json", data=False)
    capsys.readouterr()
    assert main([str(a), str(no_data)]) == 2
    err = capsys.readouterr().err
    assert "stats.data: missing" in err and "--benchmark-save-data" in err


def test_folders_of_pytest_benchmark_files_are_a_real_test(tmp_path):
    """Several files (processes) per side: the unit is a file's median round."""
    for side, scale in (("base", 1.0), ("same", 1.0), ("slow", 1.3)):
        (tmp_path / side).mkdir()
        for i, w in enumerate((0.97, 1.0, 1.03, 0.99, 1.01)):  # per-process levels
            _pytest_benchmark_json(tmp_path / side / f"{i:04d}.json", scale=scale * w)
    assert main([str(tmp_path / "base"), str(tmp_path / "same")]) == 0
    rows = compare(load(tmp_path / "base"), load(tmp_path / "slow"))
    assert {r["verdict"] for r in rows} == {"slower"} and all(r["baseline_n"] == 5 for r in rows)
    assert all(r["ratio"] == pytest.approx(1.3) for r in rows)
    assert main([str(tmp_path / "base"), str(tmp_path / "slow")]) == 1


def test_the_columns_are_the_statistic_the_ratio_is_made_of(tmp_path):
    """The issue saw '2.33 -> 2.108 ms' (faster) beside ratio 1.202 (slower): medians beside a ratio of
    geometric means. Skewed rounds where the two disagree: the columns are the geometric means now."""
    base = tmp_path / "base"
    cand = tmp_path / "cand"
    for folder, values in ((base, (2.33, 2.30, 2.36, 2.31, 2.35)), (cand, (2.108, 2.10, 2.12, 4.9, 4.8))):
        folder.mkdir()
        for i, v in enumerate(values):
            _pytest_benchmark_json(folder / f"{i}.json", scale=v / 10, wobble=(1.0,))
    (row, _) = compare(load(base), load(cand))
    assert row["candidate_geomean_s"] / row["baseline_geomean_s"] == pytest.approx(row["ratio"])
    geo = math.exp(sum(math.log(v / 1000) for v in (2.108, 2.10, 2.12, 4.9, 4.8)) / 5)
    assert row["candidate_geomean_s"] == pytest.approx(geo)  # hand-computed, not the median (2.12 ms)
    (shown, _) = table_rows([row, row])[:2]
    assert float(shown["candidate ms (geo. mean)"]) == pytest.approx(geo * 1e3, rel=1e-3)


@pytest.mark.parametrize(("args", "field"), [
    (["nowhere", "nowhere"], "input"), (["--threshold", "-1"], "threshold"), (["--alpha", "2"], "alpha")])
def test_bad_input_exit_2(tmp_path, base, capsys, args, field):
    argv = args if args[0] == "nowhere" else [str(base), str(base), *args]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"python -m bench.compare: error: {field}: ")


# ---- real runs: A/B interleaved through two checkouts --------------------------------------------
PLANT = textwrap.dedent('''
    # planted for the test: every NumPy epoch busy-waits as long again (2x): a slowdown this
    # machine's noise cannot hide in 10 pairs (its calibration: scripts/gate_calibration.py, README)
    import time as _time
    _real_epoch = NumpyTrainer.epoch
    def _slow_epoch(self, epoch):
        t0 = _time.perf_counter()
        out = _real_epoch(self, epoch)
        end = _time.perf_counter() + 1.0 * (_time.perf_counter() - t0)
        while _time.perf_counter() < end:
            pass
        return out
    NumpyTrainer.epoch = _slow_epoch
''')


def _tree(dst: Path, plant: str = "") -> Path:
    for pkg in ("bench", "mlp_core"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if plant:
        with open(dst / "mlp_core" / "reference.py", "a") as fh:
            fh.write(plant)
    return dst


AB_ARGS = ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "32", "--hidden-sizes",
           "32", "--n-train", "2048", "--n-test", "16", "--epochs", "6", "--repeats", "10", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize(("plant", "expected"), [("", ("same", "faster")), (PLANT, ("slower",))])
def test_ab_interleaved_real_runs(tmp_path, plant, expected):
    """Same code: no regression. This machine can switch between states 2x apart in mid-run and
    leave one side's worker in the slow one for a few rounds, so a same-code A/B may (rarely) read
    a ratio past 10% in either direction; the gate must still not call it `slower`. The false-alarm
    rate over many A/Bs is measured by scripts/gate_calibration.py (README). Planted 2x: `slower`."""
    baseline = _tree(tmp_path / "baseline-tree")
    candidate = _tree(tmp_path / "candidate-tree", plant)
    out = tmp_path / "ab"
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(baseline), "--candidate-tree",
                           str(candidate), "--out", str(out), *AB_ARGS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == (1 if plant else 0), proc.stdout + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if "cpu-numpy" in ln]
    assert len(lines) == 1 and lines[0].split()[-1] in expected, proc.stdout
    # both sides measured the trial the same number of times: 10 repeats x 6 epochs
    for side in ("baseline", "candidate"):
        assert (out / side / "summary.csv").read_text().count(",ok,") == 1
        assert (out / side / "raw.csv").read_text().count("\n") == 1 + 10 * 6


def test_interleave_runs_abba(tmp_path):
    """The one loop under the ABBA policy: A B in even rounds, B A in odd ones, fresh processes every round,
    each side's repeats recorded in its own run directory, paired by one id (a fake executor answers)."""
    from bench.engine.loop import ABBA, run_ab
    from tests.fake_executor import FakeExecutor

    spec = build_spec({"devices": "cpu", "modes": "numpy", "dtypes": "float32", "batch_sizes": "16,32",
                       "sizes": "8", "n_train": 64, "n_test": 8, "epochs": 3, "min_repeats": 3,
                       "max_repeats": 3, "peak_n": 0, "workers": "round"})
    fake = FakeExecutor()
    dirs = [tmp_path / "a", tmp_path / "b"]
    assert run_ab(spec, dirs, [ROOT, ROOT], argv=["test"], policy=ABBA(), progress=False, executor=fake)
    by_trial = {}
    for side, task in fake.calls:
        by_trial.setdefault(task.config_id, []).append("AB"[side])
    assert sorted(by_trial.values()) == [list("ABBAAB")] * 2
    assert fake.renewals == 2  # after rounds 0 and 1: each repeat pair in fresh processes
    a, b = load_run(dirs[0]), load_run(dirs[1])
    assert a.meta["ab"]["id"] == b.meta["ab"]["id"] and (a.meta["ab"]["side"], b.meta["ab"]["side"]) == (
        "baseline", "candidate")
    assert list(a.summary["repeats"]) == list(b.summary["repeats"]) == [3, 3]


def test_duet_policy_starts_both_sides_together_on_swapped_cores(tmp_path):
    """The one loop under the Duet policy: both sides of a trial in one group, each side's cores given at
    every round's start and swapped every round."""
    from bench.engine.loop import Duet, run_ab
    from tests.fake_executor import FakeExecutor

    spec = build_spec({"devices": "cpu", "modes": "numpy", "dtypes": "float32", "batch_sizes": "16",
                       "sizes": "8", "n_train": 64, "n_test": 8, "epochs": 3, "min_repeats": 4,
                       "max_repeats": 4, "peak_n": 0, "threads": "1"})
    fake = FakeExecutor()
    cores = (frozenset({0}), frozenset({1}))
    assert run_ab(spec, [tmp_path / "a", tmp_path / "b"], [ROOT, ROOT], argv=["test"], policy=Duet(cores=cores),
                  progress=False, executor=fake)
    assert [len(g) for g in fake.groups] == [2, 2, 2, 2]  # both sides started together, every round
    assert fake.pins == [cores, cores[::-1], cores, cores[::-1]]


@pytest.mark.slow
def test_the_benchmark_suite_timed_and_its_json_through_the_gate(tmp_path):
    """The real pytest-benchmark suite in timing mode (NumPy cases): machine info, extra_info, then bench.compare."""
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--benchmark-only", "-k", "numpy",
                           "--benchmark-save-data", f"--benchmark-json={out}", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    data = json.loads(out.read_text())
    machine = data["machine_info"]
    assert machine["tensorflow"] and machine["cpu_model"] and machine["gpus"] == [] and "tensorflow_build" in machine
    assert len(data["benchmarks"]) == 4  # numpy x 2 dtypes x 2 points
    for b in data["benchmarks"]:
        assert len(b["stats"]["data"]) == 5  # 5 rounds; the warm-up round is not among them
        extra = b["extra_info"]
        assert extra["device_actual"] == "cpu:0" and extra["samples_per_s"] > 0 and extra["gflops"] > 0
        assert extra["samples_per_s"] == pytest.approx(800 / b["stats"]["median"])
    assert main([str(out), str(out)]) == 0


@pytest.mark.slow
def test_duet_runs_both_sides_at_once_on_their_own_cores(tmp_path):
    """bench.ab --mode duet: repeat r of both sides starts together, each side's workers pinned to its own
    core and swapped every round, fresh every round; the result is an ordinary paired comparison."""
    import os
    from datetime import datetime

    from bench.format import load_run

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a duet needs 2 cores")
    tree = _tree(tmp_path / "tree")
    out = tmp_path / "ab"
    args = [a if a != "10" else "4" for a in AB_ARGS]  # 4 repeats a side
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(tree), "--candidate-tree",
                           str(tree), "--out", str(out), "--method", "duet", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]  # identical code: no regression
    a, b = load_run(out / "baseline"), load_run(out / "candidate")
    assert a.meta["ab"]["mode"] == "duet" and a.meta["ab"]["id"] == b.meta["ab"]["id"]
    from bench.analysis.compare import compare, load

    (row,) = compare(load(out / "baseline"), load(out / "candidate"))
    assert row["verdict"] == "same", row  # the same tree on both sides: never `slower` or `faster`
    # each side on its own core, swapped every round, as each worker itself reported its affinity
    cores = [",".join(map(str, c)) for c in a.meta["ab"]["cores"]]
    assert len(cores) == 2 and cores[0] != cores[1]
    for r in range(4):
        got = (a.repeats.loc[a.repeats["repeat"] == r, "cpus"].item(),
               b.repeats.loc[b.repeats["repeat"] == r, "cpus"].item())
        assert got == (tuple(cores) if r % 2 == 0 else tuple(cores[::-1])), (r, got)
    assert set(a.summary["threads"]) == {1}  # one thread per side
    (cid,) = set(a.repeats["config_id"])
    for r in range(4):
        ra = a.repeats[a.repeats["repeat"] == r].iloc[0]
        rb = b.repeats[b.repeats["repeat"] == r].iloc[0]
        start = [datetime.fromisoformat(x["started_utc"]) for x in (ra, rb)]
        assert abs((start[0] - start[1]).total_seconds()) <= 1  # at the same time
    assert a.repeats["worker_pid"].nunique() == 4 and b.repeats["worker_pid"].nunique() == 4  # fresh each round
    assert "paired A/B repeats" in proc.stdout


def test_no_verdict_is_never_worded_as_a_pass(tmp_path, capsys):
    """Two runs whose repeats all came from one process each: ratios, no verdict, and words that say so."""
    from tests.synthetic import make_run

    a = make_run(tmp_path / "a", devices="cpu", one_worker=True)
    b = make_run(tmp_path / "b", devices="cpu", one_worker=True)
    md = tmp_path / "comment.md"
    assert main([str(a), str(b), "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "NO VERDICT" in out and "this is not a pass" in out and "python -m bench.continuous REF" in out
    text = md.read_text()
    assert "**No verdict**" in text and "No regression" not in text


def test_the_smallest_detectable_change_follows_the_power_rule():
    """`detectable`: the slowdown a paired t-test at alpha 0.05 flags 4 times in 5 at the measured noise. By hand
    with the t tables' quantiles (9 degrees of freedom: 2.2622 and 0.8834), and by simulation: at that true shift
    the test's power is about 0.8."""
    import numpy as np
    from scipy import stats

    from bench.analysis.compare import detectable

    diffs = np.array([0.02, -0.01, 0.03, 0.0, -0.02, 0.01, 0.04, -0.03, 0.02, 0.0])
    sd = float(np.sqrt(((diffs - diffs.mean()) ** 2).sum() / 9))
    assert detectable(diffs, None, None, alpha=0.05) == pytest.approx(np.exp((2.2622 + 0.8834) * sd / np.sqrt(10)),
                                                                       rel=1e-4)
    rng = np.random.default_rng(7)
    sigma, n = 0.05, 10
    shift = (2.2622 + 0.8834) * sigma / np.sqrt(n)  # the rule, at the population's sigma
    hits = sum(stats.ttest_1samp(rng.normal(shift, sigma, n), 0.0).pvalue < 0.05 for _ in range(4000))
    assert 0.76 < hits / 4000 < 0.84
    # where the threshold is the larger bar (little noise): the slowdown must clear log(1.1), and 4 in 5 do
    sigma = 0.02
    low_noise = rng.normal(0.0, sigma, n)
    se = float(np.std(low_noise, ddof=1)) / np.sqrt(n)
    assert detectable(low_noise, None, None, alpha=0.05, threshold=0.1) == pytest.approx(
        np.exp(np.log(1.1) + 0.8834 * se), rel=1e-4)
    shift = np.log(1.1) + 0.8834 * sigma / np.sqrt(n)

    def flagged(d):
        return stats.ttest_1samp(d, 0.0).pvalue < 0.05 and d.mean() > np.log(1.1)

    hits = sum(flagged(rng.normal(shift, sigma, n)) for _ in range(4000))
    assert 0.76 < hits / 4000 < 0.84


def test_the_verdict_table_says_what_same_could_not_see(tmp_path):
    """A `same` verdict comes with the slowdown it could have detected: the threshold where the noise is nil, the
    power rule's where it is not, and the summary line says that `same` is no evidence of no change."""
    from bench.analysis.compare import compare, summary_line, table_rows
    from tests.synthetic import make_run

    a = make_run(tmp_path / "a", devices="cpu")
    b = make_run(tmp_path / "b", devices="cpu")
    from bench.analysis.compare import load

    rows = compare(load(a), load(b))
    assert rows and all(r["verdict"] == "same" for r in rows)
    assert all(r["detectable"] >= 1.10 for r in rows)  # never below the default threshold: 1 + 10%
    assert {t["detectable"] for t in table_rows(rows)} <= {f"+{r['detectable'] - 1:.0%}" for r in rows}
    line = summary_line(rows, threshold=0.10, alpha=0.05)
    assert "`same` is not evidence of no change" in line and "detected 4 times in 5" in line
