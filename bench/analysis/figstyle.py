"""The look every figure shares: sizes and fonts, the order and colour of modes, dtypes and devices,
error bars from intervals, panel grids, titles that name the machine, and saving (PNG and SVG)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.format import StoreError
from mlp_core import modes as registry

FORMATS = ("png", "svg")
DTYPE_ORDER = ("float32", "float64-cast", "float64", "mixed_float16", "mixed_bfloat16")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = {"float32": "o", "float64-cast": "s", "float64": "^", "mixed_float16": "D", "mixed_bfloat16": "v"}
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
def ordered(values, order: Sequence[str]) -> list:
    values = list(dict.fromkeys(values))
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), str(v)))


def mode_order(values) -> list[str]:
    """Execution modes in the registry's order (mlp_core.modes: one order and colour for every figure)."""
    return sorted(dict.fromkeys(values), key=registry.order_key)


def yerr(center, low, high):
    """Asymmetric error bars; NaN bounds (too few samples) draw none."""
    import numpy as np

    c, lo, hi = (np.asarray(v, float) for v in (center, low, high))
    return np.vstack([np.nan_to_num(c - lo, nan=0.0), np.nan_to_num(hi - c, nan=0.0)])


# the ratio scale every speed-up figure shares: log2, 1/2x to 2x, the same colour for the same ratio in every run
RATIO_CMAP = "RdBu"
RATIO_LIMIT = 1.0  # log2 of the scale's ends (2x); ratios beyond take the end colours
RATIO_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)
UNDECIDED_COLOR = "#d9d9d9"  # a cell or marker whose comparison is not decided: no colour to read an effect into


def ratio_tick(log2_ratio: float) -> str:
    """A colour-bar tick of the ratio scale: '<=1/2x', '1/1.4x', '1x', '1.4x', '>=2x'."""
    text = f"{2 ** abs(log2_ratio):.2g}x"
    text = text if log2_ratio >= 0 else f"1/{text}"
    return ("<=" if log2_ratio <= -RATIO_LIMIT else ">=" if log2_ratio >= RATIO_LIMIT else "") + text


def significant(value: float, digits: int = 2) -> str:
    """A ratio to `digits` significant figures, never an exponent: 0.77, 1.2, 46, 2600."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.{digits}g}")
    return f"{rounded:.{max(0, digits - 1 - math.floor(math.log10(abs(rounded))))}f}"


def set_caption(fig, text: str) -> None:
    """The figure's caption: what its colours, fills and lines mean, shown under it in report.html (the figure's
    own title stays one short question)."""
    fig._bench_caption = text  # noqa: SLF001 - matplotlib figures take attributes; read by caption_of


def caption_of(fig) -> str:
    return getattr(fig, "_bench_caption", "")


def threads_suffix(run, threads) -> str:
    return "" if run.ok["threads"].nunique() <= 1 else f", threads {threads or 'default'}"


def machine_suffix(run, machine: str) -> str:
    """' @ 1a2b3c4d' in a run over several machines (the title lists them), else nothing."""
    return f" @ {machine}" if len(run.machines) > 1 and machine else ""


def save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    """The figure as PNG and SVG in out_dir, each written under a temporary name and renamed (a reader
    never sees half a file); StoreError when the folder cannot be written."""
    import os

    import matplotlib.pyplot as plt

    paths = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for ext in FORMATS:
            path = out_dir / f"{stem}.{ext}"
            tmp = out_dir / f".{stem}.{os.getpid()}.tmp.{ext}"
            # no date and salted, repeatable ids in SVG: a figure redrawn from the same run is the same file
            with plt.rc_context({"svg.hashsalt": f"eager-mlp-bench:{stem}"}):
                fig.savefig(tmp, bbox_inches="tight", format=ext, metadata={"Date": None} if ext == "svg" else None)
            os.replace(tmp, path)
            paths.append(path)
    except OSError as exc:
        raise StoreError(f"plots: {out_dir}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return paths


def panel_grid(n_rows: int, n_cols: int, *, panel_w: float = 2.3, panel_h: float = 1.9, **kw):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel_w * n_cols + 0.6, panel_h * n_rows + 0.7),
                             squeeze=False, constrained_layout=True, **kw)
    return fig, axes


def duration_label(seconds: float) -> str:
    """'13.5 ms', '183 ms', '2.44 s': three significant figures, never an exponent."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def size_name(runs) -> str:
    """The name of the runs' size axis ('hidden' for the MLP, 'channels' for the CNN; 'size' where runs of
    several workloads are drawn together)."""
    names = {r.workload.size_name for r in runs}
    return names.pop() if len(names) == 1 else "size"


def size_label(runs) -> str:
    """The size axis's label with its meaning: 'hidden (hidden-layer width, units)'."""
    docs = {r.workload.size_doc for r in runs}
    return f"{size_name(runs)} ({docs.pop()})" if len(docs) == 1 else "size (each workload's own)"


def workload_line(runs) -> str:
    """'workload cnn (a small CNN ...)': which model the figure shows."""
    return "; ".join(dict.fromkeys(f"workload {r.workload.name}" for r in runs))


def figure_title(fig, text: str, runs) -> None:
    """The figure's question, the workload and the machine(s) that measured it, each line wrapped to the figure's
    width."""
    import textwrap

    machines = workload_line(runs) + " on " + "; ".join(dict.fromkeys(r.label for r in runs))
    size = fig.get_figwidth() * 72  # points
    chars = max(40, int(size / (STYLE.get("figure.titlesize", 9) * 0.52)))
    lines = [w for line in f"{text}\n{machines}".split("\n") for w in textwrap.wrap(line, chars) or [""]]
    fig.suptitle("\n".join(lines))


