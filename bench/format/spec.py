"""The sweep specification: presets, TOML files and flags merged and validated in one place.

No TensorFlow here: `python -m bench.run --help` and every validation message answer at once.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench.format.derive import config_id
from bench.format.errors import InputError
from bench.format.stats import DEFAULT_MARGIN
from mlp_core import modes, workloads
from mlp_core.enums import Device, DTypeMode, ExecMode


class SpecError(InputError):
    """Bad input: one line naming the field and the value."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {value!r}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSpec:
    """The matrix to measure and how to measure it."""

    # the model (mlp_core.workloads): a built-in's name (mlp, cnn), an installed entry point's, or
    # "package.module:factory"; its defaults fill `sizes` and `learning_rate` when they are not given
    workload: str = workloads.DEFAULT
    devices: tuple[Device, ...] = (Device.CPU, Device.GPU)
    batch_sizes: tuple[int, ...] = (4, 32, 256)
    sizes: tuple[int, ...] = (20, 256, 2048)  # the workload's size axis: the MLP's hidden widths, the CNN's channels
    dtypes: tuple[DTypeMode, ...] = (DTypeMode.FLOAT32, DTypeMode.FLOAT64_CAST)
    modes: tuple[ExecMode, ...] = (ExecMode.EAGER,)
    threads: tuple[int, ...] = (0,)  # CPU intra/inter-op threads; 0 = TensorFlow's default
    # devices per trial (tf.distribute.MirroredStrategy over N devices of the trial's kind; modes eager and
    # function); "strong": batch_sizes are global batches, split over the replicas; "weak": batch_sizes
    # are per replica (a trial's global batch is N x b). analysis.json reports both kinds of scaling
    # wherever the matrix has the pair.
    replicas: tuple[int, ...] = (1,)
    scaling: str = "strong"
    epochs: int = 5  # per repeat; epoch 0 is the warm-up, stored apart
    n_train: int = 800  # the article's data sizes
    n_test: int = 200
    learning_rate: float = 1e-4
    seed: int = 0  # data seed; repeat r initialises the weights from seed + r
    min_repeats: int = 3
    max_repeats: int = 30
    target_ci: float = 0.02  # stop when the 95% CI of the median is within +-2% of it
    trial_budget_s: float = 4.0  # ... or when a trial has spent this long
    trial_timeout_s: float = 600.0  # a single repeat taking longer kills its worker
    peak_n: int = 2048  # (n, n) matmul timed per device, dtype and thread setting: the GFLOP/s ceiling; 0 = skip
    # "round": fresh worker processes every round, so each repeat of a trial comes from its own process
    # (a process has a state of its own: the process is the unit of replication when code is compared;
    # about 6 s a round on a 2-core CPU); "run": one per thread setting for the whole run (bench.ab and
    # scripts/ci.toml use "round")
    workers: str = "run"
    # "dtype": the trials of one configuration that differ only in dtype run back to back in every round, in
    # alternating order, on one worker, so the cast's answer comes from per-round paired ratios (shared drift
    # cancels); "none": each trial in its own place in the shuffled order
    pairing: str = "dtype"
    margin: float = DEFAULT_MARGIN  # the answers: a difference in time within +-5% counts as no difference
    # "precision": a trial adds repeats until its median's CI reaches target_ci (or its budget / max repeats);
    # "answers": until every comparison it takes part in (its dtype partner, the reference mode, the other
    # device) is decided or shown to make no difference: the time goes where an answer is still open
    stop_rule: str = "precision"
    # the whole run's measuring time (s): no repeat is started that would end past it (a trial's minimum
    # repeats excepted), and trials stop on it instead of on trial_budget_s; None: no such limit
    time_budget_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready view (enums as strings, tuples as lists)."""
        out = {}
        for k, v in asdict(self).items():
            out[k] = [str(x) if isinstance(x, str) else x for x in v] if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One point of the matrix; `config_id` is stable across runs and machines."""

    device: Device
    mode: ExecMode
    dtype: DTypeMode
    batch_size: int
    size: int
    threads: int
    replicas: int = 1
    workload: str = workloads.DEFAULT  # the workload's name (rows, ids); the spec loads it

    @property
    def config_id(self) -> str:
        """e.g. 'cpu-eager-float64-cast-b4-h20-t0' ('-r2' appended for 2 replicas; 'cnn-' before another
        workload's)."""
        return config_id(self.device, self.mode, self.dtype, self.batch_size, self.size, self.threads,
                         self.replicas, self.workload)

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON."""
        return {k: (str(v) if isinstance(v, str) else v) for k, v in asdict(self).items()}


PRESETS: dict[str, dict[str, Any]] = {
    # Under 2 minutes on a 2-core CPU machine (README: measured). 3 epochs a repeat (the first the warm-up)
    # and at least 3 repeats: 6 timed epochs a trial, the fewest the median's 95% CI needs; the 6 batch-4
    # trials (200 eager steps an epoch) are most of the time; the others stop after 1.5 s. The defaults
    # (5 epochs, 4 s) took 2m39s.
    "quick": {"epochs": 3, "trial_budget_s": 1.5},
    # Exactly the article's settings, its faulty loop beside the clean one.
    "article": {"batch_sizes": [4], "sizes": [20], "dtypes": ["float64-cast"], "modes": ["article", "eager"]},
    # Wide: batch 1..4096 by powers of 4 (so 4096 training samples), hidden 8..8192, every dtype,
    # every clean mode and the NumPy baseline. Hours on a 2-core CPU: batch 1 is 4096 steps an epoch.
    "full": {
        "n_train": 4096,
        "n_test": 1024,
        "batch_sizes": [1, 4, 16, 64, 256, 1024, 4096],
        "sizes": [8, 32, 128, 512, 2048, 8192],
        "dtypes": ["float32", "float64-cast", "float64"],
        "modes": ["eager", "function", "xla", "graph", "numpy"],
    },
}

LIST_FIELDS = {
    "devices": Device,
    "dtypes": DTypeMode,
    "modes": ExecMode,
    "batch_sizes": int,
    "sizes": int,
    "threads": int,
    "replicas": int,
}
INT_FIELDS = ("epochs", "n_train", "n_test", "seed", "min_repeats", "max_repeats", "peak_n")
ZERO_OK = ("seed", "peak_n")  # the integer fields where 0 is meaningful
# the largest value each integer field takes: beyond it a trial cannot run on any machine (or a count overflows
# the analysis), so it is refused here, naming the field, rather than failing in every trial
MAXIMA = {"batch_sizes": 10**7, "sizes": 10**6, "threads": 1024, "replicas": 1024, "epochs": 10**5,
          "n_train": 10**8, "n_test": 10**8, "seed": 2**63 - 1, "min_repeats": 10**6, "max_repeats": 10**6,
          "peak_n": 65536}
CHOICE_FIELDS = {"workers": ("round", "run"), "scaling": ("strong", "weak"), "pairing": ("dtype", "none"),
                 "stop_rule": ("precision", "answers")}
SPEC_KEYS = tuple(f.name for f in fields(SweepSpec))
ALIASES = {"hidden_sizes": "sizes"}  # the MLP's name for its size axis (TOML files and runs before workloads)
WORKLOAD_DEFAULTS = ("sizes", "learning_rate")  # from the workload when not given (a preset's are the MLP's)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a sweep TOML file; SpecError when unreadable or malformed."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SpecError("config", str(path), f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("config", str(path), f"malformed TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError("config", str(path), f"not UTF-8 text (byte {exc.start})") from None


def build_spec(*layers: dict[str, Any], mode_facts: Mapping[str, Any] | None = None,
               workload_facts: Mapping[str, Any] | None = None) -> SweepSpec:
    """Merge layers (preset, then TOML, then flags; later wins) and validate into a SweepSpec. `mode_facts`:
    a run directory's record of its modes (meta.json `modes`), so that a mode whose plug-in is not installed
    here still reads (it cannot run); `workload_facts` the same for its workload (meta.json `workload`: a
    user's workload reads where its module is not importable)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        both = [k for k in ALIASES if layer.get(k) is not None and layer.get(ALIASES[k]) is not None]
        if both:
            raise SpecError(both[0], layer[both[0]], f"the older name of {ALIASES[both[0]]!r}, given beside it: "
                            "keep one")
        for key, value in layer.items():
            if value is not None:
                key = ALIASES.get(key, key)
                merged[key] = value
    preset = merged.pop("preset", "quick")
    if preset not in PRESETS:
        raise SpecError("preset", preset, f"unknown preset (choose from {', '.join(PRESETS)})")
    name = merged.get("workload", workloads.DEFAULT)
    if not isinstance(name, str) or not name.strip():
        raise SpecError("workload", name, "expected a workload name or package.module:factory")
    if workload_facts:
        workload = None
        merged["workload"] = workloads.remember(dict(workload_facts)).spec
    else:
        try:
            workload = workloads.get(name)
        except workloads.WorkloadError as exc:
            raise SpecError("workload", name, str(exc).removeprefix(f"workload {name!r}: ")) from None
        merged["workload"] = workload.spec
    values = dict(PRESETS[preset])
    if workload is not None and workload.name != workloads.DEFAULT:
        for key in WORKLOAD_DEFAULTS:
            values.pop(key, None)  # the presets' sizes are the MLP's
        if "modes" in values:  # and so are some of their modes (numpy, the article's loop): the ones it runs
            values["modes"] = [m for m in values["modes"] if m in workload.mode_names()] or ["eager"]
    if workload is not None:
        values.setdefault("sizes", list(workload.default_sizes))
        values.setdefault("learning_rate", workload.learning_rate)
    values.update(merged)
    unknown = sorted(set(values) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(unknown[0], values[unknown[0]], f"unknown key (known: {', '.join(SPEC_KEYS)})")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key in LIST_FIELDS:
            kwargs[key] = _parse_list(key, value, LIST_FIELDS[key], mode_facts or {})
        elif key in INT_FIELDS:
            kwargs[key] = _parse_int(key, value, minimum=0 if key in ZERO_OK else 1)
        elif key == "workload":
            kwargs[key] = value
        elif key in CHOICE_FIELDS:
            if value not in CHOICE_FIELDS[key]:
                raise SpecError(key, value, f"unknown value (choose from {', '.join(CHOICE_FIELDS[key])})")
            kwargs[key] = value
        else:
            kwargs[key] = _parse_float(key, value)
    spec = SweepSpec(**kwargs)
    _check_consistency(spec)
    if workload is not None:
        _check_workload(spec, workload)
    return spec


def _check_workload(spec: SweepSpec, workload: workloads.Workload) -> None:
    """The modes, dtypes and replicas the workload supports."""
    for field, values, known in (("modes", spec.modes, workload.mode_names()),
                                 ("dtypes", spec.dtypes, workload.dtypes)):
        bad = [str(v) for v in values if str(v) not in known]
        if bad:
            raise SpecError(field, bad[0], f"workload {workload.name!r} does not run it (it runs: {', '.join(known)})")
    if not workload.own_trainers and max(spec.replicas) > 1:
        raise SpecError("replicas", max(spec.replicas), f"replicas are the MLP's own trainers'; workload "
                        f"{workload.name!r} trains on one device")



def _parse_list(field: str, value: Any, kind: type, mode_facts: Mapping[str, Any]) -> tuple:
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or any(i == "" for i in items):
        raise SpecError(field, value, "expected a non-empty comma-separated list")
    out = []
    for item in items:
        if kind is int:
            out.append(_parse_int(field, item, minimum=0 if field == "threads" else 1))
        else:
            try:
                facts = mode_facts.get(item) if kind is ExecMode else None
                out.append(kind(item, facts) if isinstance(facts, dict) else kind(item))
            except (ValueError, TypeError):
                choices = ", ".join(modes.names() if kind is ExecMode else (m.value for m in kind))
                raise SpecError(field, item, f"unknown value (choose from {choices})") from None
    if len(set(out)) != len(out):
        raise SpecError(field, value, "duplicate values")
    return tuple(out)


def _parse_int(field: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise SpecError(field, value, "expected an integer")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise SpecError(field, value, "expected an integer") from None
    if not isinstance(value, int):
        raise SpecError(field, value, "expected an integer")
    if value < minimum:
        raise SpecError(field, value, "must be positive" if minimum == 1 else f"must be >= {minimum}")
    if value > MAXIMA.get(field, value):
        raise SpecError(field, value, f"larger than the limit {MAXIMA[field]:,}")
    return value


def _parse_float(field: str, value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not number > 0 or number == float("inf"):
        raise SpecError(field, value, "expected a positive number")
    return number


def _check_consistency(spec: SweepSpec) -> None:
    too_big = [b for b in spec.batch_sizes if b > spec.n_train]
    if too_big:
        raise SpecError("batch_sizes", too_big[0], f"larger than the training set (n_train={spec.n_train})")
    too_big = [t for t in trials(spec) if t.batch_size > spec.n_train]
    if too_big:
        raise SpecError("replicas", too_big[0].replicas, f"weak scaling makes a global batch of "
                        f"{too_big[0].batch_size}, larger than the training set (n_train={spec.n_train})")
    few = [b for b in spec.batch_sizes for r in spec.replicas if spec.scaling == "strong" and b < r]
    if few:
        raise SpecError("batch_sizes", few[0], f"smaller than the replicas it is split over ({max(spec.replicas)})")
    if spec.max_repeats < spec.min_repeats:
        raise SpecError("max_repeats", spec.max_repeats, f"smaller than min_repeats ({spec.min_repeats})")
    if spec.margin >= 1:
        raise SpecError("margin", spec.margin, "expected a fraction below 1 (0.05 = 5%)")
    if spec.epochs < 2:
        raise SpecError("epochs", spec.epochs, "need at least 2 (epoch 0 is the warm-up)")
    if not trials(spec):
        if all(d.mixed for d in spec.dtypes):
            raise SpecError("dtypes", [d.value for d in spec.dtypes], "empty matrix: mixed precision is the TF modes' "
                            "(eager, function, xla, graph) on one device; add one, or a float dtype")
        cpu_only = [m.value for m in spec.modes if m.cpu_only]
        raise SpecError("modes", [m.value for m in spec.modes], "empty matrix" + (
            f": {', '.join(map(repr, cpu_only))} run(s) on the CPU only" if cpu_only else ""))


def trials(spec: SweepSpec) -> list[Trial]:
    """The matrix in its canonical order. The thread axis is a CPU axis: GPU trials use TF's default.
    Replicas > 1 only for the modes tf.distribute runs (eager, function); under weak scaling their global
    batch is replicas x the listed batch."""
    out = []
    name = workloads.name_of(spec.workload)
    for device, mode, dtype, batch, size, replicas in itertools.product(
        spec.devices, spec.modes, spec.dtypes, spec.batch_sizes, spec.sizes, spec.replicas
    ):
        if (mode.cpu_only and device is not Device.CPU) or (replicas > 1 and not mode.distributable):
            continue
        if dtype.mixed and (not mode.info.mixed_precision or replicas > 1):  # 16-bit compute: the TF modes'
            continue
        global_batch = batch * replicas if spec.scaling == "weak" else batch
        for threads in spec.threads if device is Device.CPU else (0,):
            out.append(Trial(device=device, mode=mode, dtype=dtype, batch_size=global_batch, size=size,
                             threads=threads, replicas=replicas, workload=name))
    return out


def parse_shard(value: str) -> dict[str, int]:
    """'K/N' -> {"index": K, "count": N}, 1 <= K <= N; SpecError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise SpecError("shard", value, "expected K/N with 1 <= K <= N, e.g. 2/4")
    return {"index": int(m.group(1)), "count": int(m.group(2))}


def shard_trials(all_trials: list[Trial], shard: Mapping[str, int] | None) -> list[Trial]:
    """Shard K of N: every N-th trial of the canonical order, starting at the K-th (deterministic, disjoint,
    and each shard a similar mix of sizes); None: all of them."""
    if not shard:
        return list(all_trials)
    return [t for i, t in enumerate(all_trials) if i % shard["count"] == shard["index"] - 1]
