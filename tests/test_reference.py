"""The NumPy reference against hand-computed values and finite differences."""

import numpy as np
import pytest

from mlp_core import DTypeMode, ExecMode, Params, TrainConfig, init_params, make_data
from mlp_core.params import PARAM_NAMES
from mlp_core.reference import buffered_shuffle_order, loss_and_gradients, train_numpy


def hand_params() -> Params:
    return Params(W_xh=np.array([[2.0]]), b_h=np.array([[0.5]]), W_hy=np.array([[3.0]]), b_y=np.array([[1.0]]))


def test_loss_and_gradients_hand_computed():
    # x = [1, -1]: z = [2.5, -1.5], h = [2.5, 0], pred = [8.5, 1], y = [0, 1], diff = [8.5, 0]
    x, y = np.array([[1.0], [-1.0]]), np.array([[0.0], [1.0]])
    loss, g = loss_and_gradients(hand_params(), x, y)
    assert loss == pytest.approx(8.5**2 / 2)  # 36.125
    # d_pred = 2 * diff / 2 = [8.5, 0]; d_z = 3 * d_pred * [z > 0] = [25.5, 0]
    assert g.W_hy[0, 0] == pytest.approx(2.5 * 8.5)
    assert g.b_y[0, 0] == pytest.approx(8.5)
    assert g.W_xh[0, 0] == pytest.approx(25.5)
    assert g.b_h[0, 0] == pytest.approx(25.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    p = init_params(4, 7, 2, seed=seed)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    _, g = loss_and_gradients(p, x, y)
    eps = 1e-6
    for name in PARAM_NAMES:
        arr = getattr(p, name)
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss_and_gradients(p, x, y)[0]
            arr[idx] = old - eps
            down = loss_and_gradients(p, x, y)[0]
            arr[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(getattr(g, name), numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_one_full_batch_step_is_plain_gradient_descent():
    data = make_data(seed=5, n_train=6, n_test=3)
    p = init_params(3, 4, seed=9)
    cfg = TrainConfig(size=4, epochs=1, batch_size=6, shuffle=False, dtype="float64", mode="numpy",
                      learning_rate=0.01)
    res = train_numpy(data, cfg, p)
    loss, g = loss_and_gradients(p, data.X_train, data.y_train[:, None])
    assert res.train_mse == (pytest.approx(loss, rel=1e-15),)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(res.params, name), getattr(p, name) - 0.01 * getattr(g, name), rtol=1e-14)
    # the article's metric: one batch mean over n_train samples
    assert res.article_train_metric[0] == pytest.approx(loss / 6)


def test_buffered_shuffle_is_a_permutation_and_buffer_one_keeps_order():
    rng = np.random.default_rng(0)
    order = buffered_shuffle_order(50, 10, rng)
    assert sorted(order.tolist()) == list(range(50))
    assert order.tolist() != list(range(50))
    assert buffered_shuffle_order(20, 1, rng).tolist() == list(range(20))


def test_buffered_shuffle_only_reaches_buffer_size_ahead():
    # with buffer 10 the first emitted element must come from the first 10
    for seed in range(20):
        assert buffered_shuffle_order(100, 10, np.random.default_rng(seed))[0] < 10


def test_float32_numpy_modes_close_to_float64(small_data):
    p = init_params(3, 20, seed=1)
    base = dict(epochs=2, batch_size=8, shuffle=False, mode=ExecMode.NUMPY)
    ref = train_numpy(small_data, TrainConfig(dtype=DTypeMode.FLOAT64, **base), p)
    for dtype in (DTypeMode.FLOAT32, DTypeMode.FLOAT64_CAST):
        res = train_numpy(small_data, TrainConfig(dtype=dtype, **base), p)
        np.testing.assert_allclose(res.train_mse, ref.train_mse, rtol=1e-4)
        assert res.test_mse == pytest.approx(ref.test_mse, rel=1e-4)


@pytest.mark.parametrize("dtype", [d for d in DTypeMode if not d.mixed])  # the MLP's own trainers
def test_the_lean_epoch_is_loss_and_gradients_step_by_step(dtype):
    """The baseline's epoch writes the step out on bare arrays (no Params per step); it must still be exactly
    the hand-checked `loss_and_gradients` followed by plain gradient descent, batch after batch (last batch
    short), in the same order."""
    data = make_data(seed=5, n_train=50, n_test=4)
    cfg = TrainConfig(epochs=2, batch_size=8, dtype=dtype, mode=ExecMode.NUMPY)
    p = init_params(3, 7, seed=2)
    res = train_numpy(data, cfg, p)
    c = dtype.compute_dtype
    w = p.astype(c)
    X, y = data.X_train.astype(dtype.data_dtype), data.y_train.reshape(-1, 1).astype(dtype.data_dtype)
    rng_orders = [buffered_shuffle_order(50, cfg.shuffle_buffer, np.random.default_rng(e)) for e in range(2)]
    mses = []
    for order in rng_orders:
        sse = 0.0
        for s in range(0, 50, 8):
            idx = order[s : s + 8]
            loss, g = loss_and_gradients(w, X[idx].astype(c), y[idx].astype(c))
            w = Params(**{n: getattr(w, n) - cfg.learning_rate * getattr(g, n) for n in PARAM_NAMES})
            sse += loss * len(idx)
        mses.append(sse / 50)
    assert list(res.train_mse) == mses
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(getattr(res.params, name), getattr(w, name).astype("float64"))
