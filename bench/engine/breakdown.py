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

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from bench.format.derive import timed
from mlp_core import Data, ExecMode, TrainConfig, make_data

PARTS = ("total", "pipeline", "premade")
ROUNDS = 12  # rounds per TF mode (the first is the warm-up)


def measure(data: Data, config: TrainConfig, *, rounds: int = ROUNDS,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Per-step medians (s) of the three measurements, and their rounds. `clock`: seconds, read right after a
    device sync (a fake one in the tests)."""
    import tensorflow as tf

    from mlp_core import tf_train

    trainer = tf_train.TFTrainer(data, config)
    steps = -(-data.n_train // config.batch_size)
    device = trainer.device

    def total(e: int) -> None:
        trainer.begin_epoch()
        trainer.epoch(e)

    if config.mode == ExecMode.GRAPH:
        @tf.function
        def drain(ds):
            with tf.device(tf_train.HOST):
                it = iter(ds)
            for _ in tf.range(steps):
                with tf.device(tf_train.HOST):
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
                loss = tf_train.sgd_step(trainer.variables, trainer.sse, xs[i], ys[i], config.learning_rate)
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
            with tf.device(tf_train.HOST):
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
                tf_train.tf_sync()
                t0 = clock()
                funcs[part](r)
                tf_train.tf_sync()
                times[part].append((clock() - t0) / steps)
    med = {p: statistics.median(timed(v)) for p, v in times.items()}  # round 0 is the warm-up
    return {"per_step_s": med, "rounds_s": times, "steps": steps,
            "sum_over_total": (med["pipeline"] + med["premade"]) / med["total"]}


def add_breakdown(run, doc: dict[str, Any], *, rounds: int) -> None:
    """Measure each TF mode's parts at each point of a ladder (bench.analysis.ladder); the fastest non-TF
    implementation's time there is the arithmetic."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter off stderr
    data = make_data(run.spec.seed, n_train=run.spec.n_train, n_test=run.spec.n_test)
    jobs = [(p, m) for p in doc["points"] for m in p["modes"] if ExecMode(m).needs_tensorflow]
    for point, mode in tqdm(jobs, desc="breakdown", unit="mode", file=sys.stderr):
        config = TrainConfig(size=point["hidden"], batch_size=point["batch_size"], dtype="float32", mode=mode,
                             epochs=rounds, learning_rate=run.spec.learning_rate)
        try:
            res = measure(data, config, rounds=rounds)
        except ValueError as exc:  # graph mode with a ragged last batch
            point["modes"][mode]["breakdown"] = {"error": str(exc)}
            continue
        # the arithmetic: the fastest implementation of the same work measured at this point (the numba floor
        # at small sizes; at large ones multithreaded BLAS or XLA can beat one core's loops)
        fastest = min(((m, v["per_step_s"]) for m, v in point["modes"].items() if not ExecMode(m).needs_tensorflow),
                      key=lambda kv: kv[1], default=(None, None))
        med = res["per_step_s"]
        parts = {"pipeline_s": med["pipeline"], "premade_s": med["premade"], "total_here_s": med["total"],
                 "sum_over_total": res["sum_over_total"]}
        if fastest[0]:
            parts["arithmetic_s"], parts["arithmetic_mode"] = min(fastest[1], med["premade"]), fastest[0]
            parts["dispatch_s"] = med["premade"] - parts["arithmetic_s"]
        point["modes"][mode]["breakdown"] = parts
