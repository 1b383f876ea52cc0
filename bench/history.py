"""Performance over commits: `python -m bench.history {append,plot,export}`.

  append RUN_DIR      add the run's ok trials to results/history.csv, keyed by commit and machine
  plot                epoch time over commits per configuration and machine, change points marked
  export RUN_DIR      github-action-benchmark's `customSmallerIsBetter` JSON (name, unit, value,
                      range, extra); its `pytest` reader would use the mean, this exports the median

Change points come from ruptures (PELT with the least-absolute-deviation cost on log epoch time,
segments of at least 3 commits), with a penalty scaled by the series' own noise (a robust sigma
from successive differences, times log n): a single outlier moves no segment median, so it makes
no change; a level that lasts 3 or more commits does. A change is reported with the shift of the
segment medians around it.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import results

HISTORY = Path("results") / "history.csv"
FIELDS = ("recorded_utc", "commit", "dirty", "run_id", "run_finished_utc", "machine", "machine_id", "config_id",
          "device", "mode", "dtype", "batch_size", "hidden", "threads", "n", "median_s", "ci_low_s", "ci_high_s")


PENALTY_FACTOR = 4.0  # x sigma x log n (the L1 cost is in units of |log time| deviations)
MIN_SEGMENT = 3  # commits: a level must last this long to count


class HistoryError(ValueError):
    """Bad input: names the field and the value."""


def machine_id(label: str) -> str:
    """A short stable id of a machine fingerprint label."""
    return hashlib.sha1(label.encode()).hexdigest()[:10]


def append(run_dir: Path, history: Path = HISTORY) -> int:
    """Add the ok trials of a run; HistoryError if the run is already in the history. Returns rows added."""
    from bench.analysis import RunError, load_run
    from bench.sweep import now_utc

    try:
        run = load_run(run_dir)
    except RunError as exc:
        raise HistoryError(str(exc)) from None
    run_id = run.meta.get("run_id") or Path(run_dir).name
    if any(r["run_id"] == run_id for r in results.read_rows(history)):
        raise HistoryError(f"run_dir: {str(run_dir)!r}: run {run_id!r} is already in {history}")
    git = run.meta.get("git") or {}
    label = run.label
    rows = [{"recorded_utc": now_utc(), "commit": git.get("commit") or "", "dirty": int(bool(git.get("dirty"))),
             "run_id": run_id, "run_finished_utc": run.meta.get("finished_at") or "", "machine": label,
             "machine_id": machine_id(label), **{k: r[k] for k in ("config_id", "device", "mode", "dtype")},
             **{k: int(r[k]) for k in ("batch_size", "hidden", "threads", "n")},
             **{k: float(r[k]) for k in ("median_s", "ci_low_s", "ci_high_s")}}
            for _, r in run.ok.iterrows()]
    history.parent.mkdir(parents=True, exist_ok=True)
    out = results.CsvAppender(history, FIELDS)
    try:
        out.write(rows)
    finally:
        out.close()
    return len(rows)


def change_points(values: Sequence[float], *, min_size: int = MIN_SEGMENT) -> list[int]:
    """Indices where a new level starts in a series of epoch times (PELT, L1 cost, on log times).

    The penalty is PENALTY_FACTOR x sigma x log(n), sigma from the median absolute successive
    difference (robust to the steps themselves); a flat series gets none.
    """
    import numpy as np
    import ruptures

    y = np.log(np.asarray(values, dtype=float))
    n = len(y)
    if n < 2 * min_size:
        return []
    diffs = np.abs(np.diff(y))
    sigma = float(np.median(diffs)) / (0.6745 * math.sqrt(2)) if n > 1 else 0.0
    sigma = max(sigma, 1e-3)  # below 0.1% the machine cannot tell; avoids a zero penalty on exact data
    penalty = PENALTY_FACTOR * sigma * math.log(n)
    ends = ruptures.Pelt(model="l1", min_size=min_size, jump=1).fit(y.reshape(-1, 1)).predict(pen=penalty)
    return [e for e in ends if e < n]


def series(history: Path = HISTORY):
    """The history as a DataFrame in the order rows were appended (numeric columns as numbers)."""
    import pandas as pd

    rows = results.read_rows(history)
    if not rows:
        raise HistoryError(f"history: {str(history)!r}: empty or missing (python -m bench.history append RUN_DIR)")
    frame = pd.DataFrame(rows)
    for col in ("batch_size", "hidden", "threads", "n", "median_s", "ci_low_s", "ci_high_s"):
        frame[col] = pd.to_numeric(frame[col].replace("", float("nan")), errors="coerce")
    frame["order"] = range(len(frame))
    return frame


def detect(history: Path = HISTORY) -> list[dict[str, Any]]:
    """Every change point per machine and configuration, with the shift of the segment medians."""

    return _detect(series(history))


def _detect(frame) -> list[dict[str, Any]]:
    """detect() on the history already read."""
    import numpy as np

    found = []
    for (mid, cid), g in frame.groupby(["machine_id", "config_id"], sort=True):
        g = g.sort_values("order")
        values = g["median_s"].to_numpy(float)
        cps = change_points(values)
        bounds = [0, *cps, len(values)]
        for k, cp in enumerate(cps):
            before = float(np.median(values[bounds[k]:cp]))
            after = float(np.median(values[cp:bounds[k + 2]]))
            found.append({"machine_id": mid, "config_id": cid, "index": cp, "commit": g["commit"].iloc[cp],
                          "run_id": g["run_id"].iloc[cp], "before_s": before, "after_s": after,
                          "change": after / before - 1})
    return found


def plot(history: Path = HISTORY, out_dir: Path = Path("results") / "history-plots",
         configs: Sequence[str] | None = None, changes: list[dict[str, Any]] | None = None) -> list[Path]:
    """One figure per machine: a panel per configuration, epoch time over commits, change points marked
    (`changes`: detect()'s result, computed here when not given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.plot import FORMATS, STYLE

    frame = series(history)
    all_changes = _detect(frame) if changes is None else changes
    if configs:
        unknown = sorted(set(configs) - set(frame["config_id"]))
        if unknown:
            raise HistoryError(f"config: {unknown[0]!r}: not in {history}")
        frame = frame[frame["config_id"].isin(configs)]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context(STYLE):
        for mid, m in frame.groupby("machine_id", sort=True):
            cids = sorted(m["config_id"].unique())
            n_cols = min(4, len(cids))
            n_rows = math.ceil(len(cids) / n_cols)
            fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols + 0.5, 1.9 * n_rows + 0.8), squeeze=False,
                                     constrained_layout=True)
            for i, cid in enumerate(cids):
                ax = axes[i // n_cols][i % n_cols]
                g = m[m["config_id"] == cid].sort_values("order")
                x = list(range(len(g)))
                med = g["median_s"] * 1e3
                lo = (med - g["ci_low_s"] * 1e3).fillna(0).clip(lower=0)
                hi = (g["ci_high_s"] * 1e3 - med).fillna(0).clip(lower=0)
                ax.errorbar(x, med, yerr=[lo, hi], marker="o", capsize=2, elinewidth=0.8)
                for c in all_changes:
                    if (c["machine_id"], c["config_id"]) == (mid, cid):
                        ax.axvline(c["index"] - 0.5, color="tab:red", linestyle="--", linewidth=1)
                        ax.annotate(f"{c['change']:+.0%}", xy=(c["index"] - 0.5, 0.95), color="tab:red",
                                    xycoords=("data", "axes fraction"), fontsize=6.5, ha="left", va="top")
                ax.set_xticks(x, [str(c)[:7] or "?" for c in g["commit"]], rotation=60, fontsize=5.5)
                ax.set_title(cid, fontsize=6.5)
                if i % n_cols == 0:
                    ax.set_ylabel("epoch time (ms)")
            for j in range(len(cids), n_rows * n_cols):
                axes[j // n_cols][j % n_cols].set_visible(False)
            label = m["machine"].iloc[0]
            fig.suptitle(f"Epoch time over commits (median, 95% CI); dashed: change point (ruptures PELT)\n{label}")
            for ext in FORMATS:
                path = out_dir / f"history-{mid}.{ext}"
                fig.savefig(path, bbox_inches="tight")
                written.append(path)
            plt.close(fig)
    return written


def export(run_dir: Path) -> list[dict[str, Any]]:
    """github-action-benchmark `customSmallerIsBetter` entries of a run's ok trials (median epoch time)."""
    from bench.analysis import RunError, load_run

    try:
        run = load_run(run_dir)
    except RunError as exc:
        raise HistoryError(str(exc)) from None
    out = []
    for _, r in run.ok.iterrows():
        half = max(r["median_s"] - r["ci_low_s"], r["ci_high_s"] - r["median_s"])
        out.append({
            "name": r["config_id"],
            "unit": "s/epoch",
            "value": float(r["median_s"]),
            **({"range": f"± {half:.3g}"} if math.isfinite(half) else {}),
            "extra": (f"median of {int(r['n'])} epochs ({int(r['repeats'])} repeats); 95% CI "
                      f"[{r['ci_low_s']:.4g}, {r['ci_high_s']:.4g}] s; device {r['device_actual']}; "
                      f"{run.label}"),
        })
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    import json

    p = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("append", help="add a run's ok trials to the history")
    a.add_argument("run_dir", metavar="RUN_DIR")
    a.add_argument("--history", default=str(HISTORY), help=f"default {HISTORY}")
    pl = sub.add_parser("plot", help="epoch time over commits with change points")
    pl.add_argument("--history", default=str(HISTORY), help=f"default {HISTORY}")
    pl.add_argument("--out", default="results/history-plots", help="default results/history-plots")
    pl.add_argument("--config", action="append", help="only this configuration (repeatable)")
    e = sub.add_parser("export", help="github-action-benchmark customSmallerIsBetter JSON")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--out", help="file to write (default: stdout)")
    args = p.parse_args(argv)
    try:
        if args.command == "append":
            n = append(Path(args.run_dir), Path(args.history))
            print(f"{args.history}: {n} rows added from {args.run_dir}")
        elif args.command == "plot":
            changes = detect(Path(args.history))
            files = plot(Path(args.history), Path(args.out), args.config, changes)
            for c in changes:
                print(f"change point: {c['config_id']} at {c['commit'][:10] or c['run_id']}: "
                      f"{c['before_s'] * 1e3:.4g} -> {c['after_s'] * 1e3:.4g} ms ({c['change']:+.1%})")
            print("\n".join(str(f) for f in files))
        else:
            text = json.dumps(export(Path(args.run_dir)), indent=2) + "\n"
            if args.out:
                Path(args.out).write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
    except HistoryError as exc:
        print(f"python -m bench.history: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
