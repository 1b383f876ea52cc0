"""The JAX peers: the step in one `jax.jit` called per batch (jax-step), or the whole epoch in one
`jax.jit` with `lax.scan` over the batches (jax-epoch).

Same data, same initial weights, same update, and the same sample order as the NumPy baseline
(tf.data's buffered shuffle, NumPy's generator seeded by the epoch, drawn on the host inside the
timed epoch, as the baseline does); `orders` fixes it (the tests). The float64-cast mode keeps the
data in float64 on the device and casts each batch to float32 inside the step. ReLU is
`jax.nn.relu`, whose gradient at 0 is 0 as in TF (jnp.maximum's would be 1/2).

Placement is as honest as TF's: the device is taken from `jax.devices(kind)`, never defaulted; a
requested GPU that JAX does not see raises UnavailableError (the trial is skipped with the reason);
`finish()` reads where the weights really live and refuses a result from anywhere else. JAX is an
optional extra (`pip install 'eager-mlp-bench[jax]'`, or `jax[cuda12]` for NVIDIA GPUs).
"""

from __future__ import annotations

import contextlib

import numpy as np

from mlp_core import modes
from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.enums import ExecMode
from mlp_core.errors import PlacementError, UnavailableError, missing_library
from mlp_core.params import PARAM_NAMES, Params, init_params
from mlp_core.reference import sample_order


def _jax(mode: str):
    try:
        import jax
    except ImportError:
        raise missing_library(mode, "JAX", modes.get(mode).install) from None
    jax.config.update("jax_enable_x64", True)  # float64 data and mode; float32 arrays stay float32
    return jax


def device_name(device) -> str:
    """A JAX device as 'cpu:0' / 'gpu:0' (CUDA and ROCm devices are GPUs)."""
    kind = {"cuda": "gpu", "rocm": "gpu"}.get(device.platform, device.platform)
    return f"{kind}:{device.id}"


class JaxTrainer:
    """The MLP in JAX (see the module docstring); the Trainer interface of mlp_core.epochs."""

    def __init__(self, data: Data, config: TrainConfig, params: Params | None = None, *,
                 orders: list[np.ndarray] | None = None, device_index: int = 0) -> None:
        jax = _jax(config.mode.value)
        import jax.numpy as jnp
        from jax import lax

        self.jax, self.data, self.config, self.orders = jax, data, config, orders
        kind = config.device.value
        try:
            devices = jax.devices(kind)
        except RuntimeError:  # no backend of that kind at all
            devices = []
        if len(devices) <= device_index:
            seen = ", ".join(device_name(d) for d in jax.devices()) or "none"
            raise UnavailableError(f"device '{kind}:{device_index}' requested but JAX sees no such device "
                                   f"(visible: {seen})")
        self.device = devices[device_index]
        self.requested = f"{kind}:{device_index}"
        compute, stored = config.dtype.compute_dtype, config.dtype.data_dtype
        if params is None:
            params = init_params(data.n_features, config.hidden, 1, seed=config.seed)
        put = lambda a: jax.device_put(a, self.device)  # noqa: E731
        self.X = put(np.asarray(data.X_train, dtype=stored))
        self.y = put(np.asarray(data.y_train.reshape(-1, 1), dtype=stored))
        self.w = tuple(put(a) for a in params.astype(compute).arrays())
        lr, batch, n = config.learning_rate, config.batch_size, data.n_train

        def loss_fn(w, xb, yb):
            W_xh, b_h, W_hy, b_y = w
            xb, yb = xb.astype(W_xh.dtype), yb.astype(W_xh.dtype)  # float64-cast: the per-step cast
            pred = jax.nn.relu(xb @ W_xh + b_h) @ W_hy + b_y
            return jnp.mean(jnp.square(pred - yb))

        def step(w, X, y, idx):
            loss, grads = jax.value_and_grad(loss_fn)(w, X[idx], y[idx])
            return tuple(p - lr * g for p, g in zip(w, grads)), loss

        full, rest = divmod(n, batch)
        if config.mode == ExecMode.JAX_STEP:
            def sliced(size):
                return jax.jit(lambda w, X, y, order, start: step(w, X, y, lax.dynamic_slice(order, (start,), (size,))))
            self._full, self._rest = sliced(batch), (sliced(rest) if rest else None)
        elif config.mode == ExecMode.JAX_EPOCH:
            def epoch_fn(w, X, y, order):
                w, losses = lax.scan(lambda w, idx: step(w, X, y, idx), w, order[: full * batch].reshape(full, batch))
                sse, means = jnp.sum(losses) * batch, jnp.sum(losses)
                if rest:
                    w, loss = step(w, X, y, order[full * batch:])
                    sse, means = sse + loss * rest, means + loss
                return w, sse, means
            self._epoch = jax.jit(epoch_fn)
        else:
            raise ValueError(f"mode {config.mode.value!r} is not a JAX mode")
        self._sums = (0.0, 0.0)

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's sample order: the NumPy baseline's (or the given one)."""
        return np.asarray(sample_order(self.data.n_train, self.config, epoch, self.orders), dtype=np.int64)

    def epoch(self, epoch: int) -> None:
        """Train one epoch (shuffle on the host, one copy of the order to the device, the steps queued)."""
        order = self.jax.device_put(self.order(epoch), self.device)
        if self.config.mode == ExecMode.JAX_EPOCH:
            self.w, sse, means = self._epoch(self.w, self.X, self.y, order)
            self._sums = (sse, means)
            return
        w, batch, n = self.w, self.config.batch_size, self.data.n_train
        losses = []
        for start in range(0, n - n % batch, batch):
            w, loss = self._full(w, self.X, self.y, order, start)
            losses.append((loss, batch))
        if self._rest is not None:
            w, loss = self._rest(w, self.X, self.y, order, n - n % batch)
            losses.append((loss, n % batch))
        self.w, self._sums = w, losses

    def placement(self) -> contextlib.AbstractContextManager[None]:
        """Every array is put on the chosen device explicitly: nothing to hold."""
        return contextlib.nullcontext()

    def begin_epoch(self) -> None:
        """Nothing to reset: each epoch returns its own sums."""

    def sync(self) -> None:
        """Block until the weights (the last op of the epoch) are computed."""
        self.jax.block_until_ready(self.w)

    keeps_article_metric = True

    def epoch_loss(self) -> tuple[float, float]:
        """(true MSE, the article's metric) of the epoch just trained (read back outside the timed region)."""
        n = self.data.n_train
        if isinstance(self._sums, list):
            sse = sum(float(loss) * m for loss, m in self._sums)
            means = sum(float(loss) for loss, _ in self._sums)
        else:
            sse, means = (float(v) for v in self._sums)
        return sse / n, means / n

    def finish(self) -> tuple[str, np.ndarray]:
        """(where the weights really live, test predictions as float64); PlacementError if not the requested device."""
        where = {device_name(d) for a in self.w for d in a.devices()}
        if where != {self.requested}:
            raise PlacementError(f"requested {self.requested} but the weights live on {', '.join(sorted(where))}")
        W_xh, b_h, W_hy, b_y = self.w
        x = self.jax.device_put(self.data.X_test.astype(self.config.dtype.compute_dtype), self.device)
        pred = self.jax.nn.relu(x @ W_xh + b_h) @ W_hy + b_y
        return self.requested, np.asarray(pred, dtype=np.float64)[:, 0]

    def params(self) -> Params:
        """Current weights, float64 copies."""
        return Params(**{name: np.asarray(a, dtype=np.float64) for name, a in zip(PARAM_NAMES, self.w)})
