"""The workload contract check: trust for a model the harness has no oracle for (`python -m bench.workload check`).

The MLP has an independent oracle (a float64 NumPy implementation of the same training). A user's model has
none, so the check asks what can be asked of any workload, through the same trainers the runner uses:

- data: the pre-flight's (mlp_core.preflight: a Data of numeric, finite arrays agreeing on the samples), and
  deterministic for a seed (the same arrays twice; another seed, other arrays), floats in float64;
- the pre-flight of the model, before anything is trained: a keras.Model, not compiled, no train_step of its own,
  its output per sample the target's size, the first batch's loss finite;
- initial weights: the same for a seed, different for another;
- learning: the train loss falls over a few epochs (eager, float32);
- mixed precision: each mixed policy's eager trajectory follows float32's within its 16-bit tolerance;
- modes agree: every TF mode the workload claims follows the eager loop's trajectory (per-epoch train loss and
  final weights) within a tolerance for its dtype: the generalisation of the MLP's oracle test;
- placement: on every device it claims and this machine has, the weights, optimiser slots, loss and
  predictions all live on that device (the trainer's own check, with TF's soft placement off); a device this
  machine lacks is a skip with the reason, never a pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlp_core import TrainConfig, workloads
from mlp_core.data import leaves
from mlp_core.enums import Device
from mlp_core.errors import UnavailableError, reason_of
from mlp_core.preflight import PreflightError, check_data
from mlp_core.trainer import make_trainer, train_with

# Relative tolerance of a mode's trajectory against the eager loop's, by compute dtype. float64: a few ulps per
# op, compounded over the steps; float32: XLA and graph fuse and reorder the reductions, about 1e-7 relative per
# op, compounded over a few hundred steps (measured: see docs/workloads.md).
TOLERANCE = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-3, "bfloat16": 2e-2}
# A mixed-precision policy's trajectory against float32's (the same mode, eager): its 16-bit rounding. Measured
# here (4 epochs): mixed_float16 1.1e-4 (CNN, classifier) to 2.8e-3 (the multi-input example's float16 embedding),
# mixed_bfloat16 1.9e-3 to 2.3e-3; the tolerances leave 4 to 10 times the largest. A trajectory that is not
# float32's moves further (the MLP's float16, whose loss scaling skipped steps: 2.3e-2, and the check says why).
MIXED_TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 2e-2}


@dataclass
class Check:
    """One line of the report: what was checked, its outcome (pass, fail, skip) and the numbers behind it."""

    name: str
    outcome: str
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """The small training the check runs (defaults: a few seconds for the built-ins on a 2-core CPU)."""

    size: int | None = None  # the workload's first default size
    batch_size: int = 32
    n_train: int = 256
    n_test: int = 64
    epochs: int = 4
    seed: int = 0
    learning_rate: float | None = None  # the workload's
    devices: tuple[str, ...] = ("cpu", "gpu")
    dtypes: tuple[str, ...] | None = None  # the dtype modes whose trajectories are checked (default: the workload's)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """Relative difference of two arrays: |a - b| / |b| (norms), 0 for two zero arrays."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale else float(np.linalg.norm(a - b))


def _weights(trainer) -> list[np.ndarray]:
    params = trainer.params()
    return list(params.arrays()) if hasattr(params, "arrays") else list(params)


def check(spec: str, settings: Settings = Settings(), *, progress=None) -> tuple[workloads.Workload, list[Check]]:
    """Run every check on the workload a spec names (WorkloadError when it cannot be loaded)."""
    workload = workloads.get(spec)
    size = settings.size or workload.default_sizes[0]
    lr = settings.learning_rate or workload.learning_rate
    say = progress or (lambda text: None)
    base = dict(workload=workload.spec, size=size, batch_size=settings.batch_size, learning_rate=lr,
                seed=settings.seed)
    out: list[Check] = []

    say("data")
    out.append(_check_data(workload, settings))
    if out[-1].outcome == "fail":  # nothing below can be trusted on data that fails (the check stops here)
        return workload, out
    data = workload.data(settings.seed, settings.n_train, settings.n_test)

    say("model")
    modes = [m for m in workload.mode_names() if m in workloads.GENERIC_MODES]
    first_mode = "eager" if "eager" in modes else modes[0]
    first_dtype = "float32" if "float32" in workload.dtypes else workload.dtypes[0]
    out.append(_check_model(data, base, first_mode, first_dtype))
    if out[-1].outcome == "fail":
        return workload, out

    say("initial weights")
    out.append(_check_init(data, base, first_mode, first_dtype))

    say("learning")
    config = TrainConfig(**base, epochs=settings.epochs, mode=first_mode, dtype=first_dtype)
    eager = {}
    try:
        trainer = make_trainer(data, config)
        result = train_with(trainer, data, config)
        losses = list(result.train_loss)
        falls = all(math.isfinite(m) for m in losses) and losses[-1] < losses[0]
        out.append(Check("learning", "pass" if falls else "fail",
                         f"train loss ({result.loss}) over {settings.epochs} epochs ({first_mode}, {first_dtype}): "
                         + " -> ".join(f"{m:.4g}" for m in losses) + ("" if falls else ": it does not fall"),
                         {"train_loss": losses, "loss": result.loss}))
    except Exception as exc:  # noqa: BLE001 - a workload that fails to train is a failed check, said in one line
        out.append(Check("learning", "fail", f"training fails: {reason_of(exc, 400)}"))

    if "eager" not in modes:
        out.append(Check("modes agree", "skip", f"the workload does not train in eager mode, the reference the "
                         f"others are held to (it trains in {', '.join(modes)})"))
    checked = [d for d in workload.dtypes if settings.dtypes is None or d in settings.dtypes]
    for dtype in checked if "eager" in modes else ():
        say(f"modes against eager, {dtype}")
        cfg = TrainConfig(**base, epochs=settings.epochs, mode="eager", dtype=dtype)
        try:
            trainer = make_trainer(data, cfg)
            ref = train_with(trainer, data, cfg)
            skipped = trainer.skipped_steps() if hasattr(trainer, "skipped_steps") else 0
            eager[dtype] = (list(ref.train_loss), _weights(trainer), skipped)
        except Exception as exc:  # noqa: BLE001
            out.append(Check(f"modes agree ({dtype})", "fail", f"eager fails: {reason_of(exc, 400)}"))
            continue
        if dtype in MIXED_TOLERANCE and "float32" in eager:
            out.append(_check_mixed(dtype, eager[dtype], eager["float32"][0],
                                    settings.epochs * math.ceil(settings.n_train / settings.batch_size)))
        tol = TOLERANCE[cfg.dtype.compute_dtype]
        for mode in modes:
            if mode == "eager":
                continue
            out.append(_check_mode(data, base, settings, mode, dtype, eager[dtype], tol))

    for device in settings.devices:
        say(f"placement on {device}")
        out.append(_check_placement(data, base, device, "function" if "function" in modes else first_mode,
                                    first_dtype))
    return workload, out


def _check_data(workload: workloads.Workload, s: Settings) -> Check:
    try:
        a = workload.data(s.seed, s.n_train, s.n_test)
        check_data(a, workload.name)
        b = workload.data(s.seed, s.n_train, s.n_test)
        c = workload.data(s.seed + 1, s.n_train, s.n_test)
        check_data(b, workload.name)
        check_data(c, workload.name)
    except PreflightError as exc:
        return Check("data", "fail", str(exc))
    except Exception as exc:  # noqa: BLE001
        return Check("data", "fail", f"data({s.seed}, {s.n_train}, {s.n_test}) fails: {reason_of(exc, 400)}")
    def arrays(d) -> list[tuple[str, np.ndarray]]:  # every array, several inputs' one by one
        return [(f"{k}{where}", x) for k in ("X_train", "y_train", "X_test", "y_test")
                for where, x in (leaves(getattr(d, k)) if k.startswith("X") else [("", getattr(d, k))])]

    problems = []
    if not all(np.array_equal(x, y) for (_, x), (_, y) in zip(arrays(a), arrays(b))):
        problems.append("two draws with the same seed differ")
    if all(np.array_equal(x, y) for (_, x), (_, y) in zip(arrays(a), arrays(c))):
        problems.append("another seed gives the same data")
    for k, x in arrays(a):
        if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float64:
            problems.append(f"{k} is {x.dtype}, not float64 (the dtype modes cast from float64)")
    if a.n_train != s.n_train or a.n_test != s.n_test:
        problems.append(f"asked for {s.n_train} + {s.n_test} samples, got {a.n_train} + {a.n_test}")
    per_sample = [f"X{where} {tuple(x.shape[1:])} {x.dtype}" for where, x in leaves(a.X_train)]
    shape = f"{', '.join(per_sample)}; y {tuple(np.shape(a.y_train)[1:]) or '(scalar)'} {a.y_train.dtype}"
    return Check("data", "fail" if problems else "pass",
                 "; ".join(problems) if problems else f"deterministic for a seed, finite; per sample {shape}")


def _check_model(data, base: dict[str, Any], mode: str, dtype: str) -> Check:
    """The trainer's pre-flight (mlp_core.keras_train): the model as declared, its output against the target, the
    first batch's loss; all before any step."""
    try:
        trainer = make_trainer(data, TrainConfig(**base, epochs=1, mode=mode, dtype=dtype))
    except UnavailableError as exc:
        return Check("model", "skip", str(exc))
    except Exception as exc:  # noqa: BLE001 - PreflightError included: its line is the detail
        return Check("model", "fail", str(exc) if isinstance(exc, PreflightError) else
                     f"building the model fails: {reason_of(exc, 400)}")
    out = getattr(trainer, "output_per_sample", None)
    if out is None:  # the MLP's own trainers: no Keras model to look at
        return Check("model", "pass", "the workload's own trainers")
    return Check("model", "pass", f"a keras.Model, output per sample {out or '()'} against the target's "
                 f"{tuple(np.shape(data.y_train)[1:]) or '()'}; the first batch's loss is finite")


def _check_init(data, base: dict[str, Any], mode: str, dtype: str) -> Check:
    try:
        first = _weights(make_trainer(data, TrainConfig(**base, epochs=1, mode=mode, dtype=dtype)))
        again = _weights(make_trainer(data, TrainConfig(**base, epochs=1, mode=mode, dtype=dtype)))
        other = _weights(make_trainer(data, TrainConfig(**{**base, "seed": base["seed"] + 1}, epochs=1, mode=mode,
                                                        dtype=dtype)))
    except Exception as exc:  # noqa: BLE001
        return Check("initial weights", "fail", f"building the model fails: {reason_of(exc, 400)}")
    same = len(first) == len(again) and all(np.array_equal(x, y) for x, y in zip(first, again))
    differs = not all(np.array_equal(x, y) for x, y in zip(first, other))
    n = sum(int(np.size(w)) for w in first)
    if same and differs:
        return Check("initial weights", "pass", f"{n} weights in {len(first)} arrays: the same for a seed, "
                     "others for another", {"weights": n})
    why = "two builds with the same seed differ" if not same else "another seed gives the same weights"
    return Check("initial weights", "fail", why + " (draw every initial weight from Keras's seeded initialisers)")


def _check_mode(data, base, s: Settings, mode: str, dtype: str, ref, tol: float) -> Check:
    name = f"{mode} = eager ({dtype})"
    cfg = TrainConfig(**base, epochs=s.epochs, mode=mode, dtype=dtype)
    try:
        trainer = make_trainer(data, cfg)
        res = train_with(trainer, data, cfg)
    except UnavailableError as exc:
        return Check(name, "skip", str(exc))
    except Exception as exc:  # noqa: BLE001
        return Check(name, "fail", f"training fails: {reason_of(exc, 400)}")
    devs = [abs(a - b) / abs(b) if b else abs(a - b) for a, b in zip(res.train_loss, ref[0])]
    w_devs = [_rel(a, b) for a, b in zip(_weights(trainer), ref[1])]
    # NaN anywhere (a mode that diverged where eager did not) is a failure, never dropped by max()
    loss_dev = max(devs, key=lambda v: math.inf if math.isnan(v) else v)
    w_dev = max(w_devs, key=lambda v: math.inf if math.isnan(v) else v, default=0.0)
    if cfg.dtype.mixed:  # 16-bit gradients round differently per mode: the loss is held, the weights reported
        ok = all(math.isfinite(v) and v <= tol for v in devs) and math.isfinite(w_dev)
        detail = (f"per-epoch train loss within {loss_dev:.1e} of eager's (relative; tolerance {tol:g}); final "
                  f"weights within {w_dev:.1e} (not held to it: 16-bit gradients round differently per mode)")
    else:
        ok = all(math.isfinite(v) and v <= tol for v in (*devs, *w_devs))
        detail = (f"per-epoch train loss within {loss_dev:.1e}, final weights within {w_dev:.1e} of eager's "
                  f"(relative; tolerance {tol:g})")
    random = _stochastic_layers(getattr(trainer, "model", None))
    if not ok and random:
        detail += (f"; the model draws random numbers while training ({', '.join(random)}): {mode}'s draws are not "
                   "the eager loop's" + (" (XLA has its own generator)" if mode == "xla" else "") + ", so it cannot "
                   f"follow eager; leave {mode!r} out of Workload.modes, or check a variant without those layers")
    return Check(name, "pass" if ok else "fail", detail, {"loss_dev": loss_dev, "weights_dev": w_dev, "tolerance": tol})


STOCHASTIC = ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D",
              "SpatialDropout3D")  # Keras layers that draw random numbers while training


def _stochastic_layers(model: Any) -> list[str]:
    """The kinds of training-time random layers in a Keras model (nested models included), in order found."""
    found: list[str] = []
    todo = list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop(0)
        kind = type(layer).__name__
        if kind in STOCHASTIC and kind not in found:
            found.append(kind)
        todo.extend(getattr(layer, "layers", []))
    return found


def _check_mixed(dtype: str, mixed: tuple, float32: list[float], steps: int) -> Check:
    """A mixed-precision policy follows float32's trajectory (eager, the same seed) within its tolerance; where it
    does not, the steps float16's loss scaling skipped say why."""
    losses, _, skipped = mixed
    tol = MIXED_TOLERANCE[dtype]
    devs = [abs(a - b) / abs(b) if b else abs(a - b) for a, b in zip(losses, float32)]
    dev = max(devs, key=lambda v: math.inf if math.isnan(v) else v)
    ok = all(math.isfinite(v) and v <= tol for v in devs)
    detail = f"per-epoch train loss within {dev:.1e} of float32's (relative; tolerance {tol:g}: 16-bit rounding)"
    if skipped:
        detail += (f"; loss scaling skipped {skipped} of {steps} steps (their float16 gradients overflowed at the "
                   "scale in force, which it then halved), so the updates are not float32's")
    return Check(f"{dtype} ~ float32 (eager)", "pass" if ok else "fail", detail,
                 {"loss_dev": dev, "tolerance": tol, "skipped_steps": skipped})


def _check_placement(data, base: dict[str, Any], device: str, mode: str, dtype: str) -> Check:
    name = f"placement on {device}"
    cfg = TrainConfig(**base, epochs=2, mode=mode, dtype=dtype, device=Device(device))
    t0 = time.perf_counter()
    try:
        trainer = make_trainer(data, cfg)
        res = train_with(trainer, data, cfg)
    except UnavailableError as exc:  # the device is not here (hard placement: no silent fallback)
        return Check(name, "skip", str(exc))
    except Exception as exc:  # noqa: BLE001 - PlacementError included: something ran elsewhere
        return Check(name, "fail", reason_of(exc, 400))
    return Check(name, "pass", f"every weight and optimiser variable, the loss and the predictions on {res.device} "
                 f"(soft placement off; {time.perf_counter() - t0:.1f} s)", {"device": res.device})
