"""A run session: one run directory being filled, and the state of each of its trials.

The session owns the directory's life cycle through bench.format's writer: the lock, meta.json
first (or, on --resume, the checked and repaired directory and what it already holds), each
repeat's rows on disk as it arrives, a trial's summary row when it finishes, and at a clean end the
summary in the matrix's order and the finish time. One rule decides that a trial is finished
(`decide`), applied after every repeat and, on --resume, to every unfinished trial before anything
is measured: a resumed run never measures past --max-repeats and never re-measures a finished
trial. The loop (bench.engine.loop) decides what to measure next; the session only records.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.engine import design
from bench.engine.probe import git_commit, host_facts, noise_probe
from bench.format import RunWriter, locked, now_utc
from bench.format.derive import raw_rows, repeat_row, summary_row, timed
from bench.format.io import StoreError
from bench.format.messages import NodeReply, RepeatResult, RepeatTask
from bench.format.spec import SweepSpec, Trial, shard_trials, trials
from bench.format.stats import stop_reason
from bench.format.writer import check_resumable
from mlp_core import workloads


@dataclass(slots=True)
class TrialState:
    """What a trial has measured so far."""

    trial: Trial
    repeats: list[dict[str, Any]] = field(default_factory=list)  # its repeats.csv rows, in order
    epoch_times: list[list[float]] = field(default_factory=list)  # per repeat, warm-up first
    elapsed_s: float = 0.0  # worker wall time spent on it (the trial budget)
    machine: str = ""  # where it was taken up (a trial without repeats: where it was skipped; "": nowhere)
    node: str = ""
    status: str | None = None  # None while running; then ok / skipped / diverged / error
    reason: str = ""
    stop_reason: str = ""

    @property
    def samples(self) -> list[float]:
        """Timed epoch times of every repeat (warm-ups left out)."""
        return [s for times in self.epoch_times for s in timed(times)]

    @property
    def last_machine(self) -> str | None:
        """The machine its repeats ran on (None: no repeat yet): a trial is measured on one machine."""
        return self.repeats[-1]["machine"] if self.repeats else None

    def finish(self, status: str, reason: str = "") -> None:
        """Mark the trial finished."""
        self.status, self.reason = status, reason


def decide(state: TrialState, spec: SweepSpec, *, open_question: Callable[[TrialState], bool | None] | None = None,
           out_of_time: bool = False) -> bool:
    """Finish the trial if a rule says so (diverged, or the stop rule); True when it is finished.

    `open_question(state)` (the `answers` stop rule): True while a comparison the trial takes part in is
    inconclusive, False once all are decided or shown within the margin, None when it takes part in none (then
    the precision rule applies). `out_of_time`: the run's time budget is spent (a trial that has its minimum
    repeats stops on it)."""
    if state.status is not None:
        return True
    if not state.repeats:
        return False
    last = state.repeats[-1]
    if last["status"] == "diverged":
        state.finish("diverged", f"repeat {last['repeat']}: non-finite loss (NaN or inf)")
        return True
    n = len(state.repeats)
    budget = math.inf if spec.time_budget_s else spec.trial_budget_s  # a run budget replaces the trial's
    question = open_question(state) if spec.stop_rule == "answers" and open_question is not None and \
        n >= spec.min_repeats and not out_of_time else None
    # a precise median does not stop a trial whose comparison is still open: then only its limits do
    why = stop_reason(state.samples, n, state.elapsed_s, min_repeats=spec.min_repeats, max_repeats=spec.max_repeats,
                      target_ci=-math.inf if question else spec.target_ci, budget_s=budget)
    if question is False:
        why = "decided"
    if out_of_time and n >= spec.min_repeats and why != "max_repeats":
        why = "budget"
    if not why:
        return False
    state.stop_reason = why
    devices = sorted({r["device_actual"] for r in state.repeats})
    if len(devices) == 1:
        state.finish("ok")
    else:
        state.finish("error", f"repeats ran on different devices: {', '.join(devices)}")
    return True


def repeat_task(trial: Trial, repeat: int, spec: SweepSpec) -> RepeatTask:
    """The message a worker gets for one repeat: fresh weights from seed + repeat, the run's data."""
    return RepeatTask(**{**trial.to_dict(), "workload": spec.workload}, repeat=repeat, seed=spec.seed + repeat,
                      data_seed=spec.seed,
                      epochs=spec.epochs, n_train=spec.n_train, n_test=spec.n_test, learning_rate=spec.learning_rate)


def new_run_id() -> str:
    """Sortable, unique enough: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{random.randrange(16**4):04x}"


def spec_for_resume(run_dir: Path) -> SweepSpec:
    """The resolved spec a run directory was started with, after checking that --resume can continue
    it (StoreError otherwise, nothing touched): its workload too must load here."""
    spec = check_resumable(run_dir)[1]
    try:
        workloads.get(spec.workload)
    except workloads.WorkloadError as exc:
        raise StoreError(f"{run_dir}: cannot resume: {exc}") from None
    return spec


class RunSession:
    """One run directory being filled (module docstring). Use as a context manager: the lock is held
    inside; `states` are the trials of its matrix (or shard)."""

    def __init__(self, spec: SweepSpec, run_dir: Path, *, argv: list[str], resume: bool = False,
                 shard: dict[str, int] | None = None, tree: Path | None = None) -> None:
        """`tree`: the checkout whose code measures (an A/B side's; its git commit goes into meta.json).
        `shard`: measure only that share of the matrix; on --resume, the run's own."""
        self.spec, self.run_dir, self.argv, self.shard = spec, Path(run_dir), argv, shard
        self.resume, self.tree = resume, tree
        self.writer = RunWriter(self.run_dir)
        self.states: dict[str, TrialState] = {}
        self.in_force: dict[tuple[str, int], tuple[int, int]] = {}  # (machine, threads) -> TF's (intra, inter)
        self.rows: list[dict[str, Any]] = []  # summary rows, once finished
        self.finished = False
        self._lock = None

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json as it will be written."""
        return self.writer.meta

    def save_meta(self) -> None:
        """Write meta.json now."""
        self.writer.save_meta()

    def __enter__(self) -> RunSession:
        if not self.resume:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = locked(self.run_dir)
        self._lock.__enter__()
        try:
            self._open()
        except BaseException:
            self.writer.close()
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.writer.close()
        finally:
            self._lock.__exit__(*exc)

    def _open(self) -> None:
        if not self.resume:
            self.writer.create({
                "run_id": self.run_dir.name, "command": self.argv, "spec": self.spec.to_dict(),
                "order_seed": random.randrange(2**32), "started_at": now_utc(), "finished_at": None,
                "git": git_commit(self.tree), "host": host_facts(), "tensorflow": None,
                "machines": {}, "executor": {}, "modes": {m: m.info.facts() for m in self.spec.modes},
                "workload": workloads.get(self.spec.workload).facts(),
                **({"shard": self.shard} if self.shard else {}),
            })
            self.states = {t.config_id: TrialState(trial=t) for t in shard_trials(trials(self.spec), self.shard)}
            return
        found = self.writer.resume(now_utc())
        self.states = {t.config_id: TrialState(trial=t) for t in shard_trials(trials(self.spec),
                                                                              self.meta.get("shard"))}
        for cid, state in self.states.items():  # every trial's repeats first: the stop rule reads partners'
            state.repeats, state.epoch_times = found.repeats.get(cid, []), found.epoch_times.get(cid, [])
            state.elapsed_s = sum(r["wall_s"] if r["wall_s"] is not None else sum(t) for r, t in
                                  zip(state.repeats, state.epoch_times))
            if cid in found.finished:
                state.finish(found.finished[cid]["status"], found.finished[cid]["reason"])
        for state in self.states.values():
            if state.status is None and self.decide(state):  # finished before the kill, no summary row yet
                self.summarize(state)

    def decide(self, state: TrialState, *, out_of_time: bool = False) -> bool:
        """The stop rule for one of this session's trials (module function `decide`, with its partners)."""
        return decide(state, self.spec, out_of_time=out_of_time,
                      open_question=lambda s: design.question_open(s, self.states, self.spec))

    def probe_noise(self) -> None:
        """How noisy the machine is before measuring, into meta.json `noise` (a resumed run adds its own reading
        to `noise_resumed`)."""
        reading = noise_probe()
        if "noise" not in self.meta:
            self.meta["noise"] = reading
        else:
            self.meta.setdefault("noise_resumed", []).append(reading)
        self.save_meta()

    def describe(self, executor: dict[str, Any], machines: dict[str, dict[str, Any]]) -> None:
        """meta.json's `executor` and the facts of the machines it measures on."""
        self.meta["executor"] = executor
        for mid, facts in sorted(machines.items()):
            self.meta.setdefault("machines", {}).setdefault(mid, facts)
        self.save_meta()

    # ---- while measuring -------------------------------------------------------------------------
    def apply(self, state: TrialState, repeat: int, reply: NodeReply, *, machine: str, node: str) -> None:
        """A node's reply to a repeat, measured on `machine`/`node`: what it learnt into meta.json; a skip or
        failure finishes the trial; a measurement goes on disk, then the stop rule."""
        if reply.tf and self.meta.get("tensorflow") is None:
            self.meta["tensorflow"] = reply.tf
            self.save_meta()
        if reply.threads_in_force:
            self.in_force[(machine, state.trial.threads)] = tuple(reply.threads_in_force)
        if reply.peaks:
            have = {(p.get("machine"), p["device"], p["dtype"], p["threads"]) for p in self.meta.get("peak", [])}
            self.meta.setdefault("peak", []).extend(
                p for p in reply.peaks if (p["machine"], p["device"], p["dtype"], p["threads"]) not in have)
            self.save_meta()
        state.machine, state.node = machine, node
        res: RepeatResult | None = reply.result
        if res is None:
            state.finish(reply.status, reply.reason)
            return
        state.elapsed_s += res.wall_s
        if res.status in ("skipped", "error"):
            state.finish(res.status, res.reason)
            return
        self._record(state, repeat, res, machine=machine, node=node)
        self.decide(state)

    def _record(self, state: TrialState, repeat: int, res: RepeatResult, *, machine: str, node: str) -> None:
        """A measured repeat: epoch rows, then its repeats.csv row, on disk; then in the state."""
        row = repeat_row(res, run_id=self.meta["run_id"], axes=state.trial.to_dict(), repeat=repeat,
                         seed=self.spec.seed + repeat, finished_utc=now_utc(), machine=machine, node=node)
        self.writer.write_repeat(raw_rows(state.trial.config_id, repeat, res.epoch_times_s, res.train_loss,
                                          machine=machine), row)
        state.repeats.append(row)
        state.epoch_times.append(list(res.epoch_times_s))

    def summarize(self, state: TrialState) -> None:
        """A finished trial's summary row (its machine: its repeats', else where it was decided)."""
        self.writer.write_summary(summary_row(
            machine=state.machine, node=state.node,
            run_id=self.meta["run_id"], axes=state.trial.to_dict(), status=state.status, reason=state.reason,
            stop_reason=state.stop_reason, repeats=state.repeats, samples=state.samples, n_train=self.spec.n_train,
            threads_in_force=self.in_force.get((state.last_machine or state.machine, state.trial.threads)),
            elapsed_s=state.elapsed_s, finished_utc=now_utc(),
            epoch_flops=workloads.get(self.spec.workload).epoch_flops(self.spec.n_train, state.trial.batch_size,
                                                                       state.trial.size),
            loss=workloads.get(self.spec.workload).loss_name))

    def finish(self, worker_starts: int) -> list[dict[str, Any]]:
        """Every trial measured: summary.csv in the matrix's order, the finish time; the summary rows."""
        self.meta["worker_starts"] = self.meta.get("worker_starts", 0) + worker_starts
        self.rows = self.writer.finish(list(self.states), now_utc())
        self.finished = True
        return self.rows

    def interrupted(self, worker_starts: int) -> None:
        """Stopped before the end: what was measured is on disk; meta.json says the run is unfinished."""
        self.meta["worker_starts"] = self.meta.get("worker_starts", 0) + worker_starts
        self.save_meta()
