"""Does normalising by a reference kernel timed in the same process sharpen the wall-time gate? (issue 20, part 5)

Same-code processes on this machine differ by several percent in speed, an offset that stays for the life of
a process (memory layout, where its pages and threads landed). If a fixed reference kernel timed in the same
process right before and after the measured epochs moves with that offset, the ratio epoch / kernel cancels it
and the gate's spread shrinks; if the kernel does not share the offset, the ratio only adds the kernel's noise.

The experiment: P fresh processes per configuration, one after another, alternating the configurations; each
times a fixed kernel (a NumPy and pure-Python mix of about 30 ms, the same work every time), the trial's timed
epochs (the harness's own trainer and timed loop, the warm-up apart), and the kernel again. Then, from the
pool of processes, 400 random splits into a baseline and a candidate of --per-side processes each:

- false alarms: how often Welch's t-test on the log medians (alpha 0.05) with the gate's 1% threshold says
  `slower` or `faster` on same-code sides, raw and normalised;
- detection: the same with the candidate's epoch times multiplied by 1.03, 1.05, 1.10 (a planted slowdown of
  the measured code, which the kernel does not share), raw and normalised.

    python scripts/reference_kernel.py --out results/gate/reference_kernel.json
    python scripts/reference_kernel.py --table results/gate/reference_kernel.json

Resampling one pool is not independent comparisons (the gate calibration's 80 same-code A/B runs are): read the
rates as a comparison of the two statistics on the same data, not as the gate's error rates.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [
    {"mode": "numpy", "batch_size": 32, "size": 20, "n_train": 2048},
    {"mode": "eager", "batch_size": 32, "size": 20, "n_train": 800},
]
EPOCHS = 6  # the first is the warm-up
PLANTED = (1.03, 1.05, 1.10)
THRESHOLD, ALPHA = 0.01, 0.05

_CHILD = r"""
import json, os, statistics, sys, time
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from mlp_core import TrainConfig, make_data
from mlp_core.trainer import make_trainer, run_epochs

def kernel():
    # the same work every time: small matmuls through NumPy's dispatch and a pure-Python loop
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((32, 20)), rng.standard_normal((20, 20))
    t0 = time.perf_counter_ns()
    acc = 0.0
    for i in range(1500):
        acc += float((a @ b).sum())
        acc += sum(j * 0.5 for j in range(20))
    return (time.perf_counter_ns() - t0) / 1e9

cfg = json.loads(sys.argv[1])
data = make_data(0, n_train=cfg["n_train"], n_test=16)
trainer = make_trainer(data, TrainConfig(size=cfg["size"], batch_size=cfg["batch_size"], mode=cfg["mode"],
                                         dtype="float32", epochs=cfg["epochs"]))
kernel()  # its own warm-up
before = min(kernel() for _ in range(3))
times, _, _ = run_epochs(trainer, cfg["epochs"])
after = min(kernel() for _ in range(3))
print(json.dumps({"epoch_s": statistics.median(times[1:]), "kernel_before_s": before, "kernel_after_s": after}))
"""


def measure(processes: int) -> dict:
    """P processes per configuration, alternating configurations, one at a time."""
    out = {json.dumps(c, sort_keys=True): [] for c in CONFIGS}
    for p in range(processes):
        for cfg in CONFIGS:
            res = subprocess.run([sys.executable, "-c", _CHILD, json.dumps({**cfg, "epochs": EPOCHS})], cwd=ROOT,
                                 capture_output=True, text=True, check=True, timeout=600)
            out[json.dumps(cfg, sort_keys=True)].append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"process {p + 1}/{processes}", file=sys.stderr, flush=True)
    return {"processes": processes, "epochs": EPOCHS, "configs": [
        {"config": json.loads(k), "rows": v} for k, v in out.items()]}


def _verdict(x: np.ndarray, y: np.ndarray) -> str:
    from scipy import stats

    res = stats.ttest_ind(np.log(y), np.log(x), equal_var=False)
    ratio = math.exp(float(np.mean(np.log(y)) - np.mean(np.log(x))))
    if res.pvalue < ALPHA and ratio > 1 + THRESHOLD:
        return "slower"
    if res.pvalue < ALPHA and ratio < 1 / (1 + THRESHOLD):
        return "faster"
    return "same"


def analyse(doc: dict, *, per_side: int, splits: int = 400, seed: int = 0) -> list[dict]:
    """Per configuration: the spread of raw and normalised values, their correlation with the kernel, and the
    resampled false-alarm and detection rates of both statistics."""
    rng = np.random.default_rng(seed)
    out = []
    for entry in doc["configs"]:
        rows = entry["rows"]
        raw = np.array([r["epoch_s"] for r in rows])
        ker = np.array([(r["kernel_before_s"] + r["kernel_after_s"]) / 2 for r in rows])
        norm = raw / ker
        res = {"config": entry["config"], "processes": len(rows),
               "cv_raw": float(np.std(np.log(raw), ddof=1)), "cv_normalised": float(np.std(np.log(norm), ddof=1)),
               "cv_kernel": float(np.std(np.log(ker), ddof=1)),
               "corr_raw_kernel": float(np.corrcoef(np.log(raw), np.log(ker))[0, 1]),
               "kernel_drift": float(np.median(np.abs(np.log(
                   [r["kernel_after_s"] / r["kernel_before_s"] for r in rows]))))}
        for name, values in (("raw", raw), ("normalised", norm)):
            alarms = {f: 0 for f in (1.0, *PLANTED)}
            for _ in range(splits):
                idx = rng.permutation(len(values))
                a, b = idx[:per_side], idx[per_side:2 * per_side]
                for f in alarms:
                    v = _verdict(values[a], values[b] * f)
                    alarms[f] += v != "same" if f == 1.0 else v == "slower"
            res[f"false_alarms_{name}"] = alarms[1.0] / splits
            res[f"detected_{name}"] = {f"{f:.2f}": alarms[f] / splits for f in PLANTED}
        out.append(res)
    return out


def table(results: list[dict]) -> str:
    """Markdown for docs/gate.md."""
    lines = ["| configuration | processes | spread raw | spread normalised | kernel spread | corr(raw, kernel) | "
             "false alarms raw / norm | detected +3% raw / norm | +5% | +10% |", "|" + "---|" * 10]
    for r in results:
        c = r["config"]
        d, n = r["detected_raw"], r["detected_normalised"]
        lines.append(f"| {c['mode']} b{c['batch_size']} h{c['size']} | {r['processes']} | {r['cv_raw']:.1%} | "
                     f"{r['cv_normalised']:.1%} | {r['cv_kernel']:.1%} | {r['corr_raw_kernel']:+.2f} | "
                     f"{r['false_alarms_raw']:.0%} / {r['false_alarms_normalised']:.0%} | "
                     + " | ".join(f"{d[k]:.0%} / {n[k]:.0%}" for k in ("1.03", "1.05", "1.10")) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/reference_kernel.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="measure, then write the measurements and the analysis to this JSON file")
    p.add_argument("--table", metavar="JSON", help="print the markdown table of a written file")
    p.add_argument("--processes", type=int, default=24, help="processes per configuration (default 24)")
    p.add_argument("--per-side", type=int, default=5, help="processes per side of a resampled comparison (default 5)")
    args = p.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())["results"]))
        return 0
    if not args.out:
        p.error("--out or --table")
    t0 = time.time()
    doc = measure(args.processes)
    doc["results"] = analyse(doc, per_side=args.per_side)
    doc["wall_s"] = time.time() - t0
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(table(doc["results"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
