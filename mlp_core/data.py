"""The article's synthetic regression data (NumPy float64, seedable, any sizes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ARTICLE_N_TRAIN = 800
ARTICLE_N_TEST = 200
ARTICLE_N_FEATURES = 3


Features = np.ndarray | dict[str, np.ndarray] | tuple[np.ndarray, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """Train and test split. The article's: X (n, features) and y (n,), both float64. A workload's X may also be
    several inputs, one array per Keras input: a dict {input name: array} or a tuple in the model's input order,
    every array with the samples along its first axis; y is (n,) or (n, k)."""

    X_train: Features  # (n_train, ...) or several such arrays
    y_train: np.ndarray  # (n_train,) or (n_train, k)
    X_test: Features
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        """Number of input features I (one 2-D X: the MLP's)."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return n_samples(self.X_train)

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return n_samples(self.X_test)


def leaves(X: Features) -> list[tuple[str, np.ndarray]]:
    """The arrays of X with where each sits: [("", X)] for one array, [("['ids']", ...)] for a dict's, [("[0]",
    ...)] for a tuple's."""
    if isinstance(X, dict):
        return [(f"[{k!r}]", v) for k, v in X.items()]
    if isinstance(X, tuple | list):
        return [(f"[{i}]", v) for i, v in enumerate(X)]
    return [("", X)]


def n_samples(X: Features) -> int:
    """Samples in X (the first array's first axis)."""
    return int(len(leaves(X)[0][1]))


def map_features(X: Features, convert) -> Any:
    """convert(array) for one array, or for each of several (the same structure back: a dict, a tuple)."""
    if isinstance(X, dict):
        return {k: convert(v) for k, v in X.items()}
    if isinstance(X, tuple | list):
        return tuple(convert(v) for v in X)
    return convert(X)


def take(X: Features, index) -> Features:
    """X[index] for one array, or for each of several (the same structure back)."""
    return map_features(X, lambda a: a[index])


def make_data(
    seed: int = 0,
    *,
    n_train: int = ARTICLE_N_TRAIN,
    n_test: int = ARTICLE_N_TEST,
    n_features: int = ARTICLE_N_FEATURES,
) -> Data:
    """Draw the article's data: standard-normal inputs and targets (pure noise), float64."""
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_features", n_features)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    rng = np.random.default_rng(seed)
    return Data(
        X_train=rng.standard_normal((n_train, n_features)),
        y_train=rng.standard_normal(n_train),
        X_test=rng.standard_normal((n_test, n_features)),
        y_test=rng.standard_normal(n_test),
    )
