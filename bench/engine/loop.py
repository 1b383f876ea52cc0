"""The measuring loop: the one place that decides what to measure next, for every kind of run.

A sweep (one run session), an A/B run (two sessions, one per checkout) and a sweep on a Ray
cluster all go through `measure`: trials are placed on the executor's lanes (longest expected
first, each to the least loaded lane that may take it), each lane works through its trials round
by round in a shuffled order (drift spreads over every axis), a policy says how the sides of a
trial are grouped in a round, and after every repeat the session records it and the stop rule
decides whether the trial is done. The policies:

  Adaptive    one side; repeats adaptive (the stop rule: min repeats, then until the median's
              CI is tight, the trial's budget is spent, or max repeats)
  ABBA        two sides one after the other, A B in even rounds and B A in odd ones, so repeat r
              of both sides ran back to back (bench.compare pairs them)
  Duet        two sides at the same time, each pinned to its own cores, the cores swapped every
              round (duet benchmarking, Bulej et al., ICPE 2020)

A lane lost with a repeat in flight (a Ray node died) costs that repeat: its trial goes on once on a
lane of the same machine, else it is recorded `error` with the reason; the lane's other trials are
placed again. A stop request (SIGINT/SIGTERM) lets the repeats under way finish and be recorded, then
ends the loop; everything measured is on disk and `--resume` finishes the run.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.engine import design
from bench.engine.executor import Executor, Lane, LocalExecutor, Refusal
from bench.engine.node import Checkout
from bench.engine.pool import WORKER_CMD
from bench.engine.progress import Progress
from bench.engine.session import RunSession, TrialState, repeat_task
from bench.engine.stop import StopRequest
from bench.format.spec import SweepSpec, Trial
from mlp_core import modes, workloads
from mlp_core.flops import steps_per_epoch

NOMINAL_FLOPS = 20e9  # FLOP/s for the arithmetic part of the placement prior


# ---- policies ------------------------------------------------------------------------------------
class Adaptive:
    """One side; the stop rule decides each trial's number of repeats."""

    sides = 1

    def groups(self, round_no: int) -> list[list[int]]:
        """The groups of sides a trial runs in this round, in order (a group starts together)."""
        return [[0]]

    def cpus(self, round_no: int) -> tuple[frozenset[int], ...] | None:
        """Each side's cores for this round (None: no pinning)."""
        return None

    def meta(self) -> dict[str, Any]:
        """What meta.json's `ab` says of the policy (besides the pair id and the side)."""
        return {}


class ABBA(Adaptive):
    """Two sides one after the other, A B in even rounds and B A in odd ones."""

    sides = 2

    def groups(self, round_no: int) -> list[list[int]]:
        return [[0], [1]] if round_no % 2 == 0 else [[1], [0]]


@dataclass(frozen=True)
class Duet(Adaptive):
    """Two sides at the same time, each pinned to its own cores, swapped every round."""

    cores: tuple[frozenset[int], frozenset[int]] = field(default=(frozenset(), frozenset()))
    sides = 2

    def groups(self, round_no: int) -> list[list[int]]:
        return [[0, 1]]

    def cpus(self, round_no: int) -> tuple[frozenset[int], ...]:
        return self.cores if round_no % 2 == 0 else self.cores[::-1]

    def meta(self) -> dict[str, Any]:
        return {"mode": "duet", "cores": [sorted(c) for c in self.cores]}


# ---- placement prior -----------------------------------------------------------------------------
def expected_cost(trial: Trial, spec: SweepSpec) -> float:
    """A trial's expected seconds under the sweep's minimum repeats: epochs x (steps x its mode's step cost
    prior + the epoch's FLOPs at a nominal rate). Wrong in scale, right in order (the probe of the `full`
    preset: log-correlation 0.75 with the measured durations): what the placement needs."""
    per_epoch = steps_per_epoch(spec.n_train, trial.batch_size) * modes.get(trial.mode).step_cost_s \
        + _finite_or_zero(workloads.get(spec.workload).epoch_flops(spec.n_train, trial.batch_size, trial.size)) \
        / NOMINAL_FLOPS
    return spec.min_repeats * spec.epochs * per_epoch


def _finite_or_zero(x: float) -> float:
    return x if math.isfinite(x) else 0.0  # a workload without FLOPs: the step cost prior alone


# ---- the loop ------------------------------------------------------------------------------------
@dataclass(slots=True)
class _LaneWork:
    lane: Lane
    units: list[str] = field(default_factory=list)  # config ids placed here, in the lane's order
    queue: deque = field(default_factory=deque)  # (config id, sides) left in the current round
    round_no: int = -1


class _Loop:
    """The state of one call of `measure` (see the module docstring)."""

    def __init__(self, sessions: Sequence[RunSession], executor: Executor, policy: Adaptive, *, progress: bool,
                 stop: StopRequest | None) -> None:
        self.sessions, self.executor, self.policy, self.stop = sessions, executor, policy, stop
        self.spec = sessions[0].spec
        self.work = {lane.key: _LaneWork(lane) for lane in executor.lanes}
        self.prior: dict[str, float] = {}
        self.retried: set[str] = set()
        self.began = time.monotonic()
        self.pairs = design.pairs(sessions[0].states, self.spec)
        self.in_flight: dict[str, tuple[str, list[int], list[int]]] = {}  # lane -> (config id, sides, repeats)
        self.progress = Progress(sessions, shown=progress, prior=lambda trial: expected_cost(trial, self.spec))

    def states(self, cid: str) -> list[TrialState]:
        return [s.states[cid] for s in self.sessions]

    def open(self, cid: str) -> bool:
        return any(st.status is None for st in self.states(cid))

    def cost(self, cid: str) -> float:
        """What is left of a trial, expected (the prior less the share of its repeats already done)."""
        state = self.states(cid)[0]
        if cid not in self.prior:
            self.prior[cid] = expected_cost(state.trial, self.spec)
        return self.prior[cid] * max(1 - len(state.repeats) / self.spec.min_repeats, 0.1)

    def place(self, cid: str) -> None:
        """Give a trial to a lane (its pair's, where a partner is placed already), or finish it (its sides)
        where none can take it."""
        machine = next((st.last_machine for st in self.states(cid) if st.repeats), None)
        load = {k: sum(self.cost(c) for c in w.units) for k, w in self.work.items() if w.lane.alive}
        partner = next((k for k, w in self.work.items() if w.lane.alive and machine in (None, w.lane.machine)
                        and any(self.pair_of(c) == self.pair_of(cid) for c in w.units)), None) \
            if self.pair_of(cid) else None
        if partner is not None:
            self.work[partner].units.append(cid)
            return
        where = self.executor.place(self.states(cid)[0].trial, machine, load)
        if isinstance(where, Refusal):
            for i, state in enumerate(self.states(cid)):
                if state.status is None:
                    state.finish(where.status, where.reason)
                    self.finished(i, state, lane=None)
            return
        self.work[where.key].units.append(cid)

    def pair_of(self, cid: str) -> tuple | None:
        return design.pair_key(self.states(cid)[0].trial, self.spec)

    def ahead_of_pair(self, side: int, cid: str) -> bool:
        return design.ahead_of_pair(cid, self.sessions[side].states, self.pairs.get(self.pair_of(cid), ()))

    def finished(self, side: int, state: TrialState, lane: Lane | None) -> None:
        """A trial decided without a measurement on `lane`: where its repeats ran, else `lane`, else nowhere."""
        if state.repeats:
            state.machine, state.node = state.last_machine, state.repeats[-1]["node"]
        elif lane is not None:
            state.machine, state.node = lane.machine, lane.node
        else:
            state.machine = state.node = ""
        self.sessions[side].summarize(state)
        self.progress.tick(state)

    def out_of_time(self, state: TrialState) -> bool:
        """Whether a repeat of the trial started now would end past the run's time budget (--time-budget)."""
        if not self.spec.time_budget_s or not state.repeats:
            return False
        walls = sorted(r["wall_s"] for r in state.repeats if r.get("wall_s") is not None)
        expected = walls[len(walls) // 2] if walls else 0.0
        return time.monotonic() + expected > self.began + self.spec.time_budget_s

    def next_group(self, w: _LaneWork) -> tuple[str, list[int]] | None:
        """The lane's next trial and sides to run (None: nothing left on it); a new round when one ends. A trial
        the run's time budget has no room for stops there, once it has its minimum repeats."""
        while True:
            while w.queue:
                cid, sides = w.queue.popleft()
                for i in sides:
                    state = self.sessions[i].states[cid]
                    if state.status is None and self.out_of_time(state) and \
                            self.sessions[i].decide(state, out_of_time=True):
                        self.sessions[i].summarize(state)
                        self.progress.tick(state)
                members = [i for i in sides if self.sessions[i].states[cid].status is None
                           and not self.ahead_of_pair(i, cid)]
                if members and cid in w.units:
                    return cid, members
            w.units = [c for c in w.units if self.open(c)]
            if not w.units:
                return None
            w.round_no += 1
            cpus = self.policy.cpus(w.round_no)
            if cpus is not None or (w.round_no > 0 and self.spec.workers == "round"):
                self.executor.renew(w.lane, cpus)  # fresh processes: each round's repeats their own
            w.queue.extend((cid, g) for cid in design.round_order(w.units, w.round_no, self.pair_of)
                           for g in self.policy.groups(w.round_no))

    def submit(self, w: _LaneWork) -> None:
        """The lane's next group, unless it is busy, lost, out of work, or a stop was asked for."""
        if w.lane.key in self.in_flight or not w.lane.alive or (self.stop and self.stop.requested):
            return
        nxt = self.next_group(w)
        if nxt is None:
            return
        cid, members = nxt
        trial = self.states(cid)[0].trial
        tasks = [(i, repeat_task(trial, len(self.sessions[i].states[cid].repeats), self.spec)) for i in members]
        where = f" @ {w.lane.node}" if len(self.work) > 1 else ""
        self.progress.bar.set_description(f"{cid} r{tasks[0][1].repeat}{where}", refresh=True)
        self.executor.submit(w.lane, tasks)
        self.in_flight[w.lane.key] = (cid, members, [t.repeat for _, t in tasks])

    def lost(self, w: _LaneWork, cid: str, members: list[int], repeats: list[int], why: str) -> None:
        """A lane died with a group in flight (module docstring)."""
        w.lane.alive = False
        orphans = [c for c in w.units if c != cid]
        w.units.clear()
        w.queue.clear()
        what = f"node {w.lane.node} lost during repeat {repeats[0]} ({why})"
        twin = self.executor.place(self.states(cid)[0].trial, w.lane.machine, {})
        if cid in self.retried or isinstance(twin, Refusal):
            more = "; lost again after a retry" if cid in self.retried else \
                f"; no other node of machine {w.lane.machine} to retry on"
            for i in members:
                state = self.sessions[i].states[cid]
                state.finish("error", what + more)
                self.finished(i, state, lane=w.lane)
        else:
            self.retried.add(cid)
            self.work[twin.key].units.append(cid)
        for c in orphans:
            if self.open(c):
                self.place(c)

    def run(self) -> bool:
        """Measure every unfinished trial; True when all finished, False when a stop request ended it."""
        self.began = time.monotonic()
        units = [cid for cid in self.sessions[0].states if self.open(cid)]
        for cid in sorted(units, key=lambda c: -self.cost(c)):  # longest expected first (LPT on the prior)
            self.place(cid)
        rng = random.Random(self.sessions[0].meta["order_seed"])
        for w in self.work.values():
            rng.shuffle(w.units)
            w.units = design.grouped(w.units, self.pair_of, lambda c: self.states(c)[0].trial.dtype, self.spec)
        self.progress.outlook(self.sessions, lanes=[w for w in self.work.values() if w.units], nodes=len(self.work))
        with self.progress.bar:
            for w in self.work.values():
                self.submit(w)
            while self.in_flight:
                arrival = self.executor.next()
                w = self.work[arrival.lane.key]
                cid, members, repeats = self.in_flight.pop(w.lane.key)
                if arrival.lost:
                    self.lost(w, cid, members, repeats, arrival.lost)
                else:
                    for i, repeat, reply in zip(members, repeats, arrival.replies):
                        self.after(i, self.sessions[i].states[cid], repeat, reply, w.lane)
                for other in self.work.values():
                    self.submit(other)
        return not any(self.open(cid) for cid in self.sessions[0].states)

    def after(self, side: int, state: TrialState, repeat: int, reply: Any, lane: Lane) -> None:
        """A reply recorded; progress; the summary row of a trial that finished."""
        self.sessions[side].apply(state, repeat, reply, machine=lane.machine, node=lane.node)
        if state.status is not None:
            self.sessions[side].summarize(state)
        self.progress.tick(state)


def measure(sessions: Sequence[RunSession], executor: Executor, policy: Adaptive, *, progress: bool = True,
            stop: StopRequest | None = None) -> bool:
    """Measure every unfinished trial of the sessions (one per side of the policy) on the executor; True
    when every trial finished, False when a stop request ended the loop first."""
    if len(sessions) != policy.sides:
        raise ValueError(f"{type(policy).__name__} measures {policy.sides} side(s), got {len(sessions)} sessions")
    return _Loop(sessions, executor, policy, progress=progress, stop=stop).run()


# ---- the runs ------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, run_dir: Path, *, argv: list[str], resume: bool = False,
              shard: dict[str, int] | None = None, executor: Executor | None = None,
              worker_cmd: tuple[str, ...] = WORKER_CMD, progress: bool = True,
              stop: StopRequest | None = None) -> tuple[list[dict[str, Any]], bool]:
    """One run directory filled (or a killed one finished): (summary rows, True) at the end, ([], False)
    when a stop request ended it first. `executor`: default, this machine."""
    run_dir = Path(run_dir)
    executor = executor or LocalExecutor(spec, [Checkout(run_dir)], worker_cmd=worker_cmd)
    try:
        with RunSession(spec, run_dir, argv=argv, resume=resume, shard=shard) as session:
            executor.remember(session.meta.get("peak", []))
            session.describe(executor.describe(), executor.machines)
            session.probe_noise()
            done = measure([session], executor, Adaptive(), progress=progress, stop=stop)
            if done:
                return session.finish(executor.worker_starts(0)), True
            session.interrupted(executor.worker_starts(0))
            return [], False
    finally:
        executor.close()


def run_ab(spec: SweepSpec, run_dirs: Sequence[Path], trees: Sequence[Path], *, argv: list[str], policy: Adaptive,
           progress: bool = True, stop: StopRequest | None = None, executor: Executor | None = None) -> bool:
    """Both sides of an A/B run measured together on this machine, each by its own checkout's code, into its
    own run directory (run_dirs: baseline, candidate); True when every trial finished. `executor`: default,
    this machine with a worker pool per checkout."""
    executor = executor or LocalExecutor(spec, [Checkout(Path(d), Path(t).resolve()) for d, t in zip(run_dirs, trees)])
    pair_id = uuid.uuid4().hex
    try:
        with contextlib.ExitStack() as stack:
            sessions = [stack.enter_context(RunSession(spec, Path(d), argv=argv, tree=Path(t).resolve()))
                        for d, t in zip(run_dirs, trees)]
            for session, side in zip(sessions, ("baseline", "candidate")):
                session.meta["ab"] = {"id": pair_id, "side": side, **policy.meta()}  # bench.compare pairs by it
                session.describe(executor.describe(), executor.machines)
            done = measure(sessions, executor, policy, progress=progress, stop=stop)
            for side, session in enumerate(sessions):
                if done:
                    session.finish(executor.worker_starts(side))
                else:
                    session.interrupted(executor.worker_starts(side))
            return done
    finally:
        executor.close()
