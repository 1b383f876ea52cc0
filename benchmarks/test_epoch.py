"""One training epoch of a workload (the article's MLP by default), per device x execution mode x dtype mode x
(batch, size).

    pytest benchmarks --benchmark-only                       # measure
    pytest benchmarks --benchmark-only --workload cnn        # another workload (or package.module:factory)
    pytest benchmarks --benchmark-only --benchmark-autosave --benchmark-save-data
    pytest benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:10%
    pytest benchmarks --benchmark-disable                    # run each case once, untimed (CI)

Pedantic mode: the trainer (mlp_core.trainer: the same one the runner's workers use) is built
outside the timing, `WARMUP_ROUNDS` epochs run first and are discarded (tracing, XLA compilation,
allocator warm-up), then each round is one epoch ending with the trainer's device sync, so the
clock stops when the work is done; zeroing the loss sums is pedantic's untimed `setup`.
Case ids are the runner's config ids (bench.format.config_id) and samples/s, GFLOP/s its
throughput (bench.format.throughput), so a case and a sweep trial of the same configuration match.
`--workload` (benchmarks/conftest.py) loads any workload as bench.run does: its TF modes at its first and last
default size; the MLP's cases are those of its own modes at (32, 20) and (256, 256).
GPU cases skip, with the reason, where TensorFlow (or JAX, for its modes) sees no GPU, and the
numba and JAX cases where those libraries are not installed. The NumPy baseline, the numba floor
and the JAX peers run beside the TF modes.
"""

from __future__ import annotations

import itertools

import pytest

from bench.format import config_id, throughput
from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, modes, workloads
from mlp_core.trainer import make_trainer

N_TRAIN, N_TEST = 800, 200  # the article's sizes
MLP_POINTS = [(32, 20), (256, 256)]  # (batch, hidden): the article's hidden size at a small batch, and a wider model
DTYPES = [DTypeMode.FLOAT32, DTypeMode.FLOAT64_CAST]
ROUNDS, WARMUP_ROUNDS = 5, 1
THREADS = 0  # TensorFlow's default thread pools, as a sweep's default trial


def cases(workload: workloads.Workload) -> list:
    """The workload's cases: every mode it trains in but the article's loop (the sweep's business), on each device
    a mode runs on, at two (batch, size) points."""
    if workload.name == workloads.DEFAULT:  # every mode of the registry, a plug-in's too (EMB_PLUGINS)
        names, points = [m.name for m in modes.all_modes() if m.role != "article"], MLP_POINTS
    else:
        names = list(workload.mode_names())
        points = [(32, workload.default_sizes[0]), (256, workload.default_sizes[-1])]
    return [
        pytest.param(device, mode, dtype, batch, size,
                     id=config_id(device, mode, dtype, batch, size, THREADS, workload=workload.name))
        for device, mode, dtype, (batch, size) in itertools.product(Device, map(ExecMode, names), DTYPES, points)
        if not (mode.cpu_only and device is not Device.CPU) and str(dtype) in workload.dtypes
    ]


def pytest_generate_tests(metafunc):
    """Parametrize test_epoch by the workload `--workload` names (loaded once; a bad name is a usage error)."""
    if "size" in metafunc.fixturenames:
        spec = metafunc.config.getoption("workload")
        try:
            workload = workloads.get(spec)
        except workloads.WorkloadError as exc:
            raise pytest.UsageError(f"--workload: {exc}") from None
        metafunc.parametrize(("device", "mode", "dtype", "batch", "size"), cases(workload))


@pytest.fixture(scope="module")
def workload(request):
    return workloads.get(request.config.getoption("workload"))


@pytest.fixture(scope="module")
def data(workload):
    return workload.data(0, N_TRAIN, N_TEST)


def _skip_unavailable(config, data):
    """A missing library or device skips the case with the runner's own reason."""
    from mlp_core.errors import UnavailableError

    if not config.mode.needs_tensorflow:
        try:
            return make_trainer(data, config)
        except UnavailableError as exc:
            pytest.skip(str(exc))
    if config.device is Device.GPU:
        import tensorflow as tf

        from mlp_core.placement import visible_devices

        if not tf.config.list_logical_devices("GPU"):
            pytest.skip(f"no GPU visible to TensorFlow (visible: {', '.join(visible_devices())})")
    return make_trainer(data, config)


def test_epoch(benchmark, workload, data, device, mode, dtype, batch, size):
    config = TrainConfig(workload=workload.spec, size=size, batch_size=batch, dtype=dtype, mode=mode, device=device,
                         seed=0, learning_rate=workload.learning_rate)
    trainer = _skip_unavailable(config, data)
    epochs = itertools.count()

    def one_epoch():
        trainer.epoch(next(epochs))
        trainer.sync()  # inside the timed function: GPU work is asynchronous

    benchmark.group = f"{workload.name}-b{batch}-{workload.size_name}{size}"
    with trainer.placement():  # hard placement held around all rounds, outside every timing
        benchmark.pedantic(one_epoch, setup=trainer.begin_epoch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS,
                           iterations=1)

    loss = trainer.epoch_loss()[0]  # the last epoch's
    actual, _ = trainer.finish()  # PlacementError unless every result is on the requested device
    assert actual == f"{device}:0"
    assert loss == loss and loss < 1e6  # finite: the epoch trained
    benchmark.extra_info.update({"config_id": config_id(device, mode, dtype, batch, size, THREADS,
                                                        workload=workload.name), "workload": workload.name,
                                 "device": str(device), "device_actual": actual, "mode": str(mode),
                                 "dtype": str(dtype), "batch_size": batch, "size": size, "n_train": N_TRAIN,
                                 "loss": workload.loss_name, "train_loss_last_epoch": loss})
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        rates = throughput(stats.stats.median, N_TRAIN, batch, workload.epoch_flops(N_TRAIN, batch, size))
        benchmark.extra_info.update(samples_per_s=rates["samples_per_s"], gflops=rates["gflops"])
