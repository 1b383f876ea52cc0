"""NumPy implementation of the article's training: the correctness oracle (in float64) and the CPU baseline.

Same model, same update, same batch order as the TensorFlow modes when given the same `orders`.
Run in float64 (`DTypeMode.FLOAT64`) it is the reference the tests hold every mode to.
"""

from __future__ import annotations

import contextlib

import numpy as np

from mlp_core.config import TrainConfig, TrainResult
from mlp_core.data import Data
from mlp_core.epochs import train_with
from mlp_core.params import Params, init_params
from mlp_core.timing import Clock, Sync, default_clock, no_sync


def buffered_shuffle_order(n: int, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """Index order of a tf.data-style buffered shuffle (fill a buffer, emit a random slot, refill)."""
    buffer = list(range(min(buffer_size, n)))
    nxt = len(buffer)
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        j = int(rng.integers(len(buffer)))
        out[k] = buffer[j]
        if nxt < n:
            buffer[j] = nxt
            nxt += 1
        else:
            buffer[j] = buffer[-1]
            buffer.pop()
    return out


def sample_order(n: int, config: TrainConfig, epoch: int, orders: list[np.ndarray] | None = None) -> np.ndarray:
    """An epoch's sample order for the host-side backends: `orders[epoch]` if given, else tf.data's buffered
    shuffle drawn from NumPy's generator seeded by the epoch (or no shuffle)."""
    if orders is not None:
        return orders[epoch]
    if config.shuffle:
        return buffered_shuffle_order(n, config.shuffle_buffer, np.random.default_rng(epoch))
    return np.arange(n)


def forward(params: Params, x: np.ndarray) -> np.ndarray:
    """relu(x W_xh + b_h) W_hy + b_y -> (B, O)."""
    h = np.maximum(x @ params.W_xh + params.b_h, 0.0)  # (B, H)
    return h @ params.W_hy + params.b_y  # (B, O)


def loss_and_gradients(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """Mean squared error of one batch and its gradients by hand (x (B, I), y (B, O))."""
    z = x @ params.W_xh + params.b_h  # (B, H)
    h = np.maximum(z, 0.0)
    pred = h @ params.W_hy + params.b_y  # (B, O)
    diff = pred - y
    loss = float(np.mean(diff * diff))
    d_pred = 2.0 * diff / diff.size  # d loss / d pred, (B, O)
    d_h = d_pred @ params.W_hy.T  # (B, H)
    d_z = d_h * (z > 0)  # ReLU gradient is 0 at 0, as in TF
    grads = Params(
        W_xh=x.T @ d_z,
        b_h=d_z.sum(axis=0, keepdims=True),
        W_hy=h.T @ d_pred,
        b_y=d_pred.sum(axis=0, keepdims=True),
    )
    return loss, grads


class NumpyTrainer:
    """The MLP in NumPy, in the config's compute dtype; `epoch(e)` trains one epoch (nothing is timed here).

    `orders[e]` fixes epoch e's sample order. Without it, shuffling uses the tf.data algorithm with
    NumPy's generator seeded by the epoch (same distribution of orders as TF, not the same orders).
    """

    def __init__(self, data: Data, config: TrainConfig, params: Params | None = None, *,
                 orders: list[np.ndarray] | None = None) -> None:
        self.data, self.config, self.orders = data, config, orders
        self.compute = config.dtype.compute_dtype
        if params is None:
            params = init_params(data.n_features, config.hidden, 1, seed=config.seed)
        self.w = params.astype(self.compute)
        self.X = data.X_train.astype(config.dtype.data_dtype)
        self.y = data.y_train.reshape(-1, 1).astype(config.dtype.data_dtype)  # (n, 1)
        self.sse = 0.0
        self.sum_batch_means = 0.0

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of an epoch."""
        return sample_order(self.data.n_train, self.config, epoch, self.orders)

    def epoch(self, epoch: int) -> float:
        """Train one epoch (the shuffle included, as tf.data's is in the TF modes); returns the true MSE.

        The step is `loss_and_gradients` and the update written out on the arrays, with nothing a plain
        NumPy loop would not have (no Params per step, no casts where the dtypes already agree); a test
        holds it to `loss_and_gradients` to the last bit in float64.
        """
        n, B, lr, compute = self.data.n_train, self.config.batch_size, self.config.learning_rate, self.compute
        cast = self.X.dtype != np.dtype(compute)  # float64-cast: the batch is cast here, every step
        W_xh, b_h, W_hy, b_y = self.w.arrays()
        X, Y = self.X, self.y
        order = self.order(epoch)
        sse = 0.0
        sum_batch_means = 0.0
        for start in range(0, n, B):
            idx = order[start : start + B]
            xb, yb = X[idx], Y[idx]
            if cast:
                xb, yb = xb.astype(compute), yb.astype(compute)
            z = xb @ W_xh + b_h
            h = np.maximum(z, 0.0)
            diff = h @ W_hy + b_y - yb
            loss = float(np.mean(diff * diff))
            d_pred = 2.0 * diff / diff.size
            d_z = (d_pred @ W_hy.T) * (z > 0)
            W_xh -= lr * (xb.T @ d_z)
            b_h -= lr * d_z.sum(axis=0, keepdims=True)
            W_hy -= lr * (h.T @ d_pred)
            b_y -= lr * d_pred.sum(axis=0, keepdims=True)
            sse += loss * len(idx)
            sum_batch_means += loss
        self.sse, self.sum_batch_means = sse, sum_batch_means
        return sse / n

    def test_predictions(self) -> np.ndarray:
        """Predictions of the current weights on the test set, float64."""
        return forward(self.w, self.data.X_test.astype(self.compute)).astype(np.float64)[:, 0]

    # ---- the Trainer interface (mlp_core.epochs) - ----------------------------------------------
    def placement(self) -> contextlib.AbstractContextManager[None]:
        """Host-only: nothing to place."""
        return contextlib.nullcontext()

    def begin_epoch(self) -> None:
        """Nothing to reset: epoch() starts its sums at zero."""

    sync = staticmethod(no_sync)  # nothing is queued anywhere
    keeps_article_metric = True  # the reference reproduces the article's printout too

    def epoch_loss(self) -> tuple[float, float]:
        """(true MSE, the article's metric) of the epoch just trained."""
        n = self.data.n_train
        return self.sse / n, self.sum_batch_means / n

    def finish(self) -> tuple[str, np.ndarray]:
        """('cpu:0', test predictions)."""
        return "cpu:0", self.test_predictions()

    def params(self) -> Params:
        """Current weights, float64 copies."""
        return self.w.astype("float64")


def train_numpy(
    data: Data,
    config: TrainConfig,
    params: Params | None = None,
    *,
    orders: list[np.ndarray] | None = None,
    clock: Clock = default_clock,
    sync: Sync = no_sync,
) -> TrainResult:
    """Train with NumPy (see NumpyTrainer), timing each epoch through the one timed loop."""
    return train_with(NumpyTrainer(data, config, params, orders=orders), data, config, clock=clock, sync=sync)
