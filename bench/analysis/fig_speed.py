"""Figures of speed: epoch time and throughput against batch size, the speed-up heatmaps (GPU/CPU, modes,
dtypes), and the cost of the float64 cast."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from bench.analysis import comparisons, evidence
from bench.analysis.figstyle import (
    DTYPE_ORDER,
    LINESTYLES,
    MARKERS,
    NothingToPlot,
    figure_title,
    machine_suffix,
    mode_order,
    panel_grid,
    ratio_label,
    series_color,
    size_label,
    size_name,
    threads_suffix,
    yerr,
)
from mlp_core import modes as registry


# ---- figures 1 and 2: time and throughput vs batch ----------------------------------------------
def _vs_batch(runs, *, throughput: bool):
    import matplotlib.ticker as mticker

    frames = [(i, r, r.one_device) for i, r in enumerate(runs) if not r.one_device.empty]
    if not frames:
        raise NothingToPlot("no trial finished ok")
    modes = mode_order(m for _, _, ok in frames for m in ok["mode"])
    size_values = sorted({int(h) for _, _, ok in frames for h in ok["size"]})
    batches = sorted({int(b) for _, _, ok in frames for b in ok["batch_size"]})
    fig, axes = panel_grid(len(modes), len(size_values), sharex=True, sharey=True)
    for (row, mode) in enumerate(modes):
        for (col, size_value) in enumerate(size_values):
            ax = axes[row][col]
            for i, run, ok in frames:
                sel = ok[(ok["mode"] == mode) & (ok["size"] == size_value)]
                for (device, dtype, threads, machine), g in sel.groupby(["device", "dtype", "threads", "machine"],
                                                                         sort=False):
                    g = g.sort_values("batch_size")
                    n = run.n_train
                    if throughput:
                        y, lo, hi = n / g["median_s"], n / g["ci_high_s"], n / g["ci_low_s"]
                    else:
                        y, lo, hi = g["median_s"] * 1e3, g["ci_low_s"] * 1e3, g["ci_high_s"] * 1e3
                    label = f"{device} {dtype}{threads_suffix(run, threads)}{machine_suffix(run, machine)}"
                    if len(runs) > 1:
                        label = f"[{i + 1}] {label}"
                    ax.errorbar(g["batch_size"], y, yerr=yerr(y, lo, hi), label=label,
                                color=series_color(device, dtype), marker=MARKERS.get(dtype, "o"),
                                linestyle=LINESTYLES[i % len(LINESTYLES)], capsize=2, elinewidth=0.8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(batches, [f"{b:g}" for b in batches])  # the measured sizes, no others
            ax.xaxis.set_minor_locator(mticker.NullLocator())
            if row == 0:
                ax.set_title(f"{size_name(runs)} {size_value}")
            ax.set_xlabel("batch size (samples, log scale)")
            ax.xaxis.label.set_visible(row == len(modes) - 1)
            ax.set_ylabel((f"{mode}\n" if col == 0 else "")
                          + ("samples/s (log scale)" if throughput else "epoch time (ms, log scale)"))
            ax.yaxis.label.set_visible(col == 0)  # one label per row on screen; every axis still carries it
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)),
               frameon=False)
    what = "Training throughput" if throughput else "Epoch time"
    n_train = ", ".join(sorted({str(r.n_train) for r in runs}))
    figure_title(fig, f"{what} vs batch size ({n_train} training samples per epoch; median, 95% CI)", runs)
    if len(runs) > 1:
        fig.text(0.01, 0.0, "\n".join(f"[{i + 1}] {r.path.name}: {r.label}" for i, r in enumerate(runs)),
                 fontsize=6, va="top")
    return fig


def fig_epoch_time(runs):
    """Epoch time vs batch size, log-log."""
    return _vs_batch(runs, throughput=False)


def fig_throughput(runs):
    """Samples per second vs batch size."""
    return _vs_batch(runs, throughput=True)


# ---- figure 3: speed-up heatmaps --------------------------------------------------------------
def _heatmaps(run, pairs: list[dict], panel_keys: Sequence[str], title: str, colorbar_label: str,
              panel_name: Callable[[dict], str]):
    import matplotlib.colors as mcolors
    import numpy as np

    panels: dict[tuple, list[dict]] = {}
    for p in pairs:
        panels.setdefault(tuple(p[k] for k in panel_keys), []).append(p)
    keys = sorted(panels, key=lambda k: tuple(registry.order_key(v)[0] if registry.order_key(v)[0] < 10**6
                                              else 100 + DTYPE_ORDER.index(v) if v in DTYPE_ORDER
                                                else (v if isinstance(v, int) else 99) for v in k))
    n_cols = min(3, len(keys))
    n_rows = math.ceil(len(keys) / n_cols)
    batches = sorted({p["batch_size"] for p in pairs})
    size_values = sorted({p["size"] for p in pairs})
    logs = [math.log2(p["speedup"]) for p in pairs if p["speedup"]]
    lim = max(0.1, max(abs(v) for v in logs)) if logs else 1.0
    norm = mcolors.TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    fig, axes = panel_grid(n_rows, n_cols, panel_w=0.55 * len(size_values) + 1.0, panel_h=0.32 * len(batches) + 0.8)
    image = None
    for idx, key in enumerate(keys):
        ax = axes[idx // n_cols][idx % n_cols]
        grid = np.full((len(batches), len(size_values)), np.nan)
        for p in panels[key]:
            if p["speedup"]:
                grid[batches.index(p["batch_size"]), size_values.index(p["size"])] = math.log2(p["speedup"])
        image = ax.imshow(grid, cmap="RdBu", norm=norm, aspect="auto", origin="lower")
        for p in panels[key]:
            if not p["speedup"]:
                continue
            y, x = batches.index(p["batch_size"]), size_values.index(p["size"])
            text = f"{p['speedup']:.2f}" if round(p["speedup"], 2) < 10 else f"{p['speedup']:.0f}"
            strong = abs(math.log2(p["speedup"])) > 0.6 * lim
            decided = evidence.kind(p["verdict"]) == "decided"
            ax.text(x, y, text if decided else f"({text})", ha="center", va="center", fontsize=6.5,
                    color="white" if strong else "black", fontweight="bold" if decided else "normal")
        ax.set_xticks(range(len(size_values)), [str(h) for h in size_values])
        ax.set_yticks(range(len(batches)), [str(b) for b in batches])
        ax.set_xlabel(size_label([run]))
        ax.set_ylabel("batch size (samples)")
        ax.set_title(panel_name(dict(zip(panel_keys, key))))
        ax.grid(False)
    for idx in range(len(keys), n_rows * n_cols):
        axes[idx // n_cols][idx % n_cols].set_visible(False)
    bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
    if lim >= 1:
        step = max(1, math.ceil(2 * math.floor(lim) / 8))
        ticks = [t for t in range(-math.floor(lim), math.floor(lim) + 1) if t % step == 0]
        labels = [ratio_label(t) for t in ticks]
    else:  # a narrow range: the ends and the middle, as ratios
        ticks = [-lim, 0.0, lim]
        labels = [f"{2 ** t:.2g}x" for t in ticks]
    bar.set_ticks(ticks, labels=labels)
    bar.set_label(f"{colorbar_label} (ratio, log2 colour scale)")
    margin = evidence.margin_of(run)
    figure_title(fig, f"{title}\nbold: decided (beyond +-{margin:.0%}, Benjamini-Hochberg); (parenthesised): no "
                 "difference or inconclusive", [run])
    return fig


def _speedup_figure(runs, axis: str, reference: str, candidates, keys: list[str], title: str, label: str,
                    name: Callable[[dict], str], empty: str):
    """A heatmap figure of analysis.speedups(axis, reference); a panel per `keys` (and thread setting)."""
    run = runs[0]
    pairs = [p for p in comparisons.speedups(run, axis, reference, candidates) if p.get("replicas", 1) == 1]
    if not pairs:  # (the replicas axis has its own figure, scaling)
        raise NothingToPlot(empty)
    several = len({p["threads"] for p in pairs}) > 1
    return _heatmaps(run, pairs, keys + (["threads"] if several else []), title, label,
                     lambda k: name(k) + (f", threads {k['threads']}" if several else ""))


def fig_speedup_gpu_cpu(runs):
    """GPU speed-up over the CPU, batch x size (CPU thread setting in the title when several)."""
    return _speedup_figure(runs, "device", "cpu", None, ["mode", "dtype"],
                           "GPU speed-up over CPU: time(CPU) / time(GPU); blue: GPU faster", "speed-up (GPU over CPU)",
                           lambda k: f"{k['mode']}, {k['dtype']}",
                           "no GPU trial measured (the figure needs ok CPU and GPU trials of the same configuration)")


def fig_speedup_modes(runs):
    """Speed-up of each execution mode over eager."""
    return _speedup_figure(runs, "mode", "eager", None, ["device", "candidate", "dtype"],
                           "Execution modes vs eager: time(eager) / time(mode); blue: mode faster",
                           "speed-up over eager", lambda k: f"{k['candidate']} ({k['device']}, {k['dtype']})",
                           "needs ok eager trials and other modes of the same configuration")


def fig_speedup_dtype(runs):
    """float32 data vs the article's float64 data cast every step."""
    return _speedup_figure(runs, "dtype", "float64-cast", ["float32"], ["device", "mode"],
                           "float32 data vs float64 data cast each step: time(float64-cast) / time(float32); "
                           "blue: the cast costs time", "speed-up of float32 over float64-cast",
                           lambda k: f"{k['mode']} ({k['device']})",
                           "needs ok float32 and float64-cast trials of the same configuration")


# ---- figure 4: cost of the cast ---------------------------------------------------------------
def fig_cast_overhead(runs):
    """Relative overhead of the float64 cast, per configuration, with its interval."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D

    run = runs[0]
    rows = [r for r in comparisons.cast_overhead(run) if r["overhead"] is not None]
    if not rows:
        raise NothingToPlot("needs ok float32 and float64-cast trials of the same configuration")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["device"], r["mode"], r["threads"]), []).append(r)
    keys = sorted(groups, key=lambda k: (k[0], registry.order_key(k[1]), k[2]))
    configs = sorted({(r["batch_size"], r["size"]) for r in rows})
    fig, ax = plt.subplots(figsize=(3.5 + 0.12 * len(configs), 2.8), constrained_layout=True)
    width = 0.8 / len(keys)
    colors = plt.get_cmap("tab10").colors
    handles = []
    for gi, key in enumerate(keys):
        by_cfg = {(r["batch_size"], r["size"]): r for r in groups[key]}
        xs, ys, lo, hi, sig = [], [], [], [], []
        for ci, cfg in enumerate(configs):
            if cfg in by_cfg:
                r = by_cfg[cfg]
                xs.append(ci - 0.4 + width * (gi + 0.5))
                ys.append(100 * r["overhead"])
                lo.append(100 * r["ci_low"] if r["ci_low"] is not None else np.nan)
                hi.append(100 * r["ci_high"] if r["ci_high"] is not None else np.nan)
                sig.append(evidence.kind(r["verdict"]) == "decided")
        device, mode, threads = key
        several_threads = len({k[2] for k in keys}) > 1
        label = f"{mode} ({device}" + (f", threads {threads or 'default'}" if several_threads else "") + ")"
        color = colors[gi % len(colors)]
        ax.errorbar(xs, ys, yerr=yerr(ys, lo, hi), fmt="none", ecolor=color, elinewidth=0.8, capsize=2)
        ax.scatter(xs, ys, s=14, zorder=3, facecolors=[color if s else "white" for s in sig], edgecolors=color)
        handles.append(Line2D([], [], color=color, marker="s", linestyle="none", markersize=5, label=label))
    # the fill is a property of each point (its interval), not of a series: explained once, in grey
    handles += [Line2D([], [], color="0.35", marker="o", linestyle="none", markersize=4, label=text,
                       markerfacecolor=face) for face, text in (("0.35", "filled: decided"),
                                                                ("white", "hollow: not decided"))]
    ax.axhline(0, color="0.3", linewidth=0.8)
    letter = size_name(runs)[0]  # h(idden), c(hannels), ...: the axis's initial, named in full in the label
    ax.set_xticks(range(len(configs)), [f"b{b}\n{letter}{h}" for b, h in configs])
    ax.set_xlabel(f"configuration (batch size, {size_name(runs)})")
    ax.set_ylabel("overhead of the float64 cast (%)")
    ax.legend(handles=handles, frameon=False, ncol=2)
    figure_title(fig, "Cost of float64 data cast to float32 every step: time(float64-cast)/time(float32) - 1\n"
                 f"95% interval over repeats; filled: decided beyond +-{evidence.margin_of(run):.0%}", [run])
    return fig


