"""The compiled floor: a whole epoch (buffered shuffle, batches, forward, gradients, SGD) in one numba function.

What the model costs when nothing but the arithmetic runs: no interpreter per step, no framework
dispatch, no array temporaries. Loops over the sizes of this model (3 inputs, H hidden, 1 output)
are what a C programmer would write, one thread, inner loops along contiguous rows and sums free
to be reassociated so that LLVM vectorises them. At small sizes they beat a BLAS call per product
by far; at large ones (batch 200, hidden 2048) they are about level with NumPy's multithreaded
BLAS, so there "the floor" is a single-core floor, not the machine's.

Same model, same update rule, same batch composition as the NumPy baseline; the float64-cast mode
casts each batch to float32 inside the step, as the others do. The shuffle is tf.data's buffered
algorithm drawing from a NumPy Generator seeded by the epoch, inside the compiled function: numba
draws the same stream from it as NumPy, so the sample order is the baseline's own (a test checks
it). Given `orders`, it follows them. It is held to the float64 oracle like every mode. numba is an optional extra
(`pip install 'eager-mlp-bench[numba]'`); without it the mode is skipped with that command.
"""

from __future__ import annotations

import contextlib

import numpy as np

from mlp_core import modes
from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.errors import missing_library
from mlp_core.params import Params, init_params
from mlp_core.reference import forward
from mlp_core.timing import no_sync

_KERNEL = None


def _kernel():
    """The compiled epoch, built on first use (numba compiles per dtype signature, cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:
            raise missing_library("numba", "numba", modes.get("numba").install) from None
        # sums may be reassociated (so LLVM vectorises the reductions; the oracle tests hold the result), but
        # NaN and inf keep their meaning (no nnan/ninf): a diverging run must still read as one
        _KERNEL = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})(_epoch)
    return _KERNEL


def _epoch(X, y, order, shuffle, rng, buffer_size, W_xh, b_h, W_hy, b_y, batch, lr):  # pragma: no cover - compiled
    """Train one epoch in place; returns (sum of batch SSEs, sum of batch mean losses).

    X (n, I) and y (n, O) in the data dtype; weights in the compute dtype; `order` empty: shuffle
    here (if `shuffle`) with the buffered algorithm drawing from `rng`, a NumPy Generator (numba
    draws the same stream from it as NumPy does); else follow `order`.
    """
    n, n_in = X.shape
    hidden, n_out = W_hy.shape
    if order.shape[0] == n:
        idx = order
    else:
        idx = np.empty(n, np.int64)
        if not shuffle:
            for k in range(n):
                idx[k] = k
        else:
            size = min(buffer_size, n)
            buf = np.arange(size)
            nxt = size
            for k in range(n):
                j = rng.integers(0, size)
                idx[k] = buf[j]
                if nxt < n:
                    buf[j] = nxt
                    nxt += 1
                else:
                    buf[j] = buf[size - 1]
                    size -= 1
    dt = W_xh.dtype
    xs = np.empty((batch, n_in), dt)  # the batch in the compute dtype: the per-step cast
    ys = np.empty((batch, n_out), dt)
    z = np.empty((batch, hidden), dt)
    d_pred = np.empty((batch, n_out), dt)
    d_z = np.empty((batch, hidden), dt)
    g_xh = np.empty((n_in, hidden), dt)
    g_bh = np.empty(hidden, dt)
    g_hy = np.empty((hidden, n_out), dt)
    g_by = np.empty(n_out, dt)
    sse = 0.0
    sum_means = 0.0
    for start in range(0, n, batch):
        m = min(batch, n - start)
        for r in range(m):
            i = idx[start + r]
            for k in range(n_in):
                xs[r, k] = X[i, k]
            for o in range(n_out):
                ys[r, o] = y[i, o]
        # forward: z = xs W_xh + b_h; pred = relu(z) W_hy + b_y; loss = mean((pred - y)^2). Inner loops run
        # along contiguous rows (axpy form), which LLVM vectorises; the dot products are reductions, which
        # it vectorises only because the kernel lets sums be reassociated (see _kernel).
        loss = 0.0
        zero = W_xh[0, 0] * 0
        for r in range(m):
            for h in range(hidden):
                z[r, h] = b_h[0, h]
            for k in range(n_in):
                a = xs[r, k]
                for h in range(hidden):
                    z[r, h] += a * W_xh[k, h]
            for o in range(n_out):
                acc = b_y[0, o]
                for h in range(hidden):
                    if z[r, h] > 0:
                        acc += z[r, h] * W_hy[h, o]
                diff = acc - ys[r, o]
                d_pred[r, o] = diff
                loss += diff * diff
        count = m * n_out
        loss /= count
        for r in range(m):
            for o in range(n_out):
                d_pred[r, o] *= 2.0 / count
        # backward, every gradient from the weights before the step (ReLU's gradient is 0 at 0, as in TF)
        g_xh[:, :] = zero
        g_bh[:] = zero
        g_hy[:, :] = zero
        g_by[:] = zero
        for r in range(m):
            for h in range(hidden):
                acc = zero
                if z[r, h] > 0:
                    for o in range(n_out):
                        acc += d_pred[r, o] * W_hy[h, o]
                d_z[r, h] = acc
            for k in range(n_in):
                a = xs[r, k]
                for h in range(hidden):
                    g_xh[k, h] += a * d_z[r, h]
            for h in range(hidden):
                g_bh[h] += d_z[r, h]
            for o in range(n_out):
                d = d_pred[r, o]
                for h in range(hidden):
                    g_hy[h, o] += (z[r, h] if z[r, h] > 0 else zero) * d
                g_by[o] += d
        # plain gradient descent
        for h in range(hidden):
            for k in range(n_in):
                W_xh[k, h] -= lr * g_xh[k, h]
            b_h[0, h] -= lr * g_bh[h]
            for o in range(n_out):
                W_hy[h, o] -= lr * g_hy[h, o]
        for o in range(n_out):
            b_y[0, o] -= lr * g_by[o]
        sse += loss * m
        sum_means += loss
    return sse, sum_means


class NumbaTrainer:
    """The MLP as one compiled epoch (see the module docstring); the Trainer interface of mlp_core.epochs."""

    def __init__(self, data: Data, config: TrainConfig, params: Params | None = None, *,
                 orders: list[np.ndarray] | None = None) -> None:
        self.kernel = _kernel()  # raises UnavailableError (a skip) without numba
        self.data, self.config, self.orders = data, config, orders
        compute = config.dtype.compute_dtype
        if params is None:
            params = init_params(data.n_features, config.hidden, 1, seed=config.seed)
        self.w = params.astype(compute)
        self.X = np.ascontiguousarray(data.X_train, dtype=config.dtype.data_dtype)
        self.y = np.ascontiguousarray(data.y_train.reshape(-1, 1), dtype=config.dtype.data_dtype)
        self.lr = np.dtype(compute).type(config.learning_rate)  # the update in the compute dtype
        self.no_order = np.empty(0, np.int64)
        self.sse = self.sum_batch_means = 0.0

    def epoch(self, epoch: int) -> None:
        """Train one epoch, the shuffle included (compiled)."""
        order = self.no_order if self.orders is None else np.ascontiguousarray(self.orders[epoch], dtype=np.int64)
        w, config = self.w, self.config
        rng = np.random.default_rng(epoch)  # the baseline's generator: the same order
        self.sse, self.sum_batch_means = self.kernel(self.X, self.y, order, config.shuffle, rng, config.shuffle_buffer,
                                                     w.W_xh, w.b_h, w.W_hy, w.b_y, config.batch_size, self.lr)

    def placement(self) -> contextlib.AbstractContextManager[None]:
        """Host-only: nothing to place."""
        return contextlib.nullcontext()

    def begin_epoch(self) -> None:
        """Nothing to reset: the kernel returns its sums."""

    sync = staticmethod(no_sync)  # the kernel returns when the epoch is done
    keeps_article_metric = True

    def epoch_loss(self) -> tuple[float, float]:
        """(true MSE, the article's metric) of the epoch just trained."""
        n = self.data.n_train
        return self.sse / n, self.sum_batch_means / n

    def finish(self) -> tuple[str, np.ndarray]:
        """('cpu:0', test predictions, float64)."""
        x = self.data.X_test.astype(self.config.dtype.compute_dtype)
        return "cpu:0", forward(self.w, x).astype(np.float64)[:, 0]

    def params(self) -> Params:
        """Current weights, float64 copies."""
        return self.w.astype("float64")
