"""Any workload's Keras model trained by the harness's own loop, in the generic TensorFlow modes, with hard placement.

The same rules as the MLP's TFTrainer (mlp_core.tf_train): data on the host, converted once; the model, its
optimiser slots and the loss sums on the trial's device; soft placement off; nothing timed here (the one timed
loop, mlp_core.epochs.run_epochs, times `epoch(e)` between synced clock reads); `finish()` refuses a result
whose weights, optimiser slots, last loss or predictions are not on the requested device.

The loss is the workload's (`Workload.loss`): the mean squared error over every output of the batch by default
(every regression's), or a Keras loss by name, or the workload's own callable; train_loss and test_loss record
it, and the workload's metrics are computed on the test set by the harness (mlp_core.metrics).

Dtype modes: float32 (data float32), float64-cast (data float64, cast to float32 in every step), float64 (data
and model in float64: Keras's dtype policy while the model is built), mixed_float16 and mixed_bfloat16 (Keras's
mixed policies: variables and loss float32, the layers compute in 16 bits; float16 with dynamic loss scaling,
the workload's optimiser or plain gradient descent wrapped in keras's LossScaleOptimizer). Integer features (ids)
stay integers.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mlp_core.config import TrainConfig
from mlp_core.data import Data, Features, map_features, take
from mlp_core.enums import DTypeMode
from mlp_core.errors import reason_of
from mlp_core.placement import canonical, check_placement, hard_placement, tf_device_name
from mlp_core.preflight import PreflightError, check_data, check_loss, check_output
from mlp_core.tf_train import HOST, epoch_runner, host_pipeline, tf_sync
from mlp_core.workloads import Workload, get


def _tf_variable(v):
    """The tf.Variable behind a Keras variable (Keras 3 wraps them)."""
    return getattr(v, "value", v)


def build_model(workload: Workload, config: TrainConfig, sample: Features):
    """The workload's model for the config's size, built now on the current device with the weights drawn from
    `config.seed` and the dtype mode's Keras policy (its compute dtype, or mixed_float16 / mixed_bfloat16). TF's
    global seed is cleared after, so that nothing else in the process (tf.data's shuffle) sees it."""
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(config.dtype.policy)
    keras.utils.set_random_seed(config.seed)
    try:
        model = workload.model(config.size)
        _check_model(workload.name, model)
        model(_inputs(sample, config))  # builds every layer (a subclassed model too)
    finally:
        tf.random.set_seed(None)
        keras.config.set_dtype_policy(previous)
    return model


def _check_model(name: str, model: object) -> None:
    """A keras.Model the harness's loop trains as declared: not a bare layer, not compiled with a loss or metrics
    the loop would ignore, no train_step of its own the loop would bypass. PreflightError saying what otherwise."""
    if not isinstance(model, keras.Model):
        raise PreflightError(f"workload {name!r}: model(size) returned {type(model).__module__}."
                             f"{type(model).__name__}, not a keras.Model (wrap layers in keras.Sequential([...]) or "
                             "keras.Model(inputs, outputs))")
    if type(model).train_step is not keras.Model.train_step:
        raise PreflightError(f"workload {name!r}: {type(model).__name__} overrides train_step, which the harness's "
                             "own training loop does not call; give the step's parts as the Workload's fields "
                             "(optimizer=...) and drop the override")
    if getattr(model, "compiled", False):
        config = getattr(model, "_compile_config", None)
        said = {k: v for k, v in ((config.config if config else {}) or {}).items()
                if k in ("loss", "metrics") and v}
        raise PreflightError(f"workload {name!r}: model(size) returned a compiled model"
                             f"{' (' + ', '.join(f'{k}={v!r}' for k, v in said.items()) + ')' if said else ''}; the "
                             "harness trains with its own loop, so compile() would be ignored: drop it and declare "
                             "them on the Workload (loss=..., metrics=(...), optimizer=...)")


def _keras_loss(workload: Workload):
    """The workload's loss as a function (y_true, y_pred) -> per-sample losses: a Keras loss's name, or its own
    callable. PreflightError for a name Keras does not know."""
    if callable(workload.loss):
        return workload.loss
    try:
        return keras.losses.get(workload.loss)
    except (ValueError, TypeError):
        raise PreflightError(f"workload {workload.name!r}: loss {workload.loss!r} is not a Keras loss "
                             "(e.g. 'sparse_categorical_crossentropy', 'categorical_crossentropy', "
                             "'binary_crossentropy', 'huber', or a callable)") from None


def _integer(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_


def _inputs(x: Features, config: TrainConfig) -> Any:
    """Input features as the model sees them: integer ids kept as integers, floats in the compute dtype."""
    return map_features(x, lambda a: tf.constant(a if _integer(a) else a.astype(config.dtype.variable_dtype)))


def _cast_floats(x: Any, dtype: tf.DType) -> Any:
    """The per-step cast of a batch's float inputs (float64-cast: the article's; a no-op otherwise); integer ids
    stay integers (an embedding's input)."""
    return tf.nest.map_structure(lambda t: t if t.dtype.is_integer or t.dtype == tf.bool else tf.cast(t, dtype), x)


class KerasTrainer:
    """A workload's model set up for training on one device in one of the generic TF modes (Trainer protocol)."""

    def __init__(self, data: Data, config: TrainConfig, params: object = None, *, device_index: int = 0):
        if params is not None:
            raise ValueError("a workload's initial weights come from its model and the seed, not from params")
        self.workload = get(config.workload)
        check_data(data, self.workload.name)
        self.loss_name, self.metric_names = self.workload.loss_name, self.workload.metrics
        self.loss_fn = None if self.workload.loss == "mse" else _keras_loss(self.workload)
        if config.mode.value not in self.workload.mode_names():
            raise ValueError(f"workload {self.workload.name!r} does not train in mode {config.mode.value!r} "
                             f"(it does: {', '.join(self.workload.modes)})")
        if config.soft_placement:
            self.device = f"/{config.device.value.upper()}:{device_index}"
        else:
            self.device = tf_device_name(config.device, device_index)
        self.data, self.config = data, config
        # the dtype inputs are cast to and the loss is computed in: the compute dtype, or float32 in a mixed mode
        # (whose layers cast to float16 / bfloat16 themselves)
        self.compute = tf.as_dtype(config.dtype.variable_dtype)
        n = data.n_train
        self.n_batches = math.ceil(n / config.batch_size)
        with self.placement():
            with tf.device(HOST):
                self.X = map_features(data.X_train, lambda a: tf.constant(
                    a if _integer(a) else a.astype(config.dtype.data_dtype)))
                self.y = tf.constant(data.y_train.reshape(n, -1).astype(config.dtype.data_dtype))
            with tf.device(self.device):
                self.model = build_model(self.workload, config, take(data.X_train, slice(0, 1)))
                first = slice(0, config.batch_size)
                self._preflight(take(data.X_train, first), data.y_train[first])
                self.variables = list(self.model.trainable_variables)
                self.optimizer = (self.workload.optimizer(config.learning_rate) if self.workload.optimizer
                                  else None)
                self.loss_scaled = config.dtype is DTypeMode.MIXED_FLOAT16  # float16's narrow range
                if self.loss_scaled:  # dynamic loss scaling
                    self.optimizer = keras.optimizers.LossScaleOptimizer(
                        self.optimizer or keras.optimizers.SGD(config.learning_rate))  # SGD: plain gradient descent
                if self.optimizer is not None:
                    self.optimizer.build(self.variables)
                self.sse = tf.Variable(tf.zeros((), self.compute), trainable=False, name="sse")
        data_dtype = tf.as_dtype(config.dtype.data_dtype)  # one signature for full and ragged last batches
        signature = [tf.nest.map_structure(lambda t: tf.TensorSpec([None, *t.shape[1:]], t.dtype), self.X),
                     tf.TensorSpec([None, *self.y.shape[1:]], data_dtype)]
        self.runner = epoch_runner(self.step, config.mode.value, self.device, signature=signature,
                                   n_batches=self.n_batches, loss_dtype=self.compute)
        self.last_loss: tf.Tensor | None = None
        self.epochs_begun = 0

    sync = staticmethod(tf_sync)
    keeps_article_metric = False

    def placement(self):
        """Context: TF's soft placement off (unless the config asks for soft placement)."""
        return hard_placement(not self.config.soft_placement)

    def dataset(self, epoch: int) -> tf.data.Dataset:
        """The MLP's input pipeline over this workload's data (tf_train.host_pipeline)."""
        return host_pipeline(self.X, self.y, self.config, epoch)

    def _preflight(self, x: np.ndarray, y: np.ndarray) -> None:
        """The first batch through the model once, before anything is timed: its output's shape against the
        target's and the loss finite (mlp_core.preflight: one line naming the cause)."""
        pred = self.model(_inputs(x, self.config), training=False)
        self.output_per_sample = tuple(int(d) for d in pred.shape[1:])
        target = y.reshape(len(y), -1)
        if self.loss_fn is None:  # the mean squared error: element by element
            check_output(self.workload.name, tuple(pred.shape), target.shape)
            pred = np.asarray(pred, dtype=np.float64).reshape(target.shape)
            check_loss(self.workload.name, float(np.mean((pred - target) ** 2)))
            return
        try:
            value = float(tf.reduce_mean(self.loss_fn(tf.constant(target, pred.dtype), pred)))
        except Exception as exc:  # noqa: BLE001 - any failure of the loss on the first batch is the cause, in one line
            raise PreflightError(f"workload {self.workload.name!r}: the loss {self.loss_name!r} cannot compare the "
                                 f"model's output per sample {self.output_per_sample or '()'} with the target's "
                                 f"(y_train) {tuple(np.shape(y)[1:]) or '()'}: {reason_of(exc, 300)}") from None
        check_loss(self.workload.name, value)

    def step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """One training step: MSE of the batch, gradients, the workload's optimiser or plain gradient descent."""
        x = _cast_floats(x, self.compute)  # float64-cast: the per-step cast (a no-op otherwise)
        y = tf.cast(y, self.compute)
        scaled = self.loss_scaled
        with tf.GradientTape() as tape:
            pred = tf.cast(self.model(x, training=True), self.compute)  # a mixed model's output: the loss in float32
            if self.loss_fn is None:
                loss = tf.reduce_mean(tf.square(tf.reshape(pred, tf.shape(y)) - y))
            else:
                loss = tf.reduce_mean(self.loss_fn(y, pred))
            objective = self.optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(objective, self.variables)
        if scaled:
            self.optimizer.apply(grads, self.variables)  # unscales; skips a step whose gradients overflowed
        elif self.optimizer is not None:
            self.optimizer.apply_gradients(zip(grads, self.variables))
        else:
            for v, g in zip(self.variables, grads):
                v.assign_sub(tf.cast(self.config.learning_rate, v.dtype) * g)
        self.sse.assign_add(loss * tf.cast(tf.shape(y)[0], loss.dtype))
        return loss

    def begin_epoch(self) -> None:
        """Zero the loss sum (outside the timed region)."""
        self.sse.assign(tf.zeros((), self.compute))
        self.epochs_begun += 1

    def skipped_steps(self) -> int:
        """Steps mixed_float16's loss scaling skipped (their gradients overflowed; the scale was halved): 0 without
        loss scaling."""
        if not self.loss_scaled:
            return 0
        return self.epochs_begun * self.n_batches - int(self.optimizer.iterations)

    def epoch(self, epoch: int) -> tf.Tensor:
        """Train one epoch (ops queued, not synced); returns the last batch loss. Call inside placement()."""
        self.last_loss = self.runner(self.dataset(epoch))
        return self.last_loss

    def epoch_loss(self) -> tuple[float, float]:
        """(the workload's loss over the epoch, sample-weighted; NaN: the article's metric is the MLP's own)."""
        return float(self.sse.numpy()) / self.data.n_train, math.nan

    def finish(self) -> tuple[str, np.ndarray]:
        """(device the results really live on, test-set predictions: shaped as y_test where they have as many
        values, e.g. Dense(1) against (n,); a classifier's (n, classes)); PlacementError when any weight, optimiser
        variable, the last loss or the predictions are elsewhere."""
        with self.placement(), tf.device(self.device):
            pred = self.model(_inputs(self.data.X_test, self.config), training=False)
        held = [_tf_variable(v) for v in self.model.variables]
        if self.optimizer is not None:
            held += [_tf_variable(v) for v in self.optimizer.variables]
        extra = [self.last_loss] if self.last_loss is not None else []
        actual = check_placement(canonical(self.device), *held, self.sse, *extra, pred)
        pred = pred.numpy().astype(np.float64)
        y_test = self.data.y_test
        return actual, pred.reshape(y_test.shape) if pred.size == y_test.size else pred

    def test_loss(self, pred: np.ndarray) -> float:
        """The workload's loss of the final weights' test predictions (from finish())."""
        y = self.data.y_test.reshape(len(self.data.y_test), -1)
        return float(tf.reduce_mean(self.loss_fn(tf.constant(y, tf.float64), tf.constant(pred, tf.float64))))

    def params(self) -> tuple[np.ndarray, ...]:
        """Current weights, float64 copies, in the model's order."""
        return tuple(np.asarray(_tf_variable(v).numpy(), dtype=np.float64) for v in self.model.variables)
