"""Count the instructions of one trial's timed epochs; run by bench.engine.icount under `valgrind --tool=callgrind`.

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=F python bench/callgrind_worker.py TASKS_JSON

bench.engine.icount runs it (through runpy) in the side's checkout, with that checkout on PYTHONPATH,
so the code counted is that side's `mlp_core` while this script is the same on both sides. It imports nothing of
`bench`: only the standard library, NumPy (through mlp_core) and the side's `mlp_core`.

The counted region is exactly the timed region of `mlp_core.epochs.run_epochs` (the one timed
loop), for every epoch after the warm-up (epoch 0, never counted): the clock read that starts an
epoch zeroes callgrind's counters, the one that ends it dumps them to F.<k> (k = 1, 2, ...: one per
counted epoch, task after task; TASKS_JSON is a JSON list of trials, each a dict of TrainConfig's
fields plus data_seed, n_train and n_test).

With --instrument counted (the default, run under valgrind's --instr-atstart=no) nothing is
instrumented but the counted epochs: instrumentation starts at the clock read that opens a task's
first counted epoch and stops after its last dump, so the interpreter's start, the imports
(TensorFlow's take minutes under full instrumentation), data, model and warm-up run at valgrind's
uninstrumented speed. --instrument all leaves instrumentation on from the start (valgrind's
default), as before: the same counts, slower; for checking.

The requests are valgrind client requests, issued through a few bytes of x86-64 machine code (the
magic sequence of valgrind.h) called with ctypes, so no compiler is needed; outside valgrind the
sequence is a no-op. Prints one JSON line:
{"running_on_valgrind": bool, "tasks": [{"dumps": epochs counted, "device": where it ran, "error": ""}]}.

With --calls it runs natively (no valgrind) and counts, between the same two clock reads, the Python-level
calls of each counted epoch (sys.setprofile: Python functions and builtins, each as "callee @ call site"): each
task gains `calls`, one such count per counted epoch, and `lines`, the text of the checkout's lines that made
them (CallCounter).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import linecache
import mmap
import os
import platform
import sys
import time

from mlp_core import TrainConfig, make_data
from mlp_core.trainer import make_trainer, run_epochs

# valgrind.h, amd64: rdx = default; rax = &args[6]; the special preamble (rol rdi by 3, 13, 61, 51:
# 128 bits in all, a no-op natively), then xchg rbx,rbx asks valgrind; the answer is in rdx.
_AMD64_CLIENT_REQUEST = bytes.fromhex(
    "4889f8"  # mov rax, rdi        (rdi: &args)
    "4889f2"  # mov rdx, rsi        (rsi: the default answer)
    "48c1c703" "48c1c70d" "48c1c73d" "48c1c733"  # rol rdi, 3 / 13 / 61 / 51
    "4887db"  # xchg rbx, rbx       (rdx = client_request(rax))
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)
RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND = 0x43540000  # VG_USERREQ_TOOL_BASE('C', 'T'): callgrind.h's requests follow in this order
DUMP_STATS, ZERO_STATS = _CALLGRIND, _CALLGRIND + 1
START_INSTRUMENTATION, STOP_INSTRUMENTATION = _CALLGRIND + 4, _CALLGRIND + 5  # after TOGGLE_COLLECT, DUMP_STATS_AT


class ClientRequests:
    """valgrind client requests from Python (Linux on x86-64 only)."""

    def __init__(self) -> None:
        if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
            raise OSError(f"valgrind client requests are implemented for Linux x86-64 only, not "
                          f"{sys.platform} {platform.machine()}")
        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(_AMD64_CLIENT_REQUEST)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._page))
        self._call = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)(address)
        self._args = (ctypes.c_uint64 * 6)()

    def request(self, code: int, default: int = 0) -> int:
        """Issue a request with no arguments; natively, the default comes back."""
        self._args[0] = code
        return int(self._call(ctypes.addressof(self._args), default))

    def running_on_valgrind(self) -> bool:
        """Whether this process runs under valgrind."""
        return self.request(RUNNING_ON_VALGRIND, 0) > 0


def one_thread_pipeline(trainer) -> None:
    """tf.data as steady as the rest of the counted process: its own pool of one thread, no autotuning (whose
    background thread wakes on a timer) and no injected prefetch (a second thread filling a buffer), so the
    instructions tf.data's threads execute do not depend on how they were scheduled. Applied to each side alike;
    a trainer without a `dataset(epoch)` method is left as it is."""
    import tensorflow as tf

    if not callable(getattr(trainer, "dataset", None)):
        return
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    options.deterministic = True
    made = trainer.dataset
    trainer.dataset = lambda epoch: made(epoch).with_options(options)


def main(argv: list[str]) -> int:
    """Train each task's trial in turn, counting each epoch; print a JSON line of facts."""
    parser = argparse.ArgumentParser(prog="python -m bench.callgrind_worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", metavar="TASKS_JSON", help="a JSON list of trials (run by bench.engine.icount)")
    parser.add_argument("--instrument", choices=["counted", "all"], default="counted",
                        help="counted: start and stop instrumentation around the counted epochs (run valgrind "
                             "with --instr-atstart=no); all: leave it to valgrind (default counted)")
    parser.add_argument("--calls", action="store_true",
                        help="run natively and count the Python-level calls of each counted epoch instead (each "
                             "task's `calls`: one {callee @ call site: count} per counted epoch)")
    args = parser.parse_args(argv)
    try:
        tasks = json.loads(args.tasks)
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ValueError("expected a JSON list of objects")
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: TASKS_JSON: {str(exc).splitlines()[0]}\n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    vg = ClientRequests()
    configs = [_config(t) for t in tasks]  # an exception in place of a task's config that cannot be made here
    # one TF thread: a spinning pool would count its spins
    if any(isinstance(c, TrainConfig) and c.mode.needs_tensorflow for c in configs):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    done = []
    counted_only = args.instrument == "counted"
    counter = CallCounter(os.getcwd()) if args.calls else None
    for task, config in zip(tasks, configs):
        if not isinstance(config, TrainConfig):
            done.append({"dumps": 0, "device": "", "error": f"{type(config).__name__}: {config}"[:300]})
            continue
        dumps = []  # the epochs counted so far (a task that fails mid-way keeps the dumps it made)
        # run_epochs reads the clock (after the sync) at the start and the end of each epoch: the warm-up's
        # two reads do nothing; each counted epoch's zero, then dump; instrumentation on around them only
        first = [START_INSTRUMENTATION, ZERO_STATS] if counted_only else [ZERO_STATS]
        last = [DUMP_STATS, STOP_INSTRUMENTATION] if counted_only else [DUMP_STATS]
        marks = iter([[], [], first, *([[DUMP_STATS], [ZERO_STATS]] * (config.epochs - 2)), last]
                     if config.epochs > 1 else [[], []])

        calls: list[dict[str, int]] = []  # --calls: per counted epoch

        def clock() -> int:
            for mark in next(marks):  # noqa: B023 - called only within this iteration
                if counter is not None:  # natively: count calls between the same two clock reads
                    if mark == ZERO_STATS:
                        counter.start()
                    elif mark == DUMP_STATS:
                        calls.append(counter.stop())  # noqa: B023
                else:
                    vg.request(mark)
                if mark == DUMP_STATS:
                    dumps.append(1)  # noqa: B023
            return time.perf_counter_ns()

        if counter is not None:
            counter.lines = {}  # this task's lines
        try:
            data = _data(task)
            trainer = make_trainer(data, config)
            if config.mode.needs_tensorflow:
                one_thread_pipeline(trainer)
            run_epochs(trainer, config.epochs, clock=clock)
            if next(marks, None) is not None or len(dumps) != max(0, config.epochs - 1):
                if counted_only:
                    vg.request(STOP_INSTRUMENTATION)
                raise RuntimeError(f"the trainer's loop read the clock other than twice an epoch ({len(dumps)} "
                                   f"epochs counted of {config.epochs - 1}): its counts would be misaligned")
            done.append({"dumps": len(dumps), "device": trainer.finish()[0], "error": "",
                         **({"calls": calls, "lines": counter.lines} if counter is not None else {})})
        except Exception as exc:  # noqa: BLE001 - a failing trial is reported, the others go on
            if counter is not None:
                counter.stop()
            elif counted_only and len(dumps) < config.epochs - 1:
                vg.request(STOP_INSTRUMENTATION)  # failed mid-count: the next task's set-up stays uncounted
            done.append({"dumps": len(dumps), "device": "", "error": f"{type(exc).__name__}: {exc}"[:300]})
    print(json.dumps({"running_on_valgrind": vg.running_on_valgrind(), "tasks": done}))
    return 0


class CallCounter:
    """Python-level calls between start() and stop(), counted with sys.setprofile (counts, not times): each call
    as "callee @ call site", the call site a file (relative to the checkout, or from site-packages on) and the
    function that calls. Deterministic for a given code, so two sides' counts differ only where their code does.
    For the calls made from the checkout's own files, `lines` keeps the text of the lines they were made on
    ({key: [line, ...]}), which names the call as its author wrote it (`x = tf.identity(x)` where the callee is
    a decorator's wrapper)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(os.path.abspath(root), "")
        self.harness = __file__  # the calls this script makes (its clock, stop()) are the harness's, not counted:
        # its path is inside one side's checkout and not the other's, so they would show as calls gone and come
        self.counts: dict[str, int] = {}
        self.lines: dict[str, list[str]] = {}
        self._sites: dict[tuple[str, str], tuple[str, bool]] = {}  # (file, function) -> (site, the checkout's)

    def _where(self, frame) -> tuple[str, bool]:
        code = frame.f_code
        found = self._sites.get((code.co_filename, code.co_qualname))
        if found is None:
            name, own = code.co_filename, False
            if "site-packages" + os.sep in name:  # first: a virtual environment may sit inside the checkout
                name = name.split("site-packages" + os.sep, 1)[1]
            elif name.startswith(self.root):
                name, own = name[len(self.root):], True
            # the calling function, not its line: one added line elsewhere in the file would move every line
            # below it and show as calls gone and calls come
            found = self._sites[(code.co_filename, code.co_qualname)] = (f"{name}, in {code.co_qualname}", own)
        return found

    def _event(self, frame, event: str, arg) -> None:
        if event == "call":
            callee, site = frame.f_code.co_qualname, frame.f_back
            if site is None:
                return
        elif event == "c_call":
            callee, site = getattr(arg, "__qualname__", None) or getattr(arg, "__name__", repr(arg)), frame
        else:
            return
        if site.f_code.co_filename == self.harness:
            return
        where, own = self._where(site)
        key = f"{callee} @ {where}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if own:
            text = linecache.getline(site.f_code.co_filename, site.f_lineno).strip()
            seen = self.lines.setdefault(key, [])
            if text and text not in seen and len(seen) < 3:
                seen.append(text)

    def start(self) -> None:
        self.counts = {}
        sys.setprofile(self._event)

    def stop(self) -> dict[str, int]:
        sys.setprofile(None)
        return self.counts


def _config(t: dict) -> TrainConfig | Exception:
    """The task's TrainConfig, or the exception that says why this side cannot make it."""
    try:
        return TrainConfig(**_size_and_workload(t), epochs=t["epochs"], batch_size=t["batch_size"],
                           learning_rate=t["learning_rate"], dtype=t["dtype"], mode=t["mode"], device=t["device"],
                           seed=t["seed"], **({"replicas": t["replicas"]} if t.get("replicas", 1) != 1 else {}))
    except Exception as exc:  # noqa: BLE001 - reported as the task's error
        return exc


def _size_and_workload(task: dict) -> dict:
    """The TrainConfig keywords of a task's size and workload, as this side's mlp_core names them: a checkout
    from before workloads calls the MLP's size `hidden` and trains nothing else."""
    size = task.get("size", task.get("hidden"))
    workload = task.get("workload", "mlp")
    if "size" in {f.name for f in dataclasses.fields(TrainConfig)}:
        return {"size": size, "workload": workload}
    if workload != "mlp":
        raise ValueError(f"this checkout's mlp_core predates workloads: it trains the MLP only, not {workload!r}")
    return {"hidden": size}


def _data(task: dict):
    """The task's data, drawn by its workload (this side's)."""
    try:
        from mlp_core import workloads
    except ImportError:  # a checkout from before workloads: the MLP's data
        return make_data(task["data_seed"], n_train=task["n_train"], n_test=task["n_test"])
    return workloads.get(task.get("workload", "mlp")).data(task["data_seed"], task["n_train"], task["n_test"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
