"""How good is the A/B gate on this machine? False alarms and the smallest slowdown it catches.

    .venv/bin/python scripts/gate_calibration.py --self-runs 8 --planted 0.05,0.10,0.15,0.20,0.30

Copies bench/ and mlp_core/ into temporary checkouts: a baseline, and candidates whose training
epoch (NumPy and TensorFlow alike) busy-waits an extra fraction f of its own duration, a slowdown
planted in the workload. Then runs `python -m bench.ab` baseline-vs-baseline (`--self-runs` times)
and baseline-vs-planted once per f, and prints how many configurations each flagged `slower`.
Run it on an otherwise idle machine; it takes about half a minute per A/B with the default matrix.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ["--devices", "cpu", "--modes", "eager,graph,numpy", "--dtypes", "float32", "--batch-sizes", "32,256",
          "--hidden-sizes", "20,256", "--epochs", "5", "--repeats", "10", "--quiet"]

PLANT = textwrap.dedent("""
    # planted by scripts/gate_calibration.py: each epoch busy-waits {f} of its own duration more
    import time as _time

    def _planted(cls):
        real = cls.epoch

        def epoch(self, e):
            t0 = _time.perf_counter()
            out = real(self, e)
            end = _time.perf_counter() + {f} * (_time.perf_counter() - t0)
            while _time.perf_counter() < end:
                pass
            return out

        cls.epoch = epoch
    _planted({cls})
""")


def make_tree(dst: Path, fraction: float = 0.0) -> Path:
    """A checkout copy; with fraction > 0, both trainers' epochs are slowed by that fraction."""
    for pkg in ("bench", "mlp_core"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if fraction:
        for module, cls in (("reference.py", "NumpyTrainer"), ("tf_train.py", "TFTrainer")):
            with open(dst / "mlp_core" / module, "a", encoding="utf-8") as fh:
                fh.write(PLANT.format(f=fraction, cls=cls))
    return dst


def ab(baseline: Path, candidate: Path, out: Path) -> list[dict]:
    """Run one interleaved A/B; the compare rows."""
    rows_file = out / "rows.json"
    cmd = [sys.executable, "-m", "bench.ab", "--baseline-tree", str(baseline), "--candidate-tree", str(candidate),
           "--out", str(out), *MATRIX]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        sys.exit(f"bench.ab failed ({proc.returncode}): {proc.stderr[-2000:]}")
    from bench.compare import compare, load

    rows = compare(load(out / "baseline"), load(out / "candidate"))
    rows_file.write_text(json.dumps(rows, indent=1))
    return rows


def main() -> int:
    """CLI."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-runs", type=int, default=8)
    p.add_argument("--planted", default="0.05,0.10,0.15,0.20,0.30")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gate-"))
    base = make_tree(work / "base")
    print(f"work directory: {work}")
    false_alarms = 0
    for i in range(args.self_runs):
        rows = ab(base, base, work / f"self-{i}")
        slower = [r["config"] for r in rows if r["verdict"] == "slower"]
        faster = [r["config"] for r in rows if r["verdict"] == "faster"]
        ratios = sorted(r["ratio"] for r in rows)
        false_alarms += bool(slower)
        print(f"self A/B {i}: {len(slower)} slower, {len(faster)} faster of {len(rows)}; "
              f"ratios {ratios[0]:.3f}..{ratios[-1]:.3f}", flush=True)
    print(f"self-comparisons with any false 'slower': {false_alarms} of {args.self_runs}")
    for f in (float(x) for x in args.planted.split(",")):
        rows = ab(base, make_tree(work / f"planted-{f}", f), work / f"ab-{f}")
        slower = sum(r["verdict"] == "slower" for r in rows)
        ratios = sorted(r["ratio"] for r in rows)
        print(f"planted +{f:.0%}: {slower} of {len(rows)} flagged slower; measured ratios "
              f"{ratios[0]:.3f}..{ratios[-1]:.3f} (median {ratios[len(ratios) // 2]:.3f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
