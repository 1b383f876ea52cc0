"""The workload interface: what a model gives the harness, declared once, and how a workload is found by name.

A workload is a model the harness measures. The article's MLP (`mlp`) is the default and the reference;
`cnn` is a second built-in; a user's own comes from an importable module (`package.module:factory`) or an
installed package's entry point (group `eager_mlp_bench.workloads`, the entry's name is the workload's).

What a workload gives the harness (the `Workload` fields):
- `name`, `summary`: how rows, tables and figures name it;
- one size axis: `size_name` ("hidden", "channels"), `size_doc` and `default_sizes` (the sweep's sizes
  when none are asked for);
- `data(seed, n_train, n_test) -> Data`: deterministic synthetic data, float64, X (n, ...) and y (n,) or
  (n, k); a regression target (the harness trains and records the mean squared error);
- `model(size) -> keras.Model`: called by the harness under hard placement on the trial's device, with the
  dtype mode's compute dtype as Keras's policy and the weights' seed set (so its initial weights are the
  same for a seed);
- `learning_rate`: the sweep's learning rate when none is asked for;
- `optimizer(learning_rate) -> keras optimizer` (optional): its own optimiser; without one the harness's
  plain gradient descent (w -= lr * g);
- `step_flops(batch, size) -> int` (optional): FLOPs of one training step; FLOP-based figures and the
  GFLOP/s column appear only for workloads that give it;
- `modes` and `dtypes`: the execution modes and dtype modes it supports.

What the harness does with it (mlp_core.keras_train): data on the host, the model built on the trial's
device, trained in the generic TensorFlow modes (eager loop, tf.function step, XLA, whole-epoch graph),
cast per step for float64-cast, timed through the one timed loop (mlp_core.epochs.run_epochs) with the
device sync before every clock read, the train MSE of every epoch and the test MSE recorded, and the
placement of every weight, optimiser slot and result checked. The non-TF modes (numpy, numba, JAX) and
the article's loop stay the MLP's own.

No TensorFlow here: `--help`, spec validation and the store read workloads without it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mlp_core import modes
from mlp_core.cnn import cnn_data, cnn_model, cnn_step_flops
from mlp_core.data import Data, make_data
from mlp_core.flops import train_step_flops
from mlp_core.metrics import NAMES as METRIC_NAMES

ENTRY_POINT_GROUP = "eager_mlp_bench.workloads"
DEFAULT = "mlp"
GENERIC_MODES = ("eager", "function", "xla", "graph")  # the modes every TF workload trains in (keras_train)
ALL_DTYPES = ("float32", "float64-cast", "float64", "mixed_float16", "mixed_bfloat16")
MIXED_DTYPES = ("mixed_float16", "mixed_bfloat16")  # 16-bit compute: the TF modes' (modes.Mode.mixed_precision)
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")  # in configuration ids: no '-' (the id's separator)
# what a run directory records of its workload (meta.json `workload`): enough to read it without the module
FACTS = ("name", "spec", "summary", "size_name", "size_doc", "has_flops", "own_trainers", "loss_name", "metrics")
# the facts that are true or false (the others are strings); a record from before own_trainers lacks it (the name
# decides: WorkloadFacts.of)
FLAGS = ("has_flops", "own_trainers")
LISTS = ("metrics",)  # lists of strings
# the facts a record from before them lacks, and what they were then (own_trainers: decided by the name)
LATER_FACTS = {"own_trainers": False, "loss_name": "mse", "metrics": []}


def fact_type_problem(key: str, value: Any) -> str:
    """'' where a recorded workload fact (meta.json `workload`) has its type, else the type it needs: true or
    false (FLAGS), a list of strings (LISTS), or a string."""
    if key in FLAGS:
        return "" if isinstance(value, bool) else "true or false"
    if key in LISTS:
        return "" if isinstance(value, list) and all(isinstance(v, str) for v in value) else "a list of strings"
    return "" if isinstance(value, str) else "a string"


class WorkloadError(ValueError):
    """A workload that cannot be found, imported or built: one line naming the spec and the reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """One model the harness can measure (see the module docstring for each field's contract)."""

    name: str
    summary: str
    size_name: str
    size_doc: str
    default_sizes: tuple[int, ...]
    data: Callable[[int, int, int], Data]
    model: Callable[[int], Any] | None = None  # None only for the MLP (its own trainers)
    learning_rate: float = 1e-2
    optimizer: Callable[[float], Any] | None = None
    step_flops: Callable[[int, int], int] | None = None
    modes: tuple[str, ...] = GENERIC_MODES
    dtypes: tuple[str, ...] = ALL_DTYPES
    # the loss the harness trains and records: "mse" (the mean squared error, every regression's), a Keras loss's
    # name ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "huber", ...)
    # or a callable (y_true, y_pred) -> per-sample losses
    loss: str | Callable[[Any, Any], Any] = "mse"
    metrics: tuple[str, ...] = ()  # computed on the test set by the harness (mlp_core.metrics: accuracy, mae)
    spec: str = ""  # how it was found: a built-in's name, "package.module:factory", or an entry point's name
    # trains with mlp_core's own backends (every registered execution mode, replicas, the NumPy oracle, the
    # ladder's breakdown): the article's MLP; False: its Keras model in the generic TF modes (keras_train)
    own_trainers: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise WorkloadError(f"workload name {self.name!r}: lower-case letters, digits and '_', starting "
                                "with a letter")
        sizes = tuple(self.default_sizes)
        if not sizes or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
            raise WorkloadError(f"workload {self.name!r}: default_sizes {self.default_sizes!r} must be positive "
                                "integers")
        object.__setattr__(self, "default_sizes", sizes)
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate < math.inf):
            raise WorkloadError(f"workload {self.name!r}: learning_rate {self.learning_rate!r} must be positive")
        if self.model is None and not self.own_trainers:
            raise WorkloadError(f"workload {self.name!r} gives no model")
        unknown = [m for m in self.modes if m not in GENERIC_MODES]
        if not self.own_trainers and (unknown or not self.modes):
            raise WorkloadError(f"workload {self.name!r}: modes {list(self.modes)!r}; a workload trains in "
                                f"{', '.join(GENERIC_MODES)} (the others are the MLP's own)")
        if not (callable(self.loss) or (isinstance(self.loss, str) and self.loss.strip())):
            raise WorkloadError(f"workload {self.name!r}: loss {self.loss!r}: a Keras loss's name or a callable")
        if self.own_trainers and self.loss != "mse":
            raise WorkloadError(f"workload {self.name!r}: its own trainers train the mean squared error (loss 'mse')")
        object.__setattr__(self, "metrics", (self.metrics,) if isinstance(self.metrics, str) else tuple(self.metrics))
        unknown = [m for m in self.metrics if m not in METRIC_NAMES]
        if unknown:
            raise WorkloadError(f"workload {self.name!r}: metrics {unknown!r}; known: {', '.join(METRIC_NAMES)} "
                                "(computed by the harness on the test set)")
        bad = [d for d in self.dtypes if d not in ALL_DTYPES]
        if bad or not self.dtypes:
            raise WorkloadError(f"workload {self.name!r}: dtypes {list(self.dtypes)!r}; known: {', '.join(ALL_DTYPES)}")

    def mode_names(self) -> tuple[str, ...]:
        """The execution modes it trains in: the generic TF modes it lists; the MLP every registered mode."""
        if self.own_trainers:
            return tuple(modes.names())
        return self.modes

    @property
    def loss_name(self) -> str:
        """The loss as rows and figures name it: its Keras name, or a callable's own name."""
        return self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", type(self.loss).__name__)

    @property
    def has_flops(self) -> bool:
        """Whether FLOP-based numbers (GFLOP/s, the roofline figure) exist for this workload."""
        return self.step_flops is not None

    def epoch_flops(self, n_samples: int, batch: int, size: int) -> float:
        """FLOPs of one epoch (full batches and the ragged last one); NaN where the workload gives none."""
        if self.step_flops is None:
            return math.nan
        full, rest = divmod(n_samples, batch)
        return float(full * self.step_flops(batch, size) + (self.step_flops(rest, size) if rest else 0))

    def facts(self) -> dict[str, Any]:
        """What a run directory records of it (meta.json `workload`)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(self, k)) for k in FACTS)}


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """A workload as a run directory records it: readable without its module (labels, FLOPs known or not)."""

    name: str
    spec: str
    summary: str
    size_name: str
    size_doc: str
    has_flops: bool
    own_trainers: bool = False
    loss_name: str = "mse"  # a record from before losses: the mean squared error
    metrics: tuple[str, ...] = ()

    @classmethod
    def of(cls, facts: dict[str, Any] | None) -> WorkloadFacts:
        """From meta.json's record; a run from before workloads existed is the MLP's (and a record from before
        `own_trainers` has it where it names the MLP)."""
        if not facts:
            return cls(**MLP.facts())
        known = {k: facts.get(k, getattr(MLP, k)) for k in FACTS}
        known["own_trainers"] = bool(facts.get("own_trainers", known["name"] == DEFAULT))
        known["metrics"] = tuple(known["metrics"] or ())
        return cls(**known)

    def facts(self) -> dict[str, Any]:
        """The record itself (meta.json `workload`)."""
        return {**dataclasses.asdict(self), "metrics": list(self.metrics)}


# ---- the built-ins -------------------------------------------------------------------------------------------
def _mlp_step_flops(batch: int, size: int) -> int:
    return train_step_flops(batch, 3, size)


MLP = Workload(
    name="mlp", spec="mlp",
    summary="the article's MLP: 3 inputs -> hidden ReLU layer -> 1 output, standard-normal init, plain gradient "
            "descent, on pure-noise regression data",
    size_name="hidden", size_doc="hidden-layer width, units", default_sizes=(20, 256, 2048),
    data=lambda seed, n_train, n_test: make_data(seed, n_train=n_train, n_test=n_test),
    learning_rate=1e-4, step_flops=_mlp_step_flops,
    modes=(),  # every registered mode (the built-ins and any plug-in's): they are all the MLP's
    own_trainers=True,
)

CNN = Workload(
    name="cnn", spec="cnn",
    summary="a small CNN on synthetic 16x16 images: conv(C) -> max-pool -> conv(2C) -> global average -> dense(1), "
            "regression, plain gradient descent",
    size_name="channels", size_doc="conv 1's channels; conv 2 has twice",
    default_sizes=(8, 32), data=cnn_data, model=cnn_model, learning_rate=0.05,
    step_flops=cnn_step_flops,
)

BUILTIN: dict[str, Workload] = {w.name: w for w in (MLP, CNN)}
_CACHE: dict[str, Workload] = {}
_RECORDED: dict[str, WorkloadFacts] = {}


def get(spec: str) -> Workload:
    """The workload a spec names: a built-in ('mlp', 'cnn'), an installed entry point's name, or
    'package.module:factory' (a Workload, or a callable returning one). WorkloadError otherwise."""
    spec = str(spec).strip()
    if spec in BUILTIN:
        return BUILTIN[spec]
    if spec in _CACHE:
        return _CACHE[spec]
    workload = _from_module(spec) if ":" in spec else _from_entry_point(spec)
    if workload.name in BUILTIN:
        raise WorkloadError(f"workload {spec!r} calls itself {workload.name!r}, the name of a built-in workload")
    _CACHE[spec] = workload
    return workload


def remember(facts: dict[str, Any]) -> WorkloadFacts:
    """Note a workload a run directory records (meta.json `workload`), so that its spec's name is known where its
    module is not importable (reading a run from elsewhere)."""
    known = WorkloadFacts.of(facts)
    _RECORDED[known.spec] = known
    return known


def name_of(spec: str) -> str:
    """The name a spec's workload gives its rows: from a loaded workload or a run's record, else by loading it."""
    spec = str(spec).strip()
    if spec in BUILTIN:
        return spec
    if spec in _CACHE:
        return _CACHE[spec].name
    if spec in _RECORDED:
        return _RECORDED[spec].name
    return get(spec).name


def names() -> list[str]:
    """The built-in workloads and the installed entry points' names."""
    return [*BUILTIN, *sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))]


def _from_module(spec: str) -> Workload:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise WorkloadError(f"workload {spec!r}: expected package.module:factory or path/to/file.py:factory")
    try:
        module = _from_file(spec, module_name) if module_name.endswith(".py") else importlib.import_module(module_name)
    except WorkloadError:
        raise
    except ModuleNotFoundError as exc:
        hint = ""
        top = module_name.split(".")[0]
        if exc.name == top:  # the package itself is not on the path
            hint = (f" (is the folder that holds {top!r} on PYTHONPATH? Run from that folder with PYTHONPATH=., "
                    "or name the file: path/to/file.py:factory)")
        elif exc.name == module_name:  # the package is there, the module is not
            hint = f" (the package {module_name.rpartition('.')[0]!r} was found; is the module's name right?)"
        raise WorkloadError(f"workload {spec!r}: cannot import {module_name!r}: ModuleNotFoundError: {exc}"
                            f"{hint}") from None
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's, said in one line
        raise WorkloadError(f"workload {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    try:
        target = getattr(module, attr)
    except AttributeError:
        offered = sorted(k for k, v in vars(module).items() if not k.startswith("_") and
                         (isinstance(v, Workload) or (callable(v) and getattr(v, "__module__", "") == module.__name__
                                                      and not isinstance(v, type))))
        raise WorkloadError(f"workload {spec!r}: module {module_name!r} has no {attr!r}"
                            + (f" (it has: {', '.join(offered)})" if offered else "")) from None
    return _resolve(spec, target)


def _from_file(spec: str, path: str):
    """A module loaded from a file path (relative to the current directory), named after its resolved path so that
    two files of the same name stay apart."""
    file = Path(path).resolve()
    if not file.is_file():
        raise WorkloadError(f"workload {spec!r}: no file {path!r} (from {Path.cwd()})")
    name = "emb_workload_" + re.sub(r"\W", "_", str(file.with_suffix("")))
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module  # before running it: dataclasses and pickling look their module up there
    try:
        loader.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _from_entry_point(spec: str) -> Workload:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
    if not found:
        raise WorkloadError(f"unknown workload {spec!r} (known: {', '.join(names())}; or package.module:factory, or "
                            "path/to/file.py:factory)")
    try:
        target = found[0].load()
    except Exception as exc:  # noqa: BLE001
        raise WorkloadError(f"workload {spec!r}: its entry point {found[0].value!r} fails to load: "
                            f"{type(exc).__name__}: {exc}") from None
    return _resolve(spec, target)


def _resolve(spec: str, target: Any) -> Workload:
    if not isinstance(target, Workload):
        if not callable(target):
            raise WorkloadError(f"workload {spec!r}: not a Workload nor a function returning one")
        try:
            target = target()
        except WorkloadError as exc:
            raise WorkloadError(f"workload {spec!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise WorkloadError(f"workload {spec!r}: its factory fails: {type(exc).__name__}: {exc}") from None
        if not isinstance(target, Workload):
            raise WorkloadError(f"workload {spec!r}: its factory returned {type(target).__name__}, not a Workload")
    # the spec the workers load it by: the one this process resolved
    return dataclasses.replace(target, spec=spec)
