"""The node side of `bench.run --executor ray` (bench.cluster): a Ray actor that measures repeats on its
node with the runner's own worker processes (bench.session / bench.worker), one at a time."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.protocol import PeakResult
from bench.schedule import cpu_devices, gpu_skip_reason
from bench.session import WorkerFailure, WorkerSession, ceiling_tasks, measure_peaks
from bench.spec import build_spec
from bench.store import now_utc


def reply(status: str, reason: str = "") -> dict[str, Any]:
    """A node's answer to one repeat: status, reason, result (RepeatResult fields), the worker's TF facts and
    threads in force, and the ceilings measured since the last answer."""
    return {"status": status, "reason": reason, "result": None, "tf": None, "threads_in_force": None, "peaks": []}


class NodeRunner:
    """One node's side (a Ray actor): measuring processes on this node, one repeat per call."""

    def __init__(self, spec: dict[str, Any], tensorflow: bool, driver_env: dict[str, str | None]) -> None:
        import ray

        from bench.fingerprint import machine_facts, machine_id

        for name, value in driver_env.items():  # the driver's thread settings, not Ray's (it sets OMP_NUM_THREADS)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.spec = build_spec(spec)
        self.facts = machine_facts()
        self.machine = machine_id(self.facts)
        self.node_id = ray.get_runtime_context().get_node_id()
        self.node = f"{socket.gethostname()}/{self.node_id[:8]}"
        self.logs = Path(tempfile.mkdtemp(prefix="emb-node-"))
        self.peaks: list[dict[str, Any]] = []  # ceilings measured since the last reply
        self.workers = WorkerSession(self.logs, tensorflow=tensorflow, on_start=self._started,
                                     cpu_devices=cpu_devices(self.spec))

    def info(self) -> dict[str, Any]:
        """Who this node is: machine id and facts, node name, Ray node id."""
        return {"machine": self.machine, "facts": self.facts, "node": self.node, "node_id": self.node_id}

    def _started(self, worker) -> None:
        def record(res: PeakResult) -> None:
            self.peaks.append({**asdict(res), "threads": worker.threads, "machine": self.machine,
                               "measured_utc": now_utc()})

        measure_peaks(worker, ceiling_tasks(worker, self.spec, done=set()), self.spec.trial_timeout_s, record)

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        """One repeat: {status, reason, result (RepeatResult fields), tf, threads_in_force, peaks}."""
        from bench.protocol import RepeatTask

        task = RepeatTask(**task)
        out = reply("ok")
        try:
            worker = self.workers.worker(task.threads)
            out["tf"] = worker.hello.tf
            out["threads_in_force"] = self.workers.threads_in_force.get(task.threads)
            why = gpu_skip_reason(task.device, task.mode, self.workers.visible)
            if why:
                out.update(status="skipped", reason=f"{why} on node {self.node}")
            else:
                out["result"] = asdict(worker.request(task, self.spec.trial_timeout_s))
        except WorkerFailure as exc:
            out.update(status="error", reason=f"repeat {task.repeat}: {exc}")
        out["peaks"], self.peaks = self.peaks, []
        return out

    def renew(self) -> None:
        """Fresh measuring processes for the next round (workers = "round")."""
        self.workers.renew()

    def close(self) -> None:
        """Stop the measuring processes."""
        self.workers.close()
