"""The GPU suite's gate (tests/gpu.py, tests/conftest.py), tested on a machine without a GPU: hidden GPUs skip
with the reason, EMB_TEST_GPU=1 without a GPU skips with its own reason, a visible GPU runs them; and the
assertions that depend on it switch with the device list the engine is given."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.engine.node import gpu_skip_reason
from tests import gpu

ROOT = Path(__file__).resolve().parent.parent


def test_the_gate_decides_by_the_switch_and_what_tensorflow_sees():
    assert gpu.gate(None, ()) == gpu.gate("0", ("/physical_device:GPU:0",)) == gpu.HIDDEN  # hidden unless asked
    assert gpu.gate("1", ()) == gpu.NONE_SEEN  # asked, but nothing to run on: a skip, not a failure
    assert gpu.gate("1", ("/physical_device:GPU:0",)) == ""
    assert "EMB_TEST_GPU=1 make test" in gpu.HIDDEN and "pip install '.[gpu]'" in gpu.NONE_SEEN


def test_this_session_hides_gpus_unless_asked():
    if os.environ.get(gpu.GPU_ENV) != "1":
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and gpu.skip_reason() == gpu.HIDDEN
        assert gpu.gpu_visible() is False


def test_the_expectations_switch_with_the_device_list_the_engine_sees():
    seen = gpu.expected_gpu_trial(False)
    assert seen["status"] == "skipped" and gpu_skip_reason("gpu", "eager", ["cpu:0"]).startswith(seen["reason"])
    assert gpu.expected_gpu_trial(True) == {"status": "ok", "device_actual": "gpu:0"}
    assert gpu_skip_reason("gpu", "eager", ["cpu:0", "gpu:0"]) == ""  # a fake visible GPU: the trial would run
    assert gpu_skip_reason("gpu", "jax-step", ["cpu:0"]) == ""  # JAX asks JAX, in its trainer


def _suite(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (gpu.GPU_ENV, "CUDA_VISIBLE_DEVICES")}
    if env_value is not None:
        env[gpu.GPU_ENV] = env_value
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_gpu.py", "-q", "-rs", "-p", "no:cacheprovider",
                           "-k", "ceiling", "-o", "addopts="], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def test_the_gpu_suite_skips_with_the_reason_here():
    hidden = _suite(None)
    assert "1 skipped" in hidden and "GPUs are hidden from the tests" in hidden
    asked = _suite("1")
    no_gpu_here = shutil.which("nvidia-smi") is None
    if no_gpu_here:
        assert "1 skipped" in asked and "TensorFlow sees no GPU" in asked
    else:  # a GPU machine: the gate opens and the test runs (passing, since the suite must pass there)
        assert re.search(r"1 passed|TensorFlow sees no GPU", asked)
