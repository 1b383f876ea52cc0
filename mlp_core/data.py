"""The article's synthetic regression data (NumPy float64, seedable, any sizes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARTICLE_N_TRAIN = 800
ARTICLE_N_TEST = 200
ARTICLE_N_FEATURES = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """Train and test split; X is (n, features), y is (n,), both float64 as in the article."""

    X_train: np.ndarray  # (n_train, I)
    y_train: np.ndarray  # (n_train,)
    X_test: np.ndarray  # (n_test, I)
    y_test: np.ndarray  # (n_test,)

    @property
    def n_features(self) -> int:
        """Number of input features I."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.X_test.shape[0])


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
