"""Analytic FLOP count of one training step (forward + backward + update) of the MLP.

Convention: a multiply-add counts 2 (a matmul (m,k)x(k,n) is 2mkn), every other element-wise
operation 1. The `article` mode's second forward pass is not counted: GFLOP/s compares the
useful work of the same training across modes.
"""

from __future__ import annotations

import math


def train_step_flops(batch: int, n_in: int, hidden: int, n_out: int = 1) -> int:
    """FLOPs of one gradient-descent step on a batch of `batch` samples."""
    B, I, H, O = batch, n_in, hidden, n_out
    forward = 2 * B * I * H + B * H + B * H + 2 * B * H * O + B * O  # x@W_xh, +b_h, relu, h@W_hy, +b_y
    loss = 3 * B * O  # subtract, square, sum (the mean's divide is one op, not counted)
    backward = (
        2 * B * O  # d_pred = 2 * diff / size
        + 2 * H * B * O  # d_W_hy = h^T d_pred
        + B * O  # d_b_y = sum over the batch
        + 2 * B * O * H  # d_h = d_pred W_hy^T
        + B * H  # ReLU mask
        + 2 * I * B * H  # d_W_xh = x^T d_z
        + B * H  # d_b_h = sum over the batch
    )
    update = 2 * (I * H + H + H * O + O)  # w -= lr * g, per parameter
    return forward + loss + backward + update


def epoch_flops(n_samples: int, batch: int, n_in: int, hidden: int, n_out: int = 1) -> int:
    """FLOPs of one epoch: the full batches plus the ragged last one."""
    full, rest = divmod(n_samples, batch)
    total = full * train_step_flops(batch, n_in, hidden, n_out)
    if rest:
        total += train_step_flops(rest, n_in, hidden, n_out)
    return total


def steps_per_epoch(n_samples: int, batch: int) -> int:
    """Number of optimiser steps in one epoch."""
    return math.ceil(n_samples / batch)
