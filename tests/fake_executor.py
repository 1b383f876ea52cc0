"""An executor for tests of the measuring loop: answers every repeat at once with made-up epoch times, and
records what the loop asked of it (groups, renewals, pins); lanes can be lost on demand."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bench.engine.executor import Arrival, Lane, Refusal
from bench.format.messages import NodeReply, RepeatResult


@dataclass
class FakeExecutor:
    lanes: list[Lane] = field(default_factory=lambda: [Lane(key="local", machine="0badc0de", node="fake")])
    machines: dict[str, dict[str, Any]] = field(default_factory=lambda: {"0badc0de": {"cpu_model": "fake"}})
    lose: dict[str, int] = field(default_factory=dict)  # lane key -> lose it at its n-th group (1-based)
    lose_if: Any = None  # (lane, config_id, repeat) -> True: the lane dies with that group in flight
    calls: list = field(default_factory=list)  # (side, task) in the order they ran
    groups: list = field(default_factory=list)
    pins: list = field(default_factory=list)
    renewals: int = 0
    times: Any = None  # (task, side) -> (epoch times with the warm-up first, wall_s): made-up times of one's own
    _queue: list = field(default_factory=list)
    _count: dict = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake"}

    def remember(self, peaks) -> None:
        pass

    def place(self, trial, machine, load):
        alive = [lane for lane in self.lanes if lane.alive and (machine is None or lane.machine == machine)]
        if not alive:
            return Refusal("error", f"no live lane of machine {machine}")
        return min(alive, key=lambda lane: (load.get(lane.key, 0), lane.key))

    def submit(self, lane, group) -> None:
        self._queue.append((lane, list(group)))

    def next(self) -> Arrival:
        lane, group = self._queue.pop(0)
        self._count[lane.key] = self._count.get(lane.key, 0) + 1
        first = group[0][1]
        if self.lose.get(lane.key) == self._count[lane.key] or (
                self.lose_if is not None and self.lose_if(lane, _cid(first), first.repeat)):
            lane.alive = False
            return Arrival(lane, lost="FakeNodeDied")
        self.groups.append(group)
        replies = []
        for side, task in group:
            self.calls.append((side, type("T", (), {"config_id": _cid(task), "repeat": task.repeat})()))
            times, wall = (self.times(task, side) if self.times else
                           ([0.5, *([0.01 * (1 + side)] * (task.epochs - 1))], 0.1))
            replies.append(NodeReply(status="ok", result=RepeatResult(
                status="ok", reason="", wall_s=wall, worker_pid=os.getpid() + self.renewals, started_utc="",
                device_actual="cpu:0", epoch_times_s=times, train_loss=[1.0] * task.epochs, test_loss=1.0,
                peak_rss_bytes=1)))
        return Arrival(lane, replies)

    def renew(self, lane, cpus=None) -> None:
        self.renewals += 1
        if cpus is not None:
            self.pins.append(tuple(cpus))

    def worker_starts(self, side: int) -> int:
        return self.renewals + 1

    def close(self) -> None:
        pass


def _cid(task) -> str:
    from bench.format.derive import config_id

    return config_id(task.device, task.mode, task.dtype, task.batch_size, task.size, task.threads, task.replicas)
