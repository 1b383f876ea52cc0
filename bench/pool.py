"""A measuring worker process seen from the sweep: start, send a task, wait with a deadline, kill."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORKER_CMD = (sys.executable, "-m", "bench.worker")


class WorkerFailure(RuntimeError):
    """The worker died or ran past its deadline; the message says which and why."""


class WorkerProcess:
    """One `bench.worker` process for one thread setting; stderr goes to a log file."""

    def __init__(self, threads: int, log_path: Path, *, cmd: tuple[str, ...] = WORKER_CMD,
                 tree: Path | None = None, startup_timeout_s: float = 300.0) -> None:
        """`tree`: run the worker from another checkout (its directory first on sys.path)."""
        self.threads = threads
        self.log_path = Path(log_path)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if tree is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*cmd, "--threads", str(threads)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=env, cwd=tree)
        self._buffer = b""
        self.hello = self._receive(startup_timeout_s, what="starting")

    def request(self, task: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one task and wait for its reply; WorkerFailure (and the worker killed) on death or timeout."""
        try:
            self.proc.stdin.write((json.dumps(task) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerFailure(self._death_reason()) from None
        return self._receive(timeout_s, what="running the repeat")

    def _receive(self, timeout_s: float, *, what: str) -> dict[str, Any]:
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
        return json.loads(line)

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
