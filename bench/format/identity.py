"""Machine identity: which facts make a machine, its short id, and its labels (no probing here:
bench.engine.probe gathers the facts)."""

from __future__ import annotations

import re
from typing import Any


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


def machine_facts(host: dict[str, Any], gpus: list[str]) -> dict[str, Any]:
    """What makes a machine, for the machine id: CPU model, architecture, cores this process may use,
    memory (GiB), GPU names, OS, Python and the numerical packages; not the host name, so identical
    nodes of a cluster are one machine. `host`: bench.engine.probe.host_facts(); `gpus`: GPU names."""
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


