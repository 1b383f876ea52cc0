"""The instruction-count gate (`python -m bench.ab --method icount`): instructions per epoch under callgrind.

Wall time on a shared machine moves with everything else the machine does; the number of
instructions a process executes does not. Each side's trials are trained in processes started
under `valgrind --tool=callgrind` (bench/callgrind_worker.py), which count exactly the timed
region of every epoch after the warm-up (the one timed loop, mlp_core.epochs.run_epochs) and
nothing of the start, the imports or the harness; by default only those epochs are instrumented
at all (`--instr-atstart=no`, instrumentation switched on and off around them), so the rest of the
process runs at valgrind's uninstrumented speed. One TensorFlow thread, one BLAS thread and
PYTHONHASHSEED=0 make the count a property of the code. A process's value for a trial is the
median count of its counted epochs; a side's value is the median over its processes. Verdicts,
per configuration:

  slower   candidate / baseline > 1 + threshold      (a regression: exit status 1)
  faster   candidate / baseline < 1 / (1 + threshold)
  same     otherwise
  unsteady a side's processes differ by more than half the threshold: no verdict (exit status 1, the gate
           cannot vouch for what it could not count steadily)
  error    a process failed; the reason is shown (exit status 1)

A configuration whose ratio lands within +-threshold/2 of a boundary (1 + t, or 1 / (1 + t)) is confirmed
before its verdict: one more process a side runs (a replica of the first: every task, as what else a process
trains moves its counts), and the configuration is judged on the median over all of them (from one process a
side, the mean of two independent counts), the steadiness check included. Every `slower` configuration
(`explain`) lists where its count changed (bench.engine.profile): the TensorFlow op kernels run more or less
often, the Python-level calls from the checkout's code, the library's calls, and the functions' own
instructions.

Counts measure CPU work only: not memory stalls, cache misses or GPU kernels, so a change that
costs time without costing instructions passes this gate (the wall-time gate is for that), and
GPU trials are refused. valgrind runs instrumented code about 25-50x slower than natively, but the
counts do not depend on the load, so processes run in parallel, one per core.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.engine import profile
from bench.format.errors import InputError
from bench.format.io import write_json

DEFAULT_THRESHOLD = 0.01  # README, "The instruction-count gate": ~7x the largest same-code spread measured
DEFAULT_PROCESSES = 2  # per side: counts are steady, a second process shows that they are
INSTRUMENT = ("counted", "all")  # what callgrind instruments: the counted epochs only (default), or everything
EXPLAIN = ("slower", "all", "none")  # which configurations get per-function deltas (bench.engine.profile)

WORKER = Path(__file__).resolve().parent / "callgrind_worker.py"
_TOTALS = re.compile(rb"^totals:\s*(\d+)", re.MULTILINE)
_RUN_WORKER = "import runpy, sys; sys.argv = ['callgrind_worker', *sys.argv[1:]]; runpy.run_path({!r}, " \
              "run_name='__main__')"


def valgrind() -> tuple[str, str]:
    """(path, version) of valgrind, or an InputError saying how to get it."""
    path = shutil.which("valgrind")
    if path is None:
        raise InputError("mode 'icount' needs valgrind (Debian/Ubuntu: apt-get install valgrind), which is not on "
                         "PATH")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return path, out.stdout.strip()


@dataclass
class Job:
    """One process: one side's trials, counted in order."""

    side: str
    index: int
    tree: Path
    tasks: list[dict[str, Any]]
    out_dir: Path
    instrument: str = "counted"  # INSTRUMENT
    counts: list[list[int]] = field(default_factory=list)  # per task, per counted epoch (the warm-up never is)
    dumps: list[list[Path]] = field(default_factory=list)  # per task, its counted epochs' callgrind dumps
    task_errors: list[str] = field(default_factory=list)  # per task ("" when counted)
    error: str = ""  # the process failed: no task counted
    seconds: float = 0.0  # the process's wall time

    def failure(self, t: int) -> str:
        """Why task t has no count in this process ('' when it has)."""
        return self.error or self.task_errors[t]

    def epochs(self, t: int) -> list[int]:
        """Task t's count of each counted epoch."""
        return self.counts[t]

    def dumps_of(self, t: int) -> list[Path]:
        """Task t's callgrind dumps, one per counted epoch."""
        return self.dumps[t]

    def run(self, valgrind_path: str) -> Job:
        """Start the process under callgrind, wait, read its dumps (one per counted epoch, task after task)."""
        t0 = time.perf_counter()
        try:
            return self._run(valgrind_path)
        finally:
            self.seconds = time.perf_counter() - t0

    def _run(self, valgrind_path: str) -> Job:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        env = worker_env(self.tree)
        cmd = [valgrind_path, "--tool=callgrind", f"--callgrind-out-file={self.out_dir / 'callgrind.out'}",
               *(["--instr-atstart=no"] if self.instrument == "counted" else []),
               sys.executable, "-c", _RUN_WORKER.format(str(WORKER)), json.dumps(self.tasks),
               "--instrument", self.instrument]
        proc = subprocess.run(cmd, cwd=self.tree, env=env, capture_output=True, text=True, check=False)
        (self.out_dir / "stderr.txt").write_text(proc.stderr, encoding="utf-8")
        if proc.returncode != 0:
            tail = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("==")]
            self.error = f"exit status {proc.returncode}: {(tail or ['(no message)'])[-1][:300]}"
            return self
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
        if not facts.get("running_on_valgrind"):
            self.error = "the worker did not run under valgrind (its client requests went unanswered)"
            return self
        dump = iter(range(1, 1 + sum(t["dumps"] for t in facts["tasks"])))
        for task in facts["tasks"]:
            paths = [self.out_dir / f"callgrind.out.{next(dump)}" for _ in range(task["dumps"])]
            counts = [_totals(path) for path in paths]
            self.dumps.append(paths)
            if task["error"]:
                self.task_errors.append(task["error"])
            elif not counts:
                self.task_errors.append("no epoch was counted (the trainer read the clock other than twice an epoch?)")
            elif task["device"] != "cpu:0":
                self.task_errors.append(f"ran on {task['device']!r}, not cpu:0")
            else:
                self.task_errors.append("")
            self.counts.append(counts)
        return self


def worker_env(tree: Path) -> dict[str, str]:
    """A counting process's environment: the side's checkout first on the path, one BLAS thread, fixed hashing."""
    return {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(tree),
            **{var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}


def uncountable(tree: Path) -> str:
    """Why a checkout's trainer cannot be counted ("" when it can): the counting worker needs its
    mlp_core.trainer.make_trainer."""
    try:
        text = (tree / "mlp_core" / "trainer.py").read_text(encoding="utf-8")
    except OSError:
        text = ""
    return "" if "def make_trainer" in text else "predates mlp_core.trainer.make_trainer, which the count needs"


def run_jobs(jobs: Sequence[Job], valgrind_path: str, *, parallel: int, progress: bool = False) -> None:
    """Run the processes, `parallel` at a time (counts do not depend on the load)."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool, \
            tqdm(total=len(jobs), desc="icount processes", unit="proc", disable=not progress, file=sys.stderr) as bar:
        for _ in pool.map(lambda j: j.run(valgrind_path), jobs):
            bar.update(1)


def _totals(path: Path) -> int:
    match = _TOTALS.search(path.read_bytes())
    if match is None:
        raise ValueError(f"{path}: no 'totals:' line")
    return int(match.group(1))


def count_calls(tree: Path, tasks: list[dict[str, Any]], out_dir: Path) -> list[dict[str, Any] | str]:
    """Per task, its counted epochs' Python-level call counts and the checkout's lines that made them
    ({"calls": [per epoch], "lines": {key: [text]}}: callgrind_worker --calls, natively, in the side's checkout), or
    why there are none."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = worker_env(tree)
    proc = subprocess.run([sys.executable, "-c", _RUN_WORKER.format(str(WORKER)), json.dumps(tasks), "--calls"],
                          cwd=tree, env=env, capture_output=True, text=True, check=False)
    (out_dir / "stderr.txt").write_text(proc.stderr, encoding="utf-8")
    try:
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return [f"the call count failed: {(tail or ['(no message)'])[-1][:200]}"] * len(tasks)
    return [{"calls": t["calls"], "lines": t.get("lines", {})} if "calls" in t and not t["error"] else
            (t["error"] or "this checkout's worker has no --calls") for t in facts["tasks"]]


def process_value(epoch_counts: Sequence[int]) -> float:
    """A process's value for a trial: the median count of its counted epochs (the warm-up is never counted)."""
    return float(statistics.median(epoch_counts))


def spread(values: Sequence[float]) -> float:
    """max / min - 1 over a side's processes (0 for identical counts)."""
    return max(values) / min(values) - 1.0


def verdict(base: Sequence[float], cand: Sequence[float], threshold: float) -> tuple[float, str]:
    """(ratio of medians, verdict) of one configuration."""
    ratio = statistics.median(cand) / statistics.median(base)
    if max(spread(base), spread(cand)) > threshold / 2:
        return ratio, "unsteady"
    if ratio > 1 + threshold:
        return ratio, "slower"
    if ratio < 1 / (1 + threshold):
        return ratio, "faster"
    return ratio, "same"


def threshold_of(threshold: float | dict[str, float], cid: str) -> float:
    """A configuration's threshold: one for all, or {config id: threshold} (thresholds per execution mode)."""
    return threshold[cid] if isinstance(threshold, dict) else threshold


def close(ratio: float, threshold: float) -> bool:
    """Whether a ratio lies within +-threshold/2 of either verdict's boundary (1 + t for slower, 1 / (1 + t) for
    faster): a count that a confirmation run settles before the verdict."""
    half = threshold / 2 * (1 + 1e-9)  # the band's edges included, whatever the float rounding
    return abs(ratio - (1 + threshold)) <= half or abs(ratio - 1 / (1 + threshold)) <= half


def judge(cid: str, t: int, jobs: Sequence[Job], sides: Sequence[str], threshold: float) -> dict[str, Any]:
    """The row of task t over these processes: each side's counts, ratio and verdict."""
    row: dict[str, Any] = {"config_id": cid, "threshold": threshold}
    errors = [f"{j.side} process {j.index}: {j.failure(t)}" for j in jobs if j.failure(t)]
    for side in sides:
        row[side] = [j.epochs(t) for j in jobs if j.side == side and not j.failure(t)]
    if errors:
        row.update(ratio=None, verdict="error", reason="; ".join(errors))
        return row
    base, cand = ([process_value(c) for c in row[side]] for side in sides)
    ratio, word = verdict(base, cand, threshold)
    # the epochs of one process may drift alike on both sides (the first counted epoch of a tf.function carries
    # some one-off work in a few processes): shown, not judged
    within = max(spread(c) for side in sides for c in row[side])
    row.update(baseline_per_epoch=statistics.median(base), candidate_per_epoch=statistics.median(cand),
               spread_baseline=spread(base), spread_candidate=spread(cand), spread_epochs=within, ratio=ratio,
               verdict=word, reason="")
    return row


def count(trees: dict[str, Path], tasks: list[dict[str, Any]], ids: list[str], out: Path, *, processes: int,
          threshold: float | dict[str, float], parallel: int, progress: bool = True, instrument: str = "counted",
          explain: str = "slower", confirm: bool = True) -> dict[str, Any]:
    """Count every task on both sides in `processes` processes each; the result document (also OUT/icount.json).
    `threshold`: one for all, or {config id: threshold}.
    `confirm`: a configuration whose ratio is close() to a boundary gets one more process a side (a replica of the
    first) and is judged over all of them. `explain`: which configurations get their deltas (profile.deltas from the
    first processes' dumps, calls_of): "slower" (default), "all" or "none"."""
    if instrument not in INSTRUMENT:
        raise InputError(f"instrument: {instrument!r}: expected one of {', '.join(INSTRUMENT)}")
    if explain not in EXPLAIN:
        raise InputError(f"explain: {explain!r}: expected one of {', '.join(EXPLAIN)}")
    path, version = valgrind()
    sides = list(trees)
    jobs = [Job(side, k, tree, tasks, out / "icount" / side / f"process-{k}", instrument=instrument)
            for k in range(processes) for side, tree in trees.items()]
    run_jobs(jobs, path, parallel=parallel, progress=progress)
    rows = [judge(cid, t, jobs, sides, threshold_of(threshold, cid)) for t, cid in enumerate(ids)]
    near = [t for t, row in enumerate(rows)
            if confirm and row["verdict"] not in ("error", "unsteady") and close(row["ratio"], row["threshold"])]
    jobs_run = jobs
    if near:  # one more process a side, a replica of the first (the same tasks: what else a process trains and
        # imports moves its counts, e.g. NumPy's by 3.5% without TensorFlow loaded); only the close ones use it
        extra = [Job(side, processes, tree, tasks, out / "icount" / side / f"process-{processes}",
                     instrument=instrument) for side, tree in trees.items()]
        run_jobs(extra, path, parallel=parallel, progress=progress)
        jobs_run = [*jobs, *extra]
        for t in near:
            first = rows[t]
            rows[t] = judge(ids[t], t, jobs_run, sides, first["threshold"])
            rows[t]["confirmation"] = {"first_ratio": first["ratio"], "first_verdict": first["verdict"],
                                       "processes_per_side": processes + 1}
    for t, row in enumerate(rows):
        if row["verdict"] != "error" and (explain == "all" or (explain == "slower" and row["verdict"] == "slower")):
            row["functions"] = profile.deltas(*(next(j for j in jobs if j.side == side).dumps_of(t) for side in sides))
    explained = [t for t, row in enumerate(rows) if "functions" in row]
    for t, found in zip(explained, calls_of(trees, [tasks[t] for t in explained], out / "icount")):
        rows[t].update(found)
    doc = {"gate": "icount", "tool": f"{version} --tool=callgrind" + (" --instr-atstart=no" if instrument == "counted"
                                                                    else ""), "instrument": instrument,
           "threshold": threshold, "confirm": confirm,
           "processes_per_side": processes, "trees": {k: str(v) for k, v in trees.items()},
           "unit": "instructions per epoch (median of the epochs after the warm-up; median over processes)",
           "seconds": {j.side + f"-{j.index}": round(j.seconds, 1) for j in jobs_run},
           "configs": rows}
    write_json(out / "icount.json", doc, what="--out")
    return doc


def calls_of(trees: dict[str, Path], tasks: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Per task, its Python-level call deltas between the two trees ({"calls": call_deltas()}), or why there are
    none ({"calls_error": ...}): the tasks run once more a side, natively (count_calls)."""
    if not tasks:
        return []
    with ThreadPoolExecutor(max_workers=len(trees)) as pool:  # natively, one process a side, side by side
        found = dict(zip(trees, pool.map(lambda side: count_calls(trees[side], tasks, out / side / "calls"), trees)))
    own = [(lambda f, tree=tree: bool(f) and not os.path.isabs(f) and (tree / f).is_file()) for tree in trees.values()]
    result = []
    for k in range(len(tasks)):
        each = [found[side][k] for side in trees]
        if all(isinstance(f, dict) for f in each):
            lines = {key: text for f in each for key, text in f["lines"].items()}  # the candidate's last
            result.append({"calls": profile.call_deltas(*(f["calls"] for f in each), lines=lines,
                                                        own=lambda f: any(o(f) for o in own))})
        else:
            result.append({"calls_error": "; ".join(f for f in each if isinstance(f, str))})
    return result


def status(doc: dict[str, Any]) -> int:
    """Exit status: 0 when every configuration is 'same' or 'faster', 1 otherwise."""
    return 0 if all(r["verdict"] in ("same", "faster") for r in doc["configs"]) else 1
