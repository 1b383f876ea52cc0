"""Training configuration and result records (no TensorFlow import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlp_core import workloads
from mlp_core.enums import Device, DTypeMode, ExecMode
from mlp_core.params import Params

ARTICLE_HIDDEN = 20
ARTICLE_EPOCHS = 5
ARTICLE_BATCH_SIZE = 4
ARTICLE_LEARNING_RATE = 1e-4
ARTICLE_SHUFFLE_BUFFER = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """One training run; defaults are the article's settings."""

    workload: str = "mlp"  # the model (mlp_core.workloads): a built-in's name or "package.module:factory"
    size: int = ARTICLE_HIDDEN  # the workload's size axis: the MLP's hidden width, the CNN's channels
    epochs: int = ARTICLE_EPOCHS
    batch_size: int = ARTICLE_BATCH_SIZE
    learning_rate: float = ARTICLE_LEARNING_RATE
    shuffle: bool = True  # shuffle(buffer, seed=epoch) each epoch, as in the article
    shuffle_buffer: int = ARTICLE_SHUFFLE_BUFFER
    dtype: DTypeMode = DTypeMode.FLOAT64_CAST
    mode: ExecMode = ExecMode.EAGER
    device: Device = Device.CPU
    seed: int = 0  # weight-init seed (the data has its own)
    # The article's tf.device() runs with TF's soft placement, which silently falls back to the
    # CPU. Only tests turn this on, to show that the placement check then refuses the result.
    soft_placement: bool = False
    replicas: int = 1  # devices to train on at once (mlp_core.distributed; modes eager and function)

    @property
    def hidden(self) -> int:
        """The MLP's hidden width (its size axis)."""
        return self.size

    def __post_init__(self) -> None:
        for name in ("size", "epochs", "batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        object.__setattr__(self, "dtype", DTypeMode(self.dtype))
        object.__setattr__(self, "mode", ExecMode(self.mode))
        object.__setattr__(self, "device", Device(self.device))
        if not isinstance(self.replicas, int) or isinstance(self.replicas, bool) or self.replicas < 1:
            raise ValueError(f"replicas must be a positive integer, got {self.replicas!r}")
        if self.replicas > 1 and not self.mode.distributable:
            raise ValueError(f"mode {self.mode.value!r} does not run on replicas (eager and function do), "
                             f"got replicas {self.replicas}")
        workload = workloads.get(self.workload)  # WorkloadError (a ValueError): cannot load
        if self.dtype.value not in workload.dtypes:
            raise ValueError(f"workload {self.workload!r} does not train in dtype {self.dtype.value!r} "
                             f"(it does: {', '.join(workload.dtypes)})")
        if not workload.own_trainers:
            known = workload.mode_names()
            if self.mode.value not in known:
                raise ValueError(f"workload {self.workload!r} does not train in mode {self.mode.value!r} "
                                 f"(it does: {', '.join(known)})")
            if self.replicas > 1:
                raise ValueError(f"replicas are the MLP's (mlp_core.distributed), got {self.replicas} for workload "
                                 f"{self.workload!r}")
        if self.dtype.mixed and not self.mode.info.mixed_precision:
            raise ValueError(f"mode {self.mode.value!r} has no mixed precision (dtype {self.dtype.value!r}); the TF "
                             "modes eager, function, xla and graph have")
        if self.dtype.mixed and self.replicas > 1:
            raise ValueError(f"replicas train in float32 or float64 (tf.distribute), got dtype {self.dtype.value!r}")
        if self.mode.cpu_only and self.device is not Device.CPU:
            raise ValueError(f"mode {self.mode.value!r} runs on the CPU only, got device {self.device.value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainResult:
    """What one training run measured and computed."""

    epoch_times_s: tuple[float, ...]  # wall time of each epoch, synced; epoch 0 includes warm-up
    train_loss: tuple[float, ...]  # the workload's loss of each epoch, sample-weighted (losses before each update)
    test_loss: float  # the loss of the final weights over the test set
    params: Params | tuple  # final weights, float64 copies (a workload's: its model's variables in order)
    device: str  # where the ops really ran, read from the result tensors: "cpu:0", "gpu:0"
    # The article's printed metrics (sum of per-batch mean losses / n_train): article and numpy modes.
    article_train_metric: tuple[float, ...] | None = None
    article_test_metric: float | None = None
    loss: str = "mse"  # the loss's name (mlp_core.workloads.Workload.loss)
    metrics: dict[str, float] = field(default_factory=dict)  # the workload's metrics on the test set (mlp_core.metrics)

    @property
    def train_mse(self) -> tuple[float, ...]:
        """train_loss, where the loss is the mean squared error (the MLP's, every regression's)."""
        return self._mse(self.train_loss)

    @property
    def test_mse(self) -> float:
        """test_loss, where the loss is the mean squared error."""
        return self._mse(self.test_loss)

    def _mse(self, value):
        if self.loss != "mse":
            raise AttributeError(f"this workload's loss is {self.loss!r}, not the mean squared error: read "
                                 "train_loss and test_loss")
        return value
