"""Facts about this machine, the software and the settings a result is measured under.

Each probe fills part of a dict and swallows only the errors of a missing source (pyperf's habit).
`host_facts()` needs no TensorFlow; `tensorflow_facts()` runs inside a worker, after TF's start.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.engine import checkout
from bench.format.identity import machine_facts

# Environment variables that change what TensorFlow does or where it runs.
TF_ENV_PATTERN = re.compile(r"^(TF_|CUDA_|XLA_|OMP_|KMP_|MKL_|ONEDNN_|DNNL_|NVIDIA_|TPU_)")


PACKAGES = ("tensorflow", "keras", "numpy", "numba", "jax", "jaxlib", "scipy", "pandas", "matplotlib", "psutil",
            "eager-mlp-bench")


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo: Path | None = None) -> dict[str, Any]:
    """HEAD commit of the project checkout and whether the tree has uncommitted changes."""
    repo = repo or Path(__file__).resolve().parents[2]  # the checkout: bench/engine/probe.py
    try:
        head = checkout.git(repo, "rev-parse", "HEAD", timeout=10)
        dirty = checkout.git(repo, "status", "--porcelain", "--untracked-files=no", timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def host_facts() -> dict[str, Any]:
    """Machine and Python facts, gathered without importing TensorFlow."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "cpu_model": cpu_model(),
        "cpu_arch": platform.machine(),
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "cpu_affinity": len(psutil.Process().cpu_affinity()) if hasattr(psutil.Process, "cpu_affinity") else None,
        "memory_total_bytes": psutil.virtual_memory().total,
        "packages": versions,
        "env": {k: v for k, v in sorted(os.environ.items()) if TF_ENV_PATTERN.match(k)},
    }


def nvidia_smi() -> list[dict[str, str]]:
    """GPU name, driver and memory from nvidia-smi, when it is installed."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    query = "name,driver_version,memory.total,compute_cap"
    try:
        out = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    keys = query.split(",")
    return [dict(zip(keys, (c.strip() for c in line.split(",")))) for line in out.stdout.splitlines() if line]


def tensorflow_facts() -> dict[str, Any]:
    """TensorFlow version, build, devices and thread settings in force (call inside a worker)."""
    import tensorflow as tf

    gpus = []
    for dev in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(dev)
        except (ValueError, RuntimeError):
            details = {}
        gpus.append({"name": dev.name, **{k: str(v) for k, v in details.items()}})
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return {
        "tensorflow": tf.__version__,
        "build_info": {k: str(v) for k, v in tf.sysconfig.get_build_info().items()},
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "gpus": gpus,
        "nvidia_smi": nvidia_smi(),
        # 0 means TensorFlow picks (intra: the number of cores; inter: its own heuristic)
        "threads_intra": intra,
        "threads_inter": inter,
        "soft_device_placement_default": tf.config.get_soft_device_placement(),
    }


def this_machine() -> dict[str, Any]:
    """machine_facts() of this machine: its host facts and nvidia-smi's GPU names, where installed."""
    return machine_facts(host_facts(), [g.get("name", "") for g in nvidia_smi()])


NOISE_SAMPLES = 21  # timed runs of the fixed kernel
NOISE_KERNEL = "64x64 float64 matmul, 1000 times a sample (NumPy)"


def _kernel() -> None:
    import numpy as np

    a = np.full((64, 64), 1.0 / 64)
    for _ in range(1000):
        a = a @ a  # about 10 ms here: long enough to see a neighbour, short enough to cost little


def noise_probe(*, samples: int = NOISE_SAMPLES, kernel: Callable[[], None] = _kernel,
                clock: Callable[[], int] = time.perf_counter_ns) -> dict[str, Any]:
    """How noisy this machine is now, before measuring (meta.json `noise`): the spread of a fixed kernel's
    time, the load average, and the share of CPU time the hypervisor stole during the probe (Linux; None
    where not reported)."""
    kernel()  # the first call pays for imports and allocation
    before = psutil.cpu_times()
    times = []
    for _ in range(samples):
        t0 = clock()
        kernel()
        times.append((clock() - t0) / 1e9)
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    steal = (after.steal - before.steal) / total if hasattr(after, "steal") and total > 0 else None
    mean = sum(times) / len(times)
    sd = (sum((t - mean) ** 2 for t in times) / (len(times) - 1)) ** 0.5
    ordered = sorted(times)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"kernel": NOISE_KERNEL, "samples": samples, "median_s": ordered[len(ordered) // 2],
            "min_s": ordered[0], "max_s": ordered[-1], "cv": sd / mean if mean > 0 else None,
            "load_average": load, "steal_fraction": steal, "cpu_count": os.cpu_count()}
