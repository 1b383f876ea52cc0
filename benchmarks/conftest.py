"""pytest-benchmark suite setup: what the machine is, in the saved JSON (machine_info)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    """--workload NAME: the workload the suite times (bench.run's --workload; default the article's MLP)."""
    parser.addoption("--workload", default="mlp", help="workload to time: mlp (default), cnn, or "
                     "package.module:factory (as bench.run --workload)")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Add TensorFlow's version and build, the CPU model and the GPUs TensorFlow sees."""
    from bench.engine.probe import cpu_model, tensorflow_facts
    from bench.format.identity import gpu_names

    facts = tensorflow_facts()
    machine_info["cpu_model"] = cpu_model()
    machine_info["tensorflow"] = facts["tensorflow"]
    machine_info["tensorflow_build"] = facts["build_info"]
    machine_info["gpus"] = gpu_names(facts)
    machine_info["threads_intra"] = facts["threads_intra"]
    machine_info["threads_inter"] = facts["threads_inter"]
