"""Performance over commits: the history's rows from runs, change points, figures, the dashboard export."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.analysis.plot import STYLE, save_figure
from bench.format import HISTORY, SCHEMA_VERSION, load_run, now_utc, write_table
from bench.format.errors import InputError
from bench.format.history import HISTORY_PATH, read_history
from bench.format.identity import facts_label, machine_label
from bench.format.io import check_output
from bench.format.runs import frame

PENALTY_FACTOR = 4.0  # x sigma x log n (the L1 cost is in units of |log time| deviations)
MIN_SEGMENT = 3  # commits: a level must last this long to count


class HistoryError(InputError):
    """Bad input: names the field and the value."""


def label_key(label: str) -> str:
    """history.csv's `machine_label_key`: a short stable hash of a machine's label (10 hex digits; not the run tables'
    8-digit fingerprint id, bench.format.identity.machine_id: history rows name machines by label)."""
    return hashlib.sha1(label.encode()).hexdigest()[:10]


def machine_labels(run) -> dict[str, str]:
    """machine id -> the label history rows carry: the run's (bench.format.identity.machine_label) in a run on
    one machine, else each machine's own, with its TensorFlow version."""
    if len(run.machines) <= 1:
        return {m: machine_label(run.meta) for m in set(run.ok["machine"])}
    out = {}
    for m in set(run.ok["machine"]):
        facts = (run.meta.get("machines") or {}).get(m, {})
        version = (facts.get("packages") or {}).get("tensorflow")
        out[m] = facts_label(facts) + (f", TF {version}" if version else "")
    return out


def append(run_dir: Path, history: Path = HISTORY_PATH) -> int:
    """Add the ok trials of a run; HistoryError if the run is already in the history or has no ok trial.
    The file is rewritten whole (temporary name, rename): a failure leaves it as it was."""
    check_output(history, "--history")
    old = read_history(history)
    run = load_run(run_dir)
    run_id = run.meta["run_id"]
    if any(r["run_id"] == run_id for r in old):
        raise HistoryError(f"run_dir: {str(run_dir)!r}: run {run_id!r} is already in {history}")
    if run.ok.empty:
        raise HistoryError(f"run_dir: {str(run_dir)!r}: no trial finished ok; nothing to append")
    git = run.meta.get("git") or {}
    recorded = now_utc()
    labels = machine_labels(run)
    rows = [{"schema_version": SCHEMA_VERSION, "recorded_utc": recorded, "commit": git.get("commit") or "",
             "dirty": bool(git.get("dirty")), "run_id": run_id, "run_finished_utc": run.meta.get("finished_at") or "",
             **{k: r[k] for k in HISTORY.names if k in r},
             "machine_label": labels[r["machine"]], "machine_label_key": label_key(labels[r["machine"]])}
            for r in run.ok.to_dict("records")]
    write_table(history, HISTORY, [{**r, "schema_version": SCHEMA_VERSION} for r in old] + rows)
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


def series(history: Path = HISTORY_PATH):
    """The history as a typed DataFrame in the order rows were appended."""
    rows = read_history(history)
    if not rows:
        raise HistoryError(f"history: {str(history)!r}: empty or missing (python -m bench.history append RUN_DIR)")
    out = frame(HISTORY, rows)
    out["order"] = range(len(out))
    return out


def detect(history: Path = HISTORY_PATH) -> list[dict[str, Any]]:
    """Every change point per machine and configuration, with the shift of the segment medians."""

    return _detect(series(history))


def _detect(frame) -> list[dict[str, Any]]:
    """detect() on the history already read."""
    import numpy as np

    found = []
    for (mid, cid), g in frame.groupby(["machine_label_key", "config_id"], sort=True):
        g = g.sort_values("order")
        values = g["median_s"].to_numpy(float)
        cps = change_points(values)
        bounds = [0, *cps, len(values)]
        for k, cp in enumerate(cps):
            before = float(np.median(values[bounds[k]:cp]))
            after = float(np.median(values[cp:bounds[k + 2]]))
            found.append({"machine_label_key": mid, "config_id": cid, "index": cp, "commit": g["commit"].iloc[cp],
                          "run_id": g["run_id"].iloc[cp], "before_s": before, "after_s": after,
                          "change": after / before - 1})
    return found


def plot(history: Path = HISTORY_PATH, out_dir: Path = Path("results") / "history-plots",
         configs: Sequence[str] | None = None, changes: list[dict[str, Any]] | None = None) -> list[Path]:
    """One figure per machine: a panel per configuration, epoch time over commits, change points marked
    (`changes`: detect()'s result, computed here when not given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = series(history)
    all_changes = _detect(frame) if changes is None else changes
    if configs:
        unknown = sorted(set(configs) - set(frame["config_id"]))
        if unknown:
            raise HistoryError(f"config-id: {unknown[0]!r}: not in {history}")
        frame = frame[frame["config_id"].isin(configs)]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context(STYLE):
        for mid, m in frame.groupby("machine_label_key", sort=True):
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
                    if (c["machine_label_key"], c["config_id"]) == (mid, cid):
                        ax.axvline(c["index"] - 0.5, color="tab:red", linestyle="--", linewidth=1)
                        ax.annotate(f"{c['change']:+.0%}", xy=(c["index"] - 0.5, 0.95), color="tab:red",
                                    xycoords=("data", "axes fraction"), fontsize=6.5, ha="left", va="top")
                ax.set_xticks(x, [str(c)[:7] or "?" for c in g["commit"]], rotation=60, fontsize=5.5)
                ax.set_title(cid, fontsize=6.5)
                if i % n_cols == 0:
                    ax.set_ylabel("epoch time (ms)")
            for j in range(len(cids), n_rows * n_cols):
                axes[j // n_cols][j % n_cols].set_visible(False)
            label = m["machine_label"].iloc[0]
            fig.suptitle(f"Epoch time over commits (median, 95% CI); dashed: change point (ruptures PELT)\n{label}")
            written += save_figure(fig, out_dir, f"history-{mid}")
    return written


def export(run_dir: Path) -> list[dict[str, Any]]:
    """github-action-benchmark `customSmallerIsBetter` entries of a run's ok trials (median epoch time);
    HistoryError when the run has none (the action would fail on an empty list)."""
    run = load_run(run_dir)
    if run.ok.empty:
        raise HistoryError(f"run_dir: {str(run_dir)!r}: no trial finished ok; nothing to export")
    labels = machine_labels(run)
    return [export_entry(r, labels[r["machine"]]) for r in run.ok.to_dict("records")]


def export_entry(row: dict[str, Any], label: str) -> dict[str, Any]:
    """One github-action-benchmark entry: the median epoch time in ms, rounded to the precision its 95% CI
    supports, with the interval's two sides written out (they are rarely equal)."""
    med, low, high = (row[k] * 1e3 for k in ("median_s", "ci_low_s", "ci_high_s"))
    below, above = med - low, high - med
    if math.isfinite(below) and math.isfinite(above) and max(below, above) > 0:
        digits = max(0, 1 - math.floor(math.log10(max(below, above))))  # two significant digits of the CI
        value = round(med, digits)
        rng = {"range": f"-{below:.{digits}f} / +{above:.{digits}f}"}
    else:  # under 6 epochs: no interval; four significant digits
        digits = max(0, 3 - math.floor(math.log10(med)))
        value, rng = round(med, digits), {}
    ci = (f"95% CI [{low:.{digits}f}, {high:.{digits}f}] ms" if rng else "no CI (under 6 epochs)")
    return {"name": row["config_id"], "unit": "ms/epoch", "value": value, **rng,
            "extra": f"median of {int(row['n'])} epochs ({int(row['repeats'])} repeats); {ci}; "
                     f"device {row['device_actual']}; {label}"}
