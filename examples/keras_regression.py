"""Bring your own model: a Keras regression of a few layers with its own optimiser, as a workload.

    python -m bench.workload check examples.keras_regression:workload
    python -m bench.run --workload examples.keras_regression:workload --devices cpu --out results/runs/mine

(from the repository root, so that `examples` is importable; an installed package offers its workloads under
the entry-point group `eager_mlp_bench.workloads` instead). The harness builds the model on the trial's device
with soft placement off and the weights seeded, trains it in the eager loop, a tf.function step, XLA and a
whole-epoch graph, times each epoch between synced clock reads, and records the train and test MSE.
"""

from __future__ import annotations

import numpy as np

from mlp_core.data import Data
from mlp_core.workloads import Workload

N_FEATURES = 8


def data(seed: int, n_train: int, n_test: int) -> Data:
    """Eight standard-normal features; the target a smooth non-linear function of three of them, plus noise.
    float64 and deterministic for the seed, as the harness requires."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_test, N_FEATURES))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n_train + n_test)
    return Data(X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:], y_test=y[n_train:])


def model(width: int):
    """Two hidden layers of `width` ReLU units and a linear output: plain Keras layers, nothing harness-specific.
    The harness calls this under the trial's device and dtype policy, with Keras's seed set."""
    import keras  # only where a model is built: `--help` and the store never import TensorFlow for a workload

    return keras.Sequential([
        keras.Input((N_FEATURES,)),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(1),
    ])


def optimizer(learning_rate: float):
    """The model's own optimiser (without one the harness does plain gradient descent)."""
    import keras

    return keras.optimizers.Adam(learning_rate)


def workload() -> Workload:
    """The factory `--workload examples.keras_regression:workload` names."""
    return Workload(
        name="keras_regression",
        summary="two ReLU layers of `width` units on 8 features, Adam, a smooth non-linear regression target",
        size_name="width", size_doc="units in each hidden layer", default_sizes=(16, 128),
        data=data, model=model, optimizer=optimizer, learning_rate=1e-3,
        # no step_flops: the harness leaves GFLOP/s and the FLOP-based figure out for this workload
    )
