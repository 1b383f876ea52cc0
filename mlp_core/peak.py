"""The machine's measured matmul ceiling: a large square matmul timed on the requested device.

This is the "peak" the roofline figure draws and the fraction-of-peak numbers divide by. It is
measured, not taken from a datasheet, on the same device, dtype and thread setting as the trials.
Each sample times `iterations` back-to-back matmuls between two syncs; `iterations` is calibrated
so that one sample lasts at least `min_sample_s` (a fast GPU finishes one 2048-matmul in well
under a millisecond, where launch and sync latency would dominate).
"""

from __future__ import annotations

import math
import statistics

import tensorflow as tf

from mlp_core.enums import Device
from mlp_core.placement import canonical, check_placement, hard_placement, tf_device_name
from mlp_core.timing import NS_PER_S, Clock, Sync, default_clock, stamp


def matmul_flops(n: int) -> int:
    """FLOPs of one (n, n) x (n, n) matmul: a multiply-add counts 2."""
    return 2 * n**3


def measure_matmul_peak(
    device: Device,
    dtype: str,
    n: int,
    *,
    samples: int = 5,
    min_sample_s: float = 0.05,
    clock: Clock = default_clock,
    sync: Sync | None = None,
    device_index: int = 0,
) -> dict:
    """Time `samples` samples of calibrated back-to-back (n, n) matmuls; hard placement, synced reads.

    Returns the device the product really landed on, the per-sample seconds, the iterations per
    sample and GFLOP/s (best and median). DeviceUnavailableError when the device is not visible.
    """
    sync = sync or tf.test.experimental.sync_devices
    tf_dtype = tf.as_dtype(dtype)
    name = tf_device_name(device, device_index)
    with hard_placement(), tf.device(name):
        a = tf.random.stateless_normal((n, n), seed=(1, 2), dtype=tf_dtype)
        b = tf.random.stateless_normal((n, n), seed=(3, 4), dtype=tf_dtype)
        # warm-up (kernel selection, allocation), also the calibration sample
        t0 = stamp(clock, sync)
        c = tf.matmul(a, b)
        t1 = stamp(clock, sync)
        actual = check_placement(canonical(name), a, b, c)
        one = max((t1 - t0) / NS_PER_S, 1e-9)
        iterations = max(1, math.ceil(min_sample_s / one))
        times = []
        for _ in range(samples):
            t0 = stamp(clock, sync)
            for _ in range(iterations):
                c = tf.matmul(a, b)
            t1 = stamp(clock, sync)
            times.append((t1 - t0) / NS_PER_S)
    per_call = sorted(t / iterations for t in times)
    flops = matmul_flops(n)
    return {
        "device": device.value,
        "device_actual": actual,
        "dtype": tf_dtype.name,
        "n": n,
        "iterations": iterations,
        "sample_times_s": times,
        "gflops_best": flops / per_call[0] / 1e9,
        "gflops_median": flops / statistics.median(per_call) / 1e9,
    }
