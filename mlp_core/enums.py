"""Closed sets of the workload: devices, dtype modes, execution modes (no TensorFlow import)."""

from __future__ import annotations

from enum import StrEnum


class Device(StrEnum):
    """Where the training step is asked to run."""

    CPU = "cpu"
    GPU = "gpu"


class DTypeMode(StrEnum):
    """How the data is stored and computed.

    float32:      data converted to float32 once, before training; compute in float32.
    float64-cast: data kept float64 and cast to float32 inside every step (the article's case).
    float64:      data and compute in float64.
    """

    FLOAT32 = "float32"
    FLOAT64_CAST = "float64-cast"
    FLOAT64 = "float64"

    @property
    def data_dtype(self) -> str:
        """NumPy/TF dtype name the training data is stored in."""
        return "float32" if self is DTypeMode.FLOAT32 else "float64"

    @property
    def compute_dtype(self) -> str:
        """NumPy/TF dtype name of the weights and the arithmetic."""
        return "float64" if self is DTypeMode.FLOAT64 else "float32"


class ExecMode(StrEnum):
    """How the training loop is executed."""

    ARTICLE = "article"  # the article's loop, faults included (double forward, optimiser per step)
    EAGER = "eager"  # clean eager loop
    FUNCTION = "function"  # the step in one tf.function
    XLA = "xla"  # the step in tf.function(jit_compile=True)
    GRAPH = "graph"  # a whole epoch in one tf.function
    NUMPY = "numpy"  # the NumPy baseline (CPU only): a plain loop of the same work, and the float64 oracle
    NUMBA = "numba"  # the whole epoch compiled with numba (CPU only): the floor (optional extra)
    JAX_STEP = "jax-step"  # JAX, the step in one jax.jit, called per batch (optional extra)
    JAX_EPOCH = "jax-epoch"  # JAX, the whole epoch in one jax.jit (lax.scan over the batches) (optional extra)

    @property
    def needs_tensorflow(self) -> bool:
        """Whether this mode runs on TensorFlow."""
        return self not in (ExecMode.NUMPY, ExecMode.NUMBA, ExecMode.JAX_STEP, ExecMode.JAX_EPOCH)

    @property
    def distributable(self) -> bool:
        """Whether this mode trains over several devices (tf.distribute.MirroredStrategy; replicas > 1)."""
        return self in (ExecMode.EAGER, ExecMode.FUNCTION)

    @property
    def cpu_only(self) -> bool:
        """Whether this mode has no GPU implementation (NumPy, numba)."""
        return self in (ExecMode.NUMPY, ExecMode.NUMBA)
