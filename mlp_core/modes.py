"""The mode registry: every execution mode declared once, with everything the rest of the code asks of it.

A mode is a way to train the workload: which library runs it, whether it needs TensorFlow, runs on
the CPU only or over several devices, its role in a comparison (the article's loop, a TensorFlow
mode under study, the NumPy baseline, the numba floor, a JAX peer), where it sits and what colour it
has in every figure, a prior of its host cost per step (placement on a cluster, before anything is
measured). The code that trains it is named above the backends, in mlp_core.trainer (the built-in
modes' table), or by a plug-in's own declaration (`trainer="package.module:attribute"`, imported only
when a trial of that mode is built).

Adding a built-in mode means a backend module, one `register(Mode(...))` here and its line in
mlp_core.trainer's table; a plug-in's mode is one `register(Mode(..., trainer=...))` in the user's
own module. A plug-in module is imported by every process that
needs the registry (the runner, its workers, the benchmark suite) when it is named in the
environment variable EMB_PLUGINS (comma-separated module names) or offered by an installed
package under the entry-point group `eager_mlp_bench.plugins`.

No TensorFlow and nothing of the project imported here, by statement or by name: every layer may read the
registry.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata

PLUGINS_ENV = "EMB_PLUGINS"
ENTRY_POINT_GROUP = "eager_mlp_bench.plugins"
ROLES = ("article", "subject", "baseline", "floor", "peer")
# what a run directory records of each of its modes (meta.json `modes`)
FACTS = ("summary", "library", "install", "needs_tensorflow", "cpu_only", "distributable", "role", "order", "color",
         "step_cost_s", "mixed_precision")


@dataclass(frozen=True, slots=True, kw_only=True)
class Mode:
    """One execution mode, declared once."""

    name: str
    summary: str  # one line, for --help and the README
    library: str  # what runs it, as a person names it: "TensorFlow", "NumPy", "numba", "JAX"
    install: str  # the command that installs what it needs (the reason of a skip where it is missing)
    needs_tensorflow: bool
    cpu_only: bool = False  # no GPU implementation
    distributable: bool = False  # trains over several devices (tf.distribute; replicas > 1)
    mixed_precision: bool = False  # trains in the mixed_float16 / mixed_bfloat16 dtype modes (a TF mode of the MLP's)
    role: str = "subject"  # article | subject | baseline | floor | peer (ROLES)
    order: int = 50  # position in tables and figures (lower first)
    color: str = "#7f7f7f"  # its colour in every figure
    step_cost_s: float = 1e-3  # prior host cost per step on a small model (s), for cluster placement only
    # a plug-in's trainer, "package.module:attribute", called as (data, config, params, **kw) ->
    # mlp_core.epochs.Trainer; empty for the built-in modes (mlp_core.trainer names theirs)
    trainer: str = ""
    distributed_trainer: str = ""  # the same for replicas > 1 (a distributable plug-in mode)
    recorded: bool = False  # known only from a run directory's record (meta.json `modes`): readable, not runnable

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"mode {self.name!r}: role {self.role!r} is not one of {', '.join(ROLES)}")
        for field in ("trainer", "distributed_trainer"):
            value = getattr(self, field)
            if value and ":" not in value:
                raise ValueError(f"mode {self.name!r}: {field} {value!r} is not 'package.module:attribute'")
        if self.distributed_trainer and not self.distributable:
            raise ValueError(f"mode {self.name!r}: a distributed_trainer for a mode that is not distributable")

    def facts(self) -> dict[str, object]:
        """What a run directory records of the mode (meta.json `modes`): enough to read it without the mode."""
        return {k: getattr(self, k) for k in FACTS}

    @classmethod
    def from_facts(cls, name: str, facts: dict[str, object]) -> Mode:
        """A mode known only from a run directory's record: readable, not runnable (no trainer)."""
        return cls(name=name, recorded=True, **{k: facts[k] for k in FACTS if k in facts})


_REGISTRY: dict[str, Mode] = {}
_plugins_loaded = False


def register(mode: Mode) -> Mode:
    """Add a mode (a plug-in module calls this at import). The same declaration twice is a no-op."""
    known = _REGISTRY.get(mode.name)
    if known is not None and known != mode:
        raise ValueError(f"mode {mode.name!r} is already registered with other facts")
    _REGISTRY[mode.name] = mode
    return mode


def load_plugins() -> None:
    """Import the plug-in modules named in EMB_PLUGINS and under the entry-point group (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def get(name: str) -> Mode:
    """The mode of that name; ValueError naming the known ones otherwise."""
    if name not in _REGISTRY:
        load_plugins()
    try:
        return _REGISTRY[str(name)]
    except KeyError:
        raise ValueError(f"unknown execution mode {str(name)!r} (known: {', '.join(names())})") from None


def all_modes() -> list[Mode]:
    """Every registered mode, in display order."""
    load_plugins()
    return sorted(_REGISTRY.values(), key=lambda m: (m.order, m.name))


def names() -> list[str]:
    """Every registered mode's name, in display order."""
    return [m.name for m in all_modes()]


def with_role(role: str) -> list[str]:
    """The names of the modes of one role (e.g. 'baseline', 'floor'), in display order."""
    return [m.name for m in all_modes() if m.role == role]


def order_key(name: str) -> tuple[int, str]:
    """Sort key of a mode name in tables and figures (an unknown name, e.g. a plug-in's that is not
    loaded here, sorts last)."""
    mode = _REGISTRY.get(name)
    return (mode.order, name) if mode else (10**6, name)


def color(name: str) -> str:
    """A mode's colour in every figure (grey for a name not registered here)."""
    mode = _REGISTRY.get(name)
    return mode.color if mode else "#7f7f7f"


_TF = "pip install tensorflow"
for _mode in (
    Mode(name="article", summary="the article's loop as written, faults kept (two forward passes, an optimiser "
         "per step)", library="TensorFlow", install=_TF, needs_tensorflow=True, role="article", order=0,
         color="#1f77b4", step_cost_s=2e-3),
    Mode(name="eager", summary="a clean eager loop", library="TensorFlow", install=_TF, needs_tensorflow=True,
         mixed_precision=True, distributable=True, order=10, color="#ff7f0e", step_cost_s=1e-3),
    Mode(name="function", summary="the step in one tf.function, traced once", library="TensorFlow", install=_TF,
         needs_tensorflow=True, mixed_precision=True, distributable=True, order=20, color="#2ca02c",
         step_cost_s=3.5e-4),
    Mode(name="xla", summary="the step in tf.function(jit_compile=True)", library="TensorFlow", install=_TF,
         needs_tensorflow=True, mixed_precision=True, order=30, color="#d62728", step_cost_s=3.5e-4),
    Mode(name="graph", summary="a whole epoch in one tf.function", library="TensorFlow", install=_TF,
         needs_tensorflow=True, mixed_precision=True, order=40, color="#9467bd", step_cost_s=2.5e-4),
    Mode(name="jax-step", summary="JAX, the step in one jax.jit called per batch", library="JAX",
         install="pip install 'eager-mlp-bench[jax]'", needs_tensorflow=False, role="peer", order=50,
         color="#8c564b", step_cost_s=3e-4),
    Mode(name="jax-epoch", summary="JAX, the whole epoch in one jax.jit (lax.scan over the batches)", library="JAX",
         install="pip install 'eager-mlp-bench[jax]'", needs_tensorflow=False, role="peer", order=60,
         color="#e377c2", step_cost_s=5e-5),
    Mode(name="numpy", summary="the NumPy baseline: a plain loop of the same work (CPU), the float64 oracle",
         library="NumPy", install="pip install numpy", needs_tensorflow=False, cpu_only=True, role="baseline",
         order=70, color="#7f7f7f", step_cost_s=5e-5),
    Mode(name="numba", summary="the floor: the whole epoch compiled with numba (CPU)", library="numba",
         install="pip install 'eager-mlp-bench[numba]'", needs_tensorflow=False, cpu_only=True, role="floor",
         order=80, color="#bcbd22", step_cost_s=2e-5),
):
    register(_mode)
BUILTIN = tuple(_REGISTRY)  # the modes this package declares (a plug-in's come after)
