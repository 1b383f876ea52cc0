"""Where a TensorFlow step's time goes: the input pipeline alone, and the step on pre-made tensors.

For one TF trainer (mlp_core.tf_train.TFTrainer) and its configuration, in one process, rounds
interleaved (round r measures the three in an order rotated by r), each timed like an epoch of
the runner (synced clock reads around it):

  total     an epoch as the runner times it: tf.data pipeline and steps together;
  pipeline  the same epoch's tf.data pipeline iterated alone, as the mode iterates it (from Python
            for the per-step modes; inside one tf.function for graph mode), no step;
  premade   the same steps on batches made beforehand (the pipeline's own output, materialised
            first, untimed): eager / function / xla / article call the mode's step per batch;
            graph mode runs one tf.function over the stacked batches (no tf.data).

If the parts are what the split claims, pipeline + premade is the total, within the noise; the
ratio is reported, never forced. Per step, medians over the rounds after the first (the warm-up).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.store.derive import timed
from mlp_core import Data, ExecMode, TrainConfig

PARTS = ("total", "pipeline", "premade")


def measure(data: Data, config: TrainConfig, *, rounds: int = 12) -> dict[str, Any]:
    """Per-step medians (s) of the three measurements, and their rounds."""
    import tensorflow as tf

    from mlp_core.tf_train import HOST, TFTrainer, sgd_step, tf_sync

    trainer = TFTrainer(data, config)
    steps = -(-data.n_train // config.batch_size)
    device = trainer.device

    def total(e: int) -> None:
        trainer.begin_epoch()
        trainer.epoch(e)

    if config.mode is ExecMode.GRAPH:
        @tf.function
        def drain(ds):
            with tf.device(HOST):
                it = iter(ds)
            for _ in tf.range(steps):
                with tf.device(HOST):
                    next(it)  # a stateful op: kept, as in the mode's own epoch
            return tf.constant(0)

        def pipeline(e: int) -> None:
            drain(trainer.dataset(e))

        full = data.n_train // config.batch_size
        if full * config.batch_size != data.n_train:
            raise ValueError("graph mode's pre-made epoch needs whole batches (n_train divisible by the batch size)")

        @tf.function
        def stacked_epoch(xs, ys):
            loss = tf.zeros((), trainer.variables[0].dtype)
            for i in tf.range(full):
                loss = sgd_step(trainer.variables, trainer.sse, xs[i], ys[i], config.learning_rate)
            return loss

        def premade(e: int) -> None:
            with tf.device(device):
                stacked_epoch(*batches[e])

        def make(e: int):
            xs, ys = zip(*list(trainer.dataset(e)))
            return tf.stack(xs), tf.stack(ys)
    else:
        step = trainer.runner.step

        def pipeline(e: int) -> None:
            with tf.device(HOST):
                for _ in trainer.dataset(e):
                    pass

        def premade(e: int) -> None:
            with tf.device(device):
                for x, y in batches[e]:
                    step(x, y)

        def make(e: int):
            return list(trainer.dataset(e))

    batches = {e: make(e) for e in range(rounds)}  # untimed: the pipeline's own output, materialised
    funcs = {"total": total, "pipeline": pipeline, "premade": premade}
    times: dict[str, list[float]] = {p: [] for p in PARTS}
    with trainer.placement():
        for r in range(rounds):
            order = PARTS[r % 3:] + PARTS[:r % 3]
            for part in order:
                tf_sync()
                t0 = time.perf_counter()
                funcs[part](r)
                tf_sync()
                times[part].append((time.perf_counter() - t0) / steps)
    med = {p: statistics.median(timed(v)) for p, v in times.items()}  # round 0 is the warm-up
    return {"per_step_s": med, "rounds_s": times, "steps": steps,
            "sum_over_total": (med["pipeline"] + med["premade"]) / med["total"]}
