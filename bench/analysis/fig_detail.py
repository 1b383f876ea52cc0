"""Figures of detail: the loss per epoch against the reference, GFLOP/s against the measured ceiling, every
execution mode at the article's configuration, and scaling over replicas."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.analysis import findings
from bench.analysis.figstyle import (
    DTYPE_ORDER,
    MARKERS,
    RUN_MARKERS,
    NothingToPlot,
    duration_label,
    figure_title,
    mode_order,
    ordered,
    panel_grid,
    set_caption,
    size_name,
    threads_suffix,
    yerr,
)
from mlp_core import modes as registry


# ---- figure 5: loss per epoch -----------------------------------------------------------------
def _mse_reference(keys: list[tuple]) -> tuple:
    """The series the others are checked against: CPU eager float32 if present, else a CPU TF float32 one."""
    baselines = registry.with_role("baseline")
    for want in (lambda k: k[:3] == ("cpu", "eager", "float32"),
                 lambda k: k[0] == "cpu" and k[1] not in baselines and k[2] == "float32",
                 lambda k: k[1] not in baselines, lambda k: True):
        for k in keys:
            if want(k):
                return k
    raise NothingToPlot("no series")


def fig_mse(runs):
    """Does every device, mode and dtype train the same model? Left: the reference series' train loss (the
    workload's: MSE for the MLP) per epoch (mean over repeats) with the band every series and repeat spans, test
    loss marked. Right: each other
    series' largest relative difference from the reference (same repeat, same seed, any epoch), one labelled
    row per series (no legend to decode), against the float32 and float64 machine epsilons.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    run = runs[0]
    point = findings.article_point(run)
    if point is None:
        raise NothingToPlot("no trial finished ok")
    loss = "MSE" if run.workload.loss_name == "mse" else run.workload.loss_name  # the loss the rows hold
    raw = run.raw
    sel = raw[(raw["batch_size"] == point["batch_size"]) & (raw["size"] == point["size"])
              & raw["config_id"].isin(set(run.one_device["config_id"]))]
    if sel.empty:
        raise NothingToPlot("no raw rows at the chosen configuration")
    # the same repeats (so the same initial weights) in every series, or the means would differ by seed
    common = set.intersection(*(set(g["repeat"]) for _, g in sel.groupby("config_id")))
    sel = sel[sel["repeat"].isin(common)]
    series = dict(list(sel.groupby(["device", "mode", "dtype", "threads"], sort=False)))
    keys = sorted(series, key=lambda k: (k[0], registry.order_key(k[1]),
                                         DTYPE_ORDER.index(k[2]) if k[2] in DTYPE_ORDER else 9, k[3]))
    ref_key = _mse_reference(keys)
    ref = series[ref_key].set_index(["repeat", "epoch"])["train_loss"]
    others = [k for k in keys if k != ref_key]
    fig, (ax, dev) = plt.subplots(1, 2, figsize=(7.0, max(2.6, 1.2 + 0.22 * len(others))), constrained_layout=True,
                                  gridspec_kw={"width_ratios": [1, 1.15]})
    last_epoch = int(sel["epoch"].max())
    per_epoch = series[ref_key].groupby("epoch")["train_loss"].mean()
    span = sel.groupby("epoch")["train_loss"]
    color = registry.color(ref_key[1])
    ax.fill_between(per_epoch.index + 1, span.min().values, span.max().values, color=color, alpha=0.15, linewidth=0,
                    label=f"range over all {len(keys)} series and repeats")
    ax.plot(per_epoch.index + 1, per_epoch.values, color=color, marker="o", markersize=3,
            label=f"{' '.join(ref_key[:3])}{threads_suffix(run, ref_key[3])}, mean of {len(common)} repeats")
    reps = run.repeats
    picked = reps[reps["config_id"].isin(set(sel["config_id"])) & reps["repeat"].isin(common)]["test_loss"]
    ref_test = reps[reps["config_id"].isin(set(series[ref_key]["config_id"])) & reps["repeat"].isin(common)]
    mid = float(ref_test["test_loss"].mean())
    ax.errorbar([last_epoch + 1.5], [mid], yerr=[[mid - picked.min()], [picked.max() - mid]], color=color,
                marker="*", markersize=7, capsize=2, linestyle="none", elinewidth=0.8)
    ax.axvline(last_epoch + 1.25, color="0.6", linewidth=0.6)
    ax.set_xticks([*range(1, last_epoch + 2), last_epoch + 1.5], [*map(str, range(1, last_epoch + 2)), "test"])
    ax.set_xlabel("epoch (1 = warm-up epoch)")
    ax.set_ylabel(f"{loss} (sample-weighted, linear scale)")
    fig.legend(frameon=False, fontsize=6, loc="outside lower left")
    ax.set_title(f"training curve; star: test {loss}", fontsize=8)
    if others:
        worst = []
        for key in others:
            diff = (series[key].set_index(["repeat", "epoch"])["train_loss"] - ref).abs() / ref.abs()
            worst.append(float(diff.max()))
        rows = np.arange(len(others))[::-1]
        nonzero = [w for w in worst if w > 0]
        # room at the left for the words "identical (0)" where a series is exactly the reference
        left = min([*nonzero, float(np.finfo(np.float64).eps)]) / (1e3 if len(nonzero) < len(worst) else 10)
        for y, key, w in zip(rows, others, worst):
            face = "white" if key[0] == "gpu" else None
            if w > 0:
                dev.plot([w], [y], linestyle="none", marker=MARKERS.get(key[2], "o"), markersize=5,
                         color=registry.color(key[1]), markerfacecolor=face)
            else:  # an exact zero has no place on a log axis: said in words at the axis's left end
                dev.annotate("identical (0)", xy=(left, y), xytext=(2, 0), textcoords="offset points", va="center",
                             fontsize=6, color=registry.color(key[1]), bbox={"fc": "white", "ec": "none", "pad": 0.3})
        dev.set_yticks(rows, [f"{d} {m} {t}" + threads_suffix(run, th) for d, m, t, th in others], fontsize=6.5)
        dev.set_ylim(-0.7, len(others) - 0.3)
        dev.set_xscale("log")
        dev.set_xlim(left, max([*nonzero, float(np.finfo(np.float32).eps)]) * 3)
        eps = {"float64 eps": float(np.finfo(np.float64).eps), "float32 eps": float(np.finfo(np.float32).eps)}
        for level in eps.values():
            dev.axvline(level, color="0.5", linewidth=0.6, linestyle=":")
        top = dev.secondary_xaxis("top")  # the epsilons named above the panel, clear of the rows
        top.set_xticks(list(eps.values()), list(eps), fontsize=6, color="0.4")
        top.tick_params(length=0)
        dev.set_xlabel("largest relative difference, any epoch (log scale)")
        dev.set_title(f"vs {' '.join(ref_key[:3])} (same seeds)", fontsize=8)
    else:
        dev.set_axis_off()
    figure_title(fig, f"Do all series train the same model? Batch {point['batch_size']}, {size_name(runs)} "
                      f"{point['size']}", [run])
    caption = ("Left: the training curve of the reference series (mean over the repeats every series shares), the "
               f"band every series and repeat spans, and the test {loss} (star; bar: range over series). Right: each "
               "other series' largest relative difference from it, same repeat and seed, any epoch; the dotted "
               f"lines are the float32 and float64 machine epsilons. Largest difference: {max(worst):.2g}." if others
               else "The training curve of the one series measured.")
    if any(k[1] in registry.with_role("baseline") for k in others):
        caption += " The NumPy baseline draws its own shuffle orders, so it differs by more than rounding."
    set_caption(fig, caption)
    return fig


# ---- figure 6: GFLOP/s against the measured ceiling ---------------------------------------------
def fig_gflops(runs):
    """Achieved GFLOP/s vs FLOPs per step (95% CI from the median's interval), with the measured matmul
    ceiling of each device. Colour: execution mode; marker: dtype mode; hollow: GPU."""
    import matplotlib.pyplot as plt

    without = [r.workload.name for r in runs if not r.workload.has_flops]
    if without:
        raise NothingToPlot(f"workload {without[0]} gives no FLOPs per step (mlp_core.workloads: step_flops)")
    fig, ax = plt.subplots(figsize=(7.0, 3.6), constrained_layout=True)
    drawn = 0
    for i, run in enumerate(runs):
        ok = run.one_device.set_index("config_id")
        by: dict[tuple, list[dict]] = {}
        for r in findings.fraction_of_peak(run):
            if r["gflops"]:
                by.setdefault((r["device"], r["mode"], r["dtype"]), []).append(r)
        for (device, mode, dtype), rs in sorted(by.items(), key=lambda kv: (
                kv[0][0], registry.order_key(kv[0][1]), _order(kv[0][2], DTYPE_ORDER))):
            y = [r["gflops"] for r in rs]
            # GFLOP/s is work / time: the time interval [low, high] maps to [work/high, work/low]
            med, lo, hi = (ok.loc[[r["config_id"] for r in rs], k].to_numpy(float)
                           for k in ("median_s", "ci_low_s", "ci_high_s"))
            color = registry.color(mode)
            ax.errorbar([r["flops_per_step"] for r in rs], y, yerr=yerr(y, y * med / hi, y * med / lo),
                        fmt=MARKERS.get(dtype, "o"), markersize=3.5, color=color, elinewidth=0.6, capsize=1.5,
                        markerfacecolor="white" if device == "gpu" else color, alpha=0.9,
                        label=f"{device} {mode} {dtype}" + (f" [{i + 1}]" if len(runs) > 1 else ""))
            drawn += len(rs)
        ceilings = findings.peaks(run)
        several_threads = len({q["threads"] for q in ceilings}) > 1
        for p in ceilings:
            ls = "-" if p["dtype"] == "float32" else "--"
            ax.axhline(p["gflops_best"], color="0.2" if p["device"] == "cpu" else "0.55", linestyle=ls,
                       linewidth=0.9)
            threads = f", threads {p['threads'] or 'default'}" if several_threads else ""
            ax.annotate(f"{p['device']} {p['dtype']} matmul n={p['n']}{threads}: {p['gflops_best']:.0f} GFLOP/s"
                        + (f" [{i + 1}]" if len(runs) > 1 else ""),
                        xy=(0.01, p["gflops_best"]), xycoords=("axes fraction", "data"), fontsize=6,
                        va="bottom", color="0.2" if p["device"] == "cpu" else "0.55")
    if not drawn:
        raise NothingToPlot("no trial finished ok")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("work per training step (FLOPs, log scale)")
    ax.set_ylabel("achieved GFLOP/s (log scale)")
    fig.legend(frameon=False, fontsize=5.5, ncol=3, loc="outside lower center")
    figure_title(fig, "How close to the machine's matmul ceiling does training get?", runs)
    set_caption(fig, "Achieved GFLOP/s (median, 95% interval) against the work per training step. Colour: the "
                "execution mode; marker: the dtype mode; hollow: GPU. Horizontal lines: the matmul ceiling this run "
                "measured on each device (dark: CPU, light: GPU; solid float32, dashed float64).")
    return fig


def _order(value: str, order: Sequence[str]) -> int:
    return order.index(value) if value in order else len(order)


# ---- figure 7: execution modes at the article's configuration ---------------------------------
def fig_modes(runs):
    """Epoch time of every execution mode at the article's configuration, the floor (numba) or the NumPy
    baseline marked."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    point = findings.article_point(runs[0])
    if point is None:
        raise NothingToPlot("no trial finished ok")
    bars = []  # (run index, device, mode, median, low, high)
    for i, run in enumerate(runs):
        ok = run.one_device
        sel = ok[(ok["batch_size"] == point["batch_size"]) & (ok["size"] == point["size"])
                 & (ok["dtype"] == point["dtype"]) & (ok["threads"] == ok["threads"].min())]
        for _, r in sel.iterrows():
            bars.append((i, r["device"], r["mode"], r["median_s"], r["ci_low_s"], r["ci_high_s"]))
    if not bars:
        raise NothingToPlot("no ok trial at the article's configuration")
    groups = list(dict.fromkeys((b[0], b[1]) for b in bars))
    modes = mode_order(b[2] for b in bars)
    if len(modes) < 2 and len(groups) < 2:
        raise NothingToPlot(f"one execution mode measured ({modes[0]}): nothing to compare it with "
                            "(e.g. --modes eager,function,graph)")
    floors, baselines = registry.with_role("floor"), registry.with_role("baseline")
    # a dot per mode with its 95% interval on a log axis (epoch times span 100x: bars on a log axis would
    # make their lengths meaningless); one row per mode in the registry's order, one marker per device/run; the
    # median is written in the row's label (one group) or beside its dot (several), never past the data
    fig, ax = plt.subplots(figsize=(7.0, 1.1 + 0.3 * len(modes) * len(groups)), layout="constrained")
    spread = 0.7 / len(groups)
    marked = []  # the modes whose dotted line is drawn (the floor, else the baseline)
    labels = {mode: mode for mode in modes}
    for gi, (i, device) in enumerate(groups):
        floor = None
        for mi, mode in enumerate(modes):
            match = [b for b in bars if (b[0], b[1], b[2]) == (i, device, mode)]
            if not match:
                continue
            _, _, _, med, lo, hi = match[0]
            y = mi + (gi - (len(groups) - 1) / 2) * spread
            ax.errorbar([med * 1e3], [y], xerr=yerr([med * 1e3], [lo * 1e3], [hi * 1e3]), fmt=RUN_MARKERS[gi % 6],
                        color=registry.color(mode), capsize=2, elinewidth=0.9, markersize=5)
            if len(groups) == 1:
                labels[mode] = f"{mode}: {duration_label(med)}"
            else:
                ax.annotate(duration_label(med), xy=(med * 1e3, y), xytext=(0, 5), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6)
            if mode in floors or (mode in baselines and floor is None):
                floor = (mode, med)
        if floor:
            ax.axvline(floor[1] * 1e3, color="0.3", linestyle=":", linewidth=0.9)
            marked.append(floor[0])
    ax.set_xscale("log")
    ax.set_yticks(range(len(modes)), [labels[m] for m in modes])
    for tick, mode in zip(ax.get_yticklabels(), modes):
        tick.set_color(registry.color(mode))
    ax.set_ylim(len(modes) - 0.5, -0.5)  # the registry's first mode on top
    ax.set_xlabel("epoch time (ms, log scale)")
    ax.grid(axis="y", visible=False)
    if len(groups) > 1:  # the marker tells the devices (and runs) apart; the colour stays the mode's
        handles = [Line2D([], [], color="0.35", marker=RUN_MARKERS[gi % 6], linestyle="none",
                          label=f"{device}" + (f" [{i + 1}]" if len(runs) > 1 else "")) for gi, (i, device) in
                   enumerate(groups)]
        fig.legend(handles=handles, frameon=False, fontsize=6.5, loc="outside right center", title="device",
                   title_fontsize=6.5)
    figure_title(fig, f"Which execution mode is fastest at batch {point['batch_size']}, {size_name(runs)} "
                      f"{point['size']}, {point['dtype']}?", runs)
    caption = "Median epoch time with its 95% interval, one row per execution mode (its colour)."
    for mode in dict.fromkeys(marked):
        caption += f" Dotted line: {mode} ({'the floor' if mode in floors else 'the baseline'})."
    set_caption(fig, caption)
    return fig


def fig_scaling(runs):
    """Scaling efficiency over the number of replicas: a panel per size (rows) and mode (columns);
    colour: the one-device batch (strong: the global batch; weak: the per-replica batch), line: strong
    or weak, marker: dtype; 95% bootstrap intervals; 1 = perfect (dotted)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    run = runs[0]
    rows = findings.scaling(run)
    if not rows:
        raise NothingToPlot("no trial on several replicas with a one-device partner (--replicas 1,2,...)")
    modes = mode_order(r["mode"] for r in rows)
    size_values = sorted({r["size"] for r in rows})
    batches = sorted({r["one_device_batch"] for r in rows})
    cmap = plt.get_cmap("viridis")
    color = {b: cmap(0.85 * i / max(len(batches) - 1, 1)) for i, b in enumerate(batches)}
    styles = {"strong": "-", "weak": "--"}
    ticks = sorted({1, *(r["replicas"] for r in rows)})
    fig, axes = panel_grid(len(size_values), len(modes), panel_w=2.6, panel_h=2.0)
    for ri, size_value in enumerate(size_values):
        for ci, mode in enumerate(modes):
            ax = axes[ri][ci]
            series: dict[tuple, list[dict]] = {}
            for r in rows:
                if (r["mode"], r["size"]) == (mode, size_value):
                    series.setdefault((r["kind"], r["device"], r["dtype"], r["one_device_batch"]), []).append(r)
            for (kind, _device, dtype, batch), pts in sorted(series.items()):
                pts.sort(key=lambda p: p["replicas"])
                x = [1] + [p["replicas"] for p in pts]
                y = [1.0] + [p["efficiency"] for p in pts]
                lo = [1.0] + [math.nan if p["ci_low"] is None else p["ci_low"] for p in pts]
                hi = [1.0] + [math.nan if p["ci_high"] is None else p["ci_high"] for p in pts]
                ax.errorbar(x, y, yerr=yerr(y, lo, hi), marker=MARKERS.get(dtype, "o"), markersize=3, capsize=1.5,
                            linestyle=styles[kind], color=color[batch], linewidth=0.9, elinewidth=0.6)
            ax.axhline(1.0, color="0.3", linestyle=":", linewidth=0.8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_ylim(bottom=0)
            ax.set_title(f"{mode}, {size_name(runs)} {size_value}", fontsize=7.5)
            ax.set_xlabel("replicas (devices)")
            ax.set_ylabel("scaling efficiency\ntime(1) / (N x time(N))")
    handles = [Line2D([], [], color="0.3", linestyle=styles[k], label=k) for k in styles
               if any(r["kind"] == k for r in rows)]
    handles += [Line2D([], [], color="0.3", marker=MARKERS.get(d, "o"), linestyle="none", label=d)
                for d in ordered([r["dtype"] for r in rows], DTYPE_ORDER)]
    handles += [Line2D([], [], color=color[b], linewidth=2, label=f"batch {b}") for b in batches]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=6.5,
               title="strong: global batch\nweak: per-replica batch", title_fontsize=6.5)
    figure_title(fig, "How well does training scale over several devices?", runs)
    set_caption(fig, "Scaling efficiency time(1) / (N x time(N)) with tf.distribute.MirroredStrategy, 1 = perfect "
                "(dotted), 95% bootstrap interval. Colour: the one-device batch; solid: strong scaling (the global "
                "batch kept), dashed: weak (the per-replica batch kept); marker: the dtype mode.")
    return fig
