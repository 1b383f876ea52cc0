"""The matmul ceiling: calibrated iterations, a sync before every clock read, hard placement."""

import pytest

from bench.engine.measure import run_peak
from bench.format.messages import PeakTask, decode, encode
from mlp_core import Device
from mlp_core.peak import matmul_flops, measure_matmul_peak
from tests import gpu


def test_fake_clock_gives_hand_computed_gflops():
    ticks = iter(range(0, 10**15, 1_000_000))  # every read advances 1 ms
    syncs = []
    res = measure_matmul_peak(Device.CPU, "float32", 64, samples=3, min_sample_s=0.05,
                              clock=lambda: next(ticks), sync=lambda: syncs.append(1))
    # calibration: one matmul "took" 1 ms -> 50 per sample; each sample reads 1 ms -> 20 us per matmul
    assert res["iterations"] == 50 and res["sample_times_s"] == [0.001] * 3
    assert matmul_flops(64) == 2 * 64**3
    assert res["gflops_best"] == pytest.approx(2 * 64**3 / 20e-6 / 1e9)  # 26.2144
    assert res["gflops_median"] == pytest.approx(res["gflops_best"])
    assert len(syncs) == 2 + 2 * 3  # calibration + each sample: a sync before each clock read
    assert (res["device"], res["device_actual"], res["dtype"], res["n"]) == ("cpu", "cpu:0", "float32", 64)


def test_real_clock_float64():
    res = decode(encode(run_peak(PeakTask(device="cpu", dtype="float64", n=128))))  # through the pipe's format
    assert res.status == "ok" and res.dtype == "float64" and res.gflops_best > 0 and res.device_actual == "cpu:0"


def test_a_gpu_ceiling_runs_on_the_gpu_or_is_skipped_with_the_reason():
    res = run_peak(PeakTask(device="gpu", dtype="float32", n=64))
    if gpu.gpu_visible():  # EMB_TEST_GPU=1 on a GPU machine (tests/gpu.py)
        assert res.status == "ok" and res.device_actual == "gpu:0"
    else:
        assert res.status == "skipped" and "TensorFlow sees no GPU" in res.reason
