"""Facts about the machine, the software and the settings a result was measured under.

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
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

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
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
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


def gpu_names(tf_facts: dict[str, Any] | None) -> list[str]:
    """GPU names from tensorflow_facts(): nvidia-smi's where present, else TensorFlow's device details."""
    tf_facts = tf_facts or {}
    return [str(g.get("name", "")) for g in tf_facts.get("nvidia_smi") or []] or [
        str(g.get("device_name") or g.get("name", "")) for g in tf_facts.get("gpus") or []]


def machine_label(meta: dict[str, Any]) -> str:
    """'Intel Xeon 8375C x2, no GPU, TF 2.21.0' (CPU model, cores, GPU name, TensorFlow version) of a meta.json."""
    host = meta.get("host") or {}
    tf_facts = meta.get("tensorflow") or {}
    cpu = str(host.get("cpu_model") or "unknown CPU")
    for noise in ("(R)", "(TM)", " CPU", " Processor"):
        cpu = cpu.replace(noise, "")
    cpu = cpu.split(" @ ")[0].strip()
    cores = host.get("cpu_affinity") or host.get("cpu_logical_cores")
    gpus = gpu_names(tf_facts)
    gpu = gpus[0] if gpus else "no GPU"
    version = tf_facts.get("tensorflow")
    return f"{cpu} x{cores}, {gpu}" + (f", TF {version}" if version else "")


MACHINE_PACKAGES = ("tensorflow", "numpy", "numba", "jax", "jaxlib")  # the software a machine id includes


def machine_facts(host: dict[str, Any] | None = None, gpus: list[str] | None = None) -> dict[str, Any]:
    """What makes a machine, for the machine id: CPU model, architecture, cores this process may use,
    memory (GiB), GPU names, OS, Python and the numerical packages; not the host name, so identical
    nodes of a cluster are one machine. `gpus`: names (default: nvidia-smi's, where installed)."""
    host = host if host is not None else host_facts()
    if gpus is None:
        gpus = [g.get("name", "") for g in nvidia_smi()]
    packages = host.get("packages") or {}
    return {
        "cpu_model": host.get("cpu_model"),
        "cpu_arch": host.get("cpu_arch"),
        "cpu_cores": host.get("cpu_affinity") or host.get("cpu_logical_cores"),
        "memory_gib": round((host.get("memory_total_bytes") or 0) / 2**30),
        "gpus": sorted(gpus),
        "os": str(host.get("os") or "").split("-")[0],
        "python": host.get("python"),
        "packages": {name: packages.get(name) for name in MACHINE_PACKAGES},
    }


def machine_id(facts: dict[str, Any]) -> str:
    """The short fingerprint id of machine_facts(): 8 hex digits of their SHA-256."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:8]


MACHINE_ID_RE = re.compile(r"^[0-9a-f]{8}$")


def legacy_machine(meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(id, facts) of the one machine a schema 1 or 2 run directory was measured on, from its meta.json."""
    facts = machine_facts(meta.get("host") or {}, gpu_names(meta.get("tensorflow")))
    return machine_id(facts), facts


def facts_label(facts: dict[str, Any]) -> str:
    """'AMD EPYC 7B13 x2, no GPU' of machine_facts()."""
    cpu = str(facts.get("cpu_model") or "unknown CPU")
    for noise in ("(R)", "(TM)", " CPU", " Processor"):
        cpu = cpu.replace(noise, "")
    cpu = cpu.split(" @ ")[0].strip()
    gpus = facts.get("gpus") or []
    return f"{cpu} x{facts.get('cpu_cores')}, {gpus[0] if gpus else 'no GPU'}"


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
