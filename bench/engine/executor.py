"""Where repeats run: the executor interface the measuring loop drives, and its local implementation.

An executor offers lanes (a lane runs one group of repeats at a time: this machine, or one node of a
Ray cluster), says which lane may take a trial, runs a group of repeat tasks on a lane, hands back
the replies as they arrive, renews a lane's measuring processes between rounds, and closes. Two
implementations: LocalExecutor (here: one lane, this machine, one Node in this process) and
RayExecutor (bench.engine.cluster: a lane per `bench_slot` node). The loop never knows which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.engine.node import Checkout, Node
from bench.engine.pool import WORKER_CMD
from bench.format.messages import NodeReply, RepeatTask
from bench.format.spec import SweepSpec, Trial


@dataclass(slots=True)
class Lane:
    """Somewhere one group of repeats runs at a time: a machine (id), a node's name, its GPUs."""

    key: str
    machine: str
    node: str
    gpus: int = 0
    alive: bool = True


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no lane can take a trial: it finishes with this status and reason."""

    status: str
    reason: str


@dataclass(slots=True)
class Arrival:
    """What came back from a lane: the replies of its group, in the group's order, or the lane's loss."""

    lane: Lane
    replies: list[NodeReply] = field(default_factory=list)
    lost: str = ""  # the lane died with the group in flight: why (its replies are lost)


Group = Sequence[tuple[int, RepeatTask]]  # (side, task): repeats of one trial started together on one lane


class Executor(Protocol):
    """What the measuring loop needs of a place to run repeats (module docstring)."""

    lanes: list[Lane]
    machines: dict[str, dict[str, Any]]  # machine id -> facts, of every lane

    def describe(self) -> dict[str, Any]:
        """meta.json's `executor`."""

    def place(self, trial: Trial, machine: str | None, load: dict[str, float]) -> Lane | Refusal:
        """The lane a trial goes to (least `load` among the eligible), or why none can take it; `machine`:
        the machine its repeats already ran on (a trial stays on one machine)."""

    def submit(self, lane: Lane, group: Group) -> None:
        """Start a group of repeats on a lane (the lane is idle)."""

    def next(self) -> Arrival:
        """Block until a submitted group is done (or its lane is lost)."""

    def renew(self, lane: Lane, cpus: Sequence[frozenset[int] | None] | None = None) -> None:
        """Fresh measuring processes on a lane from its next group on; `cpus`: each side's cores."""

    def worker_starts(self, side: int) -> int:
        """Measuring processes started so far for a side."""

    def remember(self, peaks: Sequence[dict[str, Any]]) -> None:
        """Ceilings already measured (a resumed run's meta.json `peak`): not measured again."""

    def close(self) -> None:
        """Stop everything (idempotent)."""


class LocalExecutor:
    """This machine: one lane, one Node in this process, with a WorkerPool for each side's checkout."""

    def __init__(self, spec: SweepSpec, checkouts: Sequence[Checkout], *,
                 worker_cmd: tuple[str, ...] = WORKER_CMD) -> None:
        self.node = Node(spec, checkouts, worker_cmd=worker_cmd)
        self.lanes = [Lane(key="local", machine=self.node.machine, node=self.node.node)]
        self.machines = {self.node.machine: self.node.facts}
        self._queue: list[tuple[Lane, Group]] = []

    def describe(self) -> dict[str, Any]:
        return {"kind": "local", "node": self.node.node}

    def place(self, trial: Trial, machine: str | None, load: dict[str, float]) -> Lane | Refusal:
        lane = self.lanes[0]
        if machine is not None and machine != lane.machine:
            return Refusal("error", f"its repeats ran on machine {machine}; this one is {lane.machine}: "
                           "resume it there")
        return lane  # a GPU trial without a GPU is skipped by the node, which asks its workers' TensorFlow

    def submit(self, lane: Lane, group: Group) -> None:
        self._queue.append((lane, group))

    def next(self) -> Arrival:
        """Run the oldest submitted group: every side's worker up first, then all started together (a
        duet's pair runs at once, each side on its own cores), then each collected."""
        lane, group = self._queue.pop(0)
        for side, task in group:
            self.node.ready(side, task.threads)
        early = [self.node.start(side, task) for side, task in group]
        return Arrival(lane, [e if e is not None else self.node.finish(side) for (side, _), e in zip(group, early)])

    def renew(self, lane: Lane, cpus: Sequence[frozenset[int] | None] | None = None) -> None:
        self.node.renew(cpus)

    def worker_starts(self, side: int) -> int:
        return self.node.pools[side].starts

    def remember(self, peaks: Sequence[dict[str, Any]]) -> None:
        self.node.remember(peaks)

    def close(self) -> None:
        self.node.close()
