"""Bring your own multi-input model: an embedding recommender with two named inputs, as a workload.

    python -m bench.workload check examples.keras_multi_input:workload
    python -m bench.run --workload examples.keras_multi_input:workload --devices cpu --out results/runs/rec

Its data gives X as a dict, one array per Keras input: `item` (integer ids, kept as integers end to end: the
Embedding's input) and `context` (float features, cast per step in float64-cast like any float input). The
target is a rating (float64): a regression on the mean squared error, the default loss.
"""

from __future__ import annotations

import numpy as np

from mlp_core.data import Data
from mlp_core.workloads import Workload

N_ITEMS = 50
N_CONTEXT = 4


def data(seed: int, n_train: int, n_test: int) -> Data:
    """Item ids (0..49) and four context features; the rating is the item's hidden quality (fixed) plus a linear
    function of the context and noise. X is {"item": (n, 1) int64, "context": (n, 4) float64}."""
    quality = np.random.default_rng(777).normal(size=N_ITEMS)
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    item = rng.integers(0, N_ITEMS, size=(n, 1))
    context = rng.standard_normal((n, N_CONTEXT))
    y = quality[item[:, 0]] + context @ np.array([0.5, -0.3, 0.2, 0.0]) + 0.1 * rng.standard_normal(n)
    split = {"item": item, "context": context}
    return Data(X_train={k: v[:n_train] for k, v in split.items()}, y_train=y[:n_train],
                X_test={k: v[n_train:] for k, v in split.items()}, y_test=y[n_train:])


def model(dim: int):
    """An embedding of `dim` per item beside the context, through one ReLU layer to the rating. The inputs are
    named as the data's dict keys, so Keras matches them by name."""
    import keras

    item = keras.Input((1,), dtype="int64", name="item")
    context = keras.Input((N_CONTEXT,), name="context")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(N_ITEMS, dim)(item))
    hidden = keras.layers.Dense(dim, activation="relu")(keras.layers.Concatenate()([embedded, context]))
    return keras.Model({"item": item, "context": context}, keras.layers.Dense(1)(hidden))


def optimizer(learning_rate: float):
    """Adam (without an optimiser the harness does plain gradient descent)."""
    import keras

    return keras.optimizers.Adam(learning_rate)


def workload() -> Workload:
    """The factory `--workload examples.keras_multi_input:workload` names."""
    return Workload(
        name="keras_multi_input",
        summary="an embedding recommender: item ids (Embedding of `dim`) and 4 context features, one ReLU layer, "
                "a rating regression, Adam",
        size_name="dim", size_doc="the embedding's and the hidden layer's width", default_sizes=(8, 64),
        data=data, model=model, optimizer=optimizer, learning_rate=1e-2, metrics=("mae",),
    )
