"""`python -m bench.worker --threads N`: a measuring process, one JSON task per stdin line.

Protocol (bench.protocol): the first line on the protocol stream is a Hello (pid, devices, TF
facts, thread settings); then one result line per task line (a RepeatTask or a PeakTask).
Anything libraries print goes to stderr, never into the protocol. Threads are set before
TensorFlow's runtime starts, which is why each thread setting gets its own worker process.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Serve tasks until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--threads", type=int, default=0, help="intra/inter-op threads; 0 = TF default")
    args = parser.parse_args(argv)
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints (TF, absl) go to stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # let the peak-memory counter mean something

    from bench.fingerprint import tensorflow_facts
    from bench.measure import run_peak, run_repeat
    from bench.protocol import Hello, PeakTask, decode, encode
    from mlp_core import TrainConfig, make_data, train
    from mlp_core.placement import visible_devices

    # Start the runtime's thread pools and kernels before any trial, so that no trial's
    # warm-up epoch pays for the process start. Untimed, results discarded.
    tiny = make_data(seed=0, n_train=32, n_test=8)
    for mode in ("eager", "function"):
        train(tiny, TrainConfig(hidden=8, epochs=2, batch_size=8, mode=mode))

    def send(message) -> None:
        proto.write(encode(message) + "\n")

    send(Hello(pid=os.getpid(), devices=visible_devices(), tf=tensorflow_facts()))
    for line in sys.stdin:
        if line.strip():
            task = decode(line)
            send(run_peak(task) if isinstance(task, PeakTask) else run_repeat(task))
    return 0


if __name__ == "__main__":
    sys.exit(main())
