"""The messages between the runner and its worker processes, typed once for both sides.

One JSON object per line on the worker's protocol stream, tagged with "type". The runner sends a
RepeatTask or a PeakTask; the worker answers with a Hello once, then one RepeatResult or
PeakResult per task. A node (local, or a Ray actor) answers the loop with a NodeReply. Floats
may be NaN on this pipe (a diverged loss); nothing here reaches a file without going through the
run's writer.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

PROTOCOL = 2  # 2: RepeatTask carries `workload` and `size` (1 knew only the MLP, its size called `hidden`)


class ProtocolError(RuntimeError):
    """A line on the pipe that is not a message of this protocol."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeatTask:
    """Train one repeat of one trial from fresh weights (seed) on the run's data (data_seed)."""

    type: ClassVar[str] = "repeat"
    device: str
    mode: str
    dtype: str
    batch_size: int
    size: int  # the workload's size (the MLP's hidden width)
    threads: int
    replicas: int = 1  # devices it trains on at once (tf.distribute)
    workload: str = "mlp"  # the spec the worker loads it by (mlp_core.workloads.get)
    repeat: int
    seed: int  # weight seed: the run's seed + repeat
    data_seed: int
    epochs: int
    n_train: int
    n_test: int
    learning_rate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PeakTask:
    """Time the (n, n) matmul ceiling of one device and compute dtype."""

    type: ClassVar[str] = "peak"
    device: str
    dtype: str
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """The worker's first line: who it is and what TensorFlow sees."""

    type: ClassVar[str] = "hello"
    pid: int
    devices: list[str]  # logical devices, e.g. ['cpu:0', 'gpu:0']
    tf: dict[str, Any]  # bench.engine.probe.tensorflow_facts()
    protocol: int = 1  # PROTOCOL of the worker's checkout (a hello without it: a checkout from before workloads)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeatResult:
    """What one repeat measured, or why it could not (status skipped / error / diverged)."""

    type: ClassVar[str] = "repeat_result"
    status: str  # ok, diverged, skipped, error
    reason: str
    wall_s: float  # the worker's wall time for the task, set-up included
    worker_pid: int
    started_utc: str
    device_actual: str = ""
    epoch_times_s: list[float] = field(default_factory=list)  # epoch 0 is the warm-up
    train_loss: list[float] = field(default_factory=list)  # the workload's loss of each epoch
    test_loss: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)  # the workload's metrics on the test set
    peak_rss_bytes: int = 0
    gpu_peak_bytes: int | None = None
    cpus: str = ""  # the cores the worker could run on (its CPU affinity: "0", "0-1", "0,2"; "": unknown)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeakResult:
    """The matmul ceiling, or why it could not be measured."""

    type: ClassVar[str] = "peak_result"
    status: str
    reason: str
    device: str
    dtype: str
    n: int
    device_actual: str = ""
    iterations: int = 0
    sample_times_s: list[float] = field(default_factory=list)
    gflops_best: float = math.nan
    gflops_median: float = math.nan


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeReply:
    """A node's answer to one repeat task (bench.engine.node.Node, in this process or as a Ray actor): the
    worker's RepeatResult, or why there is none (status skipped / error, with the reason), and what the node
    learnt on the way: the worker's TensorFlow facts, TF's thread counts in force for the task's thread
    setting, and the matmul ceilings measured since its last reply (meta.json `peak` entries)."""

    type: ClassVar[str] = "node_reply"
    status: str  # ok (a result is there: its own status says ok / diverged / skipped / error), skipped, error
    reason: str = ""
    result: RepeatResult | None = None
    tf: dict[str, Any] | None = None
    threads_in_force: tuple[int, int] | None = None
    peaks: list[dict[str, Any]] = field(default_factory=list)


MESSAGES = {cls.type: cls for cls in (RepeatTask, PeakTask, Hello, RepeatResult, PeakResult)}


def encode(message: Any, *, legacy: bool = False, protocol: int = PROTOCOL) -> str:
    """One protocol line (no newline). `legacy`: the untyped dialect of workers older than this module
    (an A/B baseline checkout), which the parent must still be able to drive; `protocol`: the version the
    worker's hello said (ProtocolError for a task it cannot run: another workload than the MLP for 1)."""
    data = asdict(message)
    if isinstance(message, RepeatTask):
        if message.workload != "mlp" and (legacy or protocol < 2):
            raise ProtocolError(f"this worker's checkout predates workloads: it trains the MLP only, not "
                                f"{message.workload!r}")
        data["hidden"] = data["size"]  # what a protocol 1 worker reads (a newer one ignores it)
    if not legacy:
        return json.dumps({"type": message.type, **data})
    if isinstance(message, PeakTask):
        return json.dumps({"kind": "peak", **data})
    if data.pop("replicas", 1) != 1:
        raise ProtocolError("a worker older than the replicas axis trains on one device only")
    trial = {k: data.pop(k) for k in ("device", "mode", "dtype", "batch_size", "hidden", "threads")}
    for k in ("size", "workload"):
        data.pop(k)
    return json.dumps({"trial": trial, **data})


def decode(line: str | bytes, *, reply_to: Any = None) -> Any:
    """The message a protocol line carries; ProtocolError for anything else. A legacy line (tagged
    "event") is typed by what it answers (`reply_to`, the task sent)."""
    try:
        data = json.loads(line)
        if "event" in data:
            event = data.pop("event")
            cls = Hello if event == "hello" else PeakResult if isinstance(reply_to, PeakTask) else RepeatResult
            if cls is RepeatResult:
                data.setdefault("worker_pid", 0)  # filled in by the parent from the worker's hello
                data.setdefault("started_utc", "")
        else:
            cls = MESSAGES[data.pop("type")]
        if cls is RepeatResult:  # a worker from before losses says mse (its loss was the MSE)
            for old, new in (("train_mse", "train_loss"), ("test_mse", "test_loss")):
                if old in data:
                    data.setdefault(new, data.pop(old))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"not a protocol message ({type(exc).__name__}: {exc}): {str(line)[:200]!r}") from None


def is_legacy_hello(line: str | bytes) -> bool:
    """Whether a worker's first line is in the legacy dialect."""
    try:
        return "event" in json.loads(line)
    except ValueError:
        return False
