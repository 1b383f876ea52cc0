"""One entry point for every execution mode: NumPy or TensorFlow, chosen by the config."""

from __future__ import annotations

from mlp_core.config import TrainConfig, TrainResult
from mlp_core.data import Data
from mlp_core.enums import ExecMode
from mlp_core.params import Params
from mlp_core.reference import train_numpy
from mlp_core.timing import Clock, Sync, default_clock


def train(
    data: Data,
    config: TrainConfig,
    params: Params | None = None,
    *,
    clock: Clock = default_clock,
    sync: Sync | None = None,
    device_index: int = 0,
) -> TrainResult:
    """Train the MLP as `config` says; TensorFlow is imported only for the TF modes.

    Args:
        data: train/test split (float64, as the article makes it).
        config: sizes, dtype mode, execution mode, device.
        params: starting weights; a standard-normal draw from `config.seed` when None.
        clock: monotonic nanosecond clock.
        sync: device sync called before every clock read (TF's sync_devices by default).
        device_index: which device of the requested kind ('gpu:1' is index 1).
    """
    if config.mode is ExecMode.NUMPY:
        if device_index != 0:
            raise ValueError(f"mode 'numpy' runs on cpu:0 only, got device_index {device_index}")
        return train_numpy(data, config, params, clock=clock, **({"sync": sync} if sync else {}))
    from mlp_core import tf_train

    return tf_train.train_tf(
        data, config, params, clock=clock, sync=sync or tf_train.tf_sync, device_index=device_index
    )
