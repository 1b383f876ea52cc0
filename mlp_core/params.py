"""MLP weights as NumPy arrays: standard-normal init from a seed, or given arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAM_NAMES = ("W_xh", "b_h", "W_hy", "b_y")


@dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    """Weights of `relu(X W_xh + b_h) W_hy + b_y`."""

    W_xh: np.ndarray  # (I, H)
    b_h: np.ndarray  # (1, H)
    W_hy: np.ndarray  # (H, O)
    b_y: np.ndarray  # (1, O)

    def __post_init__(self) -> None:
        i, h = np.shape(self.W_xh)
        o = np.shape(self.W_hy)[1]
        expected = {"W_xh": (i, h), "b_h": (1, h), "W_hy": (h, o), "b_y": (1, o)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {np.shape(getattr(self, name))}")

    @property
    def hidden(self) -> int:
        """Hidden layer width H."""
        return int(self.W_xh.shape[1])

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The four arrays in PARAM_NAMES order."""
        return tuple(getattr(self, name) for name in PARAM_NAMES)

    def astype(self, dtype: str) -> Params:
        """A copy with every array converted to `dtype`."""
        return Params(**{n: np.asarray(a, dtype=dtype).copy() for n, a in zip(PARAM_NAMES, self.arrays())})


def init_params(n_in: int, hidden: int, n_out: int = 1, *, seed: int = 0) -> Params:
    """Standard-normal weights and biases, as the article draws them (float64)."""
    rng = np.random.default_rng(seed)
    return Params(
        W_xh=rng.standard_normal((n_in, hidden)),
        b_h=rng.standard_normal((1, hidden)),
        W_hy=rng.standard_normal((hidden, n_out)),
        b_y=rng.standard_normal((1, n_out)),
    )
