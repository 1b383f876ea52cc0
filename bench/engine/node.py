"""A node: the measuring processes of one machine, serving repeat tasks one at a time per checkout.

The same code measures in a local sweep (bench.engine.executor.LocalExecutor holds one Node in the
runner's process) and on a Ray cluster (bench.engine.cluster runs one Node inside a Ray actor per
node), so the timed region and everything around it is one piece of code. A node has a WorkerPool
for each checkout it runs (an A/B run measures two), measures the matmul ceilings in every worker it
starts, and answers each task with a typed NodeReply.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.engine.pool import WORKER_CMD, WorkerFailure, WorkerPool, WorkerProcess
from bench.engine.probe import this_machine
from bench.format import now_utc
from bench.format.identity import machine_id
from bench.format.messages import NodeReply, PeakResult, PeakTask, ProtocolError, RepeatTask
from bench.format.spec import SweepSpec, trials
from mlp_core.enums import Device, ExecMode


@dataclass(frozen=True, slots=True)
class Checkout:
    """Code a node measures: a checkout's tree (None: this one) and where its workers' logs go."""

    log_dir: Path
    tree: Path | None = None


def gpu_skip_reason(device: str, mode: str, visible: Sequence[str]) -> str:
    """Why a TensorFlow GPU trial cannot run in a worker that sees `visible` ("" when it can). The JAX
    modes ask JAX, in their trainer (a skip with its reason); the CPU-only modes never reach a GPU."""
    if device == Device.GPU.value and ExecMode(mode).needs_tensorflow and not any(
            d.startswith("gpu:") for d in visible):
        return f"no GPU visible to TensorFlow (visible: {', '.join(visible)})"
    return ""


def ceiling_tasks(worker: WorkerProcess, spec: SweepSpec, done: set[tuple[str, str, int]]) -> list[PeakTask]:
    """The matmul ceilings a new worker should measure: each requested device it sees x compute dtype,
    for its thread setting, unless already measured (`done`: (device, dtype, threads)); none if peak_n is 0."""
    if not spec.peak_n:
        return []
    return [PeakTask(device=d.value, dtype=dtype, n=spec.peak_n)
            for d in spec.devices if any(v.startswith(f"{d.value}:") for v in worker.hello.devices)
            for dtype in sorted({m.compute_dtype for m in spec.dtypes})
            if (d.value, dtype, worker.threads) not in done]


def measure_peaks(worker: WorkerProcess, tasks: list[PeakTask], timeout_s: float,
                  record: Callable[[PeakResult], None]) -> None:
    """Measure matmul ceilings in a worker, recording each result (failures included, with the reason);
    stops early if the worker dies (its death is the recorded reason)."""
    for task in tasks:
        try:
            res = worker.request(task, timeout_s)
        except WorkerFailure as exc:
            res = PeakResult(status="error", reason=str(exc), device=task.device, dtype=task.dtype, n=task.n)
        record(res)
        if not worker.alive():
            return


def cpu_devices(spec: SweepSpec) -> int:
    """Logical CPU devices the workers of a sweep make: its largest CPU replica count (1: none split)."""
    return max((t.replicas for t in trials(spec) if t.device is Device.CPU), default=1)


class Node:
    """The measuring processes of this machine for one sweep (module docstring)."""

    def __init__(self, spec: SweepSpec, checkouts: Sequence[Checkout], *, worker_cmd: tuple[str, ...] = WORKER_CMD,
                 node: str | None = None) -> None:
        """`node`: its name (default: the host name)."""
        self.spec = spec
        self.facts = this_machine()
        self.machine = machine_id(self.facts)
        self.node = node or socket.gethostname()
        self.known: set[tuple[str, str, int]] = set()  # ceilings measured here: (device, dtype, threads)
        self.peaks: list[dict[str, Any]] = []  # ceilings measured since the last reply
        tensorflow = any(m.needs_tensorflow for m in spec.modes) or bool(spec.peak_n)
        self.pools = [WorkerPool(c.log_dir, cmd=worker_cmd, tree=c.tree, tensorflow=tensorflow,
                                 on_start=self._started, cpu_devices=cpu_devices(spec)) for c in checkouts]
        self._in_flight: dict[int, tuple[WorkerProcess, RepeatTask]] = {}

    @property
    def starts(self) -> int:
        """Worker processes started so far, every checkout's."""
        return sum(p.starts for p in self.pools)

    def remember(self, peaks: Sequence[dict[str, Any]]) -> None:
        """Ceilings already measured on this machine (a resumed run's meta.json `peak`): not measured again."""
        self.known |= {(p["device"], p["dtype"], p["threads"]) for p in peaks
                       if p.get("machine", self.machine) == self.machine}

    def _started(self, worker: WorkerProcess) -> None:
        """A new worker: measure the ceilings of its thread setting not measured yet on this machine."""
        def record(res: PeakResult) -> None:
            self.known.add((res.device, res.dtype, worker.threads))
            self.peaks.append({**asdict(res), "threads": worker.threads, "machine": self.machine,
                               "measured_utc": now_utc()})

        measure_peaks(worker, ceiling_tasks(worker, self.spec, self.known), self.spec.trial_timeout_s, record)

    def ready(self, side: int, threads: int) -> None:
        """Start that checkout's worker for a thread setting now, if it is not running (a failure is met
        again, and answered, by start)."""
        with contextlib.suppress(WorkerFailure):
            self.pools[side].worker(threads)

    def start(self, side: int, task: RepeatTask) -> NodeReply | None:
        """Hand a repeat to that checkout's worker (it starts at once); None when it is under way (finish()
        collects it), else the reply that ends it here (a skip, or a worker that could not start)."""
        pool = self.pools[side]
        try:
            worker = pool.worker(task.threads)  # its hello says which devices TF sees
            why = gpu_skip_reason(task.device, task.mode, pool.visible)
            if why:
                return self._reply(side, task, "skipped", why)
            worker.send(task)
        except WorkerFailure as exc:
            return self._reply(side, task, "error", f"repeat {task.repeat}: {exc}")
        except ProtocolError as exc:  # a task this checkout's worker cannot run (an older checkout)
            return self._reply(side, task, "error", str(exc))
        self._in_flight[side] = (worker, task)
        return None

    def finish(self, side: int) -> NodeReply:
        """The reply to that checkout's repeat under way (waits for it, at most the trial timeout)."""
        worker, task = self._in_flight.pop(side)
        try:
            result = worker.receive(self.spec.trial_timeout_s)
        except WorkerFailure as exc:
            return self._reply(side, task, "error", f"repeat {task.repeat}: {exc}")
        return self._reply(side, task, "ok", result=result)

    def run(self, task: RepeatTask, side: int = 0) -> NodeReply:
        """One repeat, start to finish."""
        return self.start(side, task) or self.finish(side)

    def _reply(self, side: int, task: RepeatTask, status: str, reason: str = "", result: Any = None) -> NodeReply:
        pool = self.pools[side]
        worker = pool.workers.get(task.threads)
        reply = NodeReply(status=status, reason=reason, result=result, tf=worker.hello.tf if worker else None,
                          threads_in_force=pool.threads_in_force.get(task.threads), peaks=self.peaks)
        self.peaks = []
        return reply

    def renew(self, cpus: Sequence[frozenset[int] | None] | None = None) -> None:
        """Fresh measuring processes from the next repeat on (a new round); `cpus`: each checkout's cores
        from now on (a duet's pinning, swapped every round)."""
        for i, pool in enumerate(self.pools):
            if cpus is not None:
                pool.cpus = cpus[i]
            pool.renew()

    def close(self) -> None:
        """Stop the measuring processes."""
        for pool in self.pools:
            pool.close()
