"""How a figure reads, checked from what matplotlib drew: text that collides with other text or leaves the
figure, empty panels, colour bars without at least three labelled ticks, bars on a log axis, and a figure
that does not name the machine it measured. Returns the problems as sentences (empty: it reads well)."""

from __future__ import annotations

import itertools

from matplotlib.patches import Rectangle
from matplotlib.text import Text


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


def problems(fig, machine_words: list[str] = ()) -> list[str]:
    """Every problem a reader would trip over."""
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
