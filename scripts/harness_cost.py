"""Does the harness cost anything? `bench.run`'s median epoch vs a bare loop of the same trainer.

    .venv/bin/python scripts/harness_cost.py --modes numpy,eager --pairs 8 [--out results/harness_cost.json]
    .venv/bin/python scripts/harness_cost.py --in-process --modes numpy,eager --pairs 12

For each mode, at the article's configuration (batch 4, hidden 20, float32, 800 samples, 6 epochs
of which the first is the warm-up), `--pairs` times in alternating order (AB, BA, ...), each a
fresh process: (A) `python -m bench.run` measuring one repeat of the trial (its worker process,
protocol, store; no ceiling, no plots), its median epoch read from the run's summary.csv; (B) this
script's bare loop: build the trainer with mlp_core.trainer.make_trainer, then per epoch a sync, a
clock read, `trainer.epoch(e)`, a sync, a clock read; the median of the epochs after the first.
The harness's cost is the geometric mean of the per-pair ratios A/B, with a 95% interval (t on
the logs, scipy.stats). The target: within 2%.

Across processes, this machine's process-to-process noise (+-13-20%) hides a 2% effect. With
--in-process, both run in one process, alternating: (A) the worker's own `bench.engine.measure.run_repeat`
(what a worker does for a repeat: data cache, heap layout block, peak-memory reset, the timed loop,
the result message) and (B) the bare loop on the same data; every pair then shares the process's
state, so only what the harness adds around and inside the timed region can differ.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.format.derive import timed  # noqa: E402 - the warm-up rule of every timing

CONFIG = {"batch_size": 4, "size": 20, "dtype": "float32", "n_train": 800, "n_test": 200, "epochs": 6}


def bare(mode: str) -> float:
    """The bare loop in this process: median epoch after the first (s)."""
    from mlp_core import TrainConfig, make_data
    from mlp_core.trainer import make_trainer

    data = make_data(0, n_train=CONFIG["n_train"], n_test=CONFIG["n_test"])
    trainer = make_trainer(data, TrainConfig(size=CONFIG["size"], batch_size=CONFIG["batch_size"],
                                             dtype=CONFIG["dtype"], mode=mode, epochs=CONFIG["epochs"]))
    times = []
    with trainer.placement():
        for e in range(CONFIG["epochs"]):
            trainer.begin_epoch()
            trainer.sync()
            t0 = time.perf_counter_ns()
            trainer.epoch(e)
            trainer.sync()
            times.append((time.perf_counter_ns() - t0) / 1e9)
    return statistics.median(timed(times))


def in_process(mode: str) -> float:
    """run_repeat's median epoch after the first, in this process."""
    from bench.engine.measure import run_repeat
    from bench.format.messages import RepeatTask

    task = RepeatTask(device="cpu", mode=mode, dtype=CONFIG["dtype"], batch_size=CONFIG["batch_size"],
                      size=CONFIG["size"], threads=0, repeat=0, seed=0, data_seed=0, epochs=CONFIG["epochs"],
                      n_train=CONFIG["n_train"], n_test=CONFIG["n_test"], learning_rate=1e-4)
    res = run_repeat(task)
    if res.status != "ok":
        raise RuntimeError(f"run_repeat: {res.status}: {res.reason}")
    return statistics.median(timed(res.epoch_times_s))


def harness(mode: str, out: Path) -> float:
    """One repeat through bench.run; its median epoch (s)."""
    cmd = [sys.executable, "-m", "bench.run", "--devices", "cpu", "--modes", mode, "--dtypes", CONFIG["dtype"],
           "--batch-sizes", str(CONFIG["batch_size"]), "--hidden-sizes", str(CONFIG["size"]), "--n-train",
           str(CONFIG["n_train"]), "--n-test", str(CONFIG["n_test"]), "--epochs", str(CONFIG["epochs"]),
           "--repeats", "1", "--peak-n", "0", "--no-plots", "--quiet", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    from bench.format import load_run

    return float(load_run(out).summary["median_s"].iloc[0])


def paired_ratio(a_s: list[float], b_s: list[float], t975: float) -> tuple[float, tuple[float, float]]:
    """The geometric mean of the pairs' ratios a/b and its 95% interval (t on the logs; `t975`: the t
    distribution's 97.5% point for len - 1 degrees of freedom)."""
    logs = [math.log(a / b) for a, b in zip(a_s, b_s)]
    mean = statistics.fmean(logs)
    half = t975 * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), (math.exp(mean - half), math.exp(mean + half))


def main() -> int:
    """CLI."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", default="numpy,eager")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--out", help="JSON file for the results")
    p.add_argument("--in-process", action="store_true", help="both sides in this one process (see above)")
    p.add_argument("--bare", metavar="MODE", help=argparse.SUPPRESS)  # the child: one bare loop
    args = p.parse_args()
    if args.bare:
        print(bare(args.bare))
        return 0
    from scipy import stats

    result = {"command": " ".join(sys.argv), "config": CONFIG, "in_process": args.in_process, "modes": {}}
    work = Path(tempfile.mkdtemp(prefix="harness-cost-"))
    for mode in args.modes.split(","):
        a_s, b_s = [], []
        if args.in_process:
            in_process(mode)  # warm-up: imports, first traces; not counted
            bare(mode)
        for i in range(args.pairs if not args.in_process else 0):
            for side in ("ab" if i % 2 == 0 else "ba"):
                if side == "a":
                    a_s.append(harness(mode, work / f"{mode}-{i}"))
                else:
                    out = subprocess.run([sys.executable, __file__, "--bare", mode], check=True, capture_output=True,
                                         text=True, cwd=ROOT)
                    b_s.append(float(out.stdout.strip().splitlines()[-1]))
        for i in range(args.pairs if args.in_process else 0):  # alternating order: AB, BA, ...
            if i % 2 == 0:
                a_s.append(in_process(mode))
                b_s.append(bare(mode))
            else:
                b_s.append(bare(mode))
                a_s.append(in_process(mode))
        ratio, ci = paired_ratio(a_s, b_s, stats.t.ppf(0.975, len(a_s) - 1))
        res = {"harness_s": a_s, "bare_s": b_s, "ratio": ratio, "ci95": list(ci)}
        result["modes"][mode] = res
        print(f"{mode}: harness / bare = {res['ratio']:.3f} [{res['ci95'][0]:.3f}, {res['ci95'][1]:.3f}] over "
              f"{args.pairs} pairs; medians {statistics.median(a_s) * 1e3:.2f} vs {statistics.median(b_s) * 1e3:.2f} "
              "ms/epoch", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
