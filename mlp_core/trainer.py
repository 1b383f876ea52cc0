"""Which backend trains a trial: the one place mlp_core's built-in backends are named, above them all.

The registries below (mlp_core.modes, mlp_core.workloads) know names and facts; this module knows code. It
imports each backend only when a trial of its mode is built (TensorFlow, numba and JAX stay unimported for
the other modes and for `--help`), and no backend imports it, so that naming a backend by its module path
here hides no import cycle. The trainer interface and the one timed-epoch loop live in mlp_core.epochs
(re-exported here: `from mlp_core.trainer import make_trainer, run_epochs` is what every instruction-count
script of every checkout calls).

A plug-in mode names its own trainer in its declaration (`Mode(trainer="package.module:attribute")`).
"""

from __future__ import annotations

import importlib

import numpy as np

from mlp_core import workloads
from mlp_core.config import TrainConfig
from mlp_core.data import Data
from mlp_core.epochs import Trainer, article_test_metric, run_epochs, train_with
from mlp_core.errors import missing_library
from mlp_core.modes import Mode
from mlp_core.params import Params

__all__ = ["BUILTIN", "DISTRIBUTED", "GENERIC", "Trainer", "article_test_metric", "load", "make_trainer",
           "run_epochs", "train_with"]

_TF = "mlp_core.tf_train:TFTrainer"
_MIRRORED = "mlp_core.distributed:MirroredTrainer"
# each built-in mode's trainer, "module:attribute", called as (data, config, params, **kw) -> Trainer
BUILTIN = {"article": _TF, "eager": _TF, "function": _TF, "xla": _TF, "graph": _TF,
           "jax-step": "mlp_core.jax_train:JaxTrainer", "jax-epoch": "mlp_core.jax_train:JaxTrainer",
           "numpy": "mlp_core.reference:NumpyTrainer", "numba": "mlp_core.numba_train:NumbaTrainer"}
# the same for replicas > 1, for the distributable modes
DISTRIBUTED = {"eager": _MIRRORED, "function": _MIRRORED}
# a workload's Keras model in the generic TF modes (every workload without its own trainers)
GENERIC = "mlp_core.keras_train:KerasTrainer"


def load(mode: Mode, replicas: int = 1):
    """The trainer class or factory of a mode (imports its backend). RuntimeError for a mode with no trainer
    here: one known only from a run directory's record, or a plug-in that names none."""
    table = DISTRIBUTED if replicas > 1 else BUILTIN
    own = mode.distributed_trainer if replicas > 1 else mode.trainer
    target = own or table.get(mode.name, "")
    if not target:
        if mode.recorded:
            raise RuntimeError(f"mode {mode.name!r} is known only from a run directory's record; install its "
                               "plug-in to run it")
        raise RuntimeError(f"mode {mode.name!r} names no trainer{' for replicas > 1' if replicas > 1 else ''} "
                           "(a plug-in declares Mode(trainer='package.module:attribute'))")
    return _attribute(target)


def _attribute(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_trainer(data: Data, config: TrainConfig, params: Params | None = None, *, device_index: int = 0,
                 orders: list[np.ndarray] | None = None) -> Trainer:
    """The trainer of the config's execution mode on the config's workload: the MLP's own backend for its mode
    (each backend's library imported only for its modes), every other workload's Keras model in GENERIC.

    `orders` fixes each epoch's sample order (non-TF backends only: tests hand them TF's orders).
    A missing optional library (TensorFlow, numba, JAX) raises mlp_core.errors.UnavailableError: a skip.
    """
    mode = config.mode.info
    if not workloads.get(config.workload).own_trainers:  # its Keras model in the generic TF modes
        try:
            factory = _attribute(GENERIC)
        except ImportError as exc:
            if exc.name not in ("tensorflow", "keras"):
                raise
            raise missing_library(mode.name, "TensorFlow", "pip install tensorflow") from None
        return factory(data, config, params, device_index=device_index)
    if mode.cpu_only and device_index != 0:
        raise ValueError(f"mode {mode.name!r} runs on cpu:0 only, got device_index {device_index}")
    if orders is not None and mode.needs_tensorflow:
        raise ValueError("sample orders cannot be fixed for the TF modes (they use tf.data's shuffle)")
    if config.replicas > 1 and device_index != 0:
        raise ValueError(f"replicas take devices 0..{config.replicas - 1}, got device_index {device_index}")
    try:
        factory = load(mode, config.replicas)
    except ImportError as exc:
        if exc.name not in ("tensorflow", "numba", "jax"):
            raise
        raise missing_library(mode.name, mode.library, mode.install) from None
    kwargs: dict = {}
    if not mode.needs_tensorflow:
        kwargs["orders"] = orders
    if not mode.cpu_only and config.replicas == 1:
        kwargs["device_index"] = device_index
    return factory(data, config, params, **kwargs)
