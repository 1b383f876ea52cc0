"""Wall time of a sweep against the number of nodes, from a measured probe of its matrix.

    python scripts/cluster_estimate.py PROBE_RUN --preset full --nodes 1,2,4,8,16,32 --out results/cluster

PROBE_RUN is a run of the target's matrix measured lightly (e.g. `bench.run --preset full --devices cpu
--epochs 2 --repeats 1 --peak-n 0`): one repeat of warm-up + one timed epoch per trial.
Each trial's duration under the target protocol is predicted from it:

  repeat time  = warm-up + (epochs - 1) x timed epoch + the repeat's set-up (its wall time minus its epochs)
  repeats      = low: min_repeats (the CI is tight at once); high: repeats added until the trial budget
                 is spent (min_repeats <= n <= max_repeats), the stop rule's longest path; a trial that
                 diverged in the probe: 1 (the stop rule ends it there)
  trial time   = repeats x repeat time + the probe's harness time per trial (run wall time minus the
                 trials' own, spread evenly: worker starts, hand-offs, writing)

The trials are then scheduled onto N exclusive slots two ways: as `bench.run --executor ray` places them
(bench.engine.loop: longest expected first by its prior, `expected_cost`, to the least loaded node; no
measured durations known)
and by longest-processing-time first (a near-optimal bound, for what a duration-aware scheduler would
gain); the sum over N is the perfect split. Writes estimate.json, estimate.md and estimate.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine.cluster import assign  # noqa: E402
from bench.engine.executor import Lane  # noqa: E402
from bench.engine.loop import expected_cost  # noqa: E402
from bench.format import load_run  # noqa: E402
from bench.format.spec import build_spec, trials  # noqa: E402


def predict(probe, spec) -> dict[str, tuple[float, float]]:
    """config_id -> (low, high) predicted seconds under `spec`'s protocol, for the probe's ok trials."""
    reps = probe.repeats
    started, finished = (datetime.fromisoformat(probe.meta[k]) for k in ("started_at", "finished_at"))
    own = probe.summary["elapsed_s"].sum()
    harness = max((finished - started).total_seconds() - own, 0.0) / max(len(probe.summary), 1)
    out = {}
    for cid, g in reps.groupby("config_id"):
        r = g.iloc[0]
        epochs = r["warmup_s"] + r["median_epoch_s"] * (r["epochs"] - 1)
        setup = max(float(r["wall_s"]) - epochs, 0.0) if not math.isnan(r["wall_s"]) else 0.0
        repeat = r["warmup_s"] + (spec.epochs - 1) * r["median_epoch_s"] + setup
        low_n = spec.min_repeats
        high_n = min(spec.max_repeats, max(spec.min_repeats, math.ceil(spec.trial_budget_s / repeat)))
        if r["status"] == "diverged":  # the stop rule ends a diverged trial after its first repeat
            low_n = high_n = 1
        out[cid] = (low_n * repeat + harness, high_n * repeat + harness)
    return out


def ray_makespan(durations: dict[str, float], trials_by_id: dict, spec, n: int) -> float:
    """The longest node's total when bench.run --executor ray places the trials onto n CPU nodes: longest
    expected first (bench.engine.loop.expected_cost, its prior) to the least expected-loaded node."""
    nodes = [Lane(key=f"n{i:03d}", machine="m", node=f"n{i:03d}", gpus=0) for i in range(n)]
    load: dict[str, float] = {}
    total: dict[str, float] = {}
    cost = {c: expected_cost(t, spec) for c, t in trials_by_id.items()}
    for cid in sorted(durations, key=lambda c: -cost[c]):
        node = assign("cpu", nodes, load)
        load[node.key] = load.get(node.key, 0.0) + cost[cid]
        total[node.key] = total.get(node.key, 0.0) + durations[cid]
    return max(total.values())


def lpt_makespan(durations: dict[str, float], n: int) -> float:
    """Longest-processing-time-first onto n slots."""
    slots = [0.0] * n
    for d in sorted(durations.values(), reverse=True):
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("probe", type=Path, nargs="?", help="a probe run directory (not needed with --figure-only)")
    p.add_argument("--preset", default="full")
    p.add_argument("--nodes", default="1,2,4,8,16,32")
    p.add_argument("--out", type=Path, default=Path("results/cluster"))
    p.add_argument("--figure-only", action="store_true", help="redraw the figure from OUT/estimate.json")
    args = p.parse_args(argv)
    if args.figure_only:
        doc = json.loads((args.out / "estimate.json").read_text())
        _figure(doc["rows"], args.out, doc)
        return 0
    probe = load_run(args.probe)
    target = build_spec({"preset": args.preset, "devices": "cpu"})
    by_id = {t.config_id: t for t in trials(target)}
    wanted = list(by_id)
    pred = predict(probe, target)
    missing = [c for c in wanted if c not in pred]
    if missing:
        print(f"error: the probe lacks {len(missing)} of the target's {len(wanted)} CPU trials, e.g. {missing[0]}",
              file=sys.stderr)
        return 2
    rows = []
    for n in (int(x) for x in args.nodes.split(",")):
        row = {"nodes": n}
        for i, bound in enumerate(("low", "high")):
            d = {c: pred[c][i] for c in wanted}
            row[f"perfect_{bound}_h"] = sum(d.values()) / n / 3600
            row[f"ray_{bound}_h"] = ray_makespan(d, by_id, target, n) / 3600
            row[f"lpt_{bound}_h"] = lpt_makespan(d, n) / 3600
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    longest = max(wanted, key=lambda c: pred[c][1])
    meta = {"probe": str(args.probe), "probe_machine": probe.label, "preset": args.preset, "trials": len(wanted),
            "command": "python scripts/cluster_estimate.py " + " ".join(argv or sys.argv[1:]),
            "longest_trial": {"config_id": longest, "low_s": pred[longest][0], "high_s": pred[longest][1]},
            "note": "CPU trials only (no GPU here: the preset's GPU trials are not in the estimate)"}
    (args.out / "estimate.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    lines = [f"`{args.preset}` preset, {len(wanted)} CPU trials, predicted from a probe on {probe.label}; hours "
             "(low: every trial stops at min_repeats; high: every trial spends its budget).", "",
             "| nodes | perfect split | bench.run --executor ray | longest-first (bound) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['nodes']} | {r['perfect_low_h']:.2f}-{r['perfect_high_h']:.2f} | "
                     f"{r['ray_low_h']:.2f}-{r['ray_high_h']:.2f} | {r['lpt_low_h']:.2f}-{r['lpt_high_h']:.2f} |")
    lines += ["", f"The longest trial, {longest}: {pred[longest][0] / 60:.1f}-{pred[longest][1] / 60:.1f} min "
              "(no schedule can finish sooner)."]
    (args.out / "estimate.md").write_text("\n".join(lines) + "\n")
    _figure(rows, args.out, meta)
    print("\n".join(lines))
    return 0


TIME_TICKS = ((1, "1 min"), (3, "3 min"), (6, "6 min"), (15, "15 min"), (30, "30 min"), (60, "1 h"), (120, "2 h"),
              (240, "4 h"), (480, "8 h"), (960, "16 h"))  # minutes: labelled ticks at every scale


def draw(rows, meta):
    """Predicted wall time vs nodes: perfect split, longest-first bound and the Ray executor's placement; the band
    spans min repeats .. trial budget spent. The y axis is log, labelled in minutes and hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figstyle import STYLE

    n = [r["nodes"] for r in rows]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 3.3), constrained_layout=True)
        for key, label, style in (("perfect", "perfect split (sum / N)", ":"), ("lpt", "longest-first (bound)", "--"),
                                  ("ray", "bench.run --executor ray", "-")):
            lo, hi = [60 * r[f"{key}_low_h"] for r in rows], [60 * r[f"{key}_high_h"] for r in rows]
            ax.fill_between(n, lo, hi, alpha=0.15)
            ax.plot(n, hi, style, marker="o", markersize=3, label=label)
        longest = meta["longest_trial"]["high_s"] / 60
        ax.axhline(longest, color="0.3", linewidth=0.8, linestyle="-.")
        ax.annotate(f"longest trial ({longest:.0f} min): no schedule is faster", xy=(n[0], longest), fontsize=6,
                    va="top", xytext=(0, -2), textcoords="offset points")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(n, [str(v) for v in n])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        values = [60 * r[k] for r in rows for k in r if k.endswith("_h")] + [longest]
        lo, hi = min(values) / 1.3, max(values) * 1.3
        ticks = [(t, text) for t, text in TIME_TICKS if lo <= t <= hi]
        ax.set_ylim(lo, hi)
        ax.set_yticks([t for t, _ in ticks], [text for _, text in ticks])
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("nodes (one trial per node at a time)")
        ax.set_ylabel("predicted wall time (log scale)")
        ax.legend(frameon=False, fontsize=6.5)
        fig.suptitle(f"{meta['preset']} preset, {meta['trials']} CPU trials: predicted wall time on N nodes\n"
                     f"probe on {meta['probe_machine']}; band: min repeats .. budget", fontsize=8)
    return fig


def _figure(rows, out: Path, meta) -> None:
    import matplotlib.pyplot as plt

    from bench.analysis.figstyle import STYLE, save_figure

    fig = draw(rows, meta)
    with plt.rc_context(STYLE):
        save_figure(fig, out, "estimate")


if __name__ == "__main__":
    sys.exit(main())
