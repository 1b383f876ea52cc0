"""Failures that name their cause, before anything is timed (mlp_core.preflight, mlp_core.keras_train, the
contract check, bench.run): the bad array and its first bad index, both shapes of an output that does not fit
its target, a model the harness would train otherwise than declared; TensorFlow's errors cut to their cause;
a run that measured nothing exits non-zero with the reasons."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest

from mlp_core import TrainConfig
from mlp_core.data import Data
from mlp_core.errors import reason_of
from mlp_core.preflight import PreflightError, check_data, check_loss, check_output
from tests.test_workloads import ROOT, _cli


def _data(**arrays) -> Data:
    rng = np.random.default_rng(0)
    base = dict(X_train=rng.normal(size=(8, 3)), y_train=rng.normal(size=8), X_test=rng.normal(size=(4, 3)),
                y_test=rng.normal(size=4))
    return Data(**{**base, **arrays})


def test_non_finite_data_names_the_array_the_count_and_the_first_index():
    X = np.zeros((8, 3))
    X[5, 2], X[6, 0] = np.nan, np.inf
    with pytest.raises(PreflightError, match=r"data\(\)\.X_train has 2 non-finite value\(s\), the first nan at "
                                             r"index \(5, 2\)"):
        check_data(_data(X_train=X), "w")
    y = np.zeros(4)
    y[3] = -np.inf
    with pytest.raises(PreflightError, match=r"data\(\)\.y_test has 1 non-finite value\(s\), the first -inf at "
                                             r"index 3"):
        check_data(_data(y_test=y), "w")


def test_integer_ids_pass_and_other_kinds_are_named():
    check_data(_data(X_train=np.arange(24).reshape(8, 3), X_test=np.arange(12).reshape(4, 3)), "w")
    with pytest.raises(PreflightError, match=r"data\(\)\.X_train is <U1, not a float, integer or bool array"):
        check_data(_data(X_train=np.full((8, 3), "a")), "w")
    with pytest.raises(PreflightError, match=r"data\(\)\.y_train is list, not a NumPy array"):
        check_data(_data(y_train=[0.0] * 8), "w")
    with pytest.raises(PreflightError, match=r"data\(\) has 4 samples in X_test, 3 samples in y_test"):
        check_data(_data(y_test=np.zeros(3)), "w")
    with pytest.raises(PreflightError, match=r"data\(\) returned tuple, not mlp_core.Data .*missing X_train"):
        check_data((np.zeros((8, 3)), np.zeros(8)), "w")


def test_several_inputs_are_checked_array_by_array():
    ids, dense = np.arange(8).reshape(8, 1), np.zeros((8, 2))
    check_data(_data(X_train={"ids": ids, "dense": dense}, X_test={"ids": ids[:4], "dense": dense[:4]}), "w")
    check_data(_data(X_train=(ids, dense), X_test=(ids[:4], dense[:4])), "w")
    bad = dense.copy()
    bad[2, 1] = np.nan
    with pytest.raises(PreflightError, match=r"data\(\)\.X_train\['dense'\] has 1 non-finite value\(s\), the "
                                             r"first nan at index \(2, 1\)"):
        check_data(_data(X_train={"ids": ids, "dense": bad}), "w")
    with pytest.raises(PreflightError, match=r"data\(\) has 8 samples in X_train\[0\], 7 samples in X_train\[1\], "
                                             r"8 samples in y_train"):
        check_data(_data(X_train=(ids, dense[:7])), "w")


def test_an_output_that_does_not_fit_its_target_names_both_shapes():
    check_output("w", (32, 1), (32, 1))  # Dense(1) against a scalar target (reshaped to (n, 1))
    check_output("w", (32, 4, 2), (32, 8))  # as many values per sample
    with pytest.raises(PreflightError, match=r"output per sample has shape \(3,\) \(3 values\), the target's "
                                             r"\(y_train\) \(1,\) \(1\)"):
        check_output("w", (32, 3), (32, 1))
    with pytest.raises(PreflightError, match=r"the loss of the first batch, before any step, is nan"):
        check_loss("w", float("nan"))


def test_a_tensorflow_error_is_cut_to_its_cause_not_its_header():
    tf = pytest.importorskip("tensorflow")

    def reshape(a, b):
        return tf.reshape(a, tf.shape(b))

    at_run = tf.function(reshape, input_signature=[tf.TensorSpec([None, None])] * 2)  # fails while running
    with pytest.raises(Exception) as err:
        at_run(tf.zeros((32, 3)), tf.zeros((32, 1)))
    assert str(err.value).startswith("Graph execution error:")
    line = reason_of(err.value)
    assert line == "InvalidArgumentError: Input to reshape is a tensor with 96 values, but the requested shape has 32"
    with pytest.raises(Exception) as err:
        tf.function(reshape)(tf.zeros((32, 3)), tf.zeros((32, 1)))  # fails while tracing: "in user code:"
    line = reason_of(err.value)
    assert line.startswith("ValueError: Cannot reshape a tensor with 96 elements to shape [32,1]"), line
    assert "\n" not in line and "in user code" not in line


BROKEN = textwrap.dedent("""
    import dataclasses
    import numpy as np
    from examples.keras_regression import workload as example

    def _nan_data(seed, n_train, n_test):
        d = example().data(seed, n_train, n_test)
        X = d.X_train.copy()
        X[7, 1] = np.nan
        return dataclasses.replace(d, X_train=X)

    def _softmax(width):
        import keras
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu"),
                                 keras.layers.Dense(3, activation="softmax")])

    def _compiled(width):
        import keras
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        m.compile(loss="categorical_crossentropy", metrics=["accuracy"])
        return m

    def _own_step(width):
        import keras

        class Stepper(keras.Sequential):
            def train_step(self, data):
                raise AssertionError("never called")

        return Stepper([keras.Input((8,)), keras.layers.Dense(1)])

    def _bare(width):
        import keras
        return keras.layers.Dense(1)

    def nan_data():
        return dataclasses.replace(example(), name="nan_data", data=_nan_data)

    def softmax():
        return dataclasses.replace(example(), name="softmax", model=_softmax)

    def compiled():
        return dataclasses.replace(example(), name="compiled", model=_compiled)

    def own_step():
        return dataclasses.replace(example(), name="own_step", model=_own_step)

    def bare():
        return dataclasses.replace(example(), name="bare", model=_bare)

    def _dropout(width):
        import keras
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu"),
                                 keras.layers.Dropout(0.5), keras.layers.Dense(1)])

    def dropout():
        return dataclasses.replace(example(), name="dropout", model=_dropout, dtypes=("float32",))
""")


@pytest.fixture()
def broken(tmp_path, monkeypatch):
    (tmp_path / "preflight_models.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("factory", "message"), [
    ("softmax", r"output per sample has shape \(3,\) \(3 values\), the target's \(y_train\) \(1,\) \(1\)"),
    ("compiled", r"returned a compiled model \(loss='categorical_crossentropy', metrics=\['accuracy'\]\); .*drop it"),
    ("own_step", r"Stepper overrides train_step, which the harness's own training loop does not call"),
    ("bare", r"model\(size\) returned keras\.src\..*Dense, not a keras\.Model"),
])
def test_the_trainer_refuses_a_model_it_would_train_otherwise_than_declared(broken, factory, message):
    pytest.importorskip("tensorflow")
    from mlp_core import workloads
    from mlp_core.trainer import make_trainer

    workload = workloads.get(f"preflight_models:{factory}")
    data = workload.data(0, 64, 16)
    with pytest.raises(PreflightError, match=message):
        make_trainer(data, TrainConfig(workload=workload.spec, size=8, batch_size=16, epochs=1, mode="eager"))


@pytest.mark.slow
def test_the_check_stops_at_data_that_fails_and_names_the_index(broken):
    from bench.engine.contract import Settings, check

    _, checks = check("preflight_models:nan_data", Settings(n_train=64, epochs=2))
    assert [c.name for c in checks] == ["data"] and checks[0].outcome == "fail", checks
    assert "data().X_train has 1 non-finite value(s), the first nan at index (7, 1)" in checks[0].detail
    _, checks = check("preflight_models:softmax", Settings(n_train=64, epochs=2))
    assert [(c.name, c.outcome) for c in checks] == [("data", "pass"), ("model", "fail")], checks
    assert "output per sample has shape (3,)" in checks[1].detail


@pytest.mark.slow
def test_a_run_that_measured_nothing_exits_non_zero_with_each_trials_cause(broken):
    out = broken / "run"
    spec = f"{broken / 'preflight_models.py'}:softmax"
    res = _cli("-m", "bench.run", "--workload", spec, "--devices", "cpu", "--modes", "eager,function", "--dtypes",
               "float32", "--batch-sizes", "16", "--sizes", "8", "--n-train", "64", "--n-test", "16", "--epochs", "2",
               "--repeats", "1", "--peak-n", "0", "--quiet", "--no-plots", "--out", str(out))
    assert res.returncode == 1, res.stderr[-2000:]
    assert "no trial was measured (2 error: PreflightError: workload 'softmax': the model's output per sample " \
           "has shape (3,)" in res.stderr, res.stderr[-2000:]
    from bench.format import load_run

    reasons = set(load_run(out).summary["reason"])
    assert len(reasons) == 1 and "the target's (y_train) (1,) (1)" in reasons.pop()


def test_a_missing_module_hints_at_pythonpath_and_a_file_path_is_a_spec(tmp_path, monkeypatch):
    from mlp_core import workloads

    with pytest.raises(workloads.WorkloadError, match=r"No module named 'mymodels'.*on PYTHONPATH\? Run from that "
                                                       r"folder with PYTHONPATH=\., or name the file"):
        workloads.get("mymodels.seq:workload")
    (tmp_path / "mymodels").mkdir()
    source = (ROOT / "examples" / "keras_regression.py").read_text()
    (tmp_path / "mymodels" / "seq.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    workload = workloads.get("mymodels/seq.py:workload")
    assert workload.name == "keras_regression" and workload.spec == "mymodels/seq.py:workload"
    with pytest.raises(workloads.WorkloadError, match=r"no file 'mymodels/none\.py'"):
        workloads.get("mymodels/none.py:workload")
    assert dataclasses.is_dataclass(workload)


@pytest.mark.slow
def test_a_mode_that_cannot_follow_a_random_layer_says_why(broken):
    from bench.engine.contract import Settings, check

    _, checks = check("preflight_models:dropout", Settings(n_train=64, epochs=2, devices=("cpu",)))
    failed = [c for c in checks if c.outcome == "fail"]
    assert [c.name for c in failed] == ["xla = eager (float32)"], checks  # XLA's generator is its own
    assert "draws random numbers while training (Dropout): xla's draws are not the eager loop's (XLA has its own " \
           "generator), so it cannot follow eager; leave 'xla' out of Workload.modes" in failed[0].detail
