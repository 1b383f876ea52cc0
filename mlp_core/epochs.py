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
from mlp_core.metrics import compute as compute_metrics
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

    def epoch_loss(self) -> tuple[float, float]:
        """(the loss of the epoch just trained, sample-weighted; the article's metric, NaN where not kept). A
        plug-in's trainer from before losses may still call it epoch_mse."""

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

    Returns (epoch times in s, the loss of each epoch, the article's metric per epoch). Epoch 0 is
    timed like the rest; the caller keeps it apart as the warm-up. Zeroing the loss sums before
    and reading the loss after each epoch stay outside the timed region.
    """
    sync = sync or trainer.sync
    epoch_loss = getattr(trainer, "epoch_loss", None) or trainer.epoch_mse  # (a plug-in's older name)
    times, losses, metrics = [], [], []
    with trainer.placement():
        for e in range(epochs):
            trainer.begin_epoch()
            t0 = stamp(clock, sync)
            trainer.epoch(e)
            t1 = stamp(clock, sync)
            times.append((t1 - t0) / NS_PER_S)
            loss, metric = epoch_loss()
            losses.append(loss)
            metrics.append(metric)
    return times, losses, metrics


def train_with(trainer: Trainer, data: Data, config: TrainConfig, *, clock: Clock = default_clock,
               sync: Sync | None = None) -> TrainResult:
    """Train with a trainer for `config.epochs` epochs and collect the result."""
    times, losses, metrics = run_epochs(trainer, config.epochs, clock=clock, sync=sync)
    actual, pred = trainer.finish()
    loss = getattr(trainer, "loss_name", "mse")
    if loss == "mse":
        sq = (pred.reshape(np.shape(data.y_test)) - data.y_test) ** 2
        test_loss = float(sq.mean())
    else:  # the workload's own loss, computed by its trainer (the article's metric is the MLP's: MSE only)
        sq, test_loss = None, trainer.test_loss(pred)
    article = trainer.keeps_article_metric
    return TrainResult(
        epoch_times_s=tuple(times),
        train_loss=tuple(losses),
        test_loss=test_loss,
        params=trainer.params(),
        device=actual,
        article_train_metric=tuple(metrics) if article else None,
        article_test_metric=article_test_metric(sq, config.batch_size, data.n_train) if article else None,
        loss=loss,
        metrics=compute_metrics(getattr(trainer, "metric_names", ()), pred, data.y_test),
    )


def article_test_metric(sq_err: np.ndarray, batch_size: int, n_train: int) -> float:
    """The article's test figure: per-batch mean losses summed, divided by the *training* size."""
    batch_means = [sq_err[s : s + batch_size].mean() for s in range(0, len(sq_err), batch_size)]
    return float(np.sum(batch_means) / n_train)
