"""How often does the instruction-count gate flag identical code? Same-code pairs from one pool of processes.

    python -m bench.ab --baseline-tree A --candidate-tree B --method icount --config scripts/icount.toml \
        --processes 20 --explain none --confirm off --out /tmp/pool        # A and B: the same commit, two folders
    python scripts/icount_same_code.py /tmp/pool/icount.json --out results/gate/icount_same_code.json

Reads a count of the same code in many processes a side (bench.ab --method icount --processes N) and judges
same-code pairs with the gate's own rule (bench.engine.icount: verdict, close), as the gate would have with
1 process a side (N pairs: process k of each side; a close count confirmed by the processes of pair k + N/2) and
with 2 processes a side (N/2 pairs), at each --thresholds value. Any verdict but `same` on identical code is a
false alarm (`slower` and `faster` mislabel a number; `unsteady` fails the gate without a verdict). Prints one
line per gate and threshold, and each configuration's spreads; writes OUT.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.engine.icount import close, process_value, spread, verdict  # noqa: E402 - the gate's own rule


def judge(base: list[list[int]], cand: list[list[int]], threshold: float) -> tuple[float, str]:
    """The gate's verdict on these processes' epoch counts (as bench.engine.icount.judge forms it)."""
    return verdict([process_value(c) for c in base], [process_value(c) for c in cand], threshold)


def pairs(row: dict, threshold: float, processes: int, confirm: bool) -> list[dict]:
    """The same-code pairs of one configuration: (first ratio, verdict, confirmed?)."""
    b, c = row["baseline"], row["candidate"]
    n = min(len(b), len(c))
    out = []
    for k in range(0, n - processes + 1, processes):
        ratio, word = judge(b[k:k + processes], c[k:k + processes], threshold)
        entry = {"pair": k // processes, "first_ratio": ratio, "first_verdict": word, "confirmed": False}
        if confirm and word != "unsteady" and close(ratio, threshold):
            j = (k + n // 2) % n  # another pair's processes: the pool has no spare ones
            ratio, word = judge([*b[k:k + processes], *b[j:j + 1]], [*c[k:k + processes], *c[j:j + 1]], threshold)
            entry["confirmed"] = True
        entry.update(ratio=ratio, verdict=word)
        out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pool", type=Path, help="icount.json of a same-code count with many processes a side")
    p.add_argument("--thresholds", default="0.005,0.01", help="comma-separated (default 0.005,0.01)")
    p.add_argument("--out", type=Path, help="write the pairs and the counts of false alarms here (JSON)")
    args = p.parse_args(argv)
    doc = json.loads(args.pool.read_text())
    rows = [r for r in doc["configs"] if r["verdict"] != "error"]
    if not rows or min(len(r["baseline"]) for r in rows) < 4:
        print(f"{args.pool}: needs at least 4 counted processes a side in every configuration", file=sys.stderr)
        return 2
    result: dict = {"pool": str(args.pool), "processes_per_side": min(len(r["baseline"]) for r in rows),
                    "configs": {}, "gates": []}
    for r in rows:
        values = [[process_value(c) for c in r[side]] for side in ("baseline", "candidate")]
        result["configs"][r["config_id"]] = {
            "spread_processes": max(spread(v) for v in values),
            "spread_epochs": max(spread(c) for side in ("baseline", "candidate") for c in r[side]),
            "ratio_of_medians": r["ratio"]}
        print(f"{r['config_id']:34} processes spread {result['configs'][r['config_id']]['spread_processes']:.3%}  "
              f"epochs spread {result['configs'][r['config_id']]['spread_epochs']:.3%}")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        for processes, confirm in ((1, False), (1, True), (2, False), (2, True)):
            judged = {r["config_id"]: pairs(r, threshold, processes, confirm) for r in rows}
            flat = [e for found in judged.values() for e in found]
            alarms = [e for e in flat if e["verdict"] != "same"]
            by_mode: dict[str, list[int]] = {}
            for cid, found in judged.items():
                mode = cid.split("-")[1]
                counts = by_mode.setdefault(mode, [0, 0])
                counts[0] += sum(e["verdict"] != "same" for e in found)
                counts[1] += len(found)
            gate = {"threshold": threshold, "processes_per_side": processes, "confirm": confirm,
                    "comparisons": len(flat), "pairs": len(next(iter(judged.values()))),
                    "false_alarms": len(alarms), "confirmed": sum(e["confirmed"] for e in flat),
                    "verdicts": sorted({e["verdict"] for e in alarms}), "by_mode": by_mode,
                    "max_abs_ratio": max(abs(e["ratio"] - 1) for e in flat), "judged": judged}
            result["gates"].append(gate)
            modes = ", ".join(f"{m} {a}/{n}" for m, (a, n) in by_mode.items())
            print(f"threshold {threshold:.2%}  {processes} process(es) a side  confirm {'on ' if confirm else 'off'}  "
                  f"{gate['pairs']} pairs x {len(rows)} configurations: {len(alarms)} false alarms "
                  f"({', '.join(gate['verdicts']) or 'none'}; {modes}); {gate['confirmed']} confirmations; "
                  f"largest |ratio - 1| {gate['max_abs_ratio']:.3%}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
