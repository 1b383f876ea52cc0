"""The worker processes of one node: start, hand a task, wait with a deadline, kill, replace. The
parent side of bench.format.messages.

A worker serves one CPU thread setting (TensorFlow's thread pools are fixed when its runtime
starts). A worker that dies or overruns costs the task in flight (WorkerFailure, with the signal
or exit status and the end of its log); the next request starts a fresh one.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.format.messages import (
    Hello,
    ProtocolError,
    RepeatResult,
    decode,
    encode,
    is_legacy_hello,
)

WORKER_CMD = (sys.executable, "-m", "bench.worker")
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _prctl():
    """libc's prctl, resolved here in the parent (a forked child of a threaded parent must not load libraries)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _child_setup(cpus: frozenset[int] | None) -> None:
    """In the worker, before it starts: die with its parent (a killed runner or Ray actor leaves no worker
    measuring on beside the next run; Linux only), ignore SIGINT and SIGTERM, and run on `cpus` when given."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    # Ctrl-C reaches the terminal's whole process group, a batch scheduler's SIGTERM every process of the job:
    # the runner decides (the repeat under way finishes and is recorded, then it closes its workers), so a
    # worker does not die of them half-way through a repeat. The runner's death still kills it (above).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cpus:
        os.sched_setaffinity(0, cpus)


class WorkerFailure(RuntimeError):
    """The worker died or ran past its deadline; the message says which and why."""


class WorkerProcess:
    """One `bench.worker` process for one thread setting; stderr goes to a log file."""

    def __init__(self, threads: int, log_path: Path, *, cmd: tuple[str, ...] = WORKER_CMD,
                 tree: Path | None = None, startup_timeout_s: float = 300.0, tensorflow: bool = True,
                 cpus: frozenset[int] | None = None, cpu_devices: int = 1) -> None:
        """`tree`: run the worker from another checkout (its directory first on sys.path); `tensorflow`:
        False when no task will need it (the worker then starts without importing it); `cpus`: the cores
        it may run on, set before it starts, so every thread it ever makes inherits them."""
        self.threads = threads
        self.log_path = Path(log_path)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "EMB_WORKER_NO_TENSORFLOW": "0" if tensorflow else "1",
               "EMB_WORKER_CPU_DEVICES": str(cpu_devices)}
        if threads:  # the thread setting holds for NumPy's BLAS and OpenMP pools too, set before they start
            env.update({name: str(threads) for name in BLAS_THREAD_VARS})
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if tree is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*cmd, "--threads", str(threads)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=env, cwd=tree,
                                         preexec_fn=lambda: _child_setup(cpus))
        self.cpus = cpus
        self._buffer = b""
        self._in_flight: Any = None
        self.legacy = False  # set from the hello: an older checkout's worker (A/B baseline)
        hello = self._receive(startup_timeout_s, what="starting")
        if not isinstance(hello, Hello):
            self.kill()
            raise WorkerFailure(f"worker's first message was {type(hello).__name__}, not Hello")
        self.hello: Hello = hello

    def request(self, task: Any, timeout_s: float) -> Any:
        """Send one task and wait for its reply; WorkerFailure (and the worker killed) on death or timeout."""
        self.send(task)
        return self.receive(timeout_s)

    def send(self, task: Any) -> None:
        """Hand the worker a task (it starts at once); receive() collects the reply."""
        try:
            self.proc.stdin.write((encode(task, legacy=self.legacy, protocol=self.hello.protocol) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerFailure(self._death_reason()) from None
        self._in_flight = task

    def receive(self, timeout_s: float) -> Any:
        """The reply to the task in flight; WorkerFailure (and the worker killed) on death or timeout."""
        task, self._in_flight = self._in_flight, None
        reply = self._receive(timeout_s, what="running the task", reply_to=task)
        if isinstance(reply, RepeatResult) and not reply.worker_pid:  # legacy workers do not say
            reply = replace(reply, worker_pid=self.hello.pid)
        return reply

    def _receive(self, timeout_s: float, *, what: str, reply_to: Any = None) -> Any:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerFailure(f"timed out: worker spent over {timeout_s:g} s {what}; killed")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise WorkerFailure(self._death_reason())
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        if reply_to is None:
            self.legacy = is_legacy_hello(line)
        try:
            return decode(line, reply_to=reply_to)
        except ProtocolError as exc:
            self.kill()
            raise WorkerFailure(str(exc)) from None

    def _death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            cause = f"worker killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        else:
            cause = f"worker exited with status {code}"
        tail = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()][-3:]
        return cause + (": " + " | ".join(tail)[-400:] if tail else "")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker now."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Ask the worker to finish (stdin closed), kill it if it does not."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


class WorkerPool:
    """A node's workers for one checkout, one per thread setting, started on demand and replaced when they die.

    `on_start(worker)` is called for every worker started (the runner records TF facts and
    measures the ceilings there).
    """

    def __init__(self, log_dir: Path, *, cmd: tuple[str, ...] = WORKER_CMD, tree: Path | None = None,
                 on_start: Callable[[WorkerProcess], None] | None = None, tensorflow: bool = True,
                 cpu_devices: int = 1) -> None:
        """`cpu_devices`: logical CPU devices each worker's TensorFlow makes (the largest CPU replica count)."""
        self.log_dir, self.cmd, self.tree, self.on_start = Path(log_dir), cmd, tree, on_start
        self.tensorflow, self.cpu_devices = tensorflow, cpu_devices
        self.cpus: frozenset[int] | None = None  # cores for the workers started from now on (None: all)
        self.workers: dict[int, WorkerProcess] = {}
        self.starts = 0
        self.first_hello: Hello | None = None  # devices TF sees and its facts, from the first worker
        self.threads_in_force: dict[int, tuple[int, int]] = {}  # requested -> (intra, inter) TF reported

    @property
    def visible(self) -> list[str]:
        """Devices the workers' TensorFlow sees (after the first worker started)."""
        return list(self.first_hello.devices) if self.first_hello else []

    def worker(self, threads: int) -> WorkerProcess:
        """The live worker for a thread setting, started (and reported to on_start) if needed."""
        worker = self.workers.get(threads)
        if worker is None or not worker.alive():
            self.starts += 1
            worker = WorkerProcess(threads, self.log_dir / f"worker-t{threads}.log", cmd=self.cmd, tree=self.tree,
                                   tensorflow=self.tensorflow, cpus=self.cpus, cpu_devices=self.cpu_devices)
            self.workers[threads] = worker
            self.first_hello = self.first_hello or worker.hello
            tf_facts = worker.hello.tf
            if tf_facts.get("threads_intra") is not None:  # (a worker without TensorFlow has no thread pools)
                self.threads_in_force[threads] = (tf_facts["threads_intra"], tf_facts["threads_inter"])
            if self.on_start:
                self.on_start(worker)
            if not worker.alive():  # it died in on_start (recorded there): start a fresh one
                return self.worker(threads)
        return worker

    def close(self) -> None:
        """Stop every worker."""
        for worker in self.workers.values():
            worker.close()

    def renew(self) -> None:
        """Stop every worker; the next request starts fresh processes (a new round)."""
        self.close()
        self.workers.clear()

