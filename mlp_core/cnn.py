"""The CNN built-in workload's pieces: synthetic images, the model in plain Keras layers, its FLOPs per step.
Declared as a workload (`cnn`) in mlp_core.workloads. Keras is imported only when the model is built."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp_core.data import Data

CNN_IMAGE = 16  # synthetic 16 x 16 single-channel images
CNN_KERNEL = 3


def cnn_data(seed: int, n_train: int, n_test: int) -> Data:
    """Synthetic 16x16 images (standard normal) and a learnable target: tanh of each image's correlation with a
    fixed pattern drawn from the seed, plus a little noise. float64, deterministic for the seed."""
    rng = np.random.default_rng(seed)
    pattern = rng.standard_normal((CNN_IMAGE, CNN_IMAGE, 1)) / CNN_IMAGE
    X = rng.standard_normal((n_train + n_test, CNN_IMAGE, CNN_IMAGE, 1))
    y = np.tanh((X * pattern).sum(axis=(1, 2, 3))) + 0.1 * rng.standard_normal(n_train + n_test)
    return Data(X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:], y_test=y[n_train:])


def cnn_model(channels: int) -> Any:
    """conv3x3(C) ReLU -> 2x2 max-pool -> conv3x3(2C) ReLU -> global average -> dense(1), in plain tf.keras layers."""
    import keras

    return keras.Sequential([
        keras.Input((CNN_IMAGE, CNN_IMAGE, 1)),
        keras.layers.Conv2D(channels, CNN_KERNEL, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(2 * channels, CNN_KERNEL, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1),
    ])


def cnn_step_flops(batch: int, channels: int) -> int:
    """FLOPs of one step: the forward pass's multiply-adds as 2 each (the convolutions and the dense layer; ReLU,
    pooling and bias adds as 1 per element), backward counted as twice the forward, and the update's 2 per
    weight. An estimate by the usual convention, not a count of the kernels TF runs."""
    k2, s, h = CNN_KERNEL * CNN_KERNEL, CNN_IMAGE, CNN_IMAGE // 2
    c1, c2 = channels, 2 * channels
    conv1 = 2 * s * s * k2 * 1 * c1 + 2 * s * s * c1  # multiply-adds, bias + ReLU
    pool = s * s * c1
    conv2 = 2 * h * h * k2 * c1 * c2 + 2 * h * h * c2
    head = h * h * c2 + 2 * c2 + 1  # global average, dense
    forward = batch * (conv1 + pool + conv2 + head)
    weights = k2 * c1 + c1 + k2 * c1 * c2 + c2 + c2 + 1
    return 3 * forward + 2 * weights
