"""`python -m bench.worker --threads N`: a measuring process, one JSON task per stdin line.

Protocol (bench.format.messages): the first line on the protocol stream is a Hello (pid, devices, TF
facts, thread settings); then one result line per task line (a RepeatTask or a PeakTask).
Anything libraries print goes to stderr, never into the protocol. Threads are set before
TensorFlow's runtime starts, which is why each thread setting gets its own worker process.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.engine.measure import run_peak, run_repeat
from bench.engine.probe import tensorflow_facts
from bench.format.messages import PROTOCOL, Hello, PeakTask, decode, encode
from mlp_core import TrainConfig, make_data, train

CPU_DEVICES_ENV = "EMB_WORKER_CPU_DEVICES"  # N > 1: split the CPU into N logical TF devices (the replicas axis)
NO_TF_ENV = "EMB_WORKER_NO_TENSORFLOW"  # "1": no trial of this run needs TensorFlow (an env var: older
# checkouts' workers, an A/B baseline, ignore it instead of refusing an unknown flag)


def main(argv: list[str] | None = None) -> int:
    """Serve tasks until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="intra/inter-op threads; 0 = TF default")
    args = parser.parse_args(argv)
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints (TF, absl) go to stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    hello = _start_numpy_only() if os.environ.get(NO_TF_ENV) == "1" else _start_tensorflow(args.threads)

    def send(message) -> None:
        proto.write(encode(message) + "\n")

    send(hello)
    for line in sys.stdin:
        if line.strip():
            task = decode(line)
            send(run_peak(task) if isinstance(task, PeakTask) else run_repeat(task))
    return 0


def _start_tensorflow(threads: int):
    """Set TF's threads before its runtime starts, warm the runtime up, say what TF sees.

    Without TensorFlow installed, a NumPy-only start: its trials are then skipped with the reason.
    """
    try:
        import tensorflow as tf
    except ImportError:
        return _start_numpy_only()

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # let the peak-memory counter mean something
    cpus = int(os.environ.get(CPU_DEVICES_ENV) or 1)
    if cpus > 1:  # before the runtime starts; every trial of this worker then sees cpu:0..cpu:N-1
        from mlp_core import distributed  # TensorFlow

        distributed.configure_logical_cpus(cpus)
    from mlp_core import placement  # TensorFlow

    # Start the runtime's thread pools and kernels before any trial, so that no trial's
    # warm-up epoch pays for the process start. Untimed, results discarded.
    tiny = make_data(seed=0, n_train=32, n_test=8)
    for mode in ("eager", "function"):
        train(tiny, TrainConfig(size=8, epochs=2, batch_size=8, mode=mode))
    return Hello(pid=os.getpid(), devices=placement.visible_devices(), tf=tensorflow_facts(), protocol=PROTOCOL)


def _start_numpy_only():
    """No TensorFlow: NumPy warmed up, the host CPU the only device."""
    train(make_data(seed=0, n_train=32, n_test=8), TrainConfig(size=8, epochs=2, batch_size=8, mode="numpy"))
    return Hello(pid=os.getpid(), devices=["cpu:0"], tf={"tensorflow": None, "threads_intra": None,
                                                         "threads_inter": None}, protocol=PROTOCOL)
