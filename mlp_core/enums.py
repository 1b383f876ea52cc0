"""The closed sets of the harness (devices, dtype modes) and the execution mode's name, checked against the open
mode registry (mlp_core.modes, where plug-ins add modes). No TensorFlow import."""

from __future__ import annotations

from enum import StrEnum

from mlp_core import modes


class Device(StrEnum):
    """Where the training step is asked to run."""

    CPU = "cpu"
    GPU = "gpu"


class DTypeMode(StrEnum):
    """How the data is stored and computed.

    float32:        data converted to float32 once, before training; compute in float32.
    float64-cast:   data kept float64 and cast to float32 inside every step (the article's case).
    float64:        data and compute in float64.
    mixed_float16:  Keras's mixed precision: data float32, variables float32, the layers compute in float16,
                    the loss in float32, with dynamic loss scaling (a workload's Keras model only).
    mixed_bfloat16: the same in bfloat16 (no loss scaling: bfloat16 has float32's range).
    """

    FLOAT32 = "float32"
    FLOAT64_CAST = "float64-cast"
    FLOAT64 = "float64"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"

    @property
    def data_dtype(self) -> str:
        """NumPy/TF dtype name the training data is stored in."""
        return "float64" if self in (DTypeMode.FLOAT64_CAST, DTypeMode.FLOAT64) else "float32"

    @property
    def compute_dtype(self) -> str:
        """NumPy/TF dtype name of the arithmetic (the layers' for a mixed mode)."""
        return {DTypeMode.FLOAT64: "float64", DTypeMode.MIXED_FLOAT16: "float16",
                DTypeMode.MIXED_BFLOAT16: "bfloat16"}.get(self, "float32")

    @property
    def variable_dtype(self) -> str:
        """NumPy/TF dtype name of the weights, the optimiser's state and the loss: float32 in a mixed mode."""
        return "float32" if self.mixed else self.compute_dtype

    @property
    def mixed(self) -> bool:
        """Whether this is one of Keras's mixed-precision policies."""
        return self in (DTypeMode.MIXED_FLOAT16, DTypeMode.MIXED_BFLOAT16)

    @property
    def policy(self) -> str:
        """Keras's dtype policy while the model is built: the mixed policy's name, else the compute dtype."""
        return self.value if self.mixed else self.compute_dtype


class ExecMode(str):
    """An execution mode's name, checked against the mode registry (mlp_core.modes), where each mode's
    facts are declared once. Compares equal to its name; the built-in names are attributes
    (ExecMode.EAGER == "eager")."""

    def __new__(cls, name: str, facts: dict[str, object] | None = None) -> ExecMode:
        """The registered mode `name`; else, given `facts` (a run directory's record of it), a mode that reads
        but does not run (a plug-in's, where the plug-in is not installed). ValueError for an unknown mode."""
        if isinstance(name, ExecMode):
            return name
        try:
            info = modes.get(str(name))
        except ValueError:
            if facts is None:
                raise
            info = modes.Mode.from_facts(str(name), facts)
        obj = super().__new__(cls, info.name)
        obj._info = info
        return obj

    @property
    def value(self) -> str:
        """The name (as an enum member's value)."""
        return str(self)

    @property
    def info(self) -> modes.Mode:
        """Everything the registry (or the run directory that named it) declares of this mode."""
        return self._info

    @property
    def needs_tensorflow(self) -> bool:
        """Whether this mode runs on TensorFlow."""
        return self.info.needs_tensorflow

    @property
    def distributable(self) -> bool:
        """Whether this mode trains over several devices (tf.distribute.MirroredStrategy; replicas > 1)."""
        return self.info.distributable

    @property
    def cpu_only(self) -> bool:
        """Whether this mode has no GPU implementation (NumPy, numba)."""
        return self.info.cpu_only


for _name in modes.BUILTIN:
    setattr(ExecMode, _name.upper().replace("-", "_"), ExecMode(_name))
