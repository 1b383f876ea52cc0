"""One repeat of one trial, as a worker runs it: train, time, check, report. Clock and sync are injected."""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any

from bench.engine.memory import peak_rss_bytes, reset_peak_rss
from bench.format.derive import now_utc
from bench.format.messages import PeakResult, PeakTask, RepeatResult, RepeatTask
from mlp_core import Data, Device, TrainConfig, train, workloads
from mlp_core.errors import UnavailableError, missing_library, reason_of
from mlp_core.timing import Clock, Sync, default_clock

_DATA_CACHE: dict[tuple[str, int, int, int], Data] = {}


def run_repeat(task: RepeatTask, *, clock: Clock = default_clock, sync: Sync | None = None) -> RepeatResult:
    """Train once as the task says; never raises for a failing trial, reports it instead."""
    started, wall0, pid = now_utc(), time.perf_counter(), os.getpid()
    key = (task.workload, task.data_seed, task.n_train, task.n_test)
    try:
        if key not in _DATA_CACHE:  # the workload's own data (a failure to load or draw it: this trial's error)
            _DATA_CACHE[key] = workloads.get(task.workload).data(task.data_seed, task.n_train, task.n_test)
        config = TrainConfig(workload=task.workload, size=task.size, epochs=task.epochs,
                             batch_size=task.batch_size,
                             learning_rate=task.learning_rate, dtype=task.dtype, mode=task.mode, device=task.device,
                             seed=task.seed, replicas=task.replicas)
        # TensorFlow's peak-memory counter (JAX's cannot be reset per repeat: no GPU peak for its modes)
        gpu = _gpu_memory() if config.device is Device.GPU and config.mode.needs_tensorflow else None
        if gpu:
            gpu.reset()
        reset_peak_rss()
        # A fresh process running the same code allocates the same way every time, so an unlucky memory
        # layout (seen here: the same NumPy epoch at 10.5 or 18 ms) would stick to one code version and
        # pass for a code change. A random-size block, drawn from the OS (not the run's seeds), moves the
        # heap under this repeat's arrays: layout becomes noise across repeats instead of a bias. Under
        # 64 KiB, so that malloc serves it from the heap (larger blocks get a mapping of their own).
        pad = bytearray(random.SystemRandom().randrange(1, 1 << 16))  # noqa: F841 - held during training
        result = train(_DATA_CACHE[key], config, clock=clock, sync=sync)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
        return RepeatResult(status=_failure_status(exc), reason=reason_of(exc), wall_s=time.perf_counter() - wall0,
                            worker_pid=pid, started_utc=started, cpus=affinity())
    finite = all(math.isfinite(v) for v in (*result.train_loss, result.test_loss))
    return RepeatResult(
        status="ok" if finite else "diverged",
        reason="" if finite else "non-finite loss (NaN or inf)",
        wall_s=time.perf_counter() - wall0,
        worker_pid=pid,
        started_utc=started,
        device_actual=result.device,
        epoch_times_s=list(result.epoch_times_s),
        train_loss=list(result.train_loss),
        test_loss=result.test_loss,
        metrics=dict(result.metrics),
        peak_rss_bytes=peak_rss_bytes(),
        gpu_peak_bytes=gpu.peak() if gpu else None,
        cpus=affinity(),
    )


def affinity() -> str:
    """This process's CPU affinity as ranges ("0", "0-1", "0,2-3"); "" where the OS does not say."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return ""
    parts, start = [], None
    for i, c in enumerate(cores):
        if start is None:
            start = c
        if i + 1 == len(cores) or cores[i + 1] != c + 1:
            parts.append(str(start) if start == c else f"{start}-{c}")
            start = None
    return ",".join(parts)


def run_peak(task: PeakTask, *, clock: Clock = default_clock, sync: Sync | None = None) -> PeakResult:
    """Measure the matmul ceiling as the task says; failures are reported, never raised."""
    try:
        try:
            from mlp_core.peak import measure_matmul_peak  # TensorFlow's matmul
        except ImportError as exc:
            if exc.name != "tensorflow":
                raise
            raise missing_library("peak", "TensorFlow", "pip install tensorflow") from None
        res = measure_matmul_peak(Device(task.device), task.dtype, task.n, clock=clock, sync=sync)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
        return PeakResult(status=_failure_status(exc), reason=reason_of(exc), device=task.device, dtype=task.dtype,
                          n=task.n)
    return PeakResult(status="ok", reason="", **res)


def _failure_status(exc: Exception) -> str:
    return "skipped" if isinstance(exc, UnavailableError) else "error"


class _GpuMemory:
    """TensorFlow's peak-memory counter of gpu:0."""

    def __init__(self, tf: Any) -> None:
        self.tf = tf

    def reset(self) -> None:
        self.tf.config.experimental.reset_memory_stats("GPU:0")

    def peak(self) -> int:
        return int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])


def _gpu_memory() -> _GpuMemory | None:
    import tensorflow as tf

    return _GpuMemory(tf) if tf.config.list_logical_devices("GPU") else None
