"""The pre-flight of a workload's trial: what must hold before anything is timed, each failure one line naming
its cause (the array and the first bad index, both shapes, the loss's value), never a TensorFlow stack.

Run by the generic trainer (mlp_core.keras_train) as it is built, so the runner's workers record the line as the
trial's reason and the contract check (`python -m bench.workload check`) stops at it. The data checks are
NumPy only; the model checks take the model's output and the loss as NumPy values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp_core.data import leaves

ARRAYS = ("X_train", "y_train", "X_test", "y_test")


class PreflightError(ValueError):
    """A workload's trial cannot be measured as declared: one line, the cause named."""


def check_data(data: Any, workload: str) -> None:
    """The workload's data() result: a Data whose arrays are numeric (float, int or bool), finite, and agree on
    the number of samples. PreflightError naming the array and the first bad index otherwise."""
    missing = [k for k in ARRAYS if not hasattr(data, k)]
    if missing:
        raise PreflightError(f"workload {workload!r}: data() returned {type(data).__name__}, not mlp_core.Data "
                             f"(X_train, y_train, X_test, y_test); missing {', '.join(missing)}")
    for field in ARRAYS:
        value = getattr(data, field)
        parts = leaves(value) if field.startswith("X") else [("", value)]
        if not parts or (isinstance(value, dict) and not all(isinstance(k, str) for k in value)):
            raise PreflightError(f"workload {workload!r}: data().{field} is {type(value).__name__}: one array, a "
                                 "dict {input name: array} or a tuple of arrays")
        for where, array in parts:
            _check_array(workload, f"{field}{where}", array)
    for x, y in (("X_train", "y_train"), ("X_test", "y_test")):
        counts = {f"{x}{where}": len(a) for where, a in leaves(getattr(data, x))}
        counts[y] = len(getattr(data, y))
        if len(set(counts.values())) > 1:
            raise PreflightError(f"workload {workload!r}: data() has "
                                 + ", ".join(f"{n} samples in {k}" for k, n in counts.items()))


def _check_array(workload: str, name: str, array: object) -> None:
    """One array of the data: a NumPy array of samples, numeric, finite."""
    if not isinstance(array, np.ndarray):
        raise PreflightError(f"workload {workload!r}: data().{name} is {type(array).__name__}, not a NumPy "
                             "array")
    if array.ndim == 0 or array.shape[0] == 0:
        raise PreflightError(f"workload {workload!r}: data().{name} has shape {array.shape}: no samples")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            or array.dtype == np.bool_):
        raise PreflightError(f"workload {workload!r}: data().{name} is {array.dtype}, not a float, integer or "
                             "bool array")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            index = where[0] if len(where) == 1 else where
            raise PreflightError(f"workload {workload!r}: data().{name} has {int(bad.sum())} non-finite "
                                 f"value(s), the first {array[where]} at index {index}")


def check_output(workload: str, output_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> None:
    """The model's output for a batch against the target's (the loss compares them element by element): the same
    number of values per sample. PreflightError naming both shapes otherwise."""
    out, target = tuple(output_shape[1:]), tuple(target_shape[1:])
    if int(np.prod(out)) != int(np.prod(target)):
        raise PreflightError(f"workload {workload!r}: the model's output per sample has shape {out or '()'} "
                             f"({int(np.prod(out))} values), the target's (y_train) {target or '()'} "
                             f"({int(np.prod(target))}): the mean squared error needs as many outputs as targets "
                             "per sample (the last layer's units)")


def check_loss(workload: str, loss: float) -> None:
    """The loss of the first batch, before any step: finite on finite data. PreflightError otherwise."""
    if not np.isfinite(loss):
        raise PreflightError(f"workload {workload!r}: the loss of the first batch, before any step, is {loss} on "
                             "finite data: the model's initial output is not finite")
