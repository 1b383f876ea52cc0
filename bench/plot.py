"""`python -m bench.plot RUN_DIR [RUN_DIR ...]`: the figures of a run, PNG and SVG, in RUN_DIR/plots/.

Reads the run directory through bench.store and writes only figures (analysis.json is the run's,
or `python -m bench.analysis RUN_DIR`'s).

Every figure is titled, its axes carry units, error bars are the 95% confidence intervals of the
medians (bootstrap intervals for ratios), and the machine fingerprint is in the title or legend.
With several run directories, each gets its own figures and the line figures (epoch time,
throughput, GFLOP/s, modes) are also drawn overlaid, one line style per run, into --out.

Figures (file stems):
  epoch_time          epoch time vs batch size, log-log; rows: execution mode, columns: hidden size
  throughput          samples/s vs batch size, same layout
  speedup_gpu_cpu     GPU/CPU speed-up heatmap over batch x hidden (only when GPU trials measured)
  speedup_modes       speed-up of each execution mode over eager, heatmaps
  speedup_dtype       speed-up of float32 over float64-cast (the cost of the article's cast), heatmaps
  cast_overhead       relative overhead of the float64 cast per configuration, with intervals
  mse                 train MSE per epoch (mean and range over repeats) per device, mode and dtype; test MSE marked
  gflops              achieved GFLOP/s vs FLOPs per step, the measured matmul ceilings drawn
  modes               execution modes side by side at the article's configuration, the floor marked
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("png", "svg")
FIGURES = ("epoch_time", "throughput", "speedup_gpu_cpu", "speedup_modes", "speedup_dtype", "cast_overhead", "mse",
           "gflops", "modes", "scaling")
OVERLAY_FIGURES = ("epoch_time", "throughput", "gflops", "modes")
MODE_ORDER = ("article", "eager", "function", "xla", "graph", "jax-step", "jax-epoch", "numpy", "numba")
DTYPE_ORDER = ("float32", "float64-cast", "float64")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = {"float32": "o", "float64-cast": "s", "float64": "^"}
RUN_MARKERS = ("o", "s", "^", "D", "v", "P")
STYLE = {  # sized for a two-column paper: 7 in wide, 8 pt text
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "figure.titlesize": 9.5, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "lines.linewidth": 1.2, "lines.markersize": 4, "savefig.dpi": 200, "svg.fonttype": "none",
    "axes.spines.top": False, "axes.spines.right": False,
}


class NothingToPlot(Exception):
    """The run has no data for this figure; the message says what is missing."""


# ---- helpers -----------------------------------------------------------------------------------
def _ordered(values, order: Sequence[str]) -> list:
    values = list(dict.fromkeys(values))
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), str(v)))


SERIES_COLORS = {  # device x dtype mode; the same in every figure
    ("cpu", "float32"): "tab:blue", ("cpu", "float64-cast"): "tab:orange", ("cpu", "float64"): "tab:green",
    ("gpu", "float32"): "tab:red", ("gpu", "float64-cast"): "tab:purple", ("gpu", "float64"): "tab:brown",
}


def _series_color(device: str, dtype: str) -> str:
    return SERIES_COLORS.get((device, dtype), "tab:gray")


def _yerr(center, low, high):
    """Asymmetric error bars; NaN bounds (too few samples) draw none."""
    import numpy as np

    c, lo, hi = (np.asarray(v, float) for v in (center, low, high))
    return np.vstack([np.nan_to_num(c - lo, nan=0.0), np.nan_to_num(hi - c, nan=0.0)])


def ratio_label(log2_ratio: int) -> str:
    """A power-of-two ratio as text: 4x, 1x, 1/64x (never 0.015625x)."""
    return f"{2**log2_ratio:g}x" if log2_ratio >= 0 else f"1/{2**-log2_ratio:g}x"


def _threads_suffix(run, threads) -> str:
    return "" if run.ok["threads"].nunique() <= 1 else f", threads {threads or 'default'}"


def _machine_suffix(run, machine: str) -> str:
    """' @ 1a2b3c4d' in a run over several machines (the title lists them), else nothing."""
    return f" @ {machine}" if len(run.machines) > 1 and machine else ""


def save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    """The figure as PNG and SVG in out_dir, each written under a temporary name and renamed (a reader
    never sees half a file); StoreError when the folder cannot be written."""
    import os

    import matplotlib.pyplot as plt

    from bench.store import StoreError

    paths = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for ext in FORMATS:
            path = out_dir / f"{stem}.{ext}"
            tmp = out_dir / f".{stem}.{os.getpid()}.tmp.{ext}"
            fig.savefig(tmp, bbox_inches="tight", format=ext)
            os.replace(tmp, path)
            paths.append(path)
    except OSError as exc:
        raise StoreError(f"plots: {out_dir}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return paths


def _grid(n_rows: int, n_cols: int, *, panel_w: float = 2.3, panel_h: float = 1.9, **kw):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel_w * n_cols + 0.6, panel_h * n_rows + 0.7),
                             squeeze=False, constrained_layout=True, **kw)
    return fig, axes


def _title(fig, text: str, runs) -> None:
    machines = "; ".join(dict.fromkeys(r.label for r in runs))
    fig.suptitle(f"{text}\n{machines}")


# ---- figures 1 and 2: time and throughput vs batch ----------------------------------------------
def _vs_batch(runs, *, throughput: bool):
    import matplotlib.ticker as mticker

    frames = [(i, r, r.one_device) for i, r in enumerate(runs) if not r.one_device.empty]
    if not frames:
        raise NothingToPlot("no trial finished ok")
    modes = _ordered([m for _, _, ok in frames for m in ok["mode"]], MODE_ORDER)
    hiddens = sorted({int(h) for _, _, ok in frames for h in ok["hidden"]})
    batches = sorted({int(b) for _, _, ok in frames for b in ok["batch_size"]})
    fig, axes = _grid(len(modes), len(hiddens), sharex=True, sharey=True)
    for (row, mode) in enumerate(modes):
        for (col, hidden) in enumerate(hiddens):
            ax = axes[row][col]
            for i, run, ok in frames:
                sel = ok[(ok["mode"] == mode) & (ok["hidden"] == hidden)]
                for (device, dtype, threads, machine), g in sel.groupby(["device", "dtype", "threads", "machine"],
                                                                         sort=False):
                    g = g.sort_values("batch_size")
                    n = run.n_train
                    if throughput:
                        y, lo, hi = n / g["median_s"], n / g["ci_high_s"], n / g["ci_low_s"]
                    else:
                        y, lo, hi = g["median_s"] * 1e3, g["ci_low_s"] * 1e3, g["ci_high_s"] * 1e3
                    label = f"{device} {dtype}{_threads_suffix(run, threads)}{_machine_suffix(run, machine)}"
                    if len(runs) > 1:
                        label = f"[{i + 1}] {label}"
                    ax.errorbar(g["batch_size"], y, yerr=_yerr(y, lo, hi), label=label,
                                color=_series_color(device, dtype), marker=MARKERS.get(dtype, "o"),
                                linestyle=LINESTYLES[i % len(LINESTYLES)], capsize=2, elinewidth=0.8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(batches, [f"{b:g}" for b in batches])  # the measured sizes, no others
            ax.xaxis.set_minor_locator(mticker.NullLocator())
            if row == 0:
                ax.set_title(f"hidden {hidden}")
            ax.set_xlabel("batch size (samples, log scale)")
            ax.xaxis.label.set_visible(row == len(modes) - 1)
            ax.set_ylabel((f"{mode}\n" if col == 0 else "")
                          + ("throughput (samples/s, log scale)" if throughput else "epoch time (ms, log scale)"))
            ax.yaxis.label.set_visible(col == 0)  # one label per row on screen; every axis still carries it
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)),
               frameon=False)
    what = "Training throughput" if throughput else "Epoch time"
    n_train = ", ".join(sorted({str(r.n_train) for r in runs}))
    _title(fig, f"{what} vs batch size ({n_train} training samples per epoch; median, 95% CI)", runs)
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
    keys = sorted(panels, key=lambda k: tuple((MODE_ORDER + DTYPE_ORDER).index(v) if v in MODE_ORDER + DTYPE_ORDER
                                                else (v if isinstance(v, int) else 99) for v in k))
    n_cols = min(3, len(keys))
    n_rows = math.ceil(len(keys) / n_cols)
    batches = sorted({p["batch_size"] for p in pairs})
    hiddens = sorted({p["hidden"] for p in pairs})
    logs = [math.log2(p["speedup"]) for p in pairs if p["speedup"]]
    lim = max(0.1, max(abs(v) for v in logs)) if logs else 1.0
    norm = mcolors.TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    fig, axes = _grid(n_rows, n_cols, panel_w=0.55 * len(hiddens) + 1.0, panel_h=0.32 * len(batches) + 0.8)
    image = None
    for idx, key in enumerate(keys):
        ax = axes[idx // n_cols][idx % n_cols]
        grid = np.full((len(batches), len(hiddens)), np.nan)
        for p in panels[key]:
            if p["speedup"]:
                grid[batches.index(p["batch_size"]), hiddens.index(p["hidden"])] = math.log2(p["speedup"])
        image = ax.imshow(grid, cmap="RdBu", norm=norm, aspect="auto", origin="lower")
        for p in panels[key]:
            if not p["speedup"]:
                continue
            y, x = batches.index(p["batch_size"]), hiddens.index(p["hidden"])
            text = f"{p['speedup']:.2f}" if round(p["speedup"], 2) < 10 else f"{p['speedup']:.0f}"
            strong = abs(math.log2(p["speedup"])) > 0.6 * lim
            ax.text(x, y, text if p["significant"] else f"({text})", ha="center", va="center", fontsize=6.5,
                    color="white" if strong else "black", fontweight="bold" if p["significant"] else "normal")
        ax.set_xticks(range(len(hiddens)), [str(h) for h in hiddens])
        ax.set_yticks(range(len(batches)), [str(b) for b in batches])
        ax.set_xlabel("hidden size (units)")
        ax.set_ylabel("batch size (samples)")
        ax.set_title(panel_name(dict(zip(panel_keys, key))))
        ax.grid(False)
    for idx in range(len(keys), n_rows * n_cols):
        axes[idx // n_cols][idx % n_cols].set_visible(False)
    bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
    step = max(1, math.ceil(2 * math.floor(lim) / 8))
    ticks = [t for t in range(-math.floor(lim), math.floor(lim) + 1) if t % step == 0] or [0]
    bar.set_ticks(ticks, labels=[ratio_label(t) for t in ticks])
    bar.set_label(f"{colorbar_label} (ratio, log2 colour scale)")
    _title(fig, f"{title}\nbold: 95% bootstrap CI excludes 1; (parenthesised): not significant", [run])
    return fig


def _speedup_figure(runs, axis: str, reference: str, candidates, keys: list[str], title: str, label: str,
                    name: Callable[[dict], str], empty: str):
    """A heatmap figure of analysis.speedups(axis, reference); a panel per `keys` (and thread setting)."""
    from bench.analysis import speedups

    run = runs[0]
    pairs = speedups(run, axis, reference, candidates)
    if not pairs:
        raise NothingToPlot(empty)
    several = len({p["threads"] for p in pairs}) > 1
    return _heatmaps(run, pairs, keys + (["threads"] if several else []), title, label,
                     lambda k: name(k) + (f", threads {k['threads']}" if several else ""))


def fig_speedup_gpu_cpu(runs):
    """GPU speed-up over the CPU, batch x hidden (CPU thread setting in the title when several)."""
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

    from bench.analysis import cast_overhead

    run = runs[0]
    rows = [r for r in cast_overhead(run) if r["overhead"] is not None]
    if not rows:
        raise NothingToPlot("needs ok float32 and float64-cast trials of the same configuration")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["device"], r["mode"], r["threads"]), []).append(r)
    keys = sorted(groups, key=lambda k: (k[0], MODE_ORDER.index(k[1]) if k[1] in MODE_ORDER else 9, k[2]))
    configs = sorted({(r["batch_size"], r["hidden"]) for r in rows})
    fig, ax = plt.subplots(figsize=(3.5 + 0.12 * len(configs), 2.8), constrained_layout=True)
    width = 0.8 / len(keys)
    colors = plt.get_cmap("tab10").colors
    handles = []
    for gi, key in enumerate(keys):
        by_cfg = {(r["batch_size"], r["hidden"]): r for r in groups[key]}
        xs, ys, lo, hi, sig = [], [], [], [], []
        for ci, cfg in enumerate(configs):
            if cfg in by_cfg:
                r = by_cfg[cfg]
                xs.append(ci - 0.4 + width * (gi + 0.5))
                ys.append(100 * r["overhead"])
                lo.append(100 * r["ci_low"] if r["ci_low"] is not None else np.nan)
                hi.append(100 * r["ci_high"] if r["ci_high"] is not None else np.nan)
                sig.append(r["significant"])
        device, mode, threads = key
        several_threads = len({k[2] for k in keys}) > 1
        label = f"{mode} ({device}" + (f", threads {threads or 'default'}" if several_threads else "") + ")"
        color = colors[gi % len(colors)]
        ax.errorbar(xs, ys, yerr=_yerr(ys, lo, hi), fmt="none", ecolor=color, elinewidth=0.8, capsize=2)
        ax.scatter(xs, ys, s=14, zorder=3, facecolors=[color if s else "white" for s in sig], edgecolors=color)
        handles.append(Line2D([], [], color=color, marker="s", linestyle="none", markersize=5, label=label))
    # the fill is a property of each point (its interval), not of a series: explained once, in grey
    handles += [Line2D([], [], color="0.35", marker="o", linestyle="none", markersize=4, label=text,
                       markerfacecolor=face) for face, text in (("0.35", "filled: 95% CI excludes 0"),
                                                                ("white", "hollow: not significant"))]
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(range(len(configs)), [f"b{b}\nh{h}" for b, h in configs])
    ax.set_xlabel("configuration (batch size, hidden units)")
    ax.set_ylabel("overhead of the float64 cast (%)")
    ax.legend(handles=handles, frameon=False, ncol=2)
    fig.suptitle("Cost of float64 data cast to float32 every step: time(float64-cast)/time(float32) - 1\n"
                 f"95% bootstrap CI; hollow: not significant. {run.label}")
    return fig


# ---- figure 5: MSE per epoch ------------------------------------------------------------------
def _mse_reference(keys: list[tuple]) -> tuple:
    """The series the others are checked against: CPU eager float32 if present, else a CPU TF float32 one."""
    for want in (lambda k: k[:3] == ("cpu", "eager", "float32"),
                 lambda k: k[0] == "cpu" and k[1] != "numpy" and k[2] == "float32",
                 lambda k: k[1] != "numpy", lambda k: True):
        for k in keys:
            if want(k):
                return k
    raise NothingToPlot("no series")


def fig_mse(runs):
    """Train MSE per epoch, mean and range over repeats, per device x mode x dtype; test MSE marked.

    Right panel: each series' largest relative difference from the reference series (same repeat,
    same seed, same epoch), so "CPU and GPU agree" is a number, not an impression.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from bench.analysis import article_point

    run = runs[0]
    point = article_point(run)
    if point is None:
        raise NothingToPlot("no trial finished ok")
    raw = run.raw
    sel = raw[(raw["batch_size"] == point["batch_size"]) & (raw["hidden"] == point["hidden"])
              & raw["config_id"].isin(set(run.one_device["config_id"]))]
    if sel.empty:
        raise NothingToPlot("no raw rows at the chosen configuration")
    # the same repeats (so the same initial weights) in every series, or the means would differ by seed
    common = set.intersection(*(set(g["repeat"]) for _, g in sel.groupby("config_id")))
    sel = sel[sel["repeat"].isin(common)]
    series = dict(list(sel.groupby(["device", "mode", "dtype", "threads"], sort=False)))
    keys = sorted(series, key=lambda k: (k[0], MODE_ORDER.index(k[1]) if k[1] in MODE_ORDER else 9,
                                         DTYPE_ORDER.index(k[2]) if k[2] in DTYPE_ORDER else 9, k[3]))
    ref_key = _mse_reference(keys)
    ref = series[ref_key].set_index(["repeat", "epoch"])["train_mse"]
    fig, (ax, dev) = plt.subplots(1, 2, figsize=(7.0, 2.9), constrained_layout=True,
                                  gridspec_kw={"width_ratios": [1.3, 1]})
    colors = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    last_epoch = int(sel["epoch"].max())
    for i, key in enumerate(keys):
        device, mode, dtype, threads = key
        g = series[key]
        per_epoch = g.groupby("epoch")["train_mse"]
        mean, low, high = per_epoch.mean(), per_epoch.min(), per_epoch.max()
        color = colors[i % len(colors)]
        ls = LINESTYLES[i % len(LINESTYLES)]
        label = f"{device} {mode} {dtype}" + _threads_suffix(run, threads)
        ax.plot(mean.index + 1, mean.values, color=color, linestyle=ls, marker=MARKERS.get(dtype, "o"), label=label)
        ax.fill_between(mean.index + 1, low.values, high.values, color=color, alpha=0.08, linewidth=0)
        reps = run.repeats
        test = reps[reps["config_id"].isin(set(g["config_id"])) & reps["repeat"].isin(common)]["test_mse"]
        ax.errorbar([last_epoch + 1.4 + 0.08 * i], [test.mean()],
                    yerr=[[test.mean() - test.min()], [test.max() - test.mean()]], color=color, marker="*",
                    markersize=6, capsize=1.5, linestyle="none", elinewidth=0.7)
        if key != ref_key:
            diff = (g.set_index(["repeat", "epoch"])["train_mse"] - ref).abs() / ref.abs()
            worst = diff.groupby(level="epoch").max().clip(lower=1e-17)
            dev.plot(worst.index + 1, worst.values, color=color, linestyle=ls, marker=MARKERS.get(dtype, "o"))
    ax.axvline(last_epoch + 1.2, color="0.6", linewidth=0.6)
    ax.text(last_epoch + 1.3, 0.98, "test", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
    ax.set_xticks(range(1, last_epoch + 2))
    ax.set_xlabel("epoch (1 = warm-up epoch)")
    ax.set_ylabel("MSE (sample-weighted, linear scale)")
    ax.set_title(f"mean over the {len(common)} repeats all series have, band: min-max; *: test MSE")
    dev.set_yscale("log")
    dev.set_xticks(range(1, last_epoch + 2))
    dev.set_xlabel("epoch")
    dev.set_ylabel("max relative difference (log scale)")
    dev.set_title(f"vs {ref_key[0]} {ref_key[1]} {ref_key[2]} (same seeds)")
    if any(k[1] == "numpy" for k in keys):
        dev.text(0.99, 0.55, "numpy mode draws its own shuffle orders\n(tf.data's algorithm, NumPy's generator)",
                 transform=dev.transAxes, fontsize=6, ha="right", va="center", color="0.3")
    dev.text(1, 1.3e-17, "bit-identical (0) drawn at 1e-17", fontsize=6, va="bottom", color="0.4")
    for level, text in ((np.finfo(np.float32).eps, "float32 eps"), (np.finfo(np.float64).eps, "float64 eps")):
        dev.axhline(level, color="0.5", linewidth=0.6, linestyle=":")
        dev.text(1, level, text, fontsize=6, va="bottom", color="0.4")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(4, len(keys)), frameon=False,
               fontsize=6)
    fig.suptitle(f"Train MSE per epoch at batch {point['batch_size']}, hidden {point['hidden']}: every device, mode "
                 f"and dtype trains the same model\n{run.label}")
    return fig


# ---- figure 6: GFLOP/s against the measured ceiling ---------------------------------------------
def fig_gflops(runs):
    """Achieved GFLOP/s vs FLOPs per step (95% CI from the median's interval), with the measured matmul
    ceiling of each device. Colour: execution mode; marker: dtype mode; hollow: GPU."""
    import matplotlib.pyplot as plt

    from bench.analysis import fraction_of_peak, peaks

    fig, ax = plt.subplots(figsize=(4.6, 3.2), constrained_layout=True)
    colors = dict(zip(MODE_ORDER, plt.get_cmap("tab10").colors))
    drawn = 0
    for i, run in enumerate(runs):
        ok = run.one_device.set_index("config_id")
        by: dict[tuple, list[dict]] = {}
        for r in fraction_of_peak(run):
            if r["gflops"]:
                by.setdefault((r["device"], r["mode"], r["dtype"]), []).append(r)
        for (device, mode, dtype), rs in sorted(by.items(), key=lambda kv: (
                kv[0][0], _order(kv[0][1], MODE_ORDER), _order(kv[0][2], DTYPE_ORDER))):
            y = [r["gflops"] for r in rs]
            # GFLOP/s is work / time: the time interval [low, high] maps to [work/high, work/low]
            med, lo, hi = (ok.loc[[r["config_id"] for r in rs], k].to_numpy(float)
                           for k in ("median_s", "ci_low_s", "ci_high_s"))
            color = colors.get(mode, "0.4")
            ax.errorbar([r["flops_per_step"] for r in rs], y, yerr=_yerr(y, y * med / hi, y * med / lo),
                        fmt=MARKERS.get(dtype, "o"), markersize=3.5, color=color, elinewidth=0.6, capsize=1.5,
                        markerfacecolor="white" if device == "gpu" else color, alpha=0.9,
                        label=f"{device} {mode} {dtype}" + (f" [{i + 1}]" if len(runs) > 1 else ""))
            drawn += len(rs)
        ceilings = peaks(run)
        several_threads = len({q["threads"] for q in ceilings}) > 1
        for p in ceilings:
            ls = "-" if p["dtype"] == "float32" else "--"
            ax.axhline(p["gflops_best"], color="0.2" if p["device"] == "cpu" else "tab:red", linestyle=ls,
                       linewidth=0.9)
            threads = f", threads {p['threads'] or 'default'}" if several_threads else ""
            ax.annotate(f"{p['device']} {p['dtype']} matmul n={p['n']}{threads}: {p['gflops_best']:.0f} GFLOP/s"
                        + (f" [{i + 1}]" if len(runs) > 1 else ""),
                        xy=(0.01, p["gflops_best"]), xycoords=("axes fraction", "data"), fontsize=6,
                        va="bottom", color="0.2" if p["device"] == "cpu" else "tab:red")
    if not drawn:
        raise NothingToPlot("no trial finished ok")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("work per training step (FLOPs, log scale)")
    ax.set_ylabel("achieved GFLOP/s (log scale)")
    fig.legend(frameon=False, fontsize=5.5, ncol=3, loc="outside lower center")
    _title(fig, "Achieved GFLOP/s vs work per step (median, 95% CI); lines: measured matmul ceiling (same run)",
           runs)
    return fig


def _order(value: str, order: Sequence[str]) -> int:
    return order.index(value) if value in order else len(order)


# ---- figure 7: execution modes at the article's configuration ---------------------------------
def fig_modes(runs):
    """Epoch time of every execution mode at the article's configuration, the floor (numba) or the NumPy
    baseline marked."""
    import matplotlib.pyplot as plt

    from bench.analysis import article_point

    point = article_point(runs[0])
    if point is None:
        raise NothingToPlot("no trial finished ok")
    bars = []  # (run index, device, mode, median, low, high)
    for i, run in enumerate(runs):
        ok = run.one_device
        sel = ok[(ok["batch_size"] == point["batch_size"]) & (ok["hidden"] == point["hidden"])
                 & (ok["dtype"] == point["dtype"]) & (ok["threads"] == ok["threads"].min())]
        for _, r in sel.iterrows():
            bars.append((i, r["device"], r["mode"], r["median_s"], r["ci_low_s"], r["ci_high_s"]))
    if not bars:
        raise NothingToPlot("no ok trial at the article's configuration")
    groups = list(dict.fromkeys((b[0], b[1]) for b in bars))
    modes = _ordered([b[2] for b in bars], MODE_ORDER)
    colors = dict(zip(MODE_ORDER, plt.get_cmap("tab10").colors))
    marked = "numba floor" if "numba" in modes else "NumPy baseline"
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(modes) * len(groups), 2.9), constrained_layout=True)
    width = 0.8 / len(modes)
    for gi, (i, device) in enumerate(groups):
        floor = None
        for mi, mode in enumerate(modes):
            match = [b for b in bars if (b[0], b[1], b[2]) == (i, device, mode)]
            if not match:
                continue
            _, _, _, med, lo, hi = match[0]
            x = gi + (mi - (len(modes) - 1) / 2) * width
            ax.bar(x, med * 1e3, width=width * 0.9, color=colors.get(mode, "0.5"), label=mode if gi == 0 else None,
                   yerr=_yerr([med * 1e3], [lo * 1e3], [hi * 1e3]), capsize=2, error_kw={"elinewidth": 0.8})
            top = hi if math.isfinite(hi) else med
            ax.text(x, top * 1e3 * 1.1, f"{med * 1e3:.3g}", ha="center", va="bottom", fontsize=6)
            if mode == "numba" or (mode == "numpy" and floor is None):
                floor = med
        if floor:
            ax.hlines(floor * 1e3, gi - 0.45, gi + 0.45, colors="0.2", linestyles=":", linewidth=0.9)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [f"{d}" + (f" [{i + 1}]" if len(runs) > 1 else "") for i, d in groups])
    ax.set_ylabel("epoch time (ms, log scale)")
    ax.set_xlabel("device (bars: execution modes)")
    ax.set_ylim(top=ax.get_ylim()[1] * 3)
    ax.legend(frameon=False, ncol=min(3, len(modes)), fontsize=6.5, loc="upper right")
    ax.grid(axis="x", visible=False)
    _title(fig, f"Execution modes at batch {point['batch_size']}, hidden {point['hidden']}, {point['dtype']} "
                f"(median, 95% CI; dotted: {marked})", runs)
    return fig


def fig_scaling(runs):
    """Scaling efficiency over the number of replicas: a panel per hidden size (rows) and mode (columns);
    colour: the one-device batch (strong: the global batch; weak: the per-replica batch), line: strong
    or weak, marker: dtype; 95% bootstrap intervals; 1 = perfect (dotted)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from bench.analysis import scaling

    run = runs[0]
    rows = scaling(run)
    if not rows:
        raise NothingToPlot("no trial on several replicas with a one-device partner (--replicas 1,2,...)")
    modes = _ordered([r["mode"] for r in rows], MODE_ORDER)
    hiddens = sorted({r["hidden"] for r in rows})
    batches = sorted({r["one_device_batch"] for r in rows})
    cmap = plt.get_cmap("viridis")
    color = {b: cmap(0.85 * i / max(len(batches) - 1, 1)) for i, b in enumerate(batches)}
    styles = {"strong": "-", "weak": "--"}
    ticks = sorted({1, *(r["replicas"] for r in rows)})
    fig, axes = _grid(len(hiddens), len(modes), panel_w=2.6, panel_h=2.0)
    for ri, hidden in enumerate(hiddens):
        for ci, mode in enumerate(modes):
            ax = axes[ri][ci]
            series: dict[tuple, list[dict]] = {}
            for r in rows:
                if (r["mode"], r["hidden"]) == (mode, hidden):
                    series.setdefault((r["kind"], r["device"], r["dtype"], r["one_device_batch"]), []).append(r)
            for (kind, _device, dtype, batch), pts in sorted(series.items()):
                pts.sort(key=lambda p: p["replicas"])
                x = [1] + [p["replicas"] for p in pts]
                y = [1.0] + [p["efficiency"] for p in pts]
                lo = [1.0] + [math.nan if p["ci_low"] is None else p["ci_low"] for p in pts]
                hi = [1.0] + [math.nan if p["ci_high"] is None else p["ci_high"] for p in pts]
                ax.errorbar(x, y, yerr=_yerr(y, lo, hi), marker=MARKERS.get(dtype, "o"), markersize=3, capsize=1.5,
                            linestyle=styles[kind], color=color[batch], linewidth=0.9, elinewidth=0.6)
            ax.axhline(1.0, color="0.3", linestyle=":", linewidth=0.8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_ylim(bottom=0)
            ax.set_title(f"{mode}, hidden {hidden}", fontsize=7.5)
            ax.set_xlabel("replicas (devices)")
            ax.set_ylabel("scaling efficiency\ntime(1) / (N x time(N))")
    handles = [Line2D([], [], color="0.3", linestyle=styles[k], label=k) for k in styles
               if any(r["kind"] == k for r in rows)]
    handles += [Line2D([], [], color="0.3", marker=MARKERS.get(d, "o"), linestyle="none", label=d)
                for d in _ordered([r["dtype"] for r in rows], DTYPE_ORDER)]
    handles += [Line2D([], [], color=color[b], linewidth=2, label=f"batch {b}") for b in batches]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=6.5,
               title="strong: global batch\nweak: per-replica batch", title_fontsize=6.5)
    _title(fig, "Multi-device scaling (tf.distribute.MirroredStrategy; 1 = perfect; 95% bootstrap CI)", runs)
    return fig


FIGURE_FUNCS: dict[str, Callable] = {
    "epoch_time": fig_epoch_time, "throughput": fig_throughput, "speedup_gpu_cpu": fig_speedup_gpu_cpu,
    "speedup_modes": fig_speedup_modes, "speedup_dtype": fig_speedup_dtype, "cast_overhead": fig_cast_overhead,
    "mse": fig_mse, "gflops": fig_gflops, "modes": fig_modes, "scaling": fig_scaling,
}


def render(runs: Sequence[Any], out_dir: Path, figures: Sequence[str] = FIGURES) -> tuple[list[Path], dict[str, str]]:
    """Draw the named figures of the runs into out_dir; returns (files written, {figure: why skipped})."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    written, skipped = [], {}
    with plt.rc_context(STYLE):
        for name in figures:
            try:
                fig = FIGURE_FUNCS[name](runs)
            except NothingToPlot as why:
                skipped[name] = str(why)
                continue
            written.extend(save_figure(fig, out_dir, name))
    return written, skipped


def plot_runs(runs: Sequence[Any], out: Path | None = None, *, log: Callable[[str], None] = print) -> list[Path]:
    """Figures of each run in its plots/; with several runs, the overlays in `out`."""
    written = []
    for run in runs:
        files, skipped = render([run], run.path / "plots")
        written += files
        log(f"{run.path / 'plots'}: {len(files) // len(FORMATS)} figures")
        for name, why in skipped.items():
            log(f"  {name}: not drawn: {why}")
    if len(runs) > 1:
        out = Path(out) if out else runs[0].path / "plots" / "overlay"
        files, skipped = render(runs, out, OVERLAY_FIGURES)
        written += files
        log(f"{out}: {len(files) // len(FORMATS)} overlay figures of {len(runs)} runs")
        for name, why in skipped.items():
            log(f"  {name}: not drawn: {why}")
    return written


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    from bench import cli

    p = cli.parser("python -m bench.plot", __doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by python -m bench.run")
    p.add_argument("--out", metavar="DIR", help="where overlays of several runs go (default RUN_DIR_1/plots/overlay)")
    args = p.parse_args(argv)
    return cli.guarded(p.prog, lambda: _main(args))


def _main(args) -> int:
    from bench.store import load_run
    from bench.store.io import check_output

    if args.out:
        check_output(args.out, "--out", directory=True)
    runs = [load_run(d) for d in args.run_dirs]  # every input checked before a figure is drawn
    for run in runs:
        check_output(run.path / "plots", "plots", directory=True)
    plot_runs(runs, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
