"""A classifier as a workload (examples/keras_classifier.py): the declared loss is the one trained and recorded,
checked against an independent NumPy computation of the cross-entropy and the accuracy from the model's own
probabilities; the runner's rows name the loss and carry the accuracy; the metrics' NumPy definitions against
hand-counted cases."""

from __future__ import annotations

import numpy as np
import pytest

from bench.format import load_run
from mlp_core import TrainConfig, metrics
from tests.test_workloads import ROOT, _cli

SPEC = "examples.keras_classifier:workload"


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
    assert "keras_classifier" in (out / "report.html").read_text()
