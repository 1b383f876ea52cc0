"""The figures of one or several runs (matplotlib), each answering one question; rendering and saving."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.analysis.fig_detail import fig_gflops, fig_modes, fig_mse, fig_scaling
from bench.analysis.fig_speed import (
    fig_cast_overhead,
    fig_epoch_time,
    fig_speedup_dtype,
    fig_speedup_gpu_cpu,
    fig_speedup_modes,
    fig_throughput,
)
from bench.analysis.figstyle import FORMATS, MARKERS, STYLE, NothingToPlot, save_figure  # noqa: F401 - for callers

# one figure per question, in the order of the answers (report.html places each under its answer); the rest of
# FIGURE_FUNCS on request only: throughput (epoch_time's data turned over), speedup_dtype (cast_overhead's question
# as heatmaps)
FIGURES = ("modes", "speedup_modes", "cast_overhead", "speedup_gpu_cpu", "epoch_time", "mse", "gflops", "scaling")
OVERLAY_FIGURES = ("modes", "epoch_time", "gflops", "throughput")  # drawn over several runs, where asked for


FIGURE_FUNCS: dict[str, Callable] = {
    "epoch_time": fig_epoch_time, "throughput": fig_throughput, "speedup_gpu_cpu": fig_speedup_gpu_cpu,
    "speedup_modes": fig_speedup_modes, "speedup_dtype": fig_speedup_dtype, "cast_overhead": fig_cast_overhead,
    "mse": fig_mse, "gflops": fig_gflops, "modes": fig_modes, "scaling": fig_scaling,
}


def render(runs: Sequence[Any], out_dir: Path, figures: Sequence[str] = FIGURES, *,
           on_figure: Callable[[str, Any], None] | None = None) -> tuple[list[Path], dict[str, str]]:
    """Draw the named figures of the runs into out_dir; returns (files written, {figure: why skipped}).
    `on_figure(name, fig)` sees each drawn figure before it is saved (the HTML report reuses the drawing)."""
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
            if on_figure:
                on_figure(name, fig)
            written.extend(save_figure(fig, out_dir, name))
    return written, skipped


def plot_runs(runs: Sequence[Any], out: Path | None = None, *, log: Callable[[str], None] = print,
              on_figure: Callable[[str, Any], None] | None = None,
              not_drawn: dict[str, str] | None = None, figures: Sequence[str] = FIGURES) -> list[Path]:
    """The named figures of each run in its plots/; with several runs, the overlays in `out`. For each run's own
    figures, `on_figure` as render's, and `not_drawn` (a dict) is filled with {figure: why not drawn}."""
    written = []
    for run in runs:
        files, skipped = render([run], run.path / "plots", figures, on_figure=on_figure)
        if not_drawn is not None:
            not_drawn.update(skipped)
        written += files
        log(f"{run.path / 'plots'}: {len(files) // len(FORMATS)} figures")
        for name, why in skipped.items():
            log(f"  {name}: not drawn: {why}")
    if len(runs) > 1:
        out = Path(out) if out else runs[0].path / "plots" / "overlay"
        files, skipped = render(runs, out, [f for f in OVERLAY_FIGURES if f in figures])
        written += files
        log(f"{out}: {len(files) // len(FORMATS)} overlay figures of {len(runs)} runs")
        for name, why in skipped.items():
            log(f"  {name}: not drawn: {why}")
    return written
