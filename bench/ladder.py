"""`python -m bench.ladder RUN... [--out DIR]`: the overhead ladder of runs, from the compiled floor up.

Each RUN is a run directory of `python -m bench.run` holding CPU trials of several execution modes
(README: "The overhead ladder" has the commands). For each (batch, hidden) of its float32 trials
with the fewest threads, every mode's median epoch time per step, as a multiple of the numba
floor's (the same work, compiled whole), and for each TensorFlow mode where its step's time goes,
measured now in this process (bench.breakdown): the tf.data pipeline alone, the step on pre-made
tensors, and of that, the arithmetic: the time of the fastest non-TF implementation of the same
step at that point (the numba floor at small sizes; at large ones NumPy's BLAS or JAX's XLA, both
multithreaded, can beat one core's compiled loops). Writes DIR/ladder.json,
DIR/ladder.md (the table) and DIR/ladder.png|svg (the figure). Default DIR: RUN/ladder (one RUN).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from bench import cli

ROUNDS = 12


def parser():
    """The command line."""
    p = cli.parser("python -m bench.ladder", __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directory with CPU trials of several modes")
    p.add_argument("--out", metavar="DIR", help="where ladder.json, ladder.md and the figure go (default RUN/ladder; "
                   "needed for several runs)")
    p.add_argument("--rounds", type=int, default=ROUNDS, help=f"breakdown rounds per TF mode (default {ROUNDS})")
    p.add_argument("--no-breakdown", action="store_true", help="the ladder only (no TensorFlow needed)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, read, measure, write."""
    args = parser().parse_intermixed_args(argv)  # RUN... and options in any order
    return cli.guarded("python -m bench.ladder", lambda: _main(args))


def _main(args) -> int:
    from bench.errors import InputError
    from bench.store import load_run
    from bench.store.io import check_output, write_json

    if args.rounds < 3:
        raise InputError(f"--rounds: {args.rounds}: need at least 3 (the first is the warm-up)")
    if len(args.runs) > 1 and not args.out:
        raise InputError("--out: needed when several runs are given")
    runs = [load_run(r) for r in args.runs]
    out = check_output(args.out or Path(args.runs[0]) / "ladder", "--out", directory=True)
    docs = []
    for path, run in zip(args.runs, runs):
        doc = ladder(run)
        if not doc["points"]:
            raise InputError(f"{path}: no ok float32 CPU trial to build a ladder from")
        if not args.no_breakdown:
            add_breakdown(run, doc, rounds=args.rounds)
        docs.append(doc)
    doc = {"runs": [d["run"] for d in docs], "machine": docs[0]["machine"], "n_train": docs[0]["n_train"],
           "points": [p for d in docs for p in d["points"]]}
    write_json(out / "ladder.json", doc, what="--out")
    from bench.store.io import atomic_write

    atomic_write(out / "ladder.md", table(doc), what="--out")
    figure(doc, out)
    print(table(doc), end="")
    print(f"wrote {out}/ladder.json, ladder.md, ladder.png, ladder.svg", file=sys.stderr)
    return 0


def ladder(run) -> dict[str, Any]:
    """Per (batch, hidden): each mode's per-step median (and CI) and its multiple of the floor."""
    from mlp_core.flops import steps_per_epoch

    ok = run.one_device
    ok = ok[(ok["device"] == "cpu") & (ok["dtype"] == "float32")]
    ok = ok[ok["threads"] == ok["threads"].min()] if len(ok) else ok
    points = []
    for (batch, hidden), rows in ok.groupby(["batch_size", "hidden"]):
        steps = steps_per_epoch(run.spec.n_train, int(batch))
        modes = {}
        for _, r in rows.iterrows():
            modes[r["mode"]] = {"per_step_s": r["median_s"] / steps,
                                "ci_s": [r["ci_low_s"] / steps if math.isfinite(r["ci_low_s"]) else None,
                                         r["ci_high_s"] / steps if math.isfinite(r["ci_high_s"]) else None]}
        floor = modes.get("numba", {}).get("per_step_s")
        for m in modes.values():
            m["x_floor"] = m["per_step_s"] / floor if floor else None
        points.append({"batch_size": int(batch), "hidden": int(hidden), "steps": steps, "floor_mode":
                       "numba" if floor else None, "modes": dict(sorted(modes.items(),
                                                                        key=lambda kv: kv[1]["per_step_s"]))})
    return {"run": str(run.path), "machine": run.meta.get("host", {}).get("cpu_model"), "n_train": run.spec.n_train,
            "points": points}


def add_breakdown(run, doc: dict[str, Any], *, rounds: int) -> None:
    """Measure each TF mode's parts (bench.breakdown) at each point; the floor's time is the arithmetic."""
    import os

    from tqdm import tqdm

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter off stderr
    from bench.breakdown import measure
    from mlp_core import ExecMode, TrainConfig, make_data

    data = make_data(run.spec.seed, n_train=run.spec.n_train, n_test=run.spec.n_test)
    jobs = [(p, m) for p in doc["points"] for m in p["modes"] if ExecMode(m).needs_tensorflow]
    for point, mode in tqdm(jobs, desc="breakdown", unit="mode", file=sys.stderr):
        config = TrainConfig(hidden=point["hidden"], batch_size=point["batch_size"], dtype="float32", mode=mode,
                             epochs=rounds, learning_rate=run.spec.learning_rate)
        try:
            res = measure(data, config, rounds=rounds)
        except ValueError as exc:  # graph mode with a ragged last batch
            point["modes"][mode]["breakdown"] = {"error": str(exc)}
            continue
        # the arithmetic: the fastest implementation of the same work measured at this point (the numba floor
        # at small sizes; at large ones multithreaded BLAS or XLA can beat one core's loops)
        fastest = min(((m, v["per_step_s"]) for m, v in point["modes"].items() if not ExecMode(m).needs_tensorflow),
                      key=lambda kv: kv[1], default=(None, None))
        med = res["per_step_s"]
        parts = {"pipeline_s": med["pipeline"], "premade_s": med["premade"], "total_here_s": med["total"],
                 "sum_over_total": res["sum_over_total"]}
        if fastest[0]:
            parts["arithmetic_s"], parts["arithmetic_mode"] = min(fastest[1], med["premade"]), fastest[0]
            parts["dispatch_s"] = med["premade"] - parts["arithmetic_s"]
        point["modes"][mode]["breakdown"] = parts


def _us(s: float | None) -> str:
    return "" if s is None else f"{s * 1e6:.3g}"


def _time(s: float) -> str:
    """3 significant digits in us or ms."""
    return f"{s * 1e6:.3g} us" if s < 1e-3 else f"{s * 1e3:.3g} ms"


def table(doc: dict[str, Any]) -> str:
    """The Markdown table: per point, modes from the floor up."""
    out = []
    for p in doc["points"]:
        out.append(f"\n**batch {p['batch_size']}, hidden {p['hidden']}** ({p['steps']} steps an epoch; per step, "
                   "median over the run's repeats; the split measured by `bench.breakdown`)\n")
        out.append("| mode | per step (us) | x numba floor | tf.data alone (us) | step on pre-made tensors (us) | "
                   "of which above the fastest implementation (us) | (pipeline + step) / total |")
        out.append("|---|---|---|---|---|---|---|")
        for mode, m in p["modes"].items():
            b = m.get("breakdown") or {}
            x = f"{m['x_floor']:.3g}" if m.get("x_floor") else ""
            if "error" in b:
                cells = ["", "", "", b["error"]]
            else:
                cells = [_us(b.get("pipeline_s")), _us(b.get("premade_s")), _us(b.get("dispatch_s")),
                         f"{b['sum_over_total']:.2f}" if "sum_over_total" in b else ""]
            out.append(f"| {mode} | {_us(m['per_step_s'])} | {x} | " + " | ".join(cells) + " |")
    return "\n".join(out).lstrip("\n") + "\n"


def figure(doc: dict[str, Any], out: Path) -> list[Path]:
    """Left: the ladder (per step, log scale, x floor); right: each TF mode's step split into its parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.plot import MODE_ORDER, STYLE, save_figure

    colors = dict(zip(MODE_ORDER, plt.get_cmap("tab10").colors))
    part_colors = {"tf.data pipeline": "#4c72b0", "Python, op dispatch, kernels beyond the arithmetic": "#dd8452",
                   "arithmetic (the fastest implementation's step)": "#55a868"}
    points = doc["points"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(points), 2, figsize=(7.0, 0.35 + 0.3 * sum(len(p["modes"]) for p in points)
                                                          + 0.6 * len(points)),
                                 squeeze=False, constrained_layout=True, width_ratios=[1.25, 1])
        for (lad, split), p in zip(axes, points):
            modes = list(p["modes"])
            ys = range(len(modes))
            vals = [p["modes"][m]["per_step_s"] * 1e6 for m in modes]
            lad.barh(ys, vals, color=[colors.get(m, "0.5") for m in modes], height=0.7)
            for y, m, v in zip(ys, modes, vals):
                ci = p["modes"][m]["ci_s"]
                if None not in ci:
                    lad.plot([ci[0] * 1e6, ci[1] * 1e6], [y, y], color="0.15", linewidth=0.8)
                x = p["modes"][m].get("x_floor")
                lad.text(v * 1.15, y, _time(v / 1e6) + (f"  ({x:.3g}x)" if x else ""), va="center", fontsize=6)
            lad.set_xscale("log")
            lad.set_yticks(list(ys), modes)
            lad.invert_yaxis()
            lad.set_xlim(min(vals) / 2, max(vals) * 30)
            lad.set_xlabel("time per training step (us, log scale)")
            lad.set_title(f"batch {p['batch_size']}, hidden {p['hidden']}: the ladder (x the numba floor)")
            tf_modes = [m for m in modes if "breakdown" in p["modes"][m] and "error" not in p["modes"][m]["breakdown"]]
            for y, m in enumerate(tf_modes):
                b = p["modes"][m]["breakdown"]
                parts = [("tf.data pipeline", b["pipeline_s"]),
                         ("Python, op dispatch, kernels beyond the arithmetic", b.get("dispatch_s", b["premade_s"])),
                         ("arithmetic (the fastest implementation's step)", b.get("arithmetic_s", 0.0))]
                whole = sum(v for _, v in parts)
                left = 0.0
                for name, v in parts:
                    split.barh(y, 100 * v / whole, left=left, color=part_colors[name], height=0.7,
                               label=name if y == 0 else None)
                    left += 100 * v / whole
                split.text(101, y, f"sum/total {b['sum_over_total']:.2f}", va="center", fontsize=6)
            split.set_yticks(range(len(tf_modes)), tf_modes)
            split.invert_yaxis()
            split.set_xlim(0, 125)
            split.set_xlabel("share of (pipeline + step on pre-made tensors), %")
            split.set_title("TensorFlow modes: where the step goes")
            split.grid(axis="y", visible=False)
            lad.grid(axis="y", visible=False)
        handles, labels = axes[0][1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=6.5)
        fig.suptitle(f"The overhead ladder: {doc['machine']}, {doc['n_train']} samples, float32 (median per step, "
                     "95% CI)")
        paths = save_figure(fig, out, "ladder")
        plt.close(fig)
    return paths


if __name__ == "__main__":
    sys.exit(main())
