"""Do the answers hold? Four measurements of what bench.run concludes, each from real runs on this machine
(results/answers/*.json; docs/answers.md reads them):

    python scripts/answer_stability.py stability --runs 5     # (a) N identical sweeps: do their verdicts agree?
    python scripts/answer_stability.py null --runs 20         # (b) one mode under two names: a claimed difference?
    python scripts/answer_stability.py pairing                # (c) the cast's interval with and without pairing,
                                                              #     idle and with the other core loaded
    python scripts/answer_stability.py estimates              # (d) the first estimate against the measuring time
    python scripts/answer_stability.py coverage --runs 5      # do a run's intervals cover a re-run's estimates?
                                                              #     (--workers run, then --workers round)

(a) runs the issue's sweep (cpu; eager, function; float32, float64-cast; batch 4, 32, 256; hidden 20) at the
default budget and reports, per comparison, whether every run gave the same verdict, and whether each
no-difference verdict's interval lies inside the margin. (b) measures the NumPy baseline and the test plug-in
`toy` (tests/test_toy_mode.py: the same NumPy code under another name) and counts the runs in which any
comparison between them was decided. (c) and (d) are what their names say. Each prints a summary and writes
its JSON; exit 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "answers"
SWEEP = ["--devices", "cpu", "--modes", "eager,function", "--dtypes", "float32,float64-cast", "--batch-sizes",
         "4,32,256", "--sizes", "20"]


def bench_run(args: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[dict, float, str]:
    """One bench.run; (analysis.json, wall seconds, stderr)."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench.run", *args, "--no-plots", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, env=env or os.environ.copy())
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"bench.run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads((out / "analysis.json").read_text()), wall, proc.stderr


def comparisons(data: dict) -> dict[str, dict]:
    """Every comparison of an answer, keyed by its two configurations."""
    out = {}
    for c in [*data["gpu_vs_cpu"], *data["modes"]["vs_reference"], *data["cast_overhead"]]:
        out[f"{c['reference_config_id']} -> {c['candidate_config_id']}"] = c
    return out


def width(c: dict) -> float | None:
    """The interval's width on the log scale (ln high - ln low)."""
    lo, hi = c.get("time_ratio_low"), c.get("time_ratio_high")
    return math.log(hi / lo) if lo and hi else None


def stability(args: argparse.Namespace, tmp: Path) -> dict:
    runs = []
    for i in range(args.runs):
        data, wall, _ = bench_run(SWEEP, tmp / f"s{i}")
        runs.append(comparisons(data))
        margin = data["conventions"]["margin"]
        print(f"run {i + 1}/{args.runs}: {wall:.0f} s", file=sys.stderr)
    keys = sorted(set.intersection(*(set(r) for r in runs)))
    rows = []
    for k in keys:
        verdicts = [r[k]["verdict"] for r in runs]
        rows.append({"comparison": k, "verdicts": verdicts, "agree": len(set(verdicts)) == 1,
                     "ratios": [r[k]["time_ratio"] for r in runs]})
    nodiff = [(r[k]["time_ratio_low"], r[k]["time_ratio_high"]) for r in runs for k in keys
              if r[k]["verdict"] == "no-difference"]
    inside = sum(1 / (1 + margin) <= lo and hi <= 1 + margin for lo, hi in nodiff)
    # a decided verdict contradicted by another run (faster in one, slower in another), the error that matters
    flipped = sum(1 for row in rows if {"faster", "slower"} <= set(row["verdicts"]) or
                  {"costs", "saves"} <= set(row["verdicts"]))
    summary = {"runs": args.runs, "comparisons": len(keys), "agree": sum(r["agree"] for r in rows),
               "no_difference": len(nodiff), "no_difference_inside_margin": inside, "contradicted": flipped,
               "by_comparison": rows}
    print(f"(a) {summary['agree']} of {len(keys)} comparisons gave the same verdict in all {args.runs} runs; "
          f"{inside} of {len(nodiff)} no-difference intervals inside +-{margin:.0%}; {flipped} decided in opposite "
          "directions")
    for row in rows:
        print(f"    {row['comparison']}: {', '.join(row['verdicts'])}")
    return summary


def null(args: argparse.Namespace, tmp: Path) -> dict:
    env = {**os.environ, "EMB_PLUGINS": "tests.test_toy_mode", "PYTHONPATH": str(ROOT)}
    claims, per_run = 0, []
    for i in range(args.runs):
        data, wall, _ = bench_run(["--devices", "cpu", "--modes", "numpy,toy", "--dtypes", "float32",
                                   "--batch-sizes", "16,64", "--sizes", "20", "--peak-n", "0", *args.extra],
                                  tmp / f"n{i}", env)
        fam = data["modes"]["vs_reference"]
        decided = [c for c in fam if c["verdict"] in ("faster", "slower")]
        claims += bool(decided)
        per_run.append({"verdicts": [c["verdict"] for c in fam], "ratios": [c["time_ratio"] for c in fam]})
        print(f"run {i + 1}/{args.runs}: {wall:.0f} s, {[c['verdict'] for c in fam]}", file=sys.stderr)
    summary = {"runs": args.runs, "runs_claiming_a_difference": claims, "share": claims / args.runs,
               "per_run": per_run}
    print(f"(b) {claims} of {args.runs} runs claimed a difference between numpy and the same code named toy "
          f"({claims / args.runs:.0%})")
    return summary


def _hog(seconds: float) -> subprocess.Popen:
    """A busy loop on one core for `seconds`: the loaded case."""
    return subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {seconds}\n"
                             "while time.time() < end: pass"])


def pairing(args: argparse.Namespace, tmp: Path) -> dict:
    out = {}
    for load in ("idle", "loaded"):
        for design in ("dtype", "none"):
            widths = []
            for i in range(args.runs):
                hog = _hog(600) if load == "loaded" else None
                try:
                    data, wall, _ = bench_run([*SWEEP, "--pairing", design], tmp / f"p-{load}-{design}-{i}")
                finally:
                    if hog:
                        hog.kill()
                widths += [w for c in data["cast_overhead"] if (w := width(c)) is not None]
                print(f"{load} pairing={design} run {i + 1}: {wall:.0f} s", file=sys.stderr)
            out[f"{load}, pairing {design}"] = {"median_log_width": statistics.median(widths), "widths": widths}
    for k, v in out.items():
        print(f"(c) {k}: the cast's 95% interval spans a median x{math.exp(v['median_log_width']):.3f} "
              f"(ln width {v['median_log_width']:.3f}, {len(v['widths'])} intervals)")
    return out


def coverage(args: argparse.Namespace, tmp: Path) -> dict:
    """For each worker policy, N identical runs of (a)'s sweep: the share of (comparison, run i, run j != i) whose
    point estimate of run j falls inside run i's 95% interval. With calibrated intervals and two runs of equal
    noise that share is P(|Z| < 1.96 / sqrt 2) = 83.4%, not 95%: an interval is for the true value, and the other
    run's estimate carries noise of its own."""
    out = {}
    for workers in ("run", "round"):
        runs, walls = [], []
        for i in range(args.runs):
            data, wall, _ = bench_run([*SWEEP, "--workers", workers], tmp / f"c-{workers}-{i}")
            runs.append(comparisons(data))
            walls.append(wall)
            print(f"workers={workers} run {i + 1}/{args.runs}: {wall:.0f} s", file=sys.stderr)
        keys = sorted(set.intersection(*(set(r) for r in runs)))
        hits = total = 0
        by_family: dict[str, list[int]] = {"mode": [0, 0], "cast": [0, 0]}
        for k in keys:
            family = "cast" if "float64-cast" in k.split(" -> ")[1] and "float32" in k.split(" -> ")[0] else "mode"
            for i, ri in enumerate(runs):
                lo, hi = ri[k]["time_ratio_low"], ri[k]["time_ratio_high"]
                if lo is None or hi is None:
                    continue
                for j, rj in enumerate(runs):
                    if i != j:
                        inside = lo <= rj[k]["time_ratio"] <= hi
                        hits, total = hits + inside, total + 1
                        by_family[family][0] += inside
                        by_family[family][1] += 1
        out[f"workers {workers}"] = {"share": hits / total if total else None, "pairs": total,
                                     "by_family": {f: (h / n if n else None, n) for f, (h, n) in by_family.items()},
                                     "seconds_a_run": statistics.median(walls)}
        print(f"coverage, --workers {workers}: {hits} of {total} re-run estimates inside a run's 95% interval "
              f"({hits / total:.0%}; calibrated: about 83%); "
              + ", ".join(f"{f} {h}/{n}" for f, (h, n) in by_family.items()))
    return out


ESTIMATES = {
    "mlp": ["--devices", "cpu", "--modes", "eager,function", "--batch-sizes", "4,64", "--sizes", "20,256"],
    "cnn": ["--workload", "cnn", "--devices", "cpu", "--modes", "eager,function", "--batch-sizes", "16,64",
            "--sizes", "8"],
    "keras_regression": ["--workload", "examples.keras_regression:workload", "--devices", "cpu", "--modes",
                         "eager,function", "--batch-sizes", "32,256"],
}


def estimates(args: argparse.Namespace, tmp: Path) -> dict:
    out = {}
    for name, flags in ESTIMATES.items():
        _, wall, err = bench_run(flags, tmp / f"e-{name}")
        meta = json.loads((tmp / f"e-{name}" / "meta.json").read_text())
        measured = (datetime.fromisoformat(meta["finished_at"]) - datetime.fromisoformat(meta["started_at"]))
        lines = [x for x in err.splitlines() if "trials to measure" in x or "estimate revised" in x]
        out[name] = {"first": lines[0] if lines else None, "revisions": lines[1:],
                     "measuring_s": measured.total_seconds(), "command_s": wall}
        print(f"(d) {name}: {lines[0] if lines else '?'}\n    revised: {lines[1:]}\n    measured in "
              f"{measured.total_seconds():.0f} s (the command: {wall:.0f} s)")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("stability", "null", "pairing", "estimates", "coverage"))
    p.add_argument("--runs", type=int, help="runs (stability: 5, null: 20, pairing: 2 a case)")
    p.add_argument("--out", type=Path, help="the JSON file (default results/answers/WHAT.json)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="null: more bench.run flags, e.g. "
                   "--extra --stop-rule answers")
    args = p.parse_args()
    args.runs = args.runs or {"stability": 5, "null": 20, "pairing": 2, "estimates": 1, "coverage": 5}[args.what]
    with tempfile.TemporaryDirectory() as tmp:
        result = globals()[args.what](args, Path(tmp))
    path = args.out or OUT / f"{args.what}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"what": args.what, "measured_at": datetime.now().isoformat(timespec="seconds"),
                                "command": ["python", "scripts/answer_stability.py", *sys.argv[1:]], **result},
                               indent=1) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
