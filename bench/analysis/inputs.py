"""What a comparison is made of: per configuration, one value per process-level unit, and where it
came from. Loads run directories (through bench.store) and pytest-benchmark JSON files or folders
of them (one process each). Used by bench.compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.analysis.evidence import repeat_units
from bench.format import load_run, read_json
from bench.format.errors import InputError
from bench.format.identity import gpu_names


class CompareError(InputError):
    """Bad input: the message names the field and the value."""


@dataclass
class Measured:
    """Per configuration, one value per repeat (run dirs) or round (pytest-benchmark), and provenance."""

    source: str
    units: dict[str, dict[int, float]]  # config -> {unit index: time (s)}: a repeat's median epoch, or a round
    fingerprint: dict[str, str]
    commit: str | None = None
    ab_id: str | None = None  # both sides of one bench.ab run share it: their repeats are paired
    processes: int = 0  # measuring processes behind the units (0: not recorded)
    one_process: bool = False  # every unit is a round of a single process: code and process noise are confounded
    machine_of: dict[str, str] = field(default_factory=dict)  # config -> machine id that measured it (run dirs)
    workload: tuple[str, str] | None = None  # (name, the spec it was loaded by): run dirs
    loss: str | None = None  # the loss its losses hold (run dirs)
    # config -> {"test loss": median over repeats, "test accuracy": ..., ...}: what each trial trained to (run dirs)
    quality: dict[str, dict[str, float]] = field(default_factory=dict)


def load(path: str | Path) -> Measured:
    """A run directory or a pytest-benchmark JSON file."""
    path = Path(path)
    if not path.exists():
        raise CompareError(f"input: {str(path)!r}: no such file or directory")
    if path.is_dir() and not (path / "meta.json").exists() and any(path.glob("*.json")):
        return _load_pytest_benchmark_files(path)
    if path.is_dir():
        return _load_run_dir(path)
    if path.is_file() and path.suffix == ".json":
        return _load_pytest_benchmark(path)
    raise CompareError(f"input: {str(path)!r}: neither a run directory nor a pytest-benchmark .json file")


def _load_run_dir(path: Path) -> Measured:
    run = load_run(path)
    meta = run.meta
    tf_facts = meta.get("tensorflow") or {}
    ok = set(run.ok["config_id"])
    # the machines that measured its ok trials (a Ray or merged run may have several; older schemas: the one)
    used = sorted(set(run.ok["machine"]) - {""})
    facts = [(meta.get("machines") or {}).get(m) or {} for m in used]
    cpus = sorted({str(f.get("cpu_model")) for f in facts}) or [str((meta.get("host") or {}).get("cpu_model"))]
    gpus = sorted({g for f in facts for g in f.get("gpus") or []}) if facts else gpu_names(tf_facts)
    fingerprint = {"cpu_model": ", ".join(cpus), "gpu": ", ".join(gpus) or "none",
                   "tensorflow": str(tf_facts.get("tensorflow"))}
    reps = run.repeats[run.repeats["config_id"].isin(ok)]
    units = repeat_units(run)
    # each repeat records its worker's pid (schema 2): repeats that all came from one process are rounds
    # of that process, not independent observations (schema 1 did not record it: not known, not assumed)
    pids = reps["worker_pid"].dropna()
    processes = int(pids.nunique()) if len(pids) == len(reps) else 0
    return Measured(str(path), units, fingerprint, (meta.get("git") or {}).get("commit"),
                    (meta.get("ab") or {}).get("id"), processes=processes, one_process=processes == 1,
                    machine_of=dict(zip(run.ok["config_id"], run.ok["machine"])),
                    workload=(run.workload.name, run.workload.spec), loss=run.workload.loss_name,
                    quality={r["config_id"]: {f"test {m}": float(r[f"test_{m}_median"])
                                              for m in ("loss", *run.workload.metrics)}
                             for r in run.ok.to_dict("records")})


def _load_pytest_benchmark_files(folder: Path) -> Measured:
    """A folder of pytest-benchmark files, one process each: the unit is a file's median round."""
    files = sorted(folder.glob("*.json"))
    sides = [_load_pytest_benchmark(f) for f in files]
    prints = {tuple(sorted(m.fingerprint.items())) for m in sides}
    if len(prints) > 1:
        raise CompareError(f"input: {str(folder)!r}: its files come from different machines")
    units: dict[str, dict[int, float]] = {}
    for i, m in enumerate(sides):
        for name, rounds in m.units.items():
            units.setdefault(name, {})[i] = float(np.median(list(rounds.values())))
    return Measured(str(folder), units, sides[0].fingerprint, sides[-1].commit, processes=len(files),
                    one_process=len(files) == 1)


def _load_pytest_benchmark(path: Path) -> Measured:
    data = read_json(path, what="input")
    where = f"input: {str(path)!r}"
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise CompareError(f"{where}: no 'benchmarks' list: not a pytest-benchmark file")
    machine = data.get("machine_info") if isinstance(data.get("machine_info"), dict) else {}
    cpu = machine.get("cpu_model") or (machine.get("cpu") if isinstance(machine.get("cpu"), dict) else {}).get(
        "brand_raw")
    gpus = machine.get("gpus") if isinstance(machine.get("gpus"), list) else []
    fingerprint = {"cpu_model": str(cpu), "gpu": ", ".join(map(str, gpus)) or "none",
                   "tensorflow": str(machine.get("tensorflow"))}
    units = {}
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict):
            raise CompareError(f"{where}: benchmarks[{i}]: expected an object")
        name = bench.get("fullname") or bench.get("name")
        if not isinstance(name, str) or not name:
            raise CompareError(f"{where}: benchmarks[{i}]: no name")
        stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
        raw = stats.get("data")
        if not raw:
            raise CompareError(f"stats.data: missing in {name!r} of {str(path)!r}: save with --benchmark-save-data "
                               f"(the raw rounds are needed)")
        if not isinstance(raw, list) or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                                and math.isfinite(x) and x > 0 for x in raw):
            raise CompareError(f"{where}: {name}: stats.data: expected a list of positive times in seconds")
        if name in units:
            raise CompareError(f"{where}: {name}: appears twice")
        units[name] = dict(enumerate(float(x) for x in raw))
    if not units:
        raise CompareError(f"{where}: the 'benchmarks' list is empty: nothing to compare")
    commit = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    return Measured(str(path), units, fingerprint, commit.get("id") if isinstance(commit.get("id"), str) else None,
                    processes=1, one_process=True)  # one pytest session: its rounds share a process
