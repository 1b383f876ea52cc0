"""One training epoch of the article's MLP, per device x execution mode x dtype mode x (batch, hidden).

    pytest benchmarks --benchmark-only                       # measure
    pytest benchmarks --benchmark-only --benchmark-autosave --benchmark-save-data
    pytest benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:10%
    pytest benchmarks --benchmark-disable                    # run each case once, untimed (CI)

Pedantic mode: the trainer (weights on the device, the step traced) is built outside the timing,
`WARMUP_ROUNDS` epochs run first and are discarded (tracing, XLA compilation, allocator warm-up),
then each round is one epoch ending with a device sync, so the clock stops when the work is done.
GPU cases skip, with the reason, where TensorFlow sees no GPU. The NumPy baseline runs beside them.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest

from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, make_data
from mlp_core.data import ARTICLE_N_FEATURES
from mlp_core.flops import epoch_flops

N_TRAIN, N_TEST = 800, 200  # the article's sizes
POINTS = [(32, 20), (256, 256)]  # (batch, hidden): the article's hidden size at a small batch, and a wider model
MODES = [ExecMode.EAGER, ExecMode.FUNCTION, ExecMode.XLA, ExecMode.GRAPH, ExecMode.NUMPY]
DTYPES = [DTypeMode.FLOAT32, DTypeMode.FLOAT64_CAST]
ROUNDS, WARMUP_ROUNDS = 5, 1

CASES = [
    pytest.param(device, mode, dtype, batch, hidden, id=f"{device}-{mode}-{dtype}-b{batch}-h{hidden}")
    for device, mode, dtype, (batch, hidden) in itertools.product(Device, MODES, DTYPES, POINTS)
    if not (mode is ExecMode.NUMPY and device is not Device.CPU)
]


@pytest.fixture(scope="module")
def data():
    return make_data(0, n_train=N_TRAIN, n_test=N_TEST)


def _trainer(data, config):
    """(trainer, sync, placement context): TF's trainer, sync and hard placement, or NumPy's with none."""
    if config.mode is ExecMode.NUMPY:
        from mlp_core.reference import NumpyTrainer

        return NumpyTrainer(data, config), lambda: None, contextlib.nullcontext()
    import tensorflow as tf

    from mlp_core.placement import visible_devices
    from mlp_core.tf_train import TFTrainer, tf_sync

    if config.device is Device.GPU and not tf.config.list_logical_devices("GPU"):
        pytest.skip(f"no GPU visible to TensorFlow (visible: {', '.join(visible_devices())})")
    trainer = TFTrainer(data, config)
    return trainer, tf_sync, trainer.placement()


@pytest.mark.parametrize(("device", "mode", "dtype", "batch", "hidden"), CASES)
def test_epoch(benchmark, data, device, mode, dtype, batch, hidden):
    config = TrainConfig(hidden=hidden, batch_size=batch, dtype=dtype, mode=mode, device=device, seed=0)
    trainer, sync, placement = _trainer(data, config)
    epochs = itertools.count()

    def one_epoch():
        trainer.epoch(next(epochs))
        sync()  # inside the timed function: GPU work is asynchronous

    benchmark.group = f"b{batch}-h{hidden}"
    with placement:  # hard placement held around all rounds, outside every timing
        benchmark.pedantic(one_epoch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=1)

    if mode is ExecMode.NUMPY:
        actual, mse = "cpu:0", trainer.sse / N_TRAIN
    else:
        mse = trainer.epoch_mse()[0]
        actual, _ = trainer.finish()  # PlacementError unless every result is on the requested device
    assert actual == f"{device}:0"
    assert mse == mse and mse < 1e6  # finite: the epoch trained
    benchmark.extra_info.update({"device": str(device), "device_actual": actual, "mode": str(mode),
                                 "dtype": str(dtype), "batch_size": batch, "hidden": hidden, "n_train": N_TRAIN,
                                 "train_mse_last_epoch": mse})
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        median = stats.stats.median
        benchmark.extra_info["samples_per_s"] = N_TRAIN / median
        benchmark.extra_info["gflops"] = epoch_flops(N_TRAIN, batch, ARTICLE_N_FEATURES, hidden) / median / 1e9
