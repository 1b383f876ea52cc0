"""Data, weights and config validation."""

import numpy as np
import pytest

from mlp_core import DTypeMode, Params, TrainConfig, init_params, make_data


def test_article_data_shapes_and_dtype():
    d = make_data()
    assert (d.X_train.shape, d.y_train.shape, d.X_test.shape, d.y_test.shape) == ((800, 3), (800,), (200, 3), (200,))
    assert {a.dtype for a in (d.X_train, d.y_train, d.X_test, d.y_test)} == {np.dtype("float64")}
    np.testing.assert_array_equal(make_data(4).X_train, make_data(4).X_train)
    assert not np.array_equal(make_data(4).X_train, make_data(5).X_train)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_make_data_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match=f"n_train must be a positive integer, got {bad!r}"):
        make_data(n_train=bad)


def test_init_params_shapes_and_standard_normal():
    p = init_params(3, 4096, 1, seed=0)
    assert [a.shape for a in p.arrays()] == [(3, 4096), (1, 4096), (4096, 1), (1, 1)]
    assert abs(p.W_xh.mean()) < 0.05 and abs(p.W_xh.std() - 1) < 0.05


def test_params_from_arrays_checks_shapes():
    with pytest.raises(ValueError, match=r"b_h must have shape \(1, 2\)"):
        Params(W_xh=np.ones((3, 2)), b_h=np.ones((1, 3)), W_hy=np.ones((2, 1)), b_y=np.ones((1, 1)))


@pytest.mark.parametrize(("field", "value"), [("size", 0), ("batch_size", -4), ("epochs", 1.5)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a positive integer, got {value!r}"):
        TrainConfig(**{field: value})


def test_config_coerces_strings_and_rejects_unknown():
    assert TrainConfig(dtype="float32").dtype is DTypeMode.FLOAT32
    with pytest.raises(ValueError, match="'float16' is not a valid DTypeMode"):
        TrainConfig(dtype="float16")
