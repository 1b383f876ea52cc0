"""Test set-up: quiet TensorFlow, hide GPUs (tests are CPU-only unless EMB_TEST_GPU=1)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("EMB_TEST_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the flax-example habit: tests run anywhere

import pytest  # noqa: E402

from mlp_core import make_data  # noqa: E402
from tests import gpu  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip with the reason unless EMB_TEST_GPU=1 and TensorFlow sees a GPU (tests/gpu.py)."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    reason = gpu.skip_reason() if marked else ""
    for item in marked:
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def small_data():
    """A small draw of the article's data: 64 train, 16 test samples, 3 features."""
    return make_data(seed=123, n_train=64, n_test=16)
