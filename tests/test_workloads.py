"""Workloads: the interface, finding one by name, the generic trainer, the contract check, and a user's workload
through the runner, the store, the report and bench.compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench.format import load_run
from bench.format.spec import SpecError, build_spec, trials
from mlp_core import TrainConfig, train, workloads
from mlp_core.workloads import CNN, MLP, Workload, WorkloadError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples.keras_regression:workload"


def _cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not this xdist worker's
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})


# ---- the interface and finding a workload ---------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "message"), [
    ({"name": "My-Model"}, "lower-case letters"),
    ({"default_sizes": ()}, "default_sizes"),
    ({"default_sizes": (8, 0)}, "default_sizes"),
    ({"model": None}, "gives no model"),
    ({"modes": ("numpy",)}, "modes"),
    ({"dtypes": ("float16",)}, "dtypes"),
    ({"learning_rate": 0}, "learning_rate"),
])
def test_a_workload_declaration_is_checked(kw, message):
    base = dict(name="mine", summary="s", size_name="width", size_doc="units", default_sizes=(4,),
                data=CNN.data, model=CNN.model)
    with pytest.raises(WorkloadError, match=message):
        Workload(**{**base, **kw})


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A package on sys.path with good and broken workload factories."""
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    (tmp_path / "userpkg" / "models.py").write_text(textwrap.dedent("""
        from mlp_core.workloads import CNN, Workload
        import dataclasses
        def good():
            return dataclasses.replace(CNN, name="tiny_cnn", default_sizes=(2,))
        as_object = dataclasses.replace(CNN, name="object_cnn")
        def fails():
            raise RuntimeError("no GPU driver")
        def wrong():
            return 42
        def builtin():
            return dataclasses.replace(CNN, name="mlp", model=CNN.model)
        not_callable = 3
    """))
    (tmp_path / "userpkg" / "broken.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "userpkg" or m.startswith("userpkg.")]:  # another test's copy
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(workloads, "_CACHE", {})
    return tmp_path


def test_finding_a_workload_by_name_module_or_factory(user_module):
    assert workloads.get("mlp") is MLP and workloads.get("cnn") is CNN
    good = workloads.get("userpkg.models:good")
    assert good.name == "tiny_cnn" and good.spec == "userpkg.models:good"  # the spec the workers load it by
    assert workloads.get("userpkg.models:as_object").name == "object_cnn"
    assert workloads.name_of("userpkg.models:good") == "tiny_cnn"


def test_an_installed_packages_entry_point_is_a_workload_by_its_name(user_module, monkeypatch):
    from importlib import metadata

    group = workloads.ENTRY_POINT_GROUP
    eps = [metadata.EntryPoint(name="tiny", value="userpkg.models:good", group=group),
           metadata.EntryPoint(name="gone", value="userpkg.broken:x", group=group)]
    monkeypatch.setattr(workloads.metadata, "entry_points", lambda group=None: [e for e in eps if e.group == group])
    assert workloads.names() == ["mlp", "cnn", "gone", "tiny"]
    tiny = workloads.get("tiny")
    assert tiny.name == "tiny_cnn" and tiny.spec == "tiny"  # the workers load it by the entry point's name too
    with pytest.raises(WorkloadError, match="entry point 'userpkg.broken:x' fails to load: ModuleNotFoundError"):
        workloads.get("gone")


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuch", r"unknown workload 'nosuch' \(known: mlp, cnn"),
    ("userpkg.broken:x", r"cannot import 'userpkg.broken': ModuleNotFoundError"),
    ("userpkg.models:absent", r"module 'userpkg.models' has no 'absent'"),
    ("userpkg.models:fails", r"its factory fails: RuntimeError: no GPU driver"),
    ("userpkg.models:wrong", r"its factory returned int, not a Workload"),
    ("userpkg.models:not_callable", r"not a Workload nor a function"),
    ("userpkg.models:builtin", r"the name of a built-in workload"),
    (":x", r"expected package.module:factory"),
])
def test_a_workload_that_cannot_load_is_one_line(user_module, spec, message):
    with pytest.raises(WorkloadError, match=message):
        workloads.get(spec)


def test_the_sweep_takes_the_workloads_defaults_and_refuses_what_it_cannot_run():
    spec = build_spec({"workload": "cnn"})
    assert spec.sizes == CNN.default_sizes and spec.learning_rate == CNN.learning_rate
    assert {t.workload for t in trials(spec)} == {"cnn"}
    assert trials(spec)[0].config_id.startswith("cnn-cpu-eager-")
    mlp = build_spec({"hidden_sizes": "8,16"})  # the MLP's older name for the axis
    assert mlp.sizes == (8, 16) and mlp.learning_rate == 1e-4 and trials(mlp)[0].config_id == \
        "cpu-eager-float32-b4-h8-t0"
    # the full preset's sizes are the MLP's: another workload keeps its own
    full = build_spec({"preset": "full", "workload": "cnn"})
    assert full.sizes == CNN.default_sizes and full.modes == ("eager", "function", "xla", "graph")  # no numpy
    with pytest.raises(SpecError, match="hidden_sizes.*the older name of 'sizes'"):
        build_spec({"sizes": "8", "hidden_sizes": "16"})
    for layer, field, text in (({"modes": "article"}, "modes", "does not run it"),
                               ({"modes": "numpy"}, "modes", "does not run it"),
                               ({"replicas": "1,2", "modes": "eager"}, "replicas", "replicas are the MLP's"),
                               ({"workload": "nosuch"}, "workload", "unknown workload")):
        with pytest.raises(SpecError) as err:
            build_spec({"workload": "cnn", **layer})
        assert err.value.field == field and text in str(err.value)


def test_bad_workload_on_the_command_line_is_exit_2_without_a_traceback():
    res = _cli("-m", "bench.run", "--workload", "nosuch.module:f", "--out", "/tmp/never")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "error: workload: 'nosuch.module:f': cannot import 'nosuch.module': ModuleNotFoundError" in res.stderr


# ---- the generic trainer ----------------------------------------------------------------------------------------
def test_the_cnn_flops_match_tensorflows_own_count_of_the_forward_pass():
    """The CNN's FLOPs against an independent count: TF's profiler over the forward graph. Its convention is ours
    (2 per multiply-add in the convolutions and the dense layer, 1 per element for bias adds, pooling and the
    global mean) but for ReLU, which it does not count; ours does, 1 per element."""
    import tensorflow as tf

    for channels in (1, 8, 32):
        model = CNN.model(channels)
        fn = tf.function(model).get_concrete_function(tf.TensorSpec([1, 16, 16, 1], tf.float32))
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        profiled = tf.compat.v1.profiler.profile(fn.graph, options=opts).total_float_ops
        k2, c1, c2 = 9, channels, 2 * channels
        weights = k2 * c1 + c1 + k2 * c1 * c2 + c2 + c2 + 1
        assert weights == model.count_params()
        forward = (CNN.step_flops(1, channels) - 2 * weights) / 3  # our convention: step = 3 x forward + update
        relu = 16 * 16 * c1 + 8 * 8 * c2
        assert forward - relu == profiled, (channels, forward, profiled)


def test_the_generic_trainer_trains_on_the_cpu_in_every_mode_with_the_same_trajectory():
    data = CNN.data(0, 64, 16)
    ref = train(data, TrainConfig(workload="cnn", size=2, epochs=3, batch_size=16, mode="eager", dtype="float64",
                                  learning_rate=0.05))
    assert ref.device == "cpu:0" and ref.train_mse[-1] < ref.train_mse[0]
    assert ref.article_train_metric is None  # the article's metric is the MLP's own
    for mode in ("function", "xla", "graph"):
        res = train(data, TrainConfig(workload="cnn", size=2, epochs=3, batch_size=16, mode=mode, dtype="float64",
                                      learning_rate=0.05))
        np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=1e-9)
        np.testing.assert_allclose(res.test_mse, ref.test_mse, rtol=1e-9)


def test_a_gpu_trial_of_a_workload_without_a_gpu_is_refused_not_run_on_the_cpu():
    from mlp_core.placement import DeviceUnavailableError

    with pytest.raises(DeviceUnavailableError, match="TensorFlow sees no GPU"):
        train(CNN.data(0, 32, 8), TrainConfig(workload="cnn", size=2, epochs=2, batch_size=16, device="gpu"))


# ---- the contract check -----------------------------------------------------------------------------------------
def test_the_contract_check_refuses_bad_input_with_exit_2():
    for args, text in ((["check", "nosuch"], "SPEC: unknown workload 'nosuch'"),
                       (["check", "cnn", "--epochs", "1"], "--epochs: 1"),
                       (["check", "cnn", "--batch-size", "999"], "larger than --n-train")):
        res = _cli("-m", "bench.workload", *args)
        assert res.returncode == 2 and text in res.stderr and "Traceback" not in res.stderr


def _as_schema_4(run_dir: Path) -> None:
    """Rewrite a run directory as schema 4 wrote it: no workload column, the MLP's size called hidden (and, as
    before schema 7, the loss columns called mse, no loss name, no metrics)."""
    import csv

    for name in ("raw.csv", "repeats.csv", "summary.csv"):
        path = run_dir / name
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        later = {"workload", "loss", "test_accuracy", "test_mae", "test_accuracy_median", "test_mae_median"}
        keep = [i for i, col in enumerate(header) if col not in later]
        renamed = {"size": "hidden", **{c: c.replace("_loss", "_mse") for c in header if "_loss" in c}}
        out = [[renamed.get(header[i], header[i]) for i in keep]]
        out += [["4" if header[i] == "schema_version" else r[i] for i in keep] for r in rows[1:]]
        with open(path, "w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(out)
    meta = json.loads((run_dir / "meta.json").read_text())
    spec = {("hidden_sizes" if k == "sizes" else k): v for k, v in meta["spec"].items() if k != "workload"}
    meta = {**{k: v for k, v in meta.items() if k != "workload"}, "schema_version": 4, "spec": spec}
    (run_dir / "meta.json").write_text(json.dumps(meta))


def test_a_schema_4_run_reads_as_the_mlp_with_its_hidden_as_size(tmp_path):
    from tests.synthetic import make_run

    new = make_run(tmp_path / "new", devices="cpu")
    old = make_run(tmp_path / "old", devices="cpu")
    _as_schema_4(old)
    assert "hidden" in (old / "summary.csv").read_text().split("\n", 1)[0]
    a, b = load_run(new), load_run(old)
    assert b.schema_version == 4 and b.workload.name == "mlp" and b.workload.size_name == "hidden"
    assert set(b.summary["workload"]) == {"mlp"} and set(b.repeats["workload"]) == {"mlp"}
    assert list(b.summary["size"]) == list(a.summary["size"]) and set(b.summary["size"]) == {8, 64}
    assert list(b.summary["config_id"]) == list(a.summary["config_id"])  # the MLP's ids did not change
    assert b.spec.sizes == (8, 64) and b.spec.workload == "mlp"


def _cnn_task(**kw):
    from bench.format.messages import RepeatTask

    return RepeatTask(**{"device": "cpu", "mode": "function", "dtype": "float32", "batch_size": 16, "size": 2,
                         "threads": 0, "repeat": 0, "seed": 0, "data_seed": 0, "epochs": 3, "n_train": 32,
                         "n_test": 8, "learning_rate": 0.05, "workload": "cnn", **kw})


def test_the_counting_worker_trains_a_workload_and_refuses_one_an_older_mlp_core_lacks(tmp_path):
    """The icount gate's worker (run here outside valgrind, where its client requests are no-ops) trains a workload
    as the runner's workers do; against an mlp_core from before workloads it reports the task's error."""
    from dataclasses import asdict

    from bench.engine.icount import _RUN_WORKER, WORKER

    run_worker = ["-c", _RUN_WORKER.format(str(WORKER))]  # as the gate runs it (through runpy: no sys.path[0])
    tasks = json.dumps([asdict(_cnn_task()), asdict(_cnn_task(workload="nosuch"))])
    res = _cli(*run_worker, tasks, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    done = json.loads(res.stdout.strip().splitlines()[-1])["tasks"]
    assert done[0] == {"dumps": 2, "device": "cpu:0", "error": ""}  # epochs 1 and 2 counted, the warm-up not
    assert done[1]["dumps"] == 0 and "unknown workload 'nosuch'" in done[1]["error"]
    # an mlp_core whose TrainConfig has no `size` (a checkout from before workloads) trains the MLP only
    old = tmp_path / "old" / "mlp_core"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text(textwrap.dedent("""
        import dataclasses
        @dataclasses.dataclass
        class TrainConfig:
            hidden: int = 20
        def make_data(*a, **k):
            raise AssertionError("not reached")
    """))
    (old / "trainer.py").write_text("def make_trainer(*a, **k): raise AssertionError\ndef run_epochs(*a, **k): pass\n")
    res = subprocess.run([sys.executable, *run_worker, json.dumps([asdict(_cnn_task())])], cwd=tmp_path / "old",
                         capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                                           "PYTHONPATH": str(tmp_path / "old")})
    assert res.returncode == 0, res.stderr[-2000:]
    (task,) = json.loads(res.stdout.strip().splitlines()[-1])["tasks"]
    assert "predates workloads" in task["error"] and "'cnn'" in task["error"]


def test_a_workload_that_fails_to_build_or_train_is_a_recorded_error(user_module):
    from bench.engine.measure import run_repeat

    (user_module / "userpkg" / "faulty.py").write_text(textwrap.dedent("""
        import dataclasses
        from mlp_core.workloads import CNN
        def _model(size):
            raise ValueError(f"no such layer width {size}")
        def _data(seed, n_train, n_test):
            raise OSError("dataset file missing")
        def bad_model():
            return dataclasses.replace(CNN, name="bad_model", model=_model)
        def bad_data():
            return dataclasses.replace(CNN, name="bad_data", data=_data)
    """))
    res = run_repeat(_cnn_task(workload="userpkg.faulty:bad_model"))
    assert res.status == "error" and res.reason == "ValueError: no such layer width 2" and not res.epoch_times_s
    res = run_repeat(_cnn_task(workload="userpkg.faulty:bad_data"))
    assert res.status == "error" and res.reason == "OSError: dataset file missing"
    res = run_repeat(_cnn_task(workload="userpkg.nosuch:f"))
    assert res.status == "error" and "cannot import 'userpkg.nosuch'" in res.reason


def test_two_models_under_one_name_are_not_compared_and_the_ladder_is_the_mlps():
    from bench.analysis import compare
    from bench.analysis.inputs import CompareError, Measured

    units = {"my-cpu-eager-float32-b32-s8-t0": {0: 1.0, 1: 1.1}}
    a = Measured("a", units, {}, workload=("my", "pkg_a.models:workload"))
    b = Measured("b", units, {}, workload=("my", "pkg_b.models:workload"))
    with pytest.raises(CompareError, match="two models under one name"):
        compare.compare(a, b)
    assert compare.compare(a, Measured("c", units, {}, workload=("my", "pkg_a.models:workload")))
    cnn = ROOT / "results" / "workloads" / "cnn"
    res = _cli("-m", "bench.ladder", str(cnn), "--out", "/tmp/never-written")
    assert res.returncode == 2 and "the ladder is the article MLP's" in res.stderr and "Traceback" not in res.stderr


FAKE_OLD_WORKER = r"""
import json, os, sys
# a worker of a checkout from before workloads: its hello has no protocol; it reads the MLP's `hidden`
print(json.dumps({"type": "hello", "pid": os.getpid(), "devices": ["cpu:0"],
                  "tf": {"tensorflow": "2.0", "threads_intra": None, "threads_inter": None}}), flush=True)
for line in sys.stdin:
    task = json.loads(line)
    print(json.dumps({"type": "repeat_result", "status": "error", "reason": f"trained the MLP at hidden "
                      f"{task['hidden']}", "wall_s": 0.0, "worker_pid": os.getpid(), "started_utc": ""}), flush=True)
"""


def test_a_worker_from_before_workloads_is_handed_the_mlp_and_refused_the_rest(tmp_path):
    """The node drives an older checkout's worker (an A/B base) in its protocol: the MLP's task reaches it with
    `hidden`; another workload's never does, and the repeat says why."""
    from bench.engine.node import Checkout, Node

    spec = build_spec({"workload": "cnn", "devices": "cpu", "modes": "function", "dtypes": "float32",
                       "batch_sizes": "32", "sizes": "2", "peak_n": 0})
    node = Node(spec, [Checkout(tmp_path)], worker_cmd=(sys.executable, "-c", FAKE_OLD_WORKER))
    try:
        reply = node.run(_cnn_task())
        assert reply.status == "error" and reply.result is None
        assert "predates workloads" in reply.reason and "'cnn'" in reply.reason
        reply = node.run(_cnn_task(workload="mlp", size=20))
        assert reply.status == "ok" and reply.result.reason == "trained the MLP at hidden 20"
    finally:
        node.close()
