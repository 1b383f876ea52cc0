"""Run a sweep: trials interleaved round by round, repeats adaptive, every row on disk as it is taken."""

from __future__ import annotations

import contextlib
import fcntl
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import results
from bench.fingerprint import git_commit, host_facts
from bench.measure import peak_task, task_for
from bench.pool import WORKER_CMD, WorkerFailure, WorkerProcess
from bench.spec import SweepSpec, Trial, build_spec, trials
from bench.stats import stop_reason, summarize
from mlp_core.data import ARTICLE_N_FEATURES
from mlp_core.enums import Device
from mlp_core.flops import epoch_flops, steps_per_epoch


class RunDirBusy(RuntimeError):
    """Another process is writing into the run directory."""


@dataclass(slots=True)
class TrialState:
    """What a trial has measured so far."""

    trial: Trial
    repeats: list[dict[str, Any]] = field(default_factory=list)  # ok/diverged repeat results, in order
    elapsed_s: float = 0.0
    status: str | None = None  # None while running; then ok / skipped / diverged / error
    reason: str = ""
    stop_reason: str = ""

    @property
    def samples(self) -> list[float]:
        """Epoch times of every repeat, warm-up epochs (epoch 0) left out."""
        return [s for r in self.repeats for s in r["epoch_times_s"][1:]]


def now_utc() -> str:
    """ISO-8601 UTC timestamp."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable, unique enough: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{random.randrange(16**4):04x}"


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Exclusive lock on the run directory; released by the kernel if this process dies."""
    fh = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held open as long as the lock
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RunDirBusy(f"another run is writing to {run_dir}") from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


class Sweep:
    """One run directory being filled."""

    def __init__(self, spec: SweepSpec, run_dir: Path, *, argv: list[str], resume: bool = False,
                 worker_cmd: tuple[str, ...] = WORKER_CMD, worker_tree: Path | None = None,
                 progress: bool = True) -> None:
        """`worker_tree`: a checkout whose bench/mlp_core the workers run (A/B runs); default: this one."""
        self.spec, self.run_dir, self.argv = spec, Path(run_dir), argv
        self.resume, self.worker_cmd, self.progress = resume, worker_cmd, progress
        self.worker_tree = Path(worker_tree).resolve() if worker_tree else None
        self.rows: list[dict[str, Any]] = []
        self.workers: dict[int, WorkerProcess] = {}
        self.worker_starts = 0
        self.visible: list[str] | None = None  # devices TF sees, from the first worker's hello
        self.threads_in_force: dict[int, tuple[int, int]] = {}  # requested -> (intra, inter) reported by TF

    # ---- files -------------------------------------------------------------------------------
    def _start_files(self) -> dict[str, TrialState]:
        meta_path = self.run_dir / results.META
        states = {t.config_id: TrialState(trial=t) for t in trials(self.spec)}
        if self.resume:
            self.meta = results.read_json(meta_path)
            self.meta.setdefault("resumed_at", []).append(now_utc())
            self._load_previous(states)
        else:
            self.meta = {
                "schema_version": results.SCHEMA_VERSION,
                "run_id": self.run_dir.name,
                "command": self.argv,
                "spec": self.spec.to_dict(),
                "order_seed": random.randrange(2**32),
                "started_at": now_utc(),
                "finished_at": None,
                "git": git_commit(self.worker_tree),
                "host": host_facts(),
                "tensorflow": None,
            }
        results.write_json(meta_path, self.meta)  # written before any measurement
        self.raw = results.CsvAppender(self.run_dir / results.RAW, results.RAW_FIELDS)
        self.summary = results.CsvAppender(self.run_dir / results.SUMMARY, results.SUMMARY_FIELDS)
        return states

    def _load_previous(self, states: dict[str, TrialState]) -> None:
        """Keep finished trials and every complete repeat; drop a repeat cut short by the kill."""
        done = {row["config_id"] for row in results.read_rows(self.run_dir / results.SUMMARY)}
        raw_rows = results.read_rows(self.run_dir / results.RAW)
        by_repeat: dict[tuple[str, int], list[dict[str, str]]] = {}
        for row in raw_rows:
            by_repeat.setdefault((row["config_id"], int(row["repeat"])), []).append(row)
        kept = []
        for (cid, _), rows in sorted(by_repeat.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if cid not in states or len(rows) != self.spec.epochs:
                continue
            kept.extend(rows)
            states[cid].repeats.append(results.repeat_from_rows(rows))
            states[cid].elapsed_s = sum(r["wall_s"] for r in states[cid].repeats)
        if len(kept) != len(raw_rows):
            results.rewrite_csv(self.run_dir / results.RAW, results.RAW_FIELDS, kept)
        for cid in done & states.keys():
            states[cid].status = "done"  # already in summary.csv: not measured again

    def _write_repeat(self, state: TrialState, repeat: int, res: dict[str, Any]) -> None:
        trial = {**state.trial.to_dict(), "config_id": state.trial.config_id}
        self.raw.write(results.repeat_rows(self.run_dir.name, trial, repeat, self.spec.seed + repeat, res, now_utc()))

    def save_meta(self) -> None:
        """Write meta.json now."""
        results.write_json(self.run_dir / results.META, self.meta)

    # ---- workers -----------------------------------------------------------------------------
    def _worker(self, threads: int) -> WorkerProcess:
        worker = self.workers.get(threads)
        if worker is None or worker.proc.poll() is not None:
            self.worker_starts += 1
            worker = WorkerProcess(threads, self.run_dir / f"worker-t{threads}.log", cmd=self.worker_cmd,
                                   tree=self.worker_tree)
            self.workers[threads] = worker
            if self.visible is None:
                self.visible = worker.hello["devices"]
                self.meta["tensorflow"] = worker.hello["tf"]
                results.write_json(self.run_dir / results.META, self.meta)
            self.threads_in_force[threads] = (worker.hello["tf"]["threads_intra"], worker.hello["tf"]["threads_inter"])
            self._measure_peaks(worker, threads)
            if worker.proc.poll() is not None:  # it died measuring the ceiling (recorded): start a fresh one
                return self._worker(threads)
        return worker

    def _measure_peaks(self, worker: WorkerProcess, threads: int) -> None:
        """The matmul ceiling of every visible requested device and compute dtype, once per thread setting.

        Recorded in meta.json["peak"], failures included with their reason; a failure never stops the sweep.
        """
        if not self.spec.peak_n:
            return
        peaks = self.meta.setdefault("peak", [])
        done = {(p["device"], p["dtype"], p["threads"]) for p in peaks}
        dtypes = sorted({d.compute_dtype for d in self.spec.dtypes})
        for device in self.spec.devices:
            if not any(v.startswith(f"{device.value}:") for v in self.visible):
                continue  # its trials are skipped with the reason; no ceiling to draw
            for dtype in dtypes:
                if (device.value, dtype, threads) in done:
                    continue
                try:
                    res = worker.request(peak_task(device.value, dtype, self.spec.peak_n), self.spec.trial_timeout_s)
                except WorkerFailure as exc:
                    res = {"status": "error", "reason": str(exc), "device": device.value, "dtype": dtype}
                res.pop("event", None)
                peaks.append({**res, "threads": threads, "measured_utc": now_utc()})
                results.write_json(self.run_dir / results.META, self.meta)
                if worker.proc.poll() is not None:
                    return

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Measure every unfinished trial; return the summary rows in canonical order."""
        with self.session() as states:
            pending = [s for s in states.values() if s.status is None]
            random.Random(self.meta["order_seed"]).shuffle(pending)  # drift spreads over every axis
            with self.progress_bar(pending) as bar:
                while pending:
                    for state in list(pending):
                        if self.step(state, bar):
                            pending.remove(state)
        return self.rows

    @contextlib.contextmanager
    def session(self) -> Iterator[dict[str, TrialState]]:
        """Lock the run directory, open its files, yield the trial states; on a clean exit write the
        summary in canonical order (self.rows) and the finish time. Workers are closed either way."""
        with locked(self.run_dir):
            states = self._start_files()
            try:
                yield states
            finally:
                for worker in self.workers.values():
                    worker.close()
                self.raw.close()
                self.summary.close()
            self.rows = self._final_summary(states)
            self.meta["finished_at"] = now_utc()
            self.meta["worker_starts"] = self.meta.get("worker_starts", 0) + self.worker_starts
            results.write_json(self.run_dir / results.META, self.meta)

    def progress_bar(self, pending: list[TrialState]) -> tqdm:
        """A bar counting repeats: the minimum to do, grown as adaptive repeats are added."""
        total = sum(max(self.spec.min_repeats - len(s.repeats), 1) for s in pending)
        return tqdm(total=total, unit="repeat", disable=None if self.progress else True, dynamic_ncols=True)

    def step(self, state: TrialState, bar: tqdm) -> bool:
        """One repeat of one trial, its rows on disk; True when the trial has finished (summary row written)."""
        self._one_repeat(state, bar)
        bar.update(1)
        if state.status is not None:
            self.summary.write([self._summary_row(state)])
            return True
        if len(state.repeats) >= self.spec.min_repeats:
            bar.total += 1  # an adaptive extra repeat
        return False

    def _one_repeat(self, state: TrialState, bar: tqdm) -> None:
        t, spec = state.trial, self.spec
        repeat = len(state.repeats)
        bar.set_description(f"{t.config_id} r{repeat}", refresh=True)
        try:
            worker = self._worker(t.threads)  # its hello says which devices TF sees
            if t.device is Device.GPU and not any(d.startswith("gpu:") for d in self.visible):
                self._finish(state, "skipped", f"no GPU visible to TensorFlow (visible: {', '.join(self.visible)})")
                return
            res = worker.request(task_for(t.to_dict(), repeat, spec.to_dict()), spec.trial_timeout_s)
        except WorkerFailure as exc:
            self._finish(state, "error", f"repeat {repeat}: {exc}")
            return
        state.elapsed_s += res["wall_s"]
        if res["status"] in ("skipped", "error"):
            self._finish(state, res["status"], res["reason"])
            return
        self._write_repeat(state, repeat, res)
        state.repeats.append(res)
        if res["status"] == "diverged":
            self._finish(state, "diverged", f"repeat {repeat}: {res['reason']}")
            return
        why = stop_reason(state.samples, len(state.repeats), state.elapsed_s, min_repeats=spec.min_repeats,
                          max_repeats=spec.max_repeats, target_ci=spec.target_ci, budget_s=spec.trial_budget_s)
        if why:
            state.stop_reason = why
            devices = {r["device_actual"] for r in state.repeats}
            if len(devices) == 1:
                self._finish(state, "ok", "")
            else:
                self._finish(state, "error", f"repeats ran on different devices: {', '.join(sorted(devices))}")

    @staticmethod
    def _finish(state: TrialState, status: str, reason: str) -> None:
        state.status, state.reason = status, reason

    # ---- summary -----------------------------------------------------------------------------
    def _summary_row(self, state: TrialState) -> dict[str, Any]:
        t, spec = state.trial, self.spec
        samples = state.samples
        warm = [r["epoch_times_s"][0] for r in state.repeats]
        st = summarize(samples)
        median = st["median_s"]
        rate = (lambda x: x / median) if samples and median > 0 else (lambda x: float("nan"))
        intra, inter = self.threads_in_force.get(t.threads, ("", ""))
        last = [r["train_mse"][-1] for r in state.repeats]
        return {
            "schema_version": results.SCHEMA_VERSION, "run_id": self.run_dir.name, "config_id": t.config_id,
            "device": t.device.value, "device_actual": state.repeats[0]["device_actual"] if state.repeats else "",
            "mode": t.mode.value, "dtype": t.dtype.value, "batch_size": t.batch_size, "hidden": t.hidden,
            "threads": t.threads, "threads_intra": intra, "threads_inter": inter, "status": state.status,
            "reason": state.reason, "stop_reason": state.stop_reason, "repeats": len(state.repeats), **st,
            "warmup_s": warm[0] if warm else float("nan"),
            "warmup_median_s": statistics.median(warm) if warm else float("nan"),
            "steps_per_s": rate(steps_per_epoch(spec.n_train, t.batch_size)),
            "samples_per_s": rate(spec.n_train),
            "gflops": rate(epoch_flops(spec.n_train, t.batch_size, ARTICLE_N_FEATURES, t.hidden) / 1e9),
            "train_mse": statistics.median(last) if last else float("nan"),
            "test_mse": statistics.median([r["test_mse"] for r in state.repeats]) if state.repeats else float("nan"),
            "peak_rss_bytes": max((r["peak_rss_bytes"] for r in state.repeats), default=""),
            "gpu_peak_bytes": max((r["gpu_peak_bytes"] or 0 for r in state.repeats), default="")
            if t.device is Device.GPU and state.repeats else "",
            "elapsed_s": state.elapsed_s,
        }

    def _final_summary(self, states: dict[str, TrialState]) -> list[dict[str, Any]]:
        """summary.csv rewritten in the matrix's canonical order (rows from earlier sessions kept)."""
        by_id = {row["config_id"]: row for row in results.read_rows(self.run_dir / results.SUMMARY)}
        rows = [by_id[cid] for cid in states if cid in by_id]
        results.rewrite_csv(self.run_dir / results.SUMMARY, results.SUMMARY_FIELDS, rows)
        return rows


def spec_from_meta(run_dir: Path) -> SweepSpec:
    """The resolved spec a run directory was started with (for --resume)."""
    return build_spec(results.read_json(Path(run_dir) / results.META)["spec"])

