"""The Ray executor's cost against the local one: the same small sweep, run back to back, alternating.

    python scripts/ray_overhead.py --pairs 2 --out results/cluster/ray_overhead.json

Each pair runs `bench.run` once with the local executor and once with `--executor ray` (no address:
the driver starts a one-node Ray cluster, so its start is in the wall time), in alternating order.
Reported: the extra wall time of the Ray run (command start to exit) and, per trial, the ratio of its
median epoch time under Ray to that under the local executor (the executor must stay out of the
timed region: the target is within 5%).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SWEEP = ["--devices", "cpu", "--modes", "eager,function,numpy", "--batch-sizes", "32,256", "--hidden-sizes", "20,256",
         "--dtypes", "float32", "--epochs", "5", "--repeats", "3", "--peak-n", "0",
         "--no-plots", "--quiet"]


def one(executor: str, out: Path) -> float:
    """Wall seconds of one bench.run."""
    extra = ["--executor", "ray"] if executor == "ray" else []
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.run", *SWEEP, *extra, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{executor} run failed: {proc.stderr[-2000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    from bench.format import load_run

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "results" / "cluster" / "ray_overhead.json")
    args = p.parse_args(argv)
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            order = ("local", "ray") if i % 2 == 0 else ("ray", "local")
            walls, medians = {}, {}
            for ex in order:
                out = Path(tmp) / f"{ex}-{i}"
                walls[ex] = one(ex, out)
                run = load_run(out)
                medians[ex] = dict(zip(run.ok["config_id"], run.ok["median_s"]))
            ratios = {c: medians["ray"][c] / medians["local"][c] for c in medians["local"] if c in medians["ray"]}
            pairs.append({"order": list(order), "wall_s": walls, "extra_wall_s": walls["ray"] - walls["local"],
                          "median_ratio_per_trial": ratios})
            print(f"pair {i + 1}: local {walls['local']:.1f} s, ray {walls['ray']:.1f} s; median-epoch ratios "
                  f"ray/local {min(ratios.values()):.3f}..{max(ratios.values()):.3f} "
                  f"(median {statistics.median(ratios.values()):.3f})")
    all_ratios = [r for p in pairs for r in p["median_ratio_per_trial"].values()]
    import numpy as np
    from scipy import stats

    logs = np.log(all_ratios)
    ci = stats.bootstrap((logs,), np.mean, confidence_level=0.95, random_state=0).confidence_interval
    summary = {"geomean_epoch_ratio": float(np.exp(logs.mean())),
               "geomean_epoch_ratio_ci95": [float(np.exp(ci.low)), float(np.exp(ci.high))],
               "sweep": SWEEP, "command": "python scripts/ray_overhead.py " + " ".join(argv or sys.argv[1:]),
               "pairs": pairs, "extra_wall_s_median": statistics.median(p["extra_wall_s"] for p in pairs),
               "median_epoch_ratio_median": statistics.median(all_ratios),
               "median_epoch_ratio_range": [min(all_ratios), max(all_ratios)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"extra wall time (median over pairs) {summary['extra_wall_s_median']:.1f} s; median-epoch ratio ray/local: "
          f"median {summary['median_epoch_ratio_median']:.3f}, range {min(all_ratios):.3f}..{max(all_ratios):.3f}; "
          f"geometric mean {summary['geomean_epoch_ratio']:.3f} [95% CI {summary['geomean_epoch_ratio_ci95'][0]:.3f}, "
          f"{summary['geomean_epoch_ratio_ci95'][1]:.3f}] over {len(all_ratios)} trial pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
