"""The metrics a workload may ask for (`Workload(metrics=...)`), computed by the harness in NumPy from the final
weights' test predictions: one definition for every execution mode and device, never a backend's own metric
objects. No TensorFlow here.

- `accuracy`: the share of test samples whose class is right. Several outputs per sample: the predicted class is
  the largest output; the true class is the target's largest value (one-hot) or the target itself (integer
  labels). One output per sample: a probability, the class is `output > 0.5`, the target's `y > 0.5`.
- `mae`: the mean absolute error over every output (the prediction shaped as the target).
"""

from __future__ import annotations

import numpy as np

NAMES = ("accuracy", "mae")


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Share of right classes (see the module docstring for how a class is read)."""
    n = len(y)
    pred, target = np.asarray(pred, dtype=np.float64).reshape(n, -1), np.asarray(y).reshape(n, -1)
    if pred.shape[1] > 1:
        predicted = pred.argmax(axis=1)
        true = target.argmax(axis=1) if target.shape[1] > 1 else target[:, 0].astype(np.int64)
    else:
        predicted, true = pred[:, 0] > 0.5, target[:, 0] > 0.5
    return float(np.mean(predicted == true))


def mae(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute error over every output."""
    return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64).reshape(np.shape(y)) - y)))


def compute(names: tuple[str, ...], pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Each metric named, on the test predictions and targets."""
    return {name: {"accuracy": accuracy, "mae": mae}[name](pred, y) for name in names}
