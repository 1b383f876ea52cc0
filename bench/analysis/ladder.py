"""The overhead ladder: per-step cost of every mode against the compiled floor, its table and figure."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from bench.analysis.plot import STYLE, save_figure
from mlp_core import modes as registry
from mlp_core.flops import steps_per_epoch


def ladder(run) -> dict[str, Any]:
    """Per (batch, hidden): each mode's per-step median (and CI) and its multiple of the floor."""
    ok = run.one_device
    ok = ok[(ok["device"] == "cpu") & (ok["dtype"] == "float32")]
    ok = ok[ok["threads"] == ok["threads"].min()] if len(ok) else ok
    points = []
    for (batch, size_value), rows in ok.groupby(["batch_size", "size"]):
        steps = steps_per_epoch(run.spec.n_train, int(batch))
        modes = {}
        for _, r in rows.iterrows():
            modes[r["mode"]] = {"per_step_s": r["median_s"] / steps,
                                "ci_s": [r["ci_low_s"] / steps if math.isfinite(r["ci_low_s"]) else None,
                                         r["ci_high_s"] / steps if math.isfinite(r["ci_high_s"]) else None]}
        floor_mode = next((m for m in registry.with_role("floor") if m in modes), None)
        floor = modes[floor_mode]["per_step_s"] if floor_mode else None
        for m in modes.values():
            m["x_floor"] = m["per_step_s"] / floor if floor else None
        points.append({"batch_size": int(batch), "hidden": int(size_value), "steps": steps, "floor_mode":
                       floor_mode, "modes": dict(sorted(modes.items(),
                                                                        key=lambda kv: kv[1]["per_step_s"]))})
    return {"run": str(run.path), "machine": run.meta.get("host", {}).get("cpu_model"), "n_train": run.spec.n_train,
            "points": points}


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
                   "median over the run's repeats; the split measured by `bench.engine.breakdown`)\n")
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

    part_colors = {"tf.data pipeline": "#4c72b0", "Python, op dispatch, kernels beyond the arithmetic": "#dd8452",
                   "arithmetic (the fastest implementation's step)": "#55a868"}
    points = doc["points"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(points), 2, figsize=(7.0, 1.0 + 0.3 * sum(len(p["modes"]) for p in points)
                                                          + 0.6 * len(points)),
                                 squeeze=False, constrained_layout=True, width_ratios=[1.25, 1])
        for (lad, split), p in zip(axes, points):
            modes = list(p["modes"])
            ys = range(len(modes))
            vals = [p["modes"][m]["per_step_s"] * 1e6 for m in modes]
            # a dot per mode with its interval (a log axis: no bars), its value right of the interval's end
            for y, m, v in zip(ys, modes, vals):
                ci = p["modes"][m]["ci_s"]
                err = None if None in ci else [[v - ci[0] * 1e6], [ci[1] * 1e6 - v]]
                lad.errorbar([v], [y], xerr=err, fmt="o", color=registry.color(m), capsize=2, elinewidth=0.9,
                             markersize=4.5)
                x = p["modes"][m].get("x_floor")
                right = ci[1] * 1e6 if None not in ci else v
                lad.annotate(_time(v / 1e6) + (f"  ({x:.3g}x)" if x else ""), xy=(right, y), xytext=(4, 0),
                             textcoords="offset points", va="center", fontsize=6)
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
            split.set_xlabel("share of the measured step (%)")
            split.set_title("TensorFlow modes: where the step goes")
            split.grid(axis="y", visible=False)
            lad.grid(axis="y", visible=False)
        handles, labels = axes[0][1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=6.5)
        fig.suptitle("\n".join(textwrap.wrap(f"The overhead ladder: {doc['machine']}, {doc['n_train']} samples, "
                                              "float32 (median per step, 95% CI)", 110)))
        paths = save_figure(fig, out, "ladder")
        plt.close(fig)
    return paths
