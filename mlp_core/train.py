"""One entry point for every execution mode: NumPy or TensorFlow, chosen by the config."""

from __future__ import annotations

from mlp_core.config import TrainConfig, TrainResult
from mlp_core.data import Data
from mlp_core.params import Params
from mlp_core.timing import Clock, Sync, default_clock
from mlp_core.trainer import make_trainer, train_with


def train(
    data: Data,
    config: TrainConfig,
    params: Params | None = None,
    *,
    clock: Clock = default_clock,
    sync: Sync | None = None,
    device_index: int = 0,
) -> TrainResult:
    """Train the config's workload (the MLP by default) as `config` says; TensorFlow is imported only for the TF
    modes.

    Args:
        data: train/test split (float64, as the article makes it).
        config: sizes, dtype mode, execution mode, device.
        params: starting weights; a standard-normal draw from `config.seed` when None.
        clock: monotonic nanosecond clock.
        sync: device sync called before every clock read (the trainer's own by default).
        device_index: which device of the requested kind ('gpu:1' is index 1).
    """
    trainer = make_trainer(data, config, params, device_index=device_index)
    return train_with(trainer, data, config, clock=clock, sync=sync)
