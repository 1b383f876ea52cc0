"""The instruction-count gate: its verdict rule by hand, the client requests natively, and real counts
under valgrind at the gate's threshold (same code: `same`; planted work just above 1%: `slower`)."""

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.engine.icount import DEFAULT_THRESHOLD, process_value, spread, verdict

ROOT = Path(__file__).resolve().parent.parent
HAS_VALGRIND = shutil.which("valgrind") is not None
X86_LINUX = sys.platform == "linux" and platform.machine() == "x86_64"
ICOUNT = ["--method", "icount", "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "8,32", "--hidden-sizes",
          "16", "--n-train", "2048", "--n-test", "16", "--epochs", "3", "--quiet"]


def test_verdict_rule_by_hand():
    # 1% threshold: 1.0101 is slower, 1.0099 is not; the same for faster, mirrored as 1/(1 + t)
    assert verdict([1000.0, 1000.0], [1010.1, 1010.1], 0.01) == pytest.approx((1.0101, "slower"))
    assert verdict([1000.0, 1000.0], [1009.9, 1009.9], 0.01)[1] == "same"
    assert verdict([1000.0, 1000.0], [990.0, 990.0], 0.01)[1] == "faster"  # 0.99 < 1/1.01 = 0.990099
    assert verdict([1000.0, 1000.0], [990.2, 990.2], 0.01)[1] == "same"
    # a side whose processes disagree by more than half the threshold gets no verdict, whatever its ratio
    assert verdict([1000.0, 1006.0], [2000.0, 2000.0], 0.01)[1] == "unsteady"
    assert verdict([1000.0, 1004.0], [1000.0, 1000.0], 0.01)[1] == "same"
    assert spread([5.0, 5.0]) == 0.0 and spread([100.0, 103.0]) == pytest.approx(0.03)
    # the counted epochs (the warm-up is never counted): their median
    assert process_value([10, 30, 20]) == 20.0


@pytest.mark.skipif(not X86_LINUX, reason="valgrind client requests are implemented for Linux x86-64 only")
def test_client_requests_are_a_no_op_natively():
    spec = importlib.util.spec_from_file_location("callgrind_worker", ROOT / "bench" / "engine" / "callgrind_worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    vg = worker.ClientRequests()
    assert vg.running_on_valgrind() is False
    assert vg.request(worker.ZERO_STATS, 1234) == 1234  # natively the default answer comes back


def _tree(dst: Path, plant: float = 0.0) -> Path:
    spec = importlib.util.spec_from_file_location("gate_calibration", ROOT / "scripts" / "gate_calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    return calibration.make_tree(dst, plant, work=True)


def _ab(tmp_path, baseline: Path, candidate: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / f"ab-{candidate.name}"
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(baseline), "--candidate-tree",
                           str(candidate), "--out", str(out), *ICOUNT, *extra], capture_output=True, text=True,
                          timeout=280, cwd=ROOT)
    doc = json.loads((out / "icount.json").read_text()) if (out / "icount.json").exists() else {}
    return proc, doc


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_VALGRIND and X86_LINUX),
                    reason="needs valgrind on Linux x86-64 (apt-get install valgrind)")
def test_the_gate_at_its_threshold(tmp_path):
    """Two checkouts of the same code in different folders of the same name length (a longer path moves what
    malloc does: 0.19% and 0.29% were seen between folders of different lengths) count within a tenth of the
    threshold and pass; planted work of one batch more per
    epoch (2048 samples): 1/64 of the epoch at batch 32, +1.6%, is above the 1% threshold and `slower`;
    1/256 at batch 8, +0.4%, is below it and is not; both ratios are near what was planted (each with the
    shadow epoch's own fixed cost and the folders' difference on top)."""
    base = _tree(tmp_path / "side-a")
    copy = _tree(tmp_path / "side-b")  # the same path length as the baseline's
    planted = _tree(tmp_path / "side-c", 0.004)  # rounds to one extra batch per epoch (see the docstring)
    proc, doc = _ab(tmp_path, base, copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert [r["verdict"] for r in doc["configs"]] == ["same", "same"], proc.stdout
    for r in doc["configs"]:
        assert abs(r["ratio"] - 1) < DEFAULT_THRESHOLD / 10, r
        assert r["spread_baseline"] < DEFAULT_THRESHOLD / 10 and r["spread_candidate"] < DEFAULT_THRESHOLD / 10, r
        assert len(r["baseline"]) == len(r["candidate"]) == 2 and all(len(c) == 2 for c in r["baseline"])
    proc, doc = _ab(tmp_path, base, planted)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    by_batch = {r["config_id"]: r for r in doc["configs"]}
    b8, b32 = by_batch["cpu-numpy-float32-b8-h16-t1"], by_batch["cpu-numpy-float32-b32-h16-t1"]
    assert b32["verdict"] == "slower" and 1.012 < b32["ratio"] < 1.03, b32  # 1 batch of 32 more: +1.6%
    assert b8["verdict"] == "same" and 1.002 < b8["ratio"] < 1.008, b8  # 1 batch of 8 more: +0.4%
    assert "slower" in proc.stdout and "cpu-numpy-float32-b32-h16-t1" in proc.stdout
    # the slower configuration explains itself: its functions' own changes add up to the change of the totals
    # (the first process of each side, its counted epochs averaged); the `same` one is not explained
    found = b32["functions"]
    totals = [sum(side[0]) / len(side[0]) for side in (b32["baseline"], b32["candidate"])]
    assert found["total_delta"] == pytest.approx(totals[1] - totals[0], rel=1e-9) and found["total_delta"] > 0
    assert found["functions"] and sum(f["share"] for f in found["functions"]) <= 1.0 + 1e-9
    assert "functions" not in b8 and "calls" not in b8
    assert "where cpu-numpy-float32-b32-h16-t1's count changed" in proc.stdout
    # and the Python-level calls, counted natively: one batch more is more calls in the NumPy baseline's loop, and
    # nothing the two sides share otherwise
    calls = b32["calls"]
    assert calls["total_delta"] > 0 and calls["calls"][0]["delta"] > 0, calls
    assert all(" @ " in c["call"] and "side-" not in c["call"] for c in calls["calls"])  # sites relative to a tree
    assert "calls/epoch (mlp_core/" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_VALGRIND and X86_LINUX),
                    reason="needs valgrind on Linux x86-64 (apt-get install valgrind)")
def test_instrumenting_only_the_counted_epochs_counts_what_full_instrumentation_counts(tmp_path):
    """The default (--instrument counted: valgrind --instr-atstart=no, instrumentation on around the counted
    epochs) against the whole process instrumented: the same instructions per epoch. Full instrumentation's
    first counted epoch carries extra instructions of its instrumented start (docs/gate.md), so its later
    epochs are the comparison; the counted-only epochs agree among themselves from the first."""
    matrix = ["--batch-sizes", "32", "--epochs", "5", "--processes", "1"]
    counted = _ab(tmp_path, ROOT, ROOT, *matrix)[1]
    (tmp_path / f"ab-{ROOT.name}").rename(tmp_path / "counted")
    proc, full = _ab(tmp_path, ROOT, ROOT, *matrix, "--instrument", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert counted["instrument"] == "counted" and "--instr-atstart=no" in counted["tool"]
    assert full["instrument"] == "all" and "--instr-atstart" not in full["tool"]
    (c,), (f,) = counted["configs"][0]["baseline"], full["configs"][0]["baseline"]
    assert len(c) == len(f) == 4  # 5 epochs, the warm-up never counted
    # steady from the first counted epoch: within the same-code spread the gate allows for (a fifth of its threshold;
    # 0.12% was seen once on a loaded CI machine, the heap settling over the first epochs)
    assert spread(c) < DEFAULT_THRESHOLD / 5
    # two differently instrumented processes: within the same-code spread measured for this matrix (up to 0.29%
    # between processes and checkouts, docs/gate.md; 0.21% seen in a fresh clone's CI), far below the 3x the
    # instrumented start adds to the first epoch
    for later in f[1:]:
        assert abs(later / process_value(c) - 1) < 0.003, (c, f)


@pytest.mark.parametrize(("extra", "field"), [
    (["--devices", "cpu,gpu"], "devices"),
    (["--epochs", "1"], "epochs"),
    (["--threads", "2"], "threads"),
    (["--threshold", "5"], "threshold"),
    (["--threshold", "x"], "threshold"),
    (["--threshold", "0.005,nosuchmode=0.01"], "names no execution mode"),
    (["--threshold", "numpy=0.01,numpy=0.02"], "a mode is named twice"),
    (["--threshold", "numpy=2"], "threshold: 2.0"),
    (["--threshold", "0.005,numpy=0.01", "--method", "sequential"], "a threshold per execution mode is for"),
])
def test_bad_input_exit_2(tmp_path, extra, field):
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(ROOT), "--out",
                           str(tmp_path / "o"), *ICOUNT, *extra], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and field in proc.stderr, proc.stderr
    assert not (tmp_path / "o" / "icount").exists()


def test_missing_valgrind_is_a_clear_error(tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # python, no valgrind
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(ROOT), "--out",
                           str(tmp_path / "o"), *ICOUNT], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 2 and "valgrind" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_baseline_without_the_trainer_interface_is_refused(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(ROOT / "bench", old / "bench")
    (old / "mlp_core").mkdir()  # an old checkout: no mlp_core/trainer.py
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(old), "--out",
                           str(tmp_path / "o"), *ICOUNT], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "baseline_tree" in proc.stderr and "make_trainer" in proc.stderr, proc.stderr


DUMP = """# callgrind format
version: 1
positions: line
events: Ir
summary: 60

ob=(1) /usr/lib/libfoo.so
fl=(1) foo.c
fn=(1) main
3 10
+1 5
cfl=(1)
cfn=(2) helper(int)
calls=2 7
4 45
fn=(2)
7 30
cob=(2) /usr/lib/libbar.so
cfn=(3) 0x00000000000012ab
calls=1 0
8 15
ob=(2)
fn=(3)
0 15
totals: 60
"""


def test_per_function_counts_are_read_from_callgrinds_format(tmp_path):
    """A hand-written dump: self costs are a function's own lines, a call's line goes to the caller's inclusive
    count only; compressed names resolve; code without a symbol is one function per object; self costs
    add up to the totals."""
    from bench.engine.profile import deltas, function_costs

    (tmp_path / "a").write_text(DUMP)
    costs = function_costs([tmp_path / "a"])
    assert costs == {"main": [15, 60], "helper(int)": [30, 45], "(no symbol) (libbar.so)": [15, 15]}
    assert sum(v[0] for v in costs.values()) == 60 == costs["main"][1]  # the totals; main includes everything
    (tmp_path / "b").write_text(DUMP.replace("7 30", "7 36"))  # the helper's own work grew by 6
    found = deltas([tmp_path / "a"], [tmp_path / "b"])
    assert found["total_delta"] == 6 and [r["function"] for r in found["functions"]] == ["helper(int)"]
    top = found["functions"][0]
    assert (top["self_delta"], top["share"]) == (6, 1.0)


@pytest.mark.skipif(not (HAS_VALGRIND and X86_LINUX), reason="needs valgrind on Linux x86-64")
def test_a_real_dumps_self_counts_add_up_to_its_totals(tmp_path):
    from bench.engine.icount import _totals
    from bench.engine.profile import function_costs

    out = tmp_path / "cg.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-S", "-c",
                    "sum(range(1000))"], capture_output=True, check=True, timeout=300)
    costs = function_costs([out])
    assert sum(v[0] for v in costs.values()) == _totals(out)
    assert all(incl >= own >= 0 for own, incl in costs.values())
    assert any("PyEval" in name or "_PyEval" in name for name in costs)  # the interpreter's loop, by its name


def test_call_deltas_are_per_counted_epoch_and_ranked_by_change():
    from bench.engine.profile import call_deltas, call_lines

    base = [{"f @ a.py:1": 10, "g @ a.py:2": 5}, {"f @ a.py:1": 10, "g @ a.py:2": 5}]
    cand = [{"f @ a.py:1": 10, "g @ a.py:2": 30, "h @ b.py:9": 1}, {"f @ a.py:1": 10, "g @ a.py:2": 30}]
    found = call_deltas(base, cand)
    assert found["total_delta"] == pytest.approx(25.5)
    assert [(c["call"], c["delta"]) for c in found["calls"]] == [("g @ a.py:2", 25.0), ("h @ b.py:9", 0.5)]
    assert call_lines(found)[0] == "g: +25 calls/epoch (a.py:2)"


def test_call_sites_are_named_by_file_and_calling_function_not_line(tmp_path):
    """One added line moves every line below it: the keys must not move with it."""
    spec = importlib.util.spec_from_file_location("callgrind_worker", ROOT / "bench" / "engine" / "callgrind_worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    keys = []
    for extra in ("", "\n\n\n"):
        source = tmp_path / f"mod{len(extra)}.py"
        source.write_text(f"def loop(xs):{extra}\n    return [len(x) for x in xs]\n")
        namespace: dict = {}
        exec(compile(source.read_text(), str(source), "exec"), namespace)
        counter = worker.CallCounter(str(tmp_path))
        counter.start()
        namespace["loop"](["ab", "c"])
        keys.append({k.replace(source.name, "mod.py"): v for k, v in counter.stop().items()})
        # the checkout's own calls keep the text of their line, which names the call as written
        assert counter.lines[f"len @ {source.name}, in loop.<locals>.<listcomp>"] == ["return [len(x) for x in xs]"]
        # the counter's own calls (its stop(): sys.setprofile) are the harness's, never counted: the worker's path
        # lies inside one side's checkout and not the other's
        assert not any("callgrind_worker" in k or "setprofile" in k for k in keys[-1]), keys[-1]
    assert keys[0] == keys[1] and keys[0]["len @ mod.py, in loop.<locals>.<listcomp>"] == 2


def test_calls_received_are_read_from_the_call_lines(tmp_path):
    from bench.engine.profile import read

    (tmp_path / "a").write_text(DUMP)
    costs, received = read([tmp_path / "a"])
    assert received == {"helper(int)": 2, "(no symbol) (libbar.so)": 1}  # the callee's object, from cob=
    assert costs["helper(int)"] == [30, 45]


KERNELS = """events: Ir
ob=(1) /x/libtensorflow_cc.so.2
fl=(1) ???
fn=(1) tensorflow::EagerKernelExecute(tensorflow::EagerContext*)
0 5
cfn=(2) tensorflow::ThreadPoolDevice::Compute(tensorflow::OpKernel*, tensorflow::OpKernelContext*)
calls={runs} 0
0 40
fn=(2)
0 10
cfn=(3) tensorflow::IdentityOp::Compute(tensorflow::OpKernelContext*)
calls={identity} 0
0 20
cfn=(4) tensorflow::BinaryOp<Eigen::ThreadPoolDevice, tensorflow::functor::mul<float> >::Compute({context})
calls=7 0
0 10
cfn=(5) tensorflow::RetvalOp::Compute({context})
calls={retval} 0
0 0
fn=(3)
0 20
fn=(4)
0 10
totals: 75
"""


def test_the_op_kernels_run_are_named_from_their_compute_calls(tmp_path):
    """A TensorFlow op kernel's runs are the calls of its Compute(OpKernelContext*); the device's Compute, which
    runs every kernel, is not an op; a kernel whose runs did not change is not listed."""
    from bench.engine.profile import deltas, kernel, op_lines

    assert kernel("tensorflow::IdentityOp::Compute(tensorflow::OpKernelContext*)") == "IdentityOp"
    assert kernel("tensorflow::(anonymous namespace)::CastOp::Compute(tensorflow::OpKernelContext*)'2") == "CastOp"
    assert kernel("tensorflow::ThreadPoolDevice::Compute(tensorflow::OpKernel*, tensorflow::OpKernelContext*)") is None
    assert kernel("tensorflow::AsyncOpKernel::Compute(tensorflow::OpKernelContext*)") is None
    assert kernel("void tensorflow::CallOp::ComputeAsync(tensorflow::OpKernelContext*, std::function<void ()>)") \
        == "CallOp"
    assert kernel("_PyEval_EvalFrameDefault") is None
    context = "tensorflow::OpKernelContext*"  # the mul kernel: run 7 times on both sides
    (tmp_path / "a").write_text(KERNELS.format(runs=8, identity=1, context=context, retval=8))
    (tmp_path / "b").write_text(KERNELS.format(runs=24, identity=17, context=context, retval=40))
    found = deltas([tmp_path / "a"], [tmp_path / "b"])
    # the results' kernel, which every eager op runs, comes after the op it ran for, however many more runs it has
    assert [(r["op"], r["delta"], r["baseline"], r["candidate"]) for r in found["ops"]] == [
        ("IdentityOp", 16, 1, 17), ("RetvalOp", 32, 8, 40)]
    assert op_lines(found)[0] == "IdentityOp: +16 runs/epoch (1 -> 17)"


def test_the_checkouts_own_calls_come_first():
    """The calls made from the checkout's code name the edit; the library calls they set off come after, however
    many more there are."""
    from bench.engine.profile import call_deltas, call_lines, sections

    base = [{"identity @ mlp_core/tf_train.py, in sgd_step": 0, "executing_eagerly @ tensorflow/ctx.py, in f": 10}]
    cand = [{"identity @ mlp_core/tf_train.py, in sgd_step": 16, "executing_eagerly @ tensorflow/ctx.py, in f": 42}]
    found = call_deltas(base, cand, own=lambda f: f.startswith("mlp_core/"))
    assert [(c["call"].split(" @ ")[0], c["own"]) for c in found["calls"]] == [("identity", True),
                                                                              ("executing_eagerly", False)]
    assert call_lines(found, own=True) == ["identity: +16 calls/epoch (mlp_core/tf_train.py, in sgd_step)"]
    assert call_lines(found, own=False) == ["executing_eagerly: +32 calls/epoch (tensorflow/ctx.py, in f)"]
    heads = [h for h, _ in sections({"functions": {"functions": [], "ops": []}, "calls": found})]
    assert heads == ["calls from the checkout's code", "other Python-level calls"]
    assert sections({"functions": {"functions": [], "ops": []}, "calls_error": "boom"}) == [
        ("Python-level calls", ["not counted: boom"])]


def test_close_counts_are_those_within_half_the_threshold_of_a_boundary():
    from bench.engine.icount import close

    t = 0.01
    assert close(1.005, t) and close(1.015, t) and close(1.0101, t) and close(0.990, t)
    assert not close(1.0049, t) and not close(1.0151, t) and not close(1.0, t) and not close(0.9799, t)


def test_a_close_count_gets_one_more_process_a_side_and_is_judged_over_all(tmp_path, monkeypatch):
    """The confirmation, without valgrind: the processes' counts are set by hand. A far count is judged on the
    first processes; a close one gets one more process a side, a replica of the first (every task: what else a
    process runs moves its counts), whose counts only the close ones use; a first count that was close but above
    the threshold and a confirmation below it give the median of both."""
    from bench.engine import icount

    first = {"far": (1000, 1100), "close": (1000, 1011), "fading": (1000, 1006)}
    again = {"far": (1000, 1000), "close": (1000, 1012), "fading": (1000, 1004)}  # "far" read again: not used
    ran = []

    def fake_run(jobs, _path, *, parallel, progress=False):
        for j in jobs:
            ran.append((j.side, j.index, len(j.tasks)))
            table = first if j.index == 0 else again
            for cid in ids:
                j.counts.append([table[cid][j.side == "candidate"]] * 2)
                j.dumps.append([])
                j.task_errors.append("")

    ids = ["far", "close", "fading"]
    monkeypatch.setattr(icount, "valgrind", lambda: ("valgrind", "valgrind-test"))
    monkeypatch.setattr(icount, "run_jobs", fake_run)
    doc = icount.count({"baseline": tmp_path / "a", "candidate": tmp_path / "b"}, [{}, {}, {}], ids, tmp_path,
                       processes=1, threshold=0.01, parallel=2, explain="none")
    rows = {r["config_id"]: r for r in doc["configs"]}
    assert sorted(ran) == [("baseline", 0, 3), ("baseline", 1, 3), ("candidate", 0, 3), ("candidate", 1, 3)]
    assert rows["far"]["verdict"] == "slower" and "confirmation" not in rows["far"]
    assert len(rows["far"]["baseline"]) == 1  # judged on the first processes
    assert rows["close"]["verdict"] == "slower" and rows["close"]["ratio"] == pytest.approx(1.0115)
    assert rows["close"]["confirmation"] == {"first_ratio": pytest.approx(1.011), "first_verdict": "slower",
                                             "processes_per_side": 2}
    assert rows["fading"]["verdict"] == "same" and rows["fading"]["ratio"] == pytest.approx(1.005)
    assert len(rows["fading"]["candidate"]) == 2
    from bench.engine.icount_table import table

    text = table(doc)
    assert "slower (confirmed)" in text and "same (confirmed)" in text
    assert "confirmed: close: the first count read x1.0110, within +-0.50% of a boundary" in text
    doc = icount.count({"baseline": tmp_path / "a", "candidate": tmp_path / "b"}, [{}, {}, {}], ids,
                       tmp_path / "off", processes=1, threshold=0.01, parallel=2, explain="none", confirm=False)
    assert [r["verdict"] for r in doc["configs"]] == ["slower", "slower", "same"]
    assert not any("confirmation" in r for r in doc["configs"])


def test_thresholds_per_execution_mode():
    """--threshold 0.005,function=0.01: function mode's configurations are held to 1%, the others to 0.5%; one
    number (or the same for all) stays one number."""
    from bench.cli.ab import icount_plan, parser
    from bench.cli.options import threshold_value

    assert threshold_value("0.01") == 0.01
    assert threshold_value("0.005, function=0.01") == {"*": 0.005, "function": 0.01}
    matrix = ["--baseline-tree", str(ROOT), "--out", "x", "--method", "icount", "--modes", "eager,function,numpy",
              "--batch-sizes", "32", "--hidden-sizes", "20", "--dtypes", "float32"]
    _, ids, threshold, _ = icount_plan(parser().parse_args([*matrix, "--threshold", "0.005,function=0.01"]))
    assert threshold == {cid: 0.01 if "-function-" in cid else 0.005 for cid in ids} and len(ids) == 3
    assert icount_plan(parser().parse_args([*matrix, "--threshold", "eager=0.02,0.02"]))[2] == 0.02
    assert icount_plan(parser().parse_args(matrix))[2] == DEFAULT_THRESHOLD
    doc = {"threshold": threshold, "configs": [
        {"config_id": cid, "verdict": "same", "baseline_per_epoch": 1.0, "candidate_per_epoch": 1.0, "ratio": 1.0,
         "spread_baseline": 0.0, "spread_candidate": 0.0, "threshold": threshold[cid]} for cid in ids]}
    from bench.engine.icount_table import table

    function = next(c for c in ids if "-function-" in c)
    assert f"thresholds: 0.50% for {ids[0]}, {ids[2]}; 1.00% for {function}" in table(doc)


def test_thresholds_absent_from_the_count_are_unused_and_markdown_quotes_any_line():
    """A per-mode threshold may name a mode this count does not train (the CI's value on a NumPy-only count);
    the markdown's inline code holds lines that quote code with backticks of their own."""
    from bench.cli.ab import icount_plan, parser
    from bench.engine.icount_table import _code

    args = parser().parse_args(["--baseline-tree", str(ROOT), "--out", "x", "--method", "icount", "--modes", "numpy",
                                "--dtypes", "float32", "--threshold", "0.005,function=0.01"])
    assert icount_plan(args)[2] == 0.005
    assert _code("f: +1 calls/epoch (a.py, in g: `x = h(x)`)") == "``f: +1 calls/epoch (a.py, in g: `x = h(x)`)``"
    assert _code("ends in ``") == "``` ends in `` ```" and _code("plain") == "`plain`"


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_VALGRIND and X86_LINUX), reason="needs valgrind on Linux x86-64")
def test_one_tf_identity_a_step_is_named_as_the_identity_op_and_its_line(tmp_path):
    """The issue's example, small: one `x = tf.identity(x)` added to the eager step (4 batches an epoch). Whatever
    the verdict, the explanation names TensorFlow's identity op first (4 more runs an epoch) and the added line
    first among the checkout's calls."""
    sides = [_tree(tmp_path / "side-a"), _tree(tmp_path / "side-b")]  # the same path length
    step = sides[1] / "mlp_core" / "tf_train.py"
    text = step.read_text()
    anchor = "    with tf.GradientTape() as tape:\n        loss = batch_loss(variables, x, y, compute)\n"
    assert text.count(anchor) == 1
    step.write_text(text.replace(anchor, "    x = tf.identity(x)\n" + anchor))
    out = tmp_path / "ab"
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(sides[0]), "--candidate-tree",
                           str(sides[1]), "--out", str(out), "--method", "icount", "--modes", "eager", "--dtypes",
                           "float32", "--batch-sizes", "32", "--hidden-sizes", "8", "--n-train", "128", "--n-test",
                           "16", "--epochs", "2", "--processes", "1", "--explain", "all", "--confirm", "off",
                           "--quiet"], capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    (row,) = json.loads((out / "icount.json").read_text())["configs"]
    assert row["ratio"] > 1, row["ratio"]  # an op more per step is more work
    top_op = row["functions"]["ops"][0]
    assert (top_op["op"], top_op["delta"]) == ("IdentityOp", 4), row["functions"]["ops"]
    own = [c for c in row["calls"]["calls"] if c["own"]]
    assert own and own[0]["delta"] == 4 and own[0]["lines"] == ["x = tf.identity(x)"], own
    assert "IdentityOp: +4 runs/epoch" in proc.stdout and "`x = tf.identity(x)`" in proc.stdout


def test_same_code_pairs_are_judged_by_the_gates_rule(tmp_path):
    """scripts/icount_same_code.py on a pool made by hand: 4 processes a side, identical but for one candidate
    process 2% high. With one process a side, that process's pair is `slower` at 1% (far from the band: no
    confirmation); with two a side, its pair's candidate processes differ by 2%: `unsteady`. The other pairs are
    `same`."""
    pool = {"configs": [{"config_id": "cpu-numpy-float32-b32-h20-t1", "verdict": "same", "ratio": 1.0,
                         "baseline": [[1000, 1000]] * 4, "candidate": [[1000, 1000]] * 3 + [[1020, 1020]]}]}
    (tmp_path / "pool.json").write_text(json.dumps(pool))
    done = subprocess.run([sys.executable, "scripts/icount_same_code.py", str(tmp_path / "pool.json"), "--thresholds",
                           "0.01", "--out", str(tmp_path / "out.json")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = json.loads((tmp_path / "out.json").read_text())["gates"]
    gates = {(g["processes_per_side"], g["confirm"]): g for g in found}
    one = gates[(1, True)]
    assert (one["pairs"], one["false_alarms"], one["verdicts"], one["confirmed"]) == (4, 1, ["slower"], 0)
    two = gates[(2, False)]
    assert (two["pairs"], two["false_alarms"], two["verdicts"]) == (2, 1, ["unsteady"])
