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
    RATIO_CMAP,
    RATIO_LIMIT,
    RATIO_TICKS,
    RUN_MARKERS,
    UNDECIDED_COLOR,
    NothingToPlot,
    figure_title,
    machine_suffix,
    mode_order,
    ordered,
    panel_grid,
    ratio_tick,
    set_caption,
    significant,
    size_label,
    size_name,
    threads_suffix,
    yerr,
)
from mlp_core import modes as registry


# ---- figures 1 and 2: time and throughput vs batch ----------------------------------------------
def _vs_batch(runs, *, throughput: bool):
    """A panel per mode (rows) and size (columns). Colour: the mode (the registry's); line and marker: the dtype
    mode; hollow: GPU; with several runs, the marker tells the run apart."""
    import matplotlib.ticker as mticker
    from matplotlib.lines import Line2D

    frames = [(i, r, r.one_device) for i, r in enumerate(runs) if not r.one_device.empty]
    if not frames:
        raise NothingToPlot("no trial finished ok")
    modes = mode_order(m for _, _, ok in frames for m in ok["mode"])
    size_values = sorted({int(h) for _, _, ok in frames for h in ok["size"]})
    batches = sorted({int(b) for _, _, ok in frames for b in ok["batch_size"]})
    dtypes = ordered([d for _, _, ok in frames for d in ok["dtype"]], DTYPE_ORDER)
    fig, axes = panel_grid(len(modes), len(size_values), panel_w=max(2.3, 5.6 / len(size_values)), sharex=True,
                           sharey=True)  # at least about 7 in wide with the legend: the report's column
    styles: dict[str, Line2D] = {}  # the legend: one entry per non-mode channel, in grey
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
                    marker = RUN_MARKERS[i % len(RUN_MARKERS)] if len(runs) > 1 else MARKERS.get(dtype, "o")
                    line = LINESTYLES[dtypes.index(dtype) % len(LINESTYLES)]
                    face = "white" if device == "gpu" else registry.color(mode)
                    ax.errorbar(g["batch_size"], y, yerr=yerr(y, lo, hi), color=registry.color(mode), marker=marker,
                                markerfacecolor=face, linestyle=line, capsize=2, elinewidth=0.8,
                                label=f"{device} {dtype}")
                    label = (f"[{i + 1}] " if len(runs) > 1 else "") + f"{device} {dtype}" \
                        + threads_suffix(run, threads) + machine_suffix(run, machine)
                    styles.setdefault(label, Line2D([], [], color="0.35", marker=marker, linestyle=line,
                                                    markerfacecolor="white" if device == "gpu" else "0.35",
                                                    label=label))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(batches, [f"{b:g}" for b in batches])  # the measured sizes, no others
            ax.xaxis.set_minor_locator(mticker.NullLocator())
            if row == 0:
                ax.set_title(f"{size_name(runs)} {size_value}")
            if col == 0:
                ax.set_ylabel(mode, color=registry.color(mode), fontweight="bold")
    fig.supxlabel("batch size (samples, log scale)", fontsize=8)
    fig.supylabel("samples/s (log scale)" if throughput else "epoch time (ms, log scale)", fontsize=8)
    n_train = ", ".join(sorted({str(r.n_train) for r in runs}))
    figure_title(fig, "How fast does training run at each batch size?" if throughput else
                 "How does the epoch time change with the batch size?", runs)
    runs_key = "\n".join(f"[{i + 1}] {r.path.name}: {r.label}" for i, r in enumerate(runs)) if len(runs) > 1 else None
    fig.legend(handles=list(styles.values()), loc="outside right center", frameon=False, title=runs_key,
               title_fontsize=6, alignment="left")
    caption = (f"Median {'samples per second' if throughput else 'epoch time'} with its 95% interval, {n_train} "
               "training samples an epoch. A row per execution mode (its colour), a column per size; line and marker: "
               "the dtype mode; hollow: GPU.")
    if len(runs) > 1:
        caption += " With several runs the marker tells the runs apart (the legend's key)."
    set_caption(fig, caption)
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
    """A panel of batch x size cells per key. Colour follows the evidence: a decided cell is coloured on a fixed
    log2 scale from 1/2x to 2x (the same ratio, the same colour in every run; beyond it, the end colours), a cell
    that is no different or inconclusive is grey; the value (2 significant figures) is written in every cell,
    bold where decided, in parentheses where not."""
    import matplotlib
    import matplotlib.colors as mcolors
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.patches import Rectangle

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
    cmap = matplotlib.colormaps[RATIO_CMAP]
    norm = mcolors.Normalize(vmin=-RATIO_LIMIT, vmax=RATIO_LIMIT, clip=True)
    # at least 6 inches wide: the report shows every figure at the column's width, so its text keeps one size
    fig, axes = panel_grid(n_rows, n_cols, panel_w=max(0.55 * len(size_values) + 1.0, 6.0 / n_cols),
                           panel_h=0.32 * len(batches) + 0.8, sharex=True, sharey=True)
    for idx, key in enumerate(keys):
        ax = axes[idx // n_cols][idx % n_cols]
        rgba = np.ones((len(batches), len(size_values), 4))  # white: not measured
        for p in panels[key]:
            if not p["speedup"]:
                continue
            y, x = batches.index(p["batch_size"]), size_values.index(p["size"])
            decided = evidence.kind(p["verdict"]) == "decided"
            value = math.log2(p["speedup"])
            rgba[y, x] = cmap(norm(value)) if decided else mcolors.to_rgba("white")
            if not decided:  # hatched grey: unlike any colour of the scale, even a decided 1.05x's near-white
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="////", edgecolor=UNDECIDED_COLOR,
                                       linewidth=0))
            dark = decided and abs(value) > 0.6 * RATIO_LIMIT
            text = significant(p["speedup"])
            ax.text(x, y, text if decided else f"({text})", ha="center", va="center", fontsize=6.5,
                    color="white" if dark else "black", fontweight="bold" if decided else "normal")
        ax.imshow(rgba, aspect="auto", origin="lower")
        ax.set_xticks(range(len(size_values)), [str(h) for h in size_values])
        ax.set_yticks(range(len(batches)), [str(b) for b in batches])
        ax.set_title(panel_name(dict(zip(panel_keys, key))))
        ax.grid(False)
    for idx in range(len(keys), n_rows * n_cols):
        axes[idx // n_cols][idx % n_cols].set_visible(False)
        if idx >= n_cols:  # the panel above is its column's last: it shows the column's ticks
            axes[idx // n_cols - 1][idx % n_cols].xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel(size_label([run]), fontsize=8)
    fig.supylabel("batch size (samples)", fontsize=8)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, location="top", shrink=0.6, aspect=30,
                       pad=0.04)
    bar.set_ticks(RATIO_TICKS, labels=[ratio_tick(t) for t in RATIO_TICKS])
    bar.set_label(f"{colorbar_label}; hatched: not decided (within +-{evidence.margin_of(run):.0%} or inconclusive)",
                  fontsize=7)
    figure_title(fig, title, [run])
    set_caption(fig, f"Each cell: {colorbar_label}, the ratio of geometric means over repeats. Bold and coloured: "
                f"decided beyond +-{evidence.margin_of(run):.0%} (Benjamini-Hochberg over the figure's family); in "
                "parentheses on grey hatching: no difference or inconclusive. The colour scale is fixed (1/2x to 2x, "
                "log2) in every run.")
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
    return _speedup_figure(runs, "device", "cpu", None, ["mode", "dtype"], "Where is the GPU faster than the CPU?",
                           "time(CPU) / time(GPU), blue: GPU faster", lambda k: f"{k['mode']}, {k['dtype']}",
                           "no GPU trial measured (the figure needs ok CPU and GPU trials of the same configuration)")


def fig_speedup_modes(runs):
    """Speed-up of each execution mode over eager."""
    return _speedup_figure(runs, "mode", "eager", None, ["device", "candidate", "dtype"],
                           "How much faster than eager is each mode?", "time(eager) / time(mode), blue: mode faster",
                           lambda k: f"{k['candidate']} ({k['device']}, {k['dtype']})",
                           "needs ok eager trials and other modes of the same configuration")


def fig_speedup_dtype(runs):
    """float32 data vs the article's float64 data cast every step."""
    return _speedup_figure(runs, "dtype", "float64-cast", ["float32"], ["device", "mode"],
                           "What does the float64 cast cost, per cell?",
                           "time(float64-cast) / time(float32), blue: the cast costs time",
                           lambda k: f"{k['mode']} ({k['device']})",
                           "needs ok float32 and float64-cast trials of the same configuration")


# ---- figure 4: cost of the cast ---------------------------------------------------------------
DEVICE_MARKERS = {"cpu": "o", "gpu": "^"}


def fig_cast_overhead(runs):
    """Relative overhead of the float64 cast, per configuration, with its interval: colour is the mode (the
    registry's), marker the device, filled where decided."""
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
    # the report's column (one text size), wider where the configurations need room for their labels
    fig, ax = plt.subplots(figsize=(max(7.0, 1.5 + 0.3 * len(configs)), 3.0), layout="constrained")
    width = 0.8 / len(keys)
    several_threads = len({k[2] for k in keys}) > 1
    handles = {}
    for gi, key in enumerate(keys):
        device, mode, threads = key
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
        color = registry.color(mode)
        # the marker tells devices apart, and thread settings where there are several (the colour is the mode's)
        marker = (RUN_MARKERS[sorted({k[::2] for k in keys}).index(key[::2]) % len(RUN_MARKERS)] if several_threads
                  else DEVICE_MARKERS.get(device, "s"))
        ax.errorbar(xs, ys, yerr=yerr(ys, lo, hi), fmt="none", ecolor=color, elinewidth=0.8, capsize=2)
        ax.scatter(xs, ys, s=16, zorder=3, marker=marker, facecolors=[color if s else "white" for s in sig],
                   edgecolors=color)
        label = f"{mode} ({device}" + (f", threads {threads or 'default'}" if several_threads else "") + ")"
        handles[label] = Line2D([], [], color=color, marker=marker, linestyle="none", markersize=5, label=label)
    # the fill is a property of each point (its interval), not of a series: explained once, in grey
    for face, text in (("0.35", "filled: decided"), ("white", "hollow: not decided")):
        handles[text] = Line2D([], [], color="0.35", marker="o", linestyle="none", markersize=4, label=text,
                               markerfacecolor=face)
    ax.axhline(0, color="0.3", linewidth=0.8)
    margin = 100 * evidence.margin_of(run)
    ax.axhspan(-margin, margin, color="0.9", zorder=0, linewidth=0)
    letter = size_name(runs)[0]  # h(idden), c(hannels), ...: the axis's initial, named in full in the label
    ax.set_xticks(range(len(configs)), [f"b{b}\n{letter}{h}" for b, h in configs])
    ax.set_xlim(-0.6, len(configs) - 0.4)
    ax.set_xlabel(f"configuration (batch size, {size_name(runs)})")
    ax.set_ylabel("cost of the float64 cast (%)")
    fig.legend(handles=list(handles.values()), loc="outside lower center", frameon=False,
               ncol=max(1, min(4, len(handles), int(fig.get_figwidth() / 1.5))))
    figure_title(fig, "What does casting float64 data to float32 every step cost?", [run])
    set_caption(fig, "Each point: time(float64-cast) / time(float32) - 1 at one configuration, with its 95% interval "
                f"over repeats; filled: decided beyond +-{margin:.0f}% (the grey band) after Benjamini-Hochberg over "
                f"the {len(rows)} configurations, so a 95% interval just clear of the band may stay hollow; hollow: no "
                "difference or inconclusive. Colour: the execution mode; marker: the device"
                + (" and thread setting." if several_threads else "."))
    return fig
