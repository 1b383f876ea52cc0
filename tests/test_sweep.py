"""The runner end to end, with real worker processes: files, statuses, failures, resume."""

import csv
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from bench.engine.loop import run_sweep
from bench.engine.measure import run_repeat
from bench.engine.session import repeat_task
from bench.format import SCHEMA_VERSION, RunDirBusy, load_run, locked
from bench.format.spec import Trial, build_spec
from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, init_params, make_data
from mlp_core.reference import train_numpy
from tests import gpu

TINY = {"n_train": 64, "n_test": 16, "epochs": 3, "min_repeats": 2, "max_repeats": 2, "dtypes": "float32",
        "batch_sizes": "16", "sizes": "8"}


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_repeat_with_fake_clock_and_sync():
    """The timing loop with a fake clock: exact epoch times, a sync before every read."""
    ticks = iter(range(0, 10**12, 3_000_000))  # each read advances 3 ms
    calls = []
    spec = build_spec({**TINY, "devices": "cpu", "modes": "numpy", "batch_sizes": "16", "sizes": "8"})
    trial = Trial(device=Device.CPU, mode=ExecMode.NUMPY, dtype=DTypeMode.FLOAT32, batch_size=16, size=8, threads=0)
    res = run_repeat(repeat_task(trial, 1, spec), clock=lambda: next(ticks), sync=lambda: calls.append(1))
    assert res.status == "ok" and res.epoch_times_s == [0.003, 0.003, 0.003]
    assert res.worker_pid == os.getpid() and res.started_utc.endswith("+00:00")
    assert len(calls) == 6
    # repeat 1 starts from the weights of seed 0 + 1; its MSE is the NumPy float64 reference's
    ref = train_numpy(make_data(0, n_train=64, n_test=16),
                      TrainConfig(size=8, epochs=3, batch_size=16, dtype=DTypeMode.FLOAT64, mode=ExecMode.NUMPY),
                      init_params(3, 8, seed=1))
    np.testing.assert_allclose(res.train_loss, ref.train_mse, rtol=1e-4)


def test_run_repeat_reports_divergence():
    trial = Trial(device=Device.CPU, mode=ExecMode.EAGER, dtype=DTypeMode.FLOAT32, batch_size=16, size=8, threads=0)
    res = run_repeat(dataclasses.replace(repeat_task(trial, 0, build_spec(TINY)), learning_rate=1e12))
    assert res.status == "diverged" and res.reason == "non-finite loss (NaN or inf)"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    args = ["--out", str(out), "--devices", "cpu,gpu", "--modes", "eager,numpy", "--batch-sizes", "16,64",
            "--hidden-sizes", "8", "--dtypes", "float32", "--epochs", "3", "--repeats", "2",
            "--n-train", "64", "--n-test", "16", "--quiet"]
    proc = subprocess.run([sys.executable, "-m", "bench.run", *args], capture_output=True, text=True, timeout=300)
    return out, proc


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tiny_run):
    out, proc = tiny_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION and meta["spec"]["batch_sizes"] == [16, 64]
    assert meta["host"]["cpu_logical_cores"] >= 1 and meta["tensorflow"]["tensorflow"]
    assert meta["finished_at"] and meta["git"]["commit"]
    # every run writes its report, with the very figures it drew into plots/ (each drawn once)
    report = (out / "report.html").read_text()
    assert report.count("data:image/svg+xml;base64,") == len(list((out / "plots").glob("*.svg"))) > 0
    raw = read_csv(out / "raw.csv")
    # 4 CPU trials (eager, numpy x 2 batches) x 2 repeats x 3 epochs; the 2 GPU trials (eager x 2 batches) only
    # where a GPU is visible (tests/gpu.py: EMB_TEST_GPU=1 on a GPU machine)
    on_gpu = gpu.gpu_visible()
    expect_gpu = gpu.expected_gpu_trial(on_gpu)
    n_trials = 4 + (2 if on_gpu else 0)
    assert len(raw) == n_trials * 2 * 3
    assert sorted({(r["epoch"], r["is_warmup"]) for r in raw}) == [("0", "1"), ("1", "0"), ("2", "0")]
    reps = read_csv(out / "repeats.csv")  # one row per trial x repeat, per-repeat values only there
    assert len(reps) == n_trials * 2
    assert {r["device_actual"] for r in reps} == ({"cpu:0", "gpu:0"} if on_gpu else {"cpu:0"})
    assert all(r["device_actual"] == r["config_id"][:3] + ":0" for r in reps)  # each trial where it asked to be
    assert len({r["worker_pid"] for r in reps}) == 1 and all(int(r["peak_rss_bytes"]) > 0 for r in reps)
    # every row names this machine: its fingerprint, recomputed here, and its host name
    from bench.engine.probe import this_machine
    from bench.format.identity import machine_id

    (mid,) = meta["machines"]
    assert mid == machine_id(this_machine()) and meta["executor"]["kind"] == "local"
    assert {r["machine"] for r in raw} == {r["machine"] for r in reps} == {mid}
    assert {r["node"] for r in reps} == {socket.gethostname()}
    for rep in reps:
        epochs = [float(r["epoch_time_s"]) for r in raw
                  if (r["config_id"], r["repeat"]) == (rep["config_id"], rep["repeat"])]
        assert float(rep["warmup_s"]) == epochs[0] and float(rep["median_epoch_s"]) == np.median(epochs[1:])
    summary = {r["config_id"]: r for r in read_csv(out / "summary.csv")}
    assert len(summary) == 6
    for cid, row in summary.items():
        if cid.startswith("gpu") and not on_gpu:
            assert row["status"] == expect_gpu["status"] and expect_gpu["reason"] in row["reason"]
        else:
            assert row["status"] == "ok" and row["repeats"] == "2" and row["n"] == "4"
            samples = [float(r["epoch_time_s"]) for r in raw if r["config_id"] == cid and r["is_warmup"] == "0"]
            assert float(row["median_s"]) == pytest.approx(np.median(samples))
            assert float(row["samples_per_s"]) == pytest.approx(64 / np.median(samples))
    # each repeat's MSEs against the NumPy float64 reference from the same weights (seed 0 + repeat)
    # and the same sample order (TF's shuffle order for eager; NumPy's own for the numpy mode)
    tf_train = pytest.importorskip("mlp_core.tf_train")
    data = make_data(0, n_train=64, n_test=16)
    cfg = TrainConfig(size=8, epochs=3, batch_size=16, dtype=DTypeMode.FLOAT64, mode=ExecMode.NUMPY)
    for mode, orders in (("eager", tf_train.shuffle_orders(64, 10, 3)), ("numpy", None)):
        for repeat in (0, 1):
            ref = train_numpy(data, cfg, init_params(3, 8, seed=repeat), orders=orders)
            cid = f"cpu-{mode}-float32-b16-h8-t0"
            got = [r for r in raw if r["config_id"] == cid and r["repeat"] == str(repeat)]
            np.testing.assert_allclose([float(r["train_loss"]) for r in got], ref.train_mse, rtol=1e-4)
            (rep,) = [r for r in reps if r["config_id"] == cid and r["repeat"] == str(repeat)]
            assert float(rep["test_loss"]) == pytest.approx(ref.test_mse, rel=1e-4)
    assert "summary.csv" in proc.stdout
    assert ("skipped" in proc.stdout and "no GPU visible" in proc.stdout) is not on_gpu


@pytest.mark.slow
def test_tiny_sweep_measures_the_ceiling_and_draws_its_figures(tiny_run):
    out, proc = tiny_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    peaks = json.loads((out / "meta.json").read_text())["peak"]  # CPU float32, and the GPU's where one is visible
    assert [p["device"] for p in peaks] == (["cpu", "gpu"] if gpu.gpu_visible() else ["cpu"])
    peak = peaks[0]
    assert (peak["status"], peak["device"], peak["device_actual"], peak["dtype"], peak["n"], peak["threads"]) == (
        "ok", "cpu", "cpu:0", "float32", 2048, 0)
    assert len(peak["sample_times_s"]) == 5 and peak["gflops_best"] >= peak["gflops_median"] > 0
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["peaks"] == peaks
    assert {r["peak_gflops"] for r in analysis["fraction_of_peak"] if r["device"] == "cpu"} == {peak["gflops_best"]}
    for stem in ("epoch_time", "speedup_modes", "gflops", "modes", "mse"):
        assert (out / "plots" / f"{stem}.png").stat().st_size > 10_000
    assert not (out / "plots" / "throughput.png").exists()  # on request only (bench.plot --figures)
    if gpu.gpu_visible():
        assert (out / "plots" / "speedup_gpu_cpu.png").stat().st_size > 10_000
    else:
        assert "speedup_gpu_cpu: not drawn: no GPU trial measured" in proc.stderr


FAULTY_WORKER = textwrap.dedent("""
    import os, signal, sys, time
    import bench.engine.measure as m
    real = m.run_repeat
    import dataclasses
    def faulty(task, **kw):
        if task.size == 7:
            os.kill(os.getpid(), signal.SIGKILL)     # a crash (what an OOM kill looks like)
        if task.size == 9:
            time.sleep(3600)                          # a hang
        if task.size == 11:
            task = dataclasses.replace(task, learning_rate=1e12)    # divergence
        return real(task, **kw)
    m.run_repeat = faulty
    from bench.engine.worker import main
    sys.exit(main())
""")


@pytest.mark.slow
def test_crash_hang_and_divergence_cost_one_trial_each(tmp_path):
    spec = build_spec({**TINY, "devices": "cpu", "modes": "eager", "batch_sizes": "16",
                       "sizes": "7,8,9,11", "trial_timeout_s": 8})
    rows, _ = run_sweep(spec, tmp_path, argv=["test"], worker_cmd=(sys.executable, "-c", FAULTY_WORKER),
                        progress=False)
    by_hidden = {int(r["size"]): r for r in rows}
    assert by_hidden[8]["status"] == "ok" and by_hidden[8]["repeats"] == 2
    assert by_hidden[7]["status"] == "error" and "worker killed by SIGKILL (out of memory?)" in by_hidden[7]["reason"]
    assert by_hidden[9]["status"] == "error" and "timed out" in by_hidden[9]["reason"]
    assert by_hidden[11]["status"] == "diverged" and "non-finite" in by_hidden[11]["reason"]
    assert {r["size"] for r in read_csv(tmp_path / "repeats.csv")} == {"8", "11"}  # the diverged repeat is kept
    run = load_run(tmp_path)
    assert set(run.raw["size"]) == {8, 11} and run.repeats.set_index("size").loc[11, "status"] == "diverged"


def test_two_runs_never_share_a_directory(tmp_path):
    with locked(tmp_path), pytest.raises(RunDirBusy, match="another run is writing to"), locked(tmp_path):
        pass


@pytest.mark.slow
def test_kill_and_resume_loses_nothing_and_duplicates_nothing(tmp_path):
    out = tmp_path / "r"
    args = ["--out", str(out), "--devices", "cpu", "--modes", "eager", "--batch-sizes", "8,16,32",
            "--hidden-sizes", "8,16", "--dtypes", "float32", "--epochs", "3", "--repeats", "3",
            "--n-train", "64", "--n-test", "16", "--quiet", "--no-plots", "--peak-n", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "bench.run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    raw_path = out / "raw.csv"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if raw_path.exists() and len(raw_path.read_text().splitlines()) > 1 + 3 * 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker, mid-sweep
    proc.wait()
    before = read_csv(raw_path)
    committed = {(r["config_id"], r["repeat"]) for r in read_csv(out / "repeats.csv")}  # each repeat's commit record
    assert 12 <= len(before) < 6 * 3 * 3
    with open(raw_path, "a") as fh:
        fh.write("cpu-eager-float32-b8-h8-t0,0,0,1,0.0")  # a torn last line (too few fields)

    again = subprocess.run([sys.executable, "-m", "bench.run", "--resume", str(out), "--quiet", "--no-plots"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    after = read_csv(raw_path)
    keys = [(r["config_id"], r["repeat"], r["epoch"]) for r in after]
    assert len(keys) == len(set(keys)) == 6 * 3 * 3
    # every complete repeat measured before the kill is still there, unchanged
    rows_of = {}
    for r in before:
        rows_of.setdefault((r["config_id"], r["repeat"]), {})[r["epoch"]] = r["epoch_time_s"]
    # (a repeat whose epochs are all there but whose repeats.csv row is not was cut short by the kill: re-measured)
    complete = {k: v for k, v in rows_of.items() if len(v) == 3 and k in committed}
    assert len(complete) >= 4
    after_of = {(r["config_id"], r["repeat"], r["epoch"]): r["epoch_time_s"] for r in after}
    for (cid, rep), epochs in complete.items():
        for epoch, sec in epochs.items():
            assert after_of[(cid, rep, epoch)] == sec
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 6 and {r["status"] for r in summary} == {"ok"}
    assert {r["repeats"] for r in summary} == {"3"}  # never more than --max-repeats
    assert len(json.loads((out / "meta.json").read_text())["resumed_at"]) == 1
    run = load_run(out)  # the store's checks: every summary row agrees with raw.csv and repeats.csv
    assert run.warnings == () and len(run.repeats) == 6 * 3
    assert not (out / "plots").exists() and (out / "analysis.json").is_file()  # --no-plots: figures only


@pytest.mark.slow
def test_resume_after_the_last_repeat_but_before_the_summary_row_measures_nothing(tmp_path):
    """The window the issue saw: a trial's last allowed repeat is on disk, its summary row is not.
    The stop rule is re-checked on load: no repeat past --max-repeats, no worker started."""
    spec = build_spec({**TINY, "devices": "cpu", "modes": "numpy", "batch_sizes": "16,32"})
    run_sweep(spec, tmp_path, argv=["test"], progress=False)[0]
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    (tmp_path / "summary.csv").write_text("\n".join(summary[:2]) + "\n")  # the second trial's row is lost
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "finished_at": None}))
    before = (tmp_path / "repeats.csv").read_bytes()
    rows = run_sweep(spec, tmp_path, argv=["test"], resume=True, progress=False)[0]
    assert [r["repeats"] for r in rows] == [2, 2] and {r["stop_reason"] for r in rows} == {"max_repeats"}
    assert (tmp_path / "repeats.csv").read_bytes() == before  # nothing measured again
    assert json.loads((tmp_path / "meta.json").read_text())["worker_starts"] == meta["worker_starts"]
    load_run(tmp_path)


def test_out_dir_with_a_run_refuses(tmp_path):
    (tmp_path / "meta.json").write_text("{}")
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "already holds a run; use --resume" in proc.stderr


def test_exit_status_one_when_a_trial_errors(tmp_path, monkeypatch):
    from bench.cli import run
    from bench.engine import loop

    monkeypatch.setattr(loop, "run_sweep", lambda *a, **k: ([{"status": "ok"}, {"status": "error"}], True))
    assert run.main(["--out", str(tmp_path / "x"), "--quiet", "--no-plots"]) == 1
    monkeypatch.setattr(loop, "run_sweep", lambda *a, **k: ([{"status": "ok"}, {"status": "skipped"}], True))
    assert run.main(["--out", str(tmp_path / "y"), "--quiet"]) == 0


@pytest.mark.slow
def test_random_kills_and_resumes_keep_every_rule(tmp_path):
    """SIGKILL the runner and its worker at random moments, resume each time, until it finishes:
    no trial ever exceeds --max-repeats, no repeat is duplicated or lost once committed, and the
    summary equals the one the store recomputes from raw.csv (load_run checks it)."""
    import random

    out = tmp_path / "r"
    args = ["--out", str(out), "--devices", "cpu", "--modes", "numpy,eager", "--batch-sizes", "8,16",
            "--hidden-sizes", "8", "--dtypes", "float32", "--epochs", "3", "--min-repeats", "2", "--max-repeats", "3",
            "--target-ci", "0.0001", "--trial-budget", "100", "--n-train", "512", "--n-test", "16", "--quiet",
            "--no-plots", "--peak-n", "0"]  # about 1 s per eager repeat: kills land mid-sweep
    rng = random.Random(7)
    committed: dict[tuple[str, str], str] = {}

    def rows() -> list[dict]:
        return read_csv(out / "repeats.csv") if (out / "repeats.csv").exists() else []

    cmd = [sys.executable, "-m", "bench.run", *args]
    kills_mid_sweep = 0
    for target in sorted(rng.sample(range(1, 12), 4)):  # of 4 trials x 3 repeats = 12 committed repeats
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and len(rows()) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment after that: mid-epoch, mid-write, between repeats
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills_mid_sweep += 1
        proc.wait()
        for row in rows():
            if row.get("finished_utc"):  # (a torn last line is not a row: csv gives it fewer keys)
                key = (row["config_id"], row["repeat"])
                assert committed.setdefault(key, row["median_epoch_s"]) == row["median_epoch_s"], key
        cmd = [sys.executable, "-m", "bench.run", "--resume", str(out), "--quiet", "--no-plots"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert kills_mid_sweep >= 2  # the sweep really was cut in the middle, more than once
    run = load_run(out)
    assert json.loads((out / "meta.json").read_text())["finished_at"]
    assert len(run.summary) == 4 and set(run.summary["status"]) == {"ok"}
    assert set(run.summary["repeats"]) == {3} and set(run.summary["stop_reason"]) == {"max_repeats"}
    assert run.repeats.groupby("config_id")["repeat"].max().max() == 2  # never a 4th repeat
    assert {(r["config_id"], str(r["repeat"])) for _, r in run.repeats.iterrows()} >= set(committed)


def test_fresh_workers_every_round_and_no_tensorflow_where_no_trial_needs_it(tmp_path):
    """--workers round: each round's repeats come from new processes (the process is the unit); a
    NumPy-only sweep's workers never import TensorFlow (they start in a fraction of a second)."""
    spec = build_spec({**TINY, "devices": "cpu", "modes": "numpy", "batch_sizes": "16,32", "min_repeats": 3,
                       "max_repeats": 3, "workers": "round", "peak_n": 0})
    run_sweep(spec, tmp_path, argv=["test"], progress=False)[0]
    run = load_run(tmp_path)
    pids = run.repeats.groupby("repeat")["worker_pid"].agg(set)
    assert [len(p) for p in pids] == [1, 1, 1] and len(set.union(*pids)) == 3  # one new process per round
    assert run.meta["tensorflow"]["tensorflow"] is None and run.meta["worker_starts"] == 3
    assert "tensorflow" not in (tmp_path / "worker-t0.log").read_text().lower()
