"""How good is the A/B gate on this machine? False alarms on identical code, and detection of planted work.

    .venv/bin/python scripts/gate_calibration.py --modes duet,sequential,icount --self-runs 20 \
        --planted 0.02,0.05,0.10,0.20 --plant-runs 3 --out results/gate

Copies bench/ and mlp_core/ into temporary checkouts: a baseline, and candidates with planted
*work* (never a sleep: a sleeping side would free its core, which a duet partner would feel).
For the timed modes (duet, sequential) the training epoch, NumPy and TensorFlow alike, busy-waits
an extra fraction f of its own duration. For the instruction-count mode (icount), where a
busy-wait's length would follow valgrind's speed, every epoch also trains a second trainer of the
same configuration on the first f of the training set (whole batches, at least one): f more of the
same work, deterministic. Then runs `python -m bench.ab` baseline-vs-baseline (`--self-runs` times) and
baseline-vs-planted (`--plant-runs` times per f) in each gate mode, and counts configuration
comparisons: any `slower` or `faster` on identical code is a false alarm; `slower` on a plant is a
detection. Writes OUT/calibration.json and OUT/calibration.png|svg (detection rate vs planted
slowdown per mode, false-alarm rates in the legend). Run it on an otherwise idle machine.
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
MATRICES = {  # numpy: workers without TensorFlow (fast to renew every round); tf: the CI matrix's modes
    "numpy": ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "16,64",
              "--hidden-sizes", "64,512", "--n-train", "2048", "--n-test", "16", "--epochs", "6", "--repeats", "10",
              "--quiet"],
    # icount: the numpy matrix made lighter (valgrind runs NumPy ~30x slower; counts need no repeats)
    "icount-numpy": ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "16,64",
                     "--hidden-sizes", "16,64", "--n-train", "1024", "--n-test", "16", "--epochs", "4", "--repeats",
                     "2", "--quiet"],
    "icount-tf": ["--devices", "cpu", "--modes", "eager,graph", "--dtypes", "float32", "--batch-sizes", "32",
                  "--hidden-sizes", "20", "--n-train", "512", "--n-test", "16", "--epochs", "3", "--repeats", "2",
                  "--quiet"],
    "tf": ["--devices", "cpu", "--modes", "eager,graph,numpy", "--dtypes", "float32", "--batch-sizes", "32,256",
           "--hidden-sizes", "20,256", "--epochs", "5", "--repeats", "10", "--quiet"],
}

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


PLANT_WORK = textwrap.dedent("""
    # planted by scripts/gate_calibration.py: every epoch also trains a shadow trainer on {f} of the data
    import dataclasses as _dc

    _real_make_trainer = make_trainer


    def make_trainer(data, config, params=None, **kw):
        trainer = _real_make_trainer(data, config, params, **kw)
        n = max(1, round({f} * data.n_train / config.batch_size)) * config.batch_size
        shadow = _real_make_trainer(_dc.replace(data, X_train=data.X_train[:n], y_train=data.y_train[:n]), config)
        real = trainer.epoch

        def epoch(e):
            out = real(e)
            shadow.epoch(e)
            return out

        trainer.epoch = epoch
        return trainer
""")


def make_tree(dst: Path, fraction: float = 0.0, *, work: bool = False) -> Path:
    """A checkout copy; with fraction > 0, every epoch costs that fraction more (busy-wait, or work: see above)."""
    for pkg in ("bench", "mlp_core"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if fraction and work:
        with open(dst / "mlp_core" / "trainer.py", "a", encoding="utf-8") as fh:
            fh.write(PLANT_WORK.format(f=fraction))
    elif fraction:
        for module, cls in (("reference.py", "NumpyTrainer"), ("tf_train.py", "TFTrainer")):
            with open(dst / "mlp_core" / module, "a", encoding="utf-8") as fh:
                fh.write(PLANT.format(f=fraction, cls=cls))
    return dst


def ab(baseline: Path, candidate: Path, out: Path, mode: str, matrix: list[str]) -> list[dict]:
    """Run one A/B in a gate mode; the compare rows."""
    if mode == "icount":  # processes, not repeats: bench.ab's default for the mode (counts are steady)
        k = matrix.index("--repeats")
        matrix = matrix[:k] + matrix[k + 2:]
    cmd = [sys.executable, "-m", "bench.ab", "--baseline-tree", str(baseline), "--candidate-tree", str(candidate),
           "--out", str(out), "--method", mode, *matrix]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        sys.exit(f"bench.ab failed ({proc.returncode}): {proc.stderr[-2000:]}")
    if mode == "icount":
        doc = json.loads((out / "icount.json").read_text())
        return [{"config": r["config_id"], "ratio": r["ratio"], "verdict": r["verdict"]} for r in doc["configs"]]
    from bench.analysis.compare import compare, load

    return compare(load(out / "baseline"), load(out / "candidate"))


def main() -> int:
    """CLI."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", default="duet,sequential", help="gate modes to calibrate (bench.ab --method)")
    p.add_argument("--matrix", choices=sorted(MATRICES), default="numpy")
    p.add_argument("--self-runs", type=int, default=20, help="same-code A/B runs per mode")
    p.add_argument("--planted", default="0.02,0.05,0.10,0.20")
    p.add_argument("--plant-runs", type=int, default=3, help="A/B runs per planted slowdown and mode")
    p.add_argument("--out", default="results/gate", help="where calibration.json and the figure go")
    p.add_argument("--figure-only", action="store_true", help="redraw the figure from OUT/calibration.json")
    args = p.parse_args()
    if args.figure_only:
        figure(json.loads((Path(args.out) / "calibration.json").read_text()), Path(args.out))
        return 0
    work = Path(tempfile.mkdtemp(prefix="gate-"))
    base = make_tree(work / "base")
    base_copy = make_tree(work / "base-copy-with-a-longer-path")
    plants = [float(x) for x in args.planted.split(",")]
    modes = args.modes.split(",")
    trees = {f: make_tree(work / f"planted-{f}", f) for f in plants} if set(modes) - {"icount"} else {}
    work_trees = {f: make_tree(work / f"work-{f}", f, work=True) for f in plants} if "icount" in modes else {}
    print(f"work directory: {work}", flush=True)
    out = Path(args.out)
    # modes measured earlier into OUT stay, each with the command, matrix and date that measured it
    result = json.loads((out / "calibration.json").read_text()) if (out / "calibration.json").exists() else {}
    for res in result.get("modes", {}).values():
        res.setdefault("command", result.get("command"))
        res.setdefault("matrix", result.get("matrix"))
    from bench.engine.probe import host_facts

    result = {"modes": result.get("modes", {})}
    for mode in modes:
        # the machine that measures, per mode (modes may be calibrated apart); TF's version is not probed
        res = result["modes"][mode] = {"self": [], "planted": {}, "command": " ".join(sys.argv),
                                       "matrix": MATRICES[args.matrix], "measured_utc": _now(),
                                       "machine": {"host": host_facts()}}
        for i in range(args.self_runs):
            # icount: a copy of the baseline in another folder, as two checkouts are (paths are strings the code
            # handles, so a count could feel them)
            other = base_copy if mode == "icount" else base
            rows = ab(base, other, work / f"{mode}-self-{i}", mode, MATRICES[args.matrix])
            res["self"].append([{k: r[k] for k in ("config", "ratio", "verdict")} for r in rows])
            alarms = sum(r["verdict"] in ("slower", "faster") for r in rows)
            print(f"{mode} self {i}: {alarms} alarms of {len(rows)}; ratios "
                  f"{min(r['ratio'] for r in rows):.3f}..{max(r['ratio'] for r in rows):.3f}", flush=True)
        for f in plants:
            runs = res["planted"][str(f)] = []
            for i in range(args.plant_runs):
                planted = work_trees[f] if mode == "icount" else trees[f]
                rows = ab(base, planted, work / f"{mode}-{f}-{i}", mode, MATRICES[args.matrix])
                runs.append([{k: r[k] for k in ("config", "ratio", "verdict")} for r in rows])
                print(f"{mode} planted +{f:.0%} run {i}: {sum(r['verdict'] == 'slower' for r in rows)} of {len(rows)} "
                      f"slower; ratios {min(r['ratio'] for r in rows):.3f}..{max(r['ratio'] for r in rows):.3f}",
                      flush=True)
    out.mkdir(parents=True, exist_ok=True)
    summarise(result)
    (out / "calibration.json").write_text(json.dumps(result, indent=1) + "\n")
    figure(result, out)
    return 0


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summarise(result: dict) -> None:
    """Rates per mode: false alarms over all same-code comparisons, detections per plant."""
    for mode, res in result["modes"].items():
        self_rows = [r for run in res["self"] for r in run]
        res["false_alarm_rate"] = sum(r["verdict"] in ("slower", "faster") for r in self_rows) / max(1, len(self_rows))
        res["self_comparisons"] = len(self_rows)
        res["detection_rate"] = {}
        for f, runs in res["planted"].items():
            rows = [r for run in runs for r in run]
            res["detection_rate"][f] = sum(r["verdict"] == "slower" for r in rows) / max(1, len(rows))
        print(f"{mode}: false alarms {res['false_alarm_rate']:.1%} of {len(self_rows)} comparisons; detection "
              + ", ".join(f"+{float(f):.0%}: {v:.0%}" for f, v in res["detection_rate"].items()), flush=True)


def detection_points(res: dict) -> list[dict]:
    """Per planted size: the measured size (median ratio of the planted comparisons, with its interquartile range)
    and the detections k of n with a Wilson 95% interval (scipy.stats)."""
    import numpy as np
    from scipy.stats import binomtest

    points = []
    for f, runs in res["planted"].items():
        rows = [r for run in runs for r in run]
        ratios = np.array([r["ratio"] for r in rows], float)
        k, n = sum(r["verdict"] == "slower" for r in rows), len(rows)
        ci = binomtest(k, n).proportion_ci(method="wilson")
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        points.append({"nominal": float(f), "measured": float(med) - 1, "measured_q1": float(q1) - 1,
                       "measured_q3": float(q3) - 1, "k": k, "n": n, "low": float(ci.low), "high": float(ci.high)})
    return points


def false_alarms(res: dict) -> tuple[int, int, float]:
    """Alarms k of n same-code comparisons and the upper end of the Wilson 95% interval of the rate."""
    from scipy.stats import binomtest

    rows = [r for run in res["self"] for r in run]
    k = sum(r["verdict"] in ("slower", "faster") for r in rows)
    return k, len(rows), binomtest(k, len(rows)).proportion_ci(method="wilson").high


def figure(result: dict, out: Path) -> None:
    """The figure into OUT/calibration.png and .svg."""
    import matplotlib.pyplot as plt

    from bench.analysis.plot import STYLE, save_figure

    fig = draw(result)
    with plt.rc_context(STYLE):
        save_figure(fig, out, "calibration")


def draw(result: dict):
    """Detection vs the slowdown each plant really caused (measured, not nominal), one line per gate mode, with
    Wilson 95% intervals on k of n; false alarms (k of n, interval) in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bench.analysis.plot import STYLE
    from bench.format.identity import machine_label

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.8, 3.6), constrained_layout=True)
        for mode, res in result["modes"].items():
            pts = detection_points(res)
            x = np.array([100 * p["measured"] for p in pts])
            y = np.array([100 * p["k"] / p["n"] for p in pts])
            xerr = [x - [100 * p["measured_q1"] for p in pts], [100 * p["measured_q3"] for p in pts] - x]
            yerr = [y - [100 * p["low"] for p in pts], [100 * p["high"] for p in pts] - y]
            k, n, high = false_alarms(res)
            unit = "instructions" if mode == "icount" else "wall time"
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker="o", markersize=3.5, capsize=2, elinewidth=0.7,
                        label=f"{mode} ({unit}): false alarms {k} of {n} (95% CI up to {100 * high:.1f}%)")
        ax.axvline(10, color="0.5", linestyle=":", linewidth=0.8)
        ax.annotate("wall-time threshold", xy=(10, 0.5), xycoords=("data", "axes fraction"), rotation=90,
                    fontsize=6, color="0.4", ha="right", va="center")
        if "icount" in result["modes"]:
            ax.axvline(1, color="0.5", linestyle="--", linewidth=0.8)
            ax.annotate("icount threshold", xy=(1, 0.5), xycoords=("data", "axes fraction"), rotation=90,
                        fontsize=6, color="0.4", ha="right", va="center")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:+.0f}%"))
        ax.set_xlabel("slowdown the plant caused (median ratio - 1; bar: quartiles)")
        ax.set_ylabel("configs flagged slower (%, 95% CI)")
        ax.set_ylim(-5, 105)
        fig.legend(frameon=False, fontsize=6, loc="outside lower center", ncol=1)
        n = {p["n"] for res in result["modes"].values() for p in detection_points(res)}
        labels = {machine_label(res["machine"]) if res.get("machine") else
                  "machine: not recorded (calibration.json predates the machine field)"
                  for res in result["modes"].values()}
        label = "; ".join(sorted(labels))
        fig.suptitle(f"A/B gate: detection vs the slowdown planted work caused ({'/'.join(map(str, sorted(n)))} "
                     f"comparisons a point)\n{label}", fontsize=8)
    return fig


if __name__ == "__main__":
    sys.exit(main())
