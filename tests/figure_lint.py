"""How a figure reads, checked from what matplotlib drew: text that collides with other text or leaves the
figure, empty panels, colour bars without at least three labelled ticks, bars on a log axis, a figure that does
not name the machine it measured, legends over data, axes that run far past their data, a value in
parentheses (not decided) on a saturated cell, and a mode drawn in a colour not its own (the registry's).
Returns the problems as sentences (empty: it reads well)."""

from __future__ import annotations

import colorsys
import itertools
import re

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.collections import Collection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from mlp_core import modes as registry

EMPTY_SHARE = 0.2  # an axis may run this share of its length past its data on a side, no more


def _drawn_ticklabels(fig) -> set[int]:
    """ids of the tick labels matplotlib really draws: visible, and at a tick inside the axis' view."""
    out = set()
    for ax in fig.axes:
        for axis, coord in ((ax.xaxis, 0), (ax.yaxis, 1)):
            lo, hi = sorted(axis.get_view_interval())
            for minor in (False, True):
                for label in axis.get_ticklabels(minor=minor):
                    if label.get_visible() and lo - 1e-12 * abs(lo) <= label.get_position()[coord] <= hi * (1 + 1e-12):
                        out.add(id(label))
    return out


def _texts(fig):
    renderer = fig.canvas.get_renderer()
    drawn = _drawn_ticklabels(fig)
    ticklabels = {id(t) for ax in fig.axes for a in (ax.xaxis, ax.yaxis) for m in (False, True)
                  for t in a.get_ticklabels(minor=m)}
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if id(t) in ticklabels and id(t) not in drawn:
            continue
        ax = t.axes
        if ax is not None and not ax.get_visible():
            continue
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            out.append((t, bb))
    return out


def _is_colorbar(ax) -> bool:
    return ax.get_label() == "<colorbar>" or hasattr(ax, "_colorbar")


def text_problems(fig, machine_words: list[str] = ()) -> list[str]:
    """Text that collides or leaves the figure, empty panels, colour bars, bars on a log axis, no machine named."""
    fig.canvas.draw()
    out = []
    texts = _texts(fig)
    whole = fig.bbox
    for t, bb in texts:
        if bb.x0 < whole.x0 - 1 or bb.x1 > whole.x1 + 1 or bb.y0 < whole.y0 - 1 or bb.y1 > whole.y1 + 1:
            out.append(f"text leaves the figure: {t.get_text()[:60]!r}")
    for (a, ba), (b, bb) in itertools.combinations(texts, 2):
        if ba.overlaps(bb):
            inter_w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            inter_h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if inter_w > 1.5 and inter_h > 1.5:  # more than touching
                out.append(f"texts overlap: {a.get_text()[:40]!r} and {b.get_text()[:40]!r}")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if _is_colorbar(ax):
            labels = [t for t in ax.get_yticklabels() + ax.get_xticklabels() if t.get_text().strip()]
            if len(labels) < 3:
                out.append(f"colour bar with {len(labels)} labelled ticks: {[t.get_text() for t in labels]}")
            continue
        has_data = ax.lines or ax.collections or ax.images or any(isinstance(p, Rectangle) for p in ax.patches)
        if not has_data:
            out.append(f"empty panel: {ax.get_title()!r}")
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0 and p.get_height() > 0]
        if bars:
            vertical = sum(p.get_width() < p.get_height() for p in bars) >= len(bars) / 2
            if (ax.get_yscale() if vertical else ax.get_xscale()) == "log":
                out.append(f"bars on a log axis: {ax.get_title()!r}")
    if machine_words:
        words = " ".join(t.get_text() for t, _ in texts)
        if not any(w in words for w in machine_words):
            out.append(f"no machine named (looked for {machine_words})")
    return out


# ---- what a reader sees beyond text ------------------------------------------------------------------
def _data_artists(ax):
    """The artists that draw data in data coordinates (not axhline/axvline spans, not the legend)."""
    out = []
    for a in [*ax.lines, *ax.collections, *ax.patches, *ax.images]:
        if not a.get_visible():
            continue
        transform = a.get_transform()
        if isinstance(a, Line2D) and not transform.contains_branch(ax.transData):
            continue
        if isinstance(a, Line2D) and (transform.contains_branch_seperately(ax.transData) != (True, True)):
            continue  # axhline / axvline: data coordinates in one direction only
        out.append(a)
    return out


def _data_points(ax) -> np.ndarray:
    """Display coordinates of the data points drawn in the axes (markers, line vertices, error-bar ends)."""
    pts = []
    for a in _data_artists(ax):
        if isinstance(a, Line2D):
            xy = np.column_stack([np.asarray(a.get_xdata(), float), np.asarray(a.get_ydata(), float)])
            pts.append(a.get_transform().transform(xy))
        elif isinstance(a, Collection):
            offsets = a.get_offsets()
            if len(offsets) and np.isfinite(np.asarray(offsets, float)).all() and len(a.get_paths()) <= 1:
                pts.append(a.get_offset_transform().transform(offsets))
            for path in a.get_paths():
                if len(path.vertices):
                    pts.append(a.get_transform().transform(path.vertices))
        elif isinstance(a, Rectangle) and a.get_fill():  # a bar: its four corners
            x, y, w, h = a.get_x(), a.get_y(), a.get_width(), a.get_height()
            pts.append(a.get_transform().transform([(x, y), (x + w, y), (x, y + h), (x + w, y + h)]))
    pts = [p[np.isfinite(p).all(axis=1)] for p in pts if len(p)]
    return np.vstack(pts) if pts else np.empty((0, 2))


def legend_problems(fig) -> list[str]:
    """Legends drawn over data points."""
    renderer = fig.canvas.get_renderer()
    out = []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            pts = _data_points(ax)
            inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
            if inside.any():
                out.append(f"legend over data: {int(inside.sum())} points of {ax.get_title()!r} under "
                           f"{[t.get_text() for t in leg.get_texts()][:3]}")
    return out


def _fraction_box(ax, renderer):
    """(x0, x1, y0, y1) of the axes' data and its own texts, in axes fractions (a reference line, axvline or
    axhline, counts in its data direction only); None where it draws nothing."""
    ab = ax.get_window_extent(renderer)
    xs, ys = [], []
    for a in [*ax.lines, *ax.collections, *ax.patches, *ax.images, *ax.texts]:
        if not a.get_visible():
            continue
        if isinstance(a, AxesImage):
            return 0.0, 1.0, 0.0, 1.0
        bb = a.get_window_extent(renderer)
        if not np.isfinite([bb.x0, bb.x1, bb.y0, bb.y1]).all():
            continue
        in_x, in_y = True, True
        if isinstance(a, Line2D):
            in_x, in_y = a.get_transform().contains_branch_seperately(ax.transData)
        if in_x:
            xs += [(bb.x0 - ab.x0) / ab.width, (bb.x1 - ab.x0) / ab.width]
        if in_y:
            ys += [(bb.y0 - ab.y0) / ab.height, (bb.y1 - ab.y0) / ab.height]
    if not xs or not ys:
        return None
    return min(xs), max(xs), min(ys), max(ys)


def _categorical(axis) -> bool:
    """Whether an axis names things (mode rows, series) rather than measuring: every tick label has a letter
    beyond a number's (e, x for 10x) or unit's."""
    labels = [t.get_text().replace("\\mathdefault", "") for t in axis.get_ticklabels() if t.get_text().strip()]
    return bool(labels) and all(re.search(r"[a-df-wyz]{2,}", t) for t in labels)


def axis_room_problems(fig, share: float = EMPTY_SHARE) -> list[str]:
    """Axes that run more than `share` of their length past what they draw (over the panels sharing the axis)."""
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison and not _is_colorbar(ax)]
    boxes = {ax: _fraction_box(ax, renderer) for ax in axes}
    out = []
    for ax in axes:
        if boxes[ax] is None:
            continue
        for name, group, (lo_i, hi_i) in (("x", ax.get_shared_x_axes().get_siblings(ax), (0, 1)),
                                          ("y", ax.get_shared_y_axes().get_siblings(ax), (2, 3))):
            if _categorical(ax.xaxis if name == "x" else ax.yaxis):
                continue  # rows or columns of named things: their room is a row's, whatever the data
            got = [boxes[a] for a in group if boxes.get(a) is not None]
            lo, hi = min(b[lo_i] for b in got), max(b[hi_i] for b in got)
            view = ax.get_xlim() if name == "x" else ax.get_ylim()
            scale = ax.get_xscale() if name == "x" else ax.get_yscale()
            if scale == "linear" and min(view) == 0:  # a zero baseline is a deliberate anchor, not empty room
                lo = 0.0 if view[0] < view[1] else lo
                hi = 1.0 if view[0] > view[1] else hi
            if lo > share or hi < 1 - share:
                out.append(f"{name} axis of {ax.get_title()!r} runs past its data: {lo:.0%} empty below, "
                           f"{1 - hi:.0%} above")
    return sorted(set(out))


def _saturation(rgba) -> float:
    r, g, b = mcolors.to_rgb(rgba)
    return colorsys.rgb_to_hls(r, g, b)[2]


def undecided_cell_problems(fig) -> list[str]:
    """A heatmap cell whose value is in parentheses (not decided) painted in a saturated colour."""
    out = []
    for ax in fig.axes:
        for image in ax.images:
            data = np.ma.filled(np.ma.asarray(image.get_array(), float), np.nan)
            if data.ndim == 2:  # a colour-mapped image: the colour each cell is painted in
                data = image.to_rgba(data)
            for t in ax.texts:
                if not t.get_text().startswith("("):
                    continue
                x, y = t.get_position()
                colour = data[int(round(y)), int(round(x))]
                if _saturation(colour) > 0.15:
                    out.append(f"undecided cell {t.get_text()} of {ax.get_title()!r} in a saturated colour")
    return out


def _handle_colour(handle):
    """A legend handle's colour (a line's, else its edge's, else its face's), or None."""
    for getter in ("get_color", "get_edgecolor", "get_facecolor"):
        if not hasattr(handle, getter):
            continue
        c = getattr(handle, getter)()
        if isinstance(c, str):
            return mcolors.to_hex(c)
        arr = np.asarray(c, float)
        if arr.ndim == 2:
            if len(arr):
                return mcolors.to_hex(arr[0])
            continue
        if arr.ndim == 1 and len(arr) in (3, 4):
            return mcolors.to_hex(arr)
    return None


def mode_colour_problems(fig) -> list[str]:
    """A mode named in a legend entry or a coloured tick or axis label whose colour is not the mode's (the registry's:
    one colour per mode in every figure)."""
    names = set(registry.names())
    out = []

    def check(text: str, colour) -> None:
        words = [w for w in re.findall(r"[a-z0-9_-]+", text.lower()) if w in names]
        if len(words) == 1 and colour is not None and mcolors.to_hex(colour) not in ("#000000", "#1b1b1b"):
            want = registry.color(words[0])
            if mcolors.to_hex(colour) != mcolors.to_hex(want) and _saturation(colour) > 0.15:
                out.append(f"mode {words[0]} drawn in {mcolors.to_hex(colour)}, not its colour {want} ({text!r})")

    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            check(text.get_text(), _handle_colour(handle))
    for ax in fig.axes:
        for t in [*ax.get_yticklabels(), *ax.get_xticklabels(), ax.yaxis.label, ax.xaxis.label]:
            if t.get_text().strip():
                check(t.get_text(), t.get_color())
    return out


def problems(fig, machine_words: list[str] = ()) -> list[str]:
    """Every problem a reader would trip over: text_problems() and the checks of legends, axis room, undecided
    cells and mode colours."""
    out = text_problems(fig, machine_words)
    return out + legend_problems(fig) + axis_room_problems(fig) + undecided_cell_problems(fig) + \
        mode_colour_problems(fig)
