"""Real models as workloads. A classifier (examples/keras_classifier.py): the declared loss is the one trained and
recorded, checked against an independent NumPy computation of the cross-entropy and the accuracy from the model's
own probabilities; the runner's rows name the loss and carry the accuracy; the metrics' NumPy definitions against
hand-counted cases. Several inputs (examples/keras_multi_input.py): integer ids and float features as a dict of
inputs, the same training as the same inputs given as a tuple, through the runner."""

from __future__ import annotations

import numpy as np
import pytest

from bench.format import load_run
from mlp_core import TrainConfig, metrics
from tests.test_workloads import ROOT, _cli

SPEC = "examples.keras_classifier:workload"
MULTI = "examples.keras_multi_input:workload"


def test_accuracy_reads_classes_as_documented():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    assert metrics.accuracy(probs, np.array([1, 0, 1, 0])) == 0.75  # labels: 3 of 4 right
    assert metrics.accuracy(probs, np.eye(3)[[1, 0, 1, 0]]) == 0.75  # one-hot: the same
    assert metrics.accuracy(np.array([[0.2], [0.8], [0.6]]), np.array([0.0, 1.0, 0.0])) == pytest.approx(2 / 3)
    assert metrics.mae(np.array([[1.0], [3.0]]), np.array([2.0, 2.0])) == 1.0


@pytest.fixture()
def examples_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))


def _numpy_cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """-mean(log p[label]), Keras's clipping of probabilities to [1e-7, 1 - 1e-7] included."""
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    return float(-np.mean(np.log(picked)))


def test_the_declared_loss_is_trained_and_recorded_against_numpy(examples_importable):
    pytest.importorskip("tensorflow")
    from mlp_core import workloads
    from mlp_core.trainer import make_trainer, train_with

    workload = workloads.get(SPEC)
    data = workload.data(0, 256, 128)
    # a learning rate too small to move the weights: every epoch's loss is the initial model's, which NumPy
    # computes from the model's own probabilities
    frozen = TrainConfig(workload=SPEC, size=16, batch_size=32, epochs=2, mode="function", dtype="float64",
                         learning_rate=1e-12)
    trainer = make_trainer(data, frozen)
    with trainer.placement():
        start = np.asarray(trainer.model(data.X_train, training=False), dtype=np.float64)
    result = train_with(trainer, data, frozen)
    assert result.loss == "sparse_categorical_crossentropy"
    expected = _numpy_cross_entropy(start, data.y_train)
    np.testing.assert_allclose(result.train_loss, [expected] * 2, rtol=1e-9)
    with pytest.raises(AttributeError, match="not the mean squared error: read train_loss"):
        _ = result.train_mse
    # a real training: the test loss and accuracy of the final weights, recomputed from its predictions
    config = TrainConfig(workload=SPEC, size=16, batch_size=32, epochs=4, mode="eager", dtype="float32",
                         learning_rate=workload.learning_rate)
    trainer = make_trainer(data, config)
    result = train_with(trainer, data, config)
    _, probs = trainer.finish()
    assert probs.shape == (128, 4)
    assert result.test_loss == pytest.approx(_numpy_cross_entropy(probs, data.y_test), rel=1e-5)
    right = sum(int(np.argmax(p) == label) for p, label in zip(probs, data.y_test))
    assert result.metrics == {"accuracy": right / 128}
    assert result.train_loss[-1] < result.train_loss[0] and result.metrics["accuracy"] > 0.5  # it learnt


@pytest.mark.slow
def test_a_classifier_run_names_its_loss_and_records_its_accuracy(tmp_path):
    out = tmp_path / "clf"
    res = _cli("-m", "bench.run", "--workload", SPEC, "--devices", "cpu", "--modes", "eager,graph", "--dtypes",
               "float32", "--batch-sizes", "32", "--sizes", "16", "--n-train", "256", "--n-test", "64", "--epochs",
               "3", "--repeats", "2", "--peak-n", "0", "--quiet", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    run = load_run(out)
    s = run.summary
    assert set(s["loss"]) == {"sparse_categorical_crossentropy"} and (s["status"] == "ok").all()
    assert s["test_accuracy_median"].between(0.25, 1.0).all() and s["test_mae_median"].isna().all()
    assert run.repeats["test_accuracy"].notna().all()
    assert run.workload.loss_name == "sparse_categorical_crossentropy" and run.workload.metrics == ("accuracy",)
    from bench.analysis.fig_detail import fig_mse

    fig = fig_mse([run])  # the training-curve figure reads the run's loss, not "MSE"
    left = fig.axes[0]
    assert left.get_ylabel().startswith("sparse_categorical_crossentropy") and "MSE" not in left.get_title()
    html = (out / "report.html").read_text()
    assert "keras_classifier" in html and "loss sparse_categorical_crossentropy" in html  # said once, above the table
    assert "<th>test loss</th>" in html and "<th>test accuracy</th>" in html and "<th>test mae</th>" not in html
    shown = f"{s['test_accuracy_median'].iloc[0]:.4g}"
    assert f'<td class="num">{shown}</td>' in html
    # bench.compare shows what each side trained to beside the times (a faster side that learns less is not faster)
    res = _cli("-m", "bench.compare", str(out), str(out))
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert "test loss (base/cand)" in res.stdout and "test accuracy (base/cand)" in res.stdout
    assert f"{shown}/{shown}" in res.stdout


def test_compare_says_when_two_runs_train_different_losses():
    from bench.analysis.compare import loss_mismatch
    from bench.analysis.inputs import Measured

    def side(loss):
        return Measured("x", {}, {}, loss=loss)

    assert loss_mismatch(side("mse"), side("mse")) == [] and loss_mismatch(side(None), side("mse")) == []
    assert loss_mismatch(side("mse"), side("huber")) == [
        "loss: 'mse' != 'huber': the test-loss column compares different losses"]


TUPLE_MODEL = """
import dataclasses
from examples import keras_multi_input as base

def _data(seed, n_train, n_test):
    d = base.data(seed, n_train, n_test)
    return dataclasses.replace(d, X_train=(d.X_train["item"], d.X_train["context"]),
                               X_test=(d.X_test["item"], d.X_test["context"]))

def _model(dim):
    import keras
    inner = base.model(dim)
    item = keras.Input((1,), dtype="int64")
    context = keras.Input((base.N_CONTEXT,))
    return keras.Model([item, context], inner({"item": item, "context": context}))

def workload():
    return dataclasses.replace(base.workload(), name="as_tuple", data=_data, model=_model)
"""


def test_several_inputs_as_a_dict_or_a_tuple_train_the_same(examples_importable, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    from mlp_core import workloads
    from mlp_core.trainer import make_trainer, train_with

    (tmp_path / "as_tuple.py").write_text(TUPLE_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = {}
    for spec in (MULTI, "as_tuple:workload"):
        workload = workloads.get(spec)
        data = workload.data(0, 128, 32)
        config = TrainConfig(workload=spec, size=8, batch_size=32, epochs=3, mode="function", dtype="float64-cast",
                             learning_rate=workload.learning_rate)
        trainer = make_trainer(data, config)
        assert trainer.X["item"].dtype.is_integer if spec == MULTI else trainer.X[0].dtype.is_integer  # ids stay ids
        out[spec] = train_with(trainer, data, config)
    a, b = out.values()
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss and a.train_loss[-1] < a.train_loss[0]
    assert set(a.metrics) == {"mae"} and a.metrics == b.metrics


@pytest.mark.slow
def test_a_multi_input_run_measures_every_mode(tmp_path):
    out = tmp_path / "rec"
    res = _cli("-m", "bench.run", "--workload", MULTI, "--devices", "cpu", "--modes", "eager,function,xla,graph",
               "--dtypes", "float32,float64-cast", "--batch-sizes", "32", "--sizes", "8", "--n-train", "256",
               "--n-test", "64", "--epochs", "3", "--repeats", "2", "--peak-n", "0", "--quiet", "--no-plots",
               "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    s = load_run(out).summary
    assert len(s) == 8 and (s["status"] == "ok").all() and set(s["loss"]) == {"mse"}
    assert s["test_mae_median"].notna().all() and s["test_accuracy_median"].isna().all()


@pytest.mark.slow
@pytest.mark.parametrize("spec", [SPEC, MULTI])
def test_the_examples_pass_the_contract_check(examples_importable, spec):
    from bench.engine.contract import Settings, check

    _, checks = check(spec, Settings(n_train=64, epochs=3, dtypes=("float32", "float64")))
    failed = [c for c in checks if c.outcome == "fail"]
    assert failed == [] and {c.name for c in checks if c.outcome == "skip"} == {"placement on gpu"}, checks
    assert len([c for c in checks if " = eager " in c.name]) == 3 * 2  # function, xla, graph x 2 dtypes
