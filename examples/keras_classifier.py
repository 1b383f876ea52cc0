"""Bring your own classifier: a softmax classifier trained on cross-entropy, with accuracy, as a workload.

    python -m bench.workload check examples.keras_classifier:workload
    python -m bench.run --workload examples.keras_classifier:workload --devices cpu --out results/runs/clf

(from the repository root, or name the file: `--workload examples/keras_classifier.py:workload`). The harness
trains the loss the workload declares (`loss="sparse_categorical_crossentropy"`: integer labels against the
softmax's class probabilities) and records it as train_loss and test_loss, with the test accuracy it computes
itself (`metrics=("accuracy",)`: the largest output against the label, the same for every mode and device).
"""

from __future__ import annotations

import numpy as np

from mlp_core.data import Data
from mlp_core.workloads import Workload

N_FEATURES = 10
N_CLASSES = 4


def data(seed: int, n_train: int, n_test: int) -> Data:
    """Ten standard-normal features; four classes, each a Gaussian blob around its own centre (the centres fixed,
    the samples drawn from the seed). X float64, y the integer class labels (0..3)."""
    centres = np.random.default_rng(12345).normal(scale=1.5, size=(N_CLASSES, N_FEATURES))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, size=n_train + n_test)
    X = centres[labels] + rng.standard_normal((n_train + n_test, N_FEATURES))
    return Data(X_train=X[:n_train], y_train=labels[:n_train], X_test=X[n_train:], y_test=labels[n_train:])


def model(width: int):
    """One hidden ReLU layer of `width` units and a softmax over the four classes."""
    import keras

    return keras.Sequential([
        keras.Input((N_FEATURES,)),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(N_CLASSES, activation="softmax"),
    ])


def optimizer(learning_rate: float):
    """Adam (without an optimiser the harness does plain gradient descent)."""
    import keras

    return keras.optimizers.Adam(learning_rate)


def workload() -> Workload:
    """The factory `--workload examples.keras_classifier:workload` names."""
    return Workload(
        name="keras_classifier",
        summary="a softmax classifier: one ReLU layer of `width` units on 10 features, 4 classes, Adam, "
                "cross-entropy",
        size_name="width", size_doc="units in the hidden layer", default_sizes=(16, 128),
        data=data, model=model, optimizer=optimizer, learning_rate=1e-2,
        loss="sparse_categorical_crossentropy", metrics=("accuracy",),
    )
