"""Does this machine reproduce the published reference (results/reference)? A short subset of its matrix is
measured here, and each published value is held against this run's 95% interval: every answer's comparison
(mode against eager, the float64 cast) and every trial's median epoch time.

    python scripts/reproduce_check.py                      # measure the subset (about 2 minutes here), then compare
    python scripts/reproduce_check.py --run results/mine   # compare a run already measured
    bash scripts/reproduce_reference.sh --check            # the same

A published value inside this run's interval is reproduced. A miss means one of: another machine (or the same
kind of VM on another day: compare the machine lines printed), another TensorFlow (the versions printed), or a
change in the code since the reference's commit (check it out and measure it beside this one). Exit 0 when it
ran, whatever it found; 2 on bad input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REFERENCE = ROOT / "results" / "reference"
SUBSET = ["--devices", "cpu", "--modes", "eager,function,graph,numpy", "--dtypes", "float32,float64-cast",
          "--batch-sizes", "4,64", "--sizes", "20", "--epochs", "5", "--trial-budget", "4"]


def comparisons(data: dict) -> dict[str, dict]:
    """An analysis's comparisons behind the answers, keyed by their two configurations."""
    return {f"{c['reference_config_id']} -> {c['candidate_config_id']}": c
            for c in [*data["modes"]["vs_reference"], *data["cast_overhead"]]}


def check(run_dir: Path, reference_dir: Path) -> tuple[list[str], int, int]:
    """(lines, reproduced, compared)."""
    from bench.analysis import findings
    from bench.format import load_run

    mine, ref = load_run(run_dir), load_run(reference_dir)
    lines = [f"reference: {reference_dir} ({ref.label}; commit {(ref.meta.get('git') or {}).get('commit', '?')[:10]},"
             f" {ref.meta.get('started_at')})",
             f"this run:  {run_dir} ({mine.label}; commit {(mine.meta.get('git') or {}).get('commit', '?')[:10]}, "
             f"{mine.meta.get('started_at')})", ""]
    hits = total = 0
    ours, theirs = comparisons(findings.analyse(mine)), comparisons(findings.analyse(ref))
    lines.append("answers (time ratio candidate / reference): published | here [95% interval] | reproduced?")
    for key in sorted(set(ours) & set(theirs)):
        o, t = ours[key], theirs[key]
        lo, hi = o["time_ratio_low"], o["time_ratio_high"]
        ok = lo is not None and lo <= t["time_ratio"] <= hi
        hits, total = hits + ok, total + 1
        here = f"{o['time_ratio']:.3g} [{lo:.3g}, {hi:.3g}]" if lo is not None else f"{o['time_ratio']:.3g} [none]"
        lines.append(f"  {key}: {t['time_ratio']:.3g} | {here} | {'yes' if ok else 'MISS'}")
    answer_hits, answer_total = hits, total
    lines.append("")
    lines.append("median epoch time (ms): published | here [95% interval of the median] | reproduced?")
    ref_ok = ref.ok.set_index("config_id")
    for _, r in mine.ok.iterrows():
        if r["config_id"] not in ref_ok.index:
            continue
        pub = float(ref_ok.loc[r["config_id"], "median_s"])
        ok = r["ci_low_s"] <= pub <= r["ci_high_s"]
        hits, total = hits + ok, total + 1
        lines.append(f"  {r['config_id']}: {pub * 1e3:.4g} | {r['median_s'] * 1e3:.4g} [{r['ci_low_s'] * 1e3:.4g}, "
                     f"{r['ci_high_s'] * 1e3:.4g}] | {'yes' if ok else 'MISS'}")
    lines += ["", f"answers (ratios): {answer_hits} of {answer_total} inside this run's 95% intervals "
              f"({answer_hits / max(answer_total, 1):.0%}); median epoch times: {hits - answer_hits} of "
              f"{total - answer_total} ({(hits - answer_hits) / max(total - answer_total, 1):.0%}).",
              f"{hits} of {total} published values inside this run's 95% intervals ({hits / max(total, 1):.0%})."]
    return lines, hits, total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, help="a run directory already measured (default: measure the subset now)")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="the published run (default results/reference)")
    args = p.parse_args()
    for name, path in (("reference", args.reference), ("run", args.run)):
        if path is not None and not (path / "meta.json").is_file():
            print(f"reproduce_check: {name}: {str(path)!r}: not a run directory", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = Path(tmp) / "subset"
            proc = subprocess.run([sys.executable, "-m", "bench.run", *SUBSET, "--no-plots", "--quiet", "--out",
                                   str(run)], cwd=ROOT, stdout=subprocess.DEVNULL)
            if proc.returncode != 0:
                print(f"reproduce_check: the subset's bench.run failed ({proc.returncode})", file=sys.stderr)
                return 1
        lines, _, _ = check(run, args.reference)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
