"""The trainer interface every backend provides, and the one timed-epoch loop they all go through.

A trainer holds the model set up for training on one device (data where it belongs, weights on
the device, the step traced or not) and trains one epoch per `epoch(e)` call; it times nothing.
`run_epochs` is the one place a training epoch is timed for a result: the runner's workers (through
`train`), the pytest-benchmark suite (its `begin_epoch` / `epoch` / `sync` calls inside pytest-benchmark's
own clock) and the tests all use these same calls. (bench.engine.breakdown times the parts of a step apart,
for the ladder, with its own clock.) Which backend builds a trial's trainer is decided above every backend, in
mlp_core.trainer; this module sits below them (the NumPy oracle trains through `train_with`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from mlp_core.config import TrainConfig, TrainResult
from mlp_core.data import Data
from mlp_core.params import Params
from mlp_core.timing import NS_PER_S, Clock, Sync, default_clock, stamp


class Trainer(Protocol):
    """What every backend provides."""

    def placement(self) -> AbstractContextManager[None]:
        """Held around all the epochs (hard placement for TensorFlow; nothing for host-only backends)."""

    def begin_epoch(self) -> None:
        """Untimed preparation of an epoch (zero the loss sums)."""

    def epoch(self, epoch: int) -> object:
        """Train one epoch; the device work may still be queued when this returns."""

    def sync(self) -> None:
        """Block until the device has finished its queued work."""

    def epoch_mse(self) -> tuple[float, float]:
        """(true sample-weighted MSE, the article's metric) of the epoch just trained."""

    def finish(self) -> tuple[str, np.ndarray]:
        """(device the results really live on, test-set predictions as float64)."""

    def params(self) -> Params:
        """Current weights, float64 copies."""

    @property
    def keeps_article_metric(self) -> bool:
        """Whether the article's printed metrics are part of this trainer's result."""


def run_epochs(trainer: Trainer, epochs: int, *, clock: Clock = default_clock,
               sync: Sync | None = None) -> tuple[list[float], list[float], list[float]]:
    """Train `epochs` epochs, each timed from a synced clock read to a synced clock read.

    Returns (epoch times in s, true MSE per epoch, the article's metric per epoch). Epoch 0 is
    timed like the rest; the caller keeps it apart as the warm-up. Zeroing the loss sums before
    and reading the MSE after each epoch stay outside the timed region.
    """
    sync = sync or trainer.sync
    times, mses, metrics = [], [], []
    with trainer.placement():
        for e in range(epochs):
            trainer.begin_epoch()
            t0 = stamp(clock, sync)
            trainer.epoch(e)
            t1 = stamp(clock, sync)
            times.append((t1 - t0) / NS_PER_S)
            mse, metric = trainer.epoch_mse()
            mses.append(mse)
            metrics.append(metric)
    return times, mses, metrics


def train_with(trainer: Trainer, data: Data, config: TrainConfig, *, clock: Clock = default_clock,
               sync: Sync | None = None) -> TrainResult:
    """Train with a trainer for `config.epochs` epochs and collect the result."""
    times, mses, metrics = run_epochs(trainer, config.epochs, clock=clock, sync=sync)
    actual, pred = trainer.finish()
    sq = (pred - data.y_test) ** 2
    article = trainer.keeps_article_metric
    return TrainResult(
        epoch_times_s=tuple(times),
        train_mse=tuple(mses),
        test_mse=float(sq.mean()),
        params=trainer.params(),
        device=actual,
        article_train_metric=tuple(metrics) if article else None,
        article_test_metric=article_test_metric(sq, config.batch_size, data.n_train) if article else None,
    )


def article_test_metric(sq_err: np.ndarray, batch_size: int, n_train: int) -> float:
    """The article's test figure: per-batch mean losses summed, divided by the *training* size."""
    batch_means = [sq_err[s : s + batch_size].mean() for s in range(0, len(sq_err), batch_size)]
    return float(np.sum(batch_means) / n_train)
