"""Any workload's Keras model trained by the harness's own loop, in the generic TensorFlow modes, with hard placement.

The same rules as the MLP's TFTrainer (mlp_core.tf_train): data on the host, converted once; the model, its
optimiser slots and the loss sums on the trial's device; soft placement off; nothing timed here (the one timed
loop, mlp_core.epochs.run_epochs, times `epoch(e)` between synced clock reads); `finish()` refuses a result
whose weights, optimiser slots, last loss or predictions are not on the requested device.

The loss is the mean squared error over every output of the batch (the workloads are regressions: train_mse
and test_mse record it). Dtype modes: float32 (data float32), float64-cast (data float64, cast to float32 in
every step), float64 (data and model in float64: Keras's dtype policy while the model is built).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.placement import canonical, check_placement, hard_placement, tf_device_name
from mlp_core.tf_train import HOST, epoch_runner, host_pipeline, tf_sync
from mlp_core.workloads import Workload, get


def _tf_variable(v):
    """The tf.Variable behind a Keras variable (Keras 3 wraps them)."""
    return getattr(v, "value", v)


def build_model(workload: Workload, config: TrainConfig, sample: np.ndarray):
    """The workload's model for the config's size, built now on the current device with the weights drawn from
    `config.seed` and the dtype mode's compute dtype as Keras's policy. TF's global seed is cleared after, so
    that nothing else in the process (tf.data's shuffle) sees it."""
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(config.dtype.compute_dtype)
    keras.utils.set_random_seed(config.seed)
    try:
        model = workload.model(config.size)
        model(tf.constant(sample.astype(config.dtype.compute_dtype)))  # builds every layer (a subclassed model too)
    finally:
        tf.random.set_seed(None)
        keras.config.set_dtype_policy(previous)
    return model


class KerasTrainer:
    """A workload's model set up for training on one device in one of the generic TF modes (Trainer protocol)."""

    def __init__(self, data: Data, config: TrainConfig, params: object = None, *, device_index: int = 0):
        if params is not None:
            raise ValueError("a workload's initial weights come from its model and the seed, not from params")
        self.workload = get(config.workload)
        if config.mode.value not in self.workload.mode_names():
            raise ValueError(f"workload {self.workload.name!r} does not train in mode {config.mode.value!r} "
                             f"(it does: {', '.join(self.workload.modes)})")
        if config.soft_placement:
            self.device = f"/{config.device.value.upper()}:{device_index}"
        else:
            self.device = tf_device_name(config.device, device_index)
        self.data, self.config = data, config
        self.compute = tf.as_dtype(config.dtype.compute_dtype)
        n = data.n_train
        with self.placement():
            with tf.device(HOST):
                self.X = tf.constant(data.X_train.astype(config.dtype.data_dtype))
                self.y = tf.constant(data.y_train.reshape(n, -1).astype(config.dtype.data_dtype))
            with tf.device(self.device):
                self.model = build_model(self.workload, config, data.X_train[:1])
                self.variables = list(self.model.trainable_variables)
                self.optimizer = (self.workload.optimizer(config.learning_rate) if self.workload.optimizer
                                  else None)
                if self.optimizer is not None:
                    self.optimizer.build(self.variables)
                self.sse = tf.Variable(tf.zeros((), self.compute), trainable=False, name="sse")
        data_dtype = tf.as_dtype(config.dtype.data_dtype)  # one signature for full and ragged last batches
        signature = [tf.TensorSpec([None, *self.X.shape[1:]], data_dtype),
                     tf.TensorSpec([None, *self.y.shape[1:]], data_dtype)]
        self.runner = epoch_runner(self.step, config.mode.value, self.device, signature=signature,
                                   n_batches=math.ceil(n / config.batch_size), loss_dtype=self.compute)
        self.last_loss: tf.Tensor | None = None

    sync = staticmethod(tf_sync)
    keeps_article_metric = False

    def placement(self):
        """Context: TF's soft placement off (unless the config asks for soft placement)."""
        return hard_placement(not self.config.soft_placement)

    def dataset(self, epoch: int) -> tf.data.Dataset:
        """The MLP's input pipeline over this workload's data (tf_train.host_pipeline)."""
        return host_pipeline(self.X, self.y, self.config, epoch)

    def step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """One training step: MSE of the batch, gradients, the workload's optimiser or plain gradient descent."""
        x = tf.cast(x, self.compute)  # float64-cast: the per-step cast (a no-op otherwise)
        y = tf.cast(y, self.compute)
        with tf.GradientTape() as tape:
            pred = tf.reshape(self.model(x, training=True), tf.shape(y))
            loss = tf.reduce_mean(tf.square(pred - y))
        grads = tape.gradient(loss, self.variables)
        if self.optimizer is not None:
            self.optimizer.apply_gradients(zip(grads, self.variables))
        else:
            for v, g in zip(self.variables, grads):
                v.assign_sub(tf.cast(self.config.learning_rate, v.dtype) * g)
        self.sse.assign_add(loss * tf.cast(tf.shape(x)[0], loss.dtype))
        return loss

    def begin_epoch(self) -> None:
        """Zero the loss sum (outside the timed region)."""
        self.sse.assign(tf.zeros((), self.compute))

    def epoch(self, epoch: int) -> tf.Tensor:
        """Train one epoch (ops queued, not synced); returns the last batch loss. Call inside placement()."""
        self.last_loss = self.runner(self.dataset(epoch))
        return self.last_loss

    def epoch_mse(self) -> tuple[float, float]:
        """(true MSE of the epoch, NaN: the article's metric is the MLP's own)."""
        return float(self.sse.numpy()) / self.data.n_train, math.nan

    def finish(self) -> tuple[str, np.ndarray]:
        """(device the results really live on, test-set predictions shaped as y_test); PlacementError when any
        weight, optimiser variable, the last loss or the predictions are elsewhere."""
        with self.placement(), tf.device(self.device):
            X_test = tf.cast(tf.constant(self.data.X_test), self.compute)
            pred = self.model(X_test, training=False)
        held = [_tf_variable(v) for v in self.model.variables]
        if self.optimizer is not None:
            held += [_tf_variable(v) for v in self.optimizer.variables]
        extra = [self.last_loss] if self.last_loss is not None else []
        actual = check_placement(canonical(self.device), *held, self.sse, *extra, pred)
        return actual, pred.numpy().astype(np.float64).reshape(self.data.y_test.shape)

    def params(self) -> tuple[np.ndarray, ...]:
        """Current weights, float64 copies, in the model's order."""
        return tuple(np.asarray(_tf_variable(v).numpy(), dtype=np.float64) for v in self.model.variables)
