"""The MLP trained on N devices at once with tf.distribute.MirroredStrategy (the `replicas` axis).

Data parallel: each global batch of `config.batch_size` samples (tf.data, as on one device) is split
over the N replicas; each replica computes the gradient of its samples' squared-error sum; the sums
are added across replicas (the strategy's all-reduce) and the weights take one plain gradient-descent
step with the global mean gradient. So with a fixed global batch the trajectory is the one-device
trajectory up to float rounding (a test holds it to that), and the replicas only split the work.

Placement is hard as on one device: the N devices must be there (else UnavailableError, a skip with
the reason), and `finish()` checks that the N mirrored copies of every weight live on exactly the N
requested devices. On a CPU-only machine the devices are logical CPU devices, made by the worker
before TensorFlow starts (`configure_logical_cpus`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.enums import Device, ExecMode
from mlp_core.errors import PlacementError, UnavailableError
from mlp_core.params import PARAM_NAMES, Params, init_params
from mlp_core.placement import canonical, hard_placement, visible_devices
from mlp_core.tf_train import HOST, host_pipeline, tf_sync


def configure_logical_cpus(n: int) -> int:
    """Split the host CPU into n logical TensorFlow devices (before TF's runtime starts; they share the
    cores). Returns the number TF will show (RuntimeError once the runtime has started)."""
    (cpu,) = tf.config.list_physical_devices("CPU")
    if n > 1:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    return n


def replica_devices(device: Device, n: int) -> list[str]:
    """The tf.device names of the first n devices of a kind; UnavailableError when fewer are visible."""
    kind = device.value.upper()
    have = tf.config.list_logical_devices(kind)
    if len(have) < n:
        hint = (" (on a CPU, the runner makes max(replicas) logical CPU devices in its workers)"
                if device is Device.CPU else "")
        raise UnavailableError(f"{n} {device.value} devices needed, TensorFlow sees {len(have)} "
                               f"(visible: {', '.join(visible_devices())}){hint}")
    return [f"/{kind}:{i}" for i in range(n)]


class MirroredTrainer:
    """The Trainer (mlp_core.epochs) of a config with replicas > 1: modes eager (the step run eagerly
    through strategy.run) and function (the step in one tf.function)."""

    keeps_article_metric = False
    sync = staticmethod(tf_sync)

    def __init__(self, data: Data, config: TrainConfig, params: Params | None = None) -> None:
        if not config.mode.distributable:
            raise ValueError(f"mode {config.mode.value!r} does not run on replicas (eager, function do)")
        if params is None:
            params = init_params(data.n_features, config.hidden, 1, seed=config.seed)
        self.data, self.config = data, config
        self.devices = replica_devices(config.device, config.replicas)
        self.strategy = tf.distribute.MirroredStrategy(self.devices)
        self.compute = tf.as_dtype(config.dtype.compute_dtype)
        with self.placement():
            with tf.device(HOST):
                self.X = tf.constant(data.X_train.astype(config.dtype.data_dtype))  # (n, I)
                self.y = tf.constant(data.y_train.reshape(-1, 1).astype(config.dtype.data_dtype))  # (n, 1)
            with self.strategy.scope():
                self.variables = [tf.Variable(a.astype(config.dtype.compute_dtype), name=nm)
                                  for nm, a in zip(PARAM_NAMES, params.arrays())]
            with tf.device(self.devices[0]):
                self.sse = tf.Variable(tf.zeros((), self.compute), trainable=False, name="sse")
        step = self._step
        if config.mode == ExecMode.FUNCTION:
            step = tf.function(step, reduce_retracing=True)
        self.step = step
        self.last_loss: tf.Tensor | None = None

    def placement(self):
        """Context: TF's soft placement off."""
        return hard_placement(True)

    def _replica(self, x: tf.Tensor, y: tf.Tensor):
        """On one replica: the gradient of its samples' squared-error sum, that sum, and its sample count."""
        W_xh, b_h, W_hy, b_y = self.variables
        x, y = tf.cast(x, self.compute), tf.cast(y, self.compute)
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, W_xh) + b_h)  # (b, H)
            pred = tf.matmul(h, W_hy) + b_y  # (b, 1)
            sse = tf.reduce_sum(tf.square(pred - y))
        grads = tape.gradient(sse, self.variables)
        return grads, sse, tf.cast(tf.shape(x)[0], self.compute)

    def _step(self, x, y) -> tf.Tensor:
        """One step on the global batch: per-replica sums added across replicas, one SGD update of every copy."""
        grads, sse, n = self.strategy.run(self._replica, args=(x, y))
        total = lambda v: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)  # noqa: E731
        n, sse = total(n), total(sse)
        for v, g in zip(self.variables, grads):
            v.assign_sub(self.config.learning_rate * (total(g) / n))
        self.sse.assign_add(sse)
        return sse / n

    def dataset(self, epoch: int):
        """The one-device pipeline (slices, shuffle(buffer, seed=epoch), global batch), split over the replicas."""
        ds = host_pipeline(self.X, self.y, self.config, epoch)
        options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
        return self.strategy.experimental_distribute_dataset(ds, options)

    def begin_epoch(self) -> None:
        """Zero the running loss sum (outside the timed region)."""
        self.sse.assign(tf.zeros((), self.compute))

    def epoch(self, epoch: int) -> tf.Tensor:
        """Train one epoch (ops queued, not synced); returns the last batch loss."""
        loss = None
        for x, y in self.dataset(epoch):
            loss = self.step(x, y)
        self.last_loss = loss
        return loss

    def epoch_loss(self) -> tuple[float, float]:
        """(true MSE of the epoch just trained, NaN: no article metric)."""
        return float(self.sse.numpy()) / self.data.n_train, float("nan")

    def finish(self) -> tuple[str, np.ndarray]:
        """('cpu:0+cpu:1', test predictions); PlacementError unless each weight's copies live on exactly the
        requested devices, one each."""
        wanted = [canonical(d) for d in self.devices]
        for v in self.variables:
            copies = [canonical(c.device) for c in v.values]
            if sorted(copies) != sorted(wanted):
                raise PlacementError(f"requested {'+'.join(wanted)} but {v.name.split(':')[0]} lives on "
                                     f"{'+'.join(copies)}")
        with self.placement(), tf.device(self.devices[0]):
            W_xh, b_h, W_hy, b_y = (v.values[0] for v in self.variables)
            X_test = tf.cast(tf.constant(self.data.X_test), self.compute)
            pred = tf.matmul(tf.nn.relu(tf.matmul(X_test, W_xh) + b_h), W_hy) + b_y
        return "+".join(wanted), pred.numpy().astype(np.float64)[:, 0]

    def params(self) -> Params:
        """Current weights (the first replica's copy), float64."""
        return Params(**{nm: v.values[0].numpy().astype(np.float64) for nm, v in zip(PARAM_NAMES, self.variables)})
