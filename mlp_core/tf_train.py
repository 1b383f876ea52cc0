"""TensorFlow training of the MLP under each execution mode, with hard placement."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.enums import DTypeMode, ExecMode
from mlp_core.params import PARAM_NAMES, Params, init_params
from mlp_core.placement import canonical, check_placement, hard_placement, tf_device_name

HOST = "/CPU:0"  # tf.data runs on the host; batches are copied to the compute device by the step


def tf_sync() -> None:
    """Wait until every device has finished its queued work."""
    tf.test.experimental.sync_devices()


def forward(variables: list[tf.Variable], x: tf.Tensor, compute: tf.DType | None = None) -> tf.Tensor:
    """The MLP's prediction (B, O) in the weights' dtype; `compute` (mixed precision: float16 / bfloat16): the
    matmuls in that dtype, from the float32 weights cast per step, as Keras's mixed policies do."""
    W_xh, b_h, W_hy, b_y = variables
    if compute is not None:  # mixed precision: the weights cast per step, the prediction back to theirs
        W_xh, b_h, W_hy, b_y = (tf.cast(v, compute) for v in variables)
    x = tf.cast(x, W_xh.dtype)  # float64-cast mode: the article's per-step cast (no-op otherwise)
    h = tf.nn.relu(tf.matmul(x, W_xh) + b_h)  # (B, H)
    pred = tf.matmul(h, W_hy) + b_y  # (B, O)
    return pred if compute is None else tf.cast(pred, variables[0].dtype)


def batch_loss(variables: list[tf.Variable], x: tf.Tensor, y: tf.Tensor, compute: tf.DType | None = None) -> tf.Tensor:
    """MSE of one batch; x (B, I) and y (B, O) are cast to the weights' dtype (or `compute`'s) first."""
    pred = forward(variables, x, compute)
    return tf.reduce_mean(tf.square(pred - tf.cast(y, variables[0].dtype)))


def sgd_step(variables: list[tf.Variable], sse: tf.Variable, x: tf.Tensor, y: tf.Tensor, lr: float,
             compute: tf.DType | None = None, scaler=None) -> tf.Tensor:
    """One plain gradient-descent step; adds the batch's squared-error sum to `sse`. Mixed precision: `compute`
    the 16-bit dtype; `scaler` (float16) a keras LossScaleOptimizer around SGD(lr), the same update with dynamic
    loss scaling (a step whose gradients overflowed is skipped and the scale lowered)."""
    with tf.GradientTape() as tape:
        loss = batch_loss(variables, x, y, compute)
        objective = scaler.scale_loss(loss) if scaler is not None else loss
    grads = tape.gradient(objective, variables)
    if scaler is not None:
        scaler.apply(grads, variables)
    else:
        for v, g in zip(variables, grads):
            v.assign_sub(lr * g)
    sse.assign_add(loss * tf.cast(tf.shape(x)[0], loss.dtype))
    return loss


def article_step(
    variables: list[tf.Variable], sse: tf.Variable, batch_means: tf.Variable, x: tf.Tensor, y: tf.Tensor, lr: float
) -> tf.Tensor:
    """The article's step, faults kept: two forward passes and a new optimiser every step."""
    loss = batch_loss(variables, x, y)  # forward #1: the loss the article prints
    with tf.GradientTape() as tape:
        loss_for_grads = batch_loss(variables, x, y)  # forward #2, under the tape
    grads = tape.gradient(loss_for_grads, variables)
    optimizer = tf.keras.optimizers.SGD(learning_rate=lr)  # rebuilt every step, as in the article
    optimizer.apply_gradients(zip(grads, variables))
    sse.assign_add(loss * tf.cast(tf.shape(x)[0], loss.dtype))
    batch_means.assign_add(loss)  # the article's `total_loss += loss`
    return loss


def loss_and_gradients(params: Params, x: np.ndarray, y: np.ndarray, dtype: DTypeMode) -> tuple[float, Params]:
    """TF loss and gradients of one batch (x (B, I), y (B, O)) from given weights, as NumPy."""
    variables = [tf.Variable(a.astype(dtype.compute_dtype)) for a in params.arrays()]
    xt = tf.constant(x.astype(dtype.data_dtype))
    yt = tf.constant(y.astype(dtype.data_dtype))
    with tf.GradientTape() as tape:
        loss = batch_loss(variables, xt, yt)
    grads = tape.gradient(loss, variables)
    return float(loss), Params(**{n: g.numpy().astype(np.float64) for n, g in zip(PARAM_NAMES, grads)})


def host_pipeline(X: tf.Tensor, y: tf.Tensor, config: TrainConfig, epoch: int) -> tf.data.Dataset:
    """The article's input pipeline, every workload's: slices, shuffle(buffer, seed=epoch), batch; on the host."""
    with tf.device(HOST):
        ds = tf.data.Dataset.from_tensor_slices((X, y))
        if config.shuffle:
            ds = ds.shuffle(config.shuffle_buffer, seed=epoch)
        return ds.batch(config.batch_size)


def shuffle_orders(n: int, buffer_size: int, epochs: int) -> list[np.ndarray]:
    """The sample order tf.data's shuffle(buffer, seed=epoch) gives each epoch."""
    with tf.device(HOST):
        return [
            np.fromiter(tf.data.Dataset.range(n).shuffle(buffer_size, seed=e).as_numpy_iterator(), dtype=np.int64)
            for e in range(epochs)
        ]


class TFTrainer:
    """The MLP set up for training on one device: data on the host, weights on the device, the step
    (traced or not) for the config's execution mode. `epoch(e)` trains one epoch; nothing is timed here.

    Placement is hard unless `config.soft_placement`: a missing device raises
    DeviceUnavailableError, and `finish()` raises PlacementError when the results are not on the
    requested device. Train inside `with trainer.placement():` (held once around all the epochs,
    so that switching TF's placement setting never lands inside a timed epoch).
    """

    def __init__(self, data: Data, config: TrainConfig, params: Params | None = None, *, device_index: int = 0):
        if not config.mode.needs_tensorflow:
            raise ValueError(f"mode {config.mode.value!r} is not a TensorFlow mode (mlp_core.trainer.make_trainer)")
        if params is None:
            params = init_params(data.n_features, config.hidden, 1, seed=config.seed)
        if config.soft_placement:  # the article's tf.device('gpu:0'): no check, TF may fall back
            self.device = f"/{config.device.value.upper()}:{device_index}"
        else:
            self.device = tf_device_name(config.device, device_index)
        self.data, self.config = data, config
        self.compute = tf.as_dtype(config.dtype.variable_dtype)  # the weights', the loss's (float32 when mixed)
        with self.placement():
            with tf.device(HOST):  # converted once, outside any timed region
                self.X = tf.constant(data.X_train.astype(config.dtype.data_dtype))  # (n, I)
                self.y = tf.constant(data.y_train.reshape(-1, 1).astype(config.dtype.data_dtype))  # (n, 1)
            with tf.device(self.device):
                self.variables = [tf.Variable(a.astype(config.dtype.variable_dtype), name=nm)
                                  for nm, a in zip(PARAM_NAMES, params.arrays())]
                self.sse = tf.Variable(tf.zeros((), self.compute), trainable=False, name="sse")
                self.batch_means = tf.Variable(tf.zeros((), self.compute), trainable=False, name="sum_batch_means")
        self.n_batches = n_batches = math.ceil(data.n_train / config.batch_size)
        self.scaler, self.epochs_begun = None, 0
        if config.dtype is DTypeMode.MIXED_FLOAT16 and config.mode != ExecMode.ARTICLE:  # float16's narrow range
            with self.placement(), tf.device(self.device):  # dynamic loss scaling around plain gradient descent
                self.scaler = tf.keras.optimizers.LossScaleOptimizer(
                    tf.keras.optimizers.SGD(learning_rate=config.learning_rate))
                self.scaler.build(self.variables)
        self.runner = _epoch_runner(config, self.variables, self.sse, self.batch_means, self.device,
                                    n_batches=n_batches, scaler=self.scaler)
        self.last_loss: tf.Tensor | None = None

    sync = staticmethod(tf_sync)

    @property
    def keeps_article_metric(self) -> bool:
        """The article's printed metrics belong to the article mode's result."""
        return self.config.mode == ExecMode.ARTICLE

    def placement(self):
        """Context: TF's soft placement off (unless the config asks for the article's soft placement)."""
        return hard_placement(not self.config.soft_placement)

    def dataset(self, epoch: int) -> tf.data.Dataset:
        """The article's pipeline over this trainer's data (host_pipeline)."""
        return host_pipeline(self.X, self.y, self.config, epoch)

    def begin_epoch(self) -> None:
        """Zero the running loss sums (done outside the timed region)."""
        self.sse.assign(tf.zeros((), self.compute))
        self.batch_means.assign(tf.zeros((), self.compute))
        self.epochs_begun += 1

    def skipped_steps(self) -> int:
        """Steps mixed_float16's loss scaling skipped (their gradients overflowed; the scale was halved): 0 without
        loss scaling."""
        return 0 if self.scaler is None else self.epochs_begun * self.n_batches - int(self.scaler.iterations)

    def epoch(self, epoch: int) -> tf.Tensor:
        """Train one epoch (ops queued, not synced); returns the last batch loss. Call inside placement()."""
        self.last_loss = self.runner(self.dataset(epoch))
        return self.last_loss

    def epoch_loss(self) -> tuple[float, float]:
        """(true MSE, the article's metric) of the epoch just trained; reads from the device."""
        n = self.data.n_train
        return float(self.sse.numpy()) / n, float(self.batch_means.numpy()) / n

    def finish(self) -> tuple[str, np.ndarray]:
        """(device the results really live on, test-set predictions); PlacementError if not the requested one."""
        with self.placement(), tf.device(self.device):
            X_test = tf.cast(tf.constant(self.data.X_test), self.compute)
            pred = forward(self.variables, X_test, _mixed_compute(self.config))  # (n_test, 1)
        extra = [self.last_loss] if self.last_loss is not None else []
        actual = check_placement(canonical(self.device), *self.variables, *extra, pred)
        return actual, pred.numpy().astype(np.float64)[:, 0]

    def params(self) -> Params:
        """Current weights, float64 copies."""
        return Params(**{nm: v.numpy().astype(np.float64) for nm, v in zip(PARAM_NAMES, self.variables)})


def _mixed_compute(config: TrainConfig) -> tf.DType | None:
    """The 16-bit dtype the matmuls run in under a mixed dtype mode; None otherwise (the weights' dtype)."""
    return tf.as_dtype(config.dtype.compute_dtype) if config.dtype.mixed else None


def _epoch_runner(
    config: TrainConfig,
    variables: list[tf.Variable],
    sse: tf.Variable,
    batch_means: tf.Variable,
    device: str,
    *,
    n_batches: int,
    scaler=None,
) -> Callable[[tf.data.Dataset], tf.Tensor]:
    """A function that trains one epoch over a batched dataset and returns the last batch loss (`scaler`: the
    loss-scaling optimiser of mixed_float16)."""
    lr = config.learning_rate
    n_in = int(variables[0].shape[0])
    data_dtype = tf.as_dtype(config.dtype.data_dtype)
    # One signature for full and ragged last batches: traced once per training run.
    signature = [tf.TensorSpec([None, n_in], data_dtype), tf.TensorSpec([None, 1], data_dtype)]

    if config.mode == ExecMode.ARTICLE:
        step = functools.partial(article_step, variables, sse, batch_means, lr=lr)
    elif config.mode in (ExecMode.EAGER, ExecMode.FUNCTION, ExecMode.XLA, ExecMode.GRAPH):
        step = functools.partial(sgd_step, variables, sse, lr=lr, compute=_mixed_compute(config), scaler=scaler)
    else:
        raise ValueError(f"unknown execution mode {config.mode!r}")
    mode = "eager" if config.mode == ExecMode.ARTICLE else config.mode.value  # the article's loop runs eagerly
    return epoch_runner(step, mode, device, signature=signature, n_batches=n_batches, loss_dtype=variables[0].dtype)


def epoch_runner(step: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], mode: str, device: str, *,
                 signature: list[tf.TensorSpec], n_batches: int,
                 loss_dtype: tf.DType) -> Callable[[tf.data.Dataset], tf.Tensor]:
    """One epoch of a training step over a batched dataset, in a generic TF mode (every TF trainer's, the MLP's
    and any workload's): `eager` calls the step per batch; `function` and `xla` call it traced once with
    `signature` (full and ragged last batches alike), XLA-compiled for `xla`; `graph` runs the whole epoch in one
    tf.function, a graph while-loop over `n_batches` batches. Returns the last batch loss; the dataset's iterator
    stays on the host and the step runs on `device`."""
    if mode == "graph":
        return _graph_epoch(step, device, n_batches, loss_dtype)
    if mode in ("function", "xla"):
        step = tf.function(step, input_signature=signature, jit_compile=mode == "xla", reduce_retracing=True)
    elif mode != "eager":
        raise ValueError(f"mode {mode!r} is not a generic TF mode")

    def eager_epoch(ds: tf.data.Dataset) -> tf.Tensor:
        with tf.device(HOST):
            batches = iter(ds)  # the iterator (and its get_next) stays on the host
        loss = None
        with tf.device(device):
            for x, y in batches:
                loss = step(x, y)
        return loss

    eager_epoch.step = step  # exposed so tests can read the tf.function's trace count
    return eager_epoch


def _graph_epoch(step: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], device: str, n_batches: int,
                 loss_dtype: tf.DType) -> Callable[[tf.data.Dataset], tf.Tensor]:
    """A whole epoch in one tf.function: a graph while-loop over the dataset's batches."""

    @tf.function
    def epoch(ds: tf.data.Dataset) -> tf.Tensor:
        with tf.device(HOST):
            batches = iter(ds)
        loss = tf.zeros((), loss_dtype)
        for _ in tf.range(n_batches):
            with tf.device(HOST):
                x, y = next(batches)
            with tf.device(device):
                loss = step(x, y)
        return loss

    def run(ds: tf.data.Dataset) -> tf.Tensor:
        with tf.device(device):  # the call site's device is where the function's outputs land
            return epoch(ds)

    run.step = epoch  # exposed so tests can read the tf.function's trace count
    return run
