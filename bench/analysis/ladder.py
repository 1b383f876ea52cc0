"""The overhead ladder: per-step cost of every mode against the compiled floor, its table and figure."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from bench.analysis.figstyle import significant
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

    # the parts of a step are not modes: lightness and hatching tell them apart (colour is the modes' channel)
    part_styles = {"tf.data pipeline": ("0.82", "///"),
                   "Python, op dispatch, kernels beyond the arithmetic": ("0.55", ""),
                   "arithmetic (the fastest implementation's step)": ("0.25", "")}
    points = doc["points"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(points), 2, figsize=(7.0, 1.0 + 0.3 * sum(len(p["modes"]) for p in points)
                                                          + 0.6 * len(points)),
                                 squeeze=False, constrained_layout=True, width_ratios=[1.25, 1])
        for (lad, split), p in zip(axes, points):
            modes = list(p["modes"])
            ys = range(len(modes))
            vals = [p["modes"][m]["per_step_s"] * 1e6 for m in modes]
            # a dot per mode with its interval (a log axis: no bars); its value and multiple of the floor in the
            # row's label, in the mode's colour (no text past the data)
            labels = []
            for y, m, v in zip(ys, modes, vals):
                ci = p["modes"][m]["ci_s"]
                err = None if None in ci else [[v - ci[0] * 1e6], [ci[1] * 1e6 - v]]
                lad.errorbar([v], [y], xerr=err, fmt="o", color=registry.color(m), capsize=2, elinewidth=0.9,
                             markersize=4.5)
                x = p["modes"][m].get("x_floor")
                labels.append(f"{m}: {_time(v / 1e6)}" + (f" ({significant(x)}x)" if x else ""))
            lad.set_xscale("log")
            lad.set_yticks(list(ys), labels)
            for tick, m in zip(lad.get_yticklabels(), modes):
                tick.set_color(registry.color(m))
            lad.invert_yaxis()
            lad.set_xlabel("time per training step (us, log scale)")
            lad.set_title(f"batch {p['batch_size']}, hidden {p['hidden']}: per step (x the numba floor)")
            tf_modes = [m for m in modes if "breakdown" in p["modes"][m] and "error" not in p["modes"][m]["breakdown"]]
            for y, m in enumerate(tf_modes):
                b = p["modes"][m]["breakdown"]
                parts = [("tf.data pipeline", b["pipeline_s"]),
                         ("Python, op dispatch, kernels beyond the arithmetic", b.get("dispatch_s", b["premade_s"])),
                         ("arithmetic (the fastest implementation's step)", b.get("arithmetic_s", 0.0))]
                whole = sum(v for _, v in parts)
                left = 0.0
                for name, v in parts:
                    shade, hatch = part_styles[name]
                    split.barh(y, 100 * v / whole, left=left, color=shade, hatch=hatch, edgecolor="white",
                               linewidth=0.5, height=0.7, label=name if y == 0 else None)
                    left += 100 * v / whole
            sums = [p["modes"][m]["breakdown"]["sum_over_total"] for m in tf_modes]
            split.set_yticks(range(len(tf_modes)), [f"{m} (sum/total {t:.2f})" for m, t in zip(tf_modes, sums)])
            for tick, m in zip(split.get_yticklabels(), tf_modes):
                tick.set_color(registry.color(m))
            split.invert_yaxis()
            split.set_xlim(0, 100)
            split.set_xlabel("share of the measured step (%)")
            split.set_title("where a TensorFlow step goes")
            split.grid(axis="y", visible=False)
            lad.grid(axis="y", visible=False)
        handles, labels = axes[0][1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=6.5)
        fig.suptitle("\n".join(textwrap.wrap(f"The overhead ladder: {doc['machine']}, {doc['n_train']} samples, "
                                              "float32 (median per step, 95% CI)", 110)))
        paths = save_figure(fig, out, "ladder")
        plt.close(fig)
    return paths
