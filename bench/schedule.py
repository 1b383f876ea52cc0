"""Run a sweep: trials interleaved round by round, repeats adaptive, every row on disk as it is taken.

The scheduler decides what to measure next and when a trial is done; bench.session runs the
workers and bench.store writes the files. One rule decides that a trial is finished (`decide`),
applied after every repeat and, on --resume, to every unfinished trial before anything is
measured: a resumed run never measures past --max-repeats and never re-measures a finished trial.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.fingerprint import git_commit, host_facts, machine_facts, machine_id
from bench.protocol import PeakResult, RepeatResult, RepeatTask
from bench.session import WORKER_CMD, WorkerFailure, WorkerProcess, WorkerSession, ceiling_tasks, measure_peaks
from bench.spec import SweepSpec, Trial, shard_trials, trials
from bench.stats import stop_reason
from bench.store import RunWriter, locked, now_utc
from bench.store.derive import raw_rows, repeat_row, summary_row, timed
from mlp_core.enums import Device, ExecMode


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

    def finish(self, status: str, reason: str = "") -> None:
        """Mark the trial finished."""
        self.status, self.reason = status, reason


def decide(state: TrialState, spec: SweepSpec) -> bool:
    """Finish the trial if a rule says so (diverged, or the stop rule); True when it is finished."""
    if state.status is not None:
        return True
    if not state.repeats:
        return False
    last = state.repeats[-1]
    if last["status"] == "diverged":
        state.finish("diverged", f"repeat {last['repeat']}: non-finite loss (NaN or inf)")
        return True
    why = stop_reason(state.samples, len(state.repeats), state.elapsed_s, min_repeats=spec.min_repeats,
                      max_repeats=spec.max_repeats, target_ci=spec.target_ci, budget_s=spec.trial_budget_s)
    if not why:
        return False
    state.stop_reason = why
    devices = sorted({r["device_actual"] for r in state.repeats})
    if len(devices) == 1:
        state.finish("ok")
    else:
        state.finish("error", f"repeats ran on different devices: {', '.join(devices)}")
    return True


def gpu_skip_reason(device: str, mode: str, visible: list[str]) -> str:
    """Why a TensorFlow GPU trial cannot run in a worker that sees `visible` ("" when it can). The JAX
    modes ask JAX, in their trainer (a skip with its reason); the CPU-only modes never reach a GPU."""
    if device == Device.GPU.value and ExecMode(mode).needs_tensorflow and not any(
            d.startswith("gpu:") for d in visible):
        return f"no GPU visible to TensorFlow (visible: {', '.join(visible)})"
    return ""


def cpu_devices(spec: SweepSpec) -> int:
    """Logical CPU devices the workers of a sweep make: its largest CPU replica count (1: none split)."""
    return max((t.replicas for t in trials(spec) if t.device is Device.CPU), default=1)


def repeat_task(trial: Trial, repeat: int, spec: SweepSpec) -> RepeatTask:
    """The message a worker gets for one repeat: fresh weights from seed + repeat, the run's data."""
    return RepeatTask(**trial.to_dict(), repeat=repeat, seed=spec.seed + repeat, data_seed=spec.seed,
                      epochs=spec.epochs, n_train=spec.n_train, n_test=spec.n_test, learning_rate=spec.learning_rate)


def new_run_id() -> str:
    """Sortable, unique enough: UTC time plus a random suffix."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{random.randrange(16**4):04x}"


def spec_for_resume(run_dir: Path) -> SweepSpec:
    """The resolved spec a run directory was started with, after checking that --resume can continue
    it (StoreError otherwise, nothing touched)."""
    from bench.store.writer import check_resumable

    return check_resumable(run_dir)[1]


class Sweep:
    """One run directory being filled: the scheduler over a WorkerSession and a RunWriter."""

    def __init__(self, spec: SweepSpec, run_dir: Path, *, argv: list[str], resume: bool = False,
                 worker_cmd: tuple[str, ...] = WORKER_CMD, worker_tree: Path | None = None,
                 progress: bool = True, shard: dict[str, int] | None = None) -> None:
        """`worker_tree`: a checkout whose bench/mlp_core the workers run (A/B runs); default: this one.
        `shard`: measure only that share of the matrix (bench.spec.shard_trials); on --resume, the run's own."""
        self.spec, self.run_dir, self.argv, self.shard = spec, Path(run_dir), argv, shard
        self.resume, self.progress = resume, progress
        self.worker_tree = Path(worker_tree).resolve() if worker_tree else None
        self.writer = RunWriter(self.run_dir)
        self.workers = WorkerSession(self.run_dir, cmd=worker_cmd, tree=self.worker_tree,
                                     on_start=self._worker_started,
                                     tensorflow=any(m.needs_tensorflow for m in spec.modes) or bool(spec.peak_n),
                                     cpu_devices=cpu_devices(spec))
        self.rows: list[dict[str, Any]] = []
        self.machine_facts = machine_facts()  # this machine: the local executor's workers run here
        self.machine, self.node = machine_id(self.machine_facts), socket.gethostname()

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json as it will be written."""
        return self.writer.meta

    def save_meta(self) -> None:
        """Write meta.json now."""
        self.writer.save_meta()

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Measure every unfinished trial; return the summary rows in canonical order."""
        with self.session() as states:
            pending = [s for s in states.values() if s.status is None and not self._elsewhere(s)]
            random.Random(self.meta["order_seed"]).shuffle(pending)  # drift spreads over every axis
            with self.progress_bar(pending) as bar:
                while pending:
                    for state in list(pending):
                        if self.step(state, bar):
                            pending.remove(state)
                    self.end_round()
        return self.rows

    def _elsewhere(self, state: TrialState) -> bool:
        """A resumed trial whose repeats ran on another machine cannot go on here (a trial is measured on
        one machine): it is finished as an error saying so. True when that happened."""
        if not state.repeats or state.repeats[-1]["machine"] == self.machine:
            return False
        state.finish("error", f"its repeats ran on machine {state.repeats[-1]['machine']}; this one is "
                     f"{self.machine}: resume it there")
        self._write_summary(state)
        return True

    def end_round(self) -> None:
        """After a round: with workers = "round", the next round's repeats run in fresh processes."""
        if self.spec.workers == "round":
            self.workers.renew()

    @contextlib.contextmanager
    def session(self) -> Iterator[dict[str, TrialState]]:
        """Lock the run directory, open its files, yield the trial states; on a clean exit write the
        summary in canonical order (self.rows) and the finish time. Workers are closed either way."""
        with locked(self.run_dir):
            states = self._open()
            try:
                yield states
            finally:
                self.workers.close()
                self.writer.close()
            self.meta["worker_starts"] = self.meta.get("worker_starts", 0) + self.workers.starts
            self.rows = self.writer.finish(list(states), now_utc())

    def _open(self) -> dict[str, TrialState]:
        if not self.resume:
            self.writer.create({
                "run_id": self.run_dir.name, "command": self.argv, "spec": self.spec.to_dict(),
                "order_seed": random.randrange(2**32), "started_at": now_utc(), "finished_at": None,
                "git": git_commit(self.worker_tree), "host": host_facts(), "tensorflow": None,
                "machines": {}, "executor": self.executor_meta(),
                **({"shard": self.shard} if self.shard else {}),
            })
            self.register_machines()
            return {t.config_id: TrialState(trial=t) for t in shard_trials(trials(self.spec), self.shard)}
        found = self.writer.resume(now_utc())
        self.meta["executor"] = self.executor_meta()
        self.register_machines()
        states = {t.config_id: TrialState(trial=t) for t in shard_trials(trials(self.spec), self.meta.get("shard"))}
        for cid, state in states.items():
            if cid in found.finished:
                state.finish(found.finished[cid]["status"], found.finished[cid]["reason"])
                continue
            state.repeats, state.epoch_times = found.repeats[cid], found.epoch_times[cid]
            state.elapsed_s = sum(r["wall_s"] if r["wall_s"] is not None else sum(t) for r, t in
                                  zip(state.repeats, state.epoch_times))
            if decide(state, self.spec):  # finished before the kill, summary row not yet written
                self._write_summary(state)
        return states

    def executor_meta(self) -> dict[str, Any]:
        """meta.json's `executor`: how this sweep runs its trials."""
        return {"kind": "local", "node": self.node}

    def register_machines(self) -> None:
        """The machines this executor measures on, into meta.json: here, this one."""
        self.add_machine(self.machine, self.machine_facts)

    def add_machine(self, mid: str, facts: dict[str, Any]) -> None:
        """Record a machine's facts in meta.json (once per machine id)."""
        if mid not in self.meta.setdefault("machines", {}):
            self.meta["machines"][mid] = facts
            self.save_meta()

    def progress_bar(self, pending: list[TrialState]) -> tqdm:
        """A bar counting repeats: the minimum to do, grown as adaptive repeats are added."""
        total = sum(max(self.spec.min_repeats - len(s.repeats), 1) for s in pending)
        return tqdm(total=total, unit="repeat", disable=None if self.progress else True, dynamic_ncols=True)

    def step(self, state: TrialState, bar: tqdm) -> bool:
        """One repeat of one trial, its rows on disk; True when the trial has finished (summary row written)."""
        started = self.start_repeat(state, bar)
        if started is not None:
            self.finish_repeat(state, started)
        return self.after_repeat(state, bar)

    def ready(self, state: TrialState) -> None:
        """Start the trial's worker now if it is not running (a failure is met again, and recorded, by
        start_repeat)."""
        with contextlib.suppress(WorkerFailure):
            self.workers.worker(state.trial.threads)

    def start_repeat(self, state: TrialState, bar: tqdm) -> tuple[WorkerProcess, int] | None:
        """Get the trial's worker ready and send it the next repeat (None: the trial finished instead).

        Split from finish_repeat so that two sweeps can have a repeat in flight at once (bench.ab's duet).
        """
        t = state.trial
        repeat = len(state.repeats)
        state.machine, state.node = self.machine, self.node
        bar.set_description(f"{t.config_id} r{repeat}", refresh=True)
        try:
            worker = self.workers.worker(t.threads)  # its hello says which devices TF sees
            why = gpu_skip_reason(t.device.value, t.mode.value, self.workers.visible)
            if why:
                state.finish("skipped", why)
                return None
            worker.send(repeat_task(t, repeat, self.spec))
        except WorkerFailure as exc:
            state.finish("error", f"repeat {repeat}: {exc}")
            return None
        return worker, repeat

    def finish_repeat(self, state: TrialState, started: tuple[WorkerProcess, int]) -> None:
        """Wait for the repeat in flight; record it (rows on disk) and apply the stop rule."""
        worker, repeat = started
        try:
            res: RepeatResult = worker.receive(self.spec.trial_timeout_s)
        except WorkerFailure as exc:
            state.finish("error", f"repeat {repeat}: {exc}")
            return
        self.take(state, repeat, res, machine=self.machine, node=self.node)

    def take(self, state: TrialState, repeat: int, res: RepeatResult, *, machine: str, node: str) -> None:
        """A worker's result for a repeat, measured on `machine`/`node`: a skip or failure finishes the
        trial; a measurement goes on disk, then the stop rule."""
        state.elapsed_s += res.wall_s
        if res.status in ("skipped", "error"):
            state.finish(res.status, res.reason)
            return
        self._record(state, repeat, res, machine=machine, node=node)
        decide(state, self.spec)

    def after_repeat(self, state: TrialState, bar: tqdm) -> bool:
        """Progress, and the summary row of a finished trial; True when the trial has finished."""
        bar.update(1)
        if state.status is not None:
            self._write_summary(state)
            return True
        if len(state.repeats) >= self.spec.min_repeats:
            bar.total += 1  # an adaptive extra repeat
        return False

    def _record(self, state: TrialState, repeat: int, res: RepeatResult, *, machine: str, node: str) -> None:
        """A measured repeat: epoch rows, then its repeats.csv row, on disk; then in the state."""
        cid = state.trial.config_id
        row = repeat_row(run_id=self.meta["run_id"], axes=state.trial.to_dict(), repeat=repeat,
                         seed=self.spec.seed + repeat, status=res.status, device_actual=res.device_actual,
                         epoch_times=res.epoch_times_s, train_mse=res.train_mse, test_mse=res.test_mse,
                         peak_rss_bytes=res.peak_rss_bytes, gpu_peak_bytes=res.gpu_peak_bytes, wall_s=res.wall_s,
                         worker_pid=res.worker_pid, started_utc=res.started_utc, finished_utc=now_utc(),
                         machine=machine, node=node)
        self.writer.write_repeat(raw_rows(cid, repeat, res.epoch_times_s, res.train_mse, machine=machine), row)
        state.repeats.append(row)
        state.epoch_times.append(list(res.epoch_times_s))

    def threads_in_force(self, state: TrialState) -> tuple[int, int] | None:
        """TF's (intra, inter) thread counts in force for the trial's thread setting (None: no TF worker)."""
        return self.workers.threads_in_force.get(state.trial.threads)

    def _write_summary(self, state: TrialState) -> None:
        """A finished trial's summary row (its machine: its repeats', else where it was decided)."""
        self.writer.write_summary(summary_row(
            machine=state.machine, node=state.node,
            run_id=self.meta["run_id"], axes=state.trial.to_dict(), status=state.status, reason=state.reason,
            stop_reason=state.stop_reason, repeats=state.repeats, samples=state.samples, n_train=self.spec.n_train,
            threads_in_force=self.threads_in_force(state), elapsed_s=state.elapsed_s,
            finished_utc=now_utc()))

    # ---- workers -----------------------------------------------------------------------------
    def _worker_started(self, worker: WorkerProcess) -> None:
        """A new worker: record TensorFlow's facts once, and measure the ceilings of its thread setting."""
        if self.meta.get("tensorflow") is None:
            self.meta["tensorflow"] = worker.hello.tf
            self.save_meta()
        peaks = self.meta.setdefault("peak", [])
        tasks = ceiling_tasks(worker, self.spec, done={(p["device"], p["dtype"], p["threads"]) for p in peaks
                                                       if p.get("machine", self.machine) == self.machine})

        def record(res: PeakResult) -> None:
            peaks.append({**asdict(res), "threads": worker.threads, "machine": self.machine,
                          "measured_utc": now_utc()})
            self.save_meta()

        measure_peaks(worker, tasks, self.spec.trial_timeout_s, record)
