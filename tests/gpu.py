"""Whether this test session uses a GPU, and what the tests expect of GPU trials either way.

The tests hide GPUs (tests/conftest.py sets CUDA_VISIBLE_DEVICES="") unless EMB_TEST_GPU=1; tests marked `gpu`
run only when that is set and TensorFlow sees a GPU, and skip with the reason otherwise. Tests that touch GPU
trials without needing one (a sweep over cpu,gpu) assert what `expected_gpu_trial` says for this session.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

GPU_ENV = "EMB_TEST_GPU"
HIDDEN = (f"GPUs are hidden from the tests: run `{GPU_ENV}=1 make test` (or `{GPU_ENV}=1 pytest -m gpu`) on a "
          "machine with a GPU")
NONE_SEEN = (f"{GPU_ENV}=1, but TensorFlow sees no GPU (install the CUDA build: pip install '.[gpu]'; check "
             "nvidia-smi)")


def gate(env_value: str | None, tf_gpus: Sequence[str]) -> str:
    """"" when GPU tests run in a session with this EMB_TEST_GPU value and these TensorFlow GPUs, else the reason
    they skip."""
    if env_value != "1":
        return HIDDEN
    if not tf_gpus:
        return NONE_SEEN
    return ""


@functools.cache
def tf_gpus() -> tuple[str, ...]:
    """The physical GPUs TensorFlow sees in this process (imports TensorFlow; none when it is not installed)."""
    try:
        import tensorflow as tf
    except ImportError:
        return ()
    return tuple(d.name for d in tf.config.list_physical_devices("GPU"))


def skip_reason() -> str:
    """This session's gate; TensorFlow is imported only when EMB_TEST_GPU=1."""
    env = os.environ.get(GPU_ENV)
    return gate(env, tf_gpus() if env == "1" else ())


def gpu_visible() -> bool:
    return skip_reason() == ""


def expected_gpu_trial(visible: bool, mode_needs_tensorflow: bool = True) -> dict:
    """What a TensorFlow GPU trial's rows say in a session that does (not) see a GPU."""
    if visible or not mode_needs_tensorflow:
        return {"status": "ok", "device_actual": "gpu:0"}
    return {"status": "skipped", "reason": "no GPU visible to TensorFlow"}
