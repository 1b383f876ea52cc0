"""The instruction-count gate against the regressions people write (docs/gate.md, "A corpus of realistic
regressions"): small code changes, each applied to a copy of this tree, each compared with the unchanged copy
by the icount gate (bench.ab --method icount) and, with --wall, by the wall-time gate (bench.ab, sequential).

    python scripts/regression_corpus.py --out results/gate/corpus.json            # every change, icount
    python scripts/regression_corpus.py --only numpy --out /tmp/corpus.json         # the NumPy changes only
    python scripts/regression_corpus.py --wall --out results/gate/corpus.json       # also wall time (slower)
    python scripts/regression_corpus.py --threshold 0.005,function=0.01 --out results/gate/corpus.json  # the CI's

Each change says what it is (a regression, or neutral: a rename, a moved function, a comment) and which mode's
configurations it touches. The gate passes the corpus when every regression whose counted effect exceeds the
threshold is flagged `slower` and every neutral change is `same` in every configuration. Prints the table and
exits 0 when the corpus passes, 1 otherwise. Every change's worst configuration is explained (bench.ab
--explain all): what the gate says of it (TF ops, the checkout's calls, library calls, functions) is printed and
kept in OUT (`explained`), so a reader can judge whether its top entry names the edit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.cli.options import threshold_value  # noqa: E402 - the gate's own reading of --threshold
from bench.engine import profile  # noqa: E402 - the gate's own wording of its deltas

THRESHOLD = 0.01  # the gate's default (bench.engine.icount.DEFAULT_THRESHOLD); --threshold sets others
MATRIX = ["--devices", "cpu", "--dtypes", "float32", "--batch-sizes", "32", "--hidden-sizes", "20", "--n-train", "512",
          "--n-test", "16", "--epochs", "3"]
NUMPY_STEP = "            xb, yb = X[idx], Y[idx]\n"
TF_STEP = "    sse.assign_add(loss * tf.cast(tf.shape(x)[0], loss.dtype))\n    return loss\n\n\ndef article_step"
EAGER_LOOP = "            for x, y in batches:\n                loss = step(x, y)\n"


@dataclass(frozen=True)
class Change:
    name: str
    kind: str  # regression | neutral
    modes: tuple[str, ...]  # the modes whose configurations it touches (neutral: all of them)
    edits: tuple[tuple[str, str, str], ...]  # (file, old text, new text)


CHANGES = (
    Change("a needless copy of every batch", "regression", ("numpy",),
           (("mlp_core/reference.py", NUMPY_STEP, "            xb, yb = X[idx].copy(), Y[idx].copy()\n"),)),
    Change("a needless round-trip cast of every batch", "regression", ("numpy",),
           (("mlp_core/reference.py", NUMPY_STEP,
             NUMPY_STEP + "            xb = xb.astype(np.float64).astype(X.dtype)\n"),)),
    Change("a Python-side conversion in the loop (the batch to a list)", "regression", ("numpy",),
           (("mlp_core/reference.py", NUMPY_STEP, NUMPY_STEP + "            _ = yb.tolist()\n"),)),
    Change("extra ops per step (a reduction of the batch folded into the loss)", "regression", ("eager", "function"),
           (("mlp_core/tf_train.py", TF_STEP, TF_STEP.replace(
               "    return loss\n", "    loss = loss + 0.0 * tf.reduce_sum(tf.cast(x, loss.dtype))\n    return loss\n",
               1)),)),
    Change("a needless cast of every batch (to float64 and back)", "regression", ("eager", "function"),
           (("mlp_core/tf_train.py", EAGER_LOOP,
             "            for x, y in batches:\n                x = tf.cast(tf.cast(x, tf.float64), x.dtype)\n"
             "                loss = step(x, y)\n"),)),
    Change("a Python-side conversion inside the loop (loss.numpy() every step)", "regression", ("eager", "function"),
           (("mlp_core/tf_train.py", EAGER_LOOP,
             EAGER_LOOP + "                _ = loss.numpy()\n"),)),
    Change("a retrace every epoch (the step's tf.function made anew per epoch)", "regression", ("function",),
           (("mlp_core/tf_train.py", "    def eager_epoch(ds: tf.data.Dataset) -> tf.Tensor:\n        with",
             "    def eager_epoch(ds: tf.data.Dataset) -> tf.Tensor:\n        nonlocal step\n"
             "        if mode == \"function\":\n"
             "            step = tf.function(step.python_function, input_signature=signature)\n        with"),)),
    Change("neutral: a renamed loop variable", "neutral", (),
           (("mlp_core/reference.py", "for start in range(0, n, B):\n            idx = order[start : start + B]\n",
             "for first in range(0, n, B):\n            idx = order[first : first + B]\n"),)),
    Change("neutral: a comment", "neutral", (),
           (("mlp_core/tf_train.py", EAGER_LOOP, "            # one step per batch\n" + EAGER_LOOP),)),
    Change("neutral: a function moved to the end of its module", "neutral", (),
           (("mlp_core/tf_train.py", "MOVE", "def shuffle_orders("),)),
)


def move_to_end(text: str, head: str) -> str:
    """The top-level definition starting with `head`, cut out and appended at the end of the module."""
    start = text.index(head)
    nxt = [i for i in (text.find("\ndef ", start + 1), text.find("\nclass ", start + 1), text.find("\n@", start + 1))
           if i != -1]
    end = min(nxt) + 1 if nxt else len(text)
    block = text[start:end].rstrip("\n") + "\n"
    rest = (text[:start] + text[end:]).rstrip("\n") + "\n"
    return rest + "\n\n" + block


def copy_tree(dst: Path) -> Path:
    """This checkout's tracked files (results/ left out) in dst."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for f in filter(None, files):
        if f.startswith("results/") or not (ROOT / f).is_file():
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)
    return dst


def apply(tree: Path, change: Change) -> None:
    for file, old, new in change.edits:
        path = tree / file
        text = path.read_text()
        if old == "MOVE":
            path.write_text(move_to_end(text, new))
            continue
        if old not in text:
            raise SystemExit(f"{change.name}: {file} no longer holds the text the change edits; update the corpus")
        path.write_text(text.replace(old, new, 1))


def ab(base: Path, cand: Path, out: Path, modes: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(base), "--candidate-tree",
                           str(cand), "--out", str(out), "--modes", modes, *MATRIX, *extra, "--quiet"],
                          cwd=ROOT, capture_output=True, text=True)


def run_change(change: Change, base: Path, work: Path, modes: str, wall: bool, threshold: str) -> dict:
    tree = copy_tree(work / "tree")
    apply(tree, change)
    out = work / "icount"
    proc = ab(base, tree, out, modes, "--method", "icount", "--processes", "1", "--explain", "all",
              "--threshold", str(threshold))
    if proc.returncode not in (0, 1) or not (out / "icount.json").exists():
        return {"change": change.name, "kind": change.kind, "modes": list(change.modes) or ["all"],
                "icount_ratio": None, "icount_verdict": "error", "passes": False,
                "reason": f"bench.ab failed: {proc.stderr.strip()[-500:]}"}
    doc = json.loads((out / "icount.json").read_text())
    rows = {r["config_id"]: r for r in doc["configs"]}
    touched = [c for c in rows if change.kind == "neutral" or any(f"-{m}-" in c for m in change.modes)]
    entry = {"change": change.name, "kind": change.kind, "modes": list(change.modes) or ["all"],
             "icount": {c: {"ratio": rows[c]["ratio"], "verdict": rows[c]["verdict"],
                            "threshold": rows[c].get("threshold")} for c in rows}}
    worst = max(touched, key=lambda c: rows[c]["ratio"] or 0)
    entry["icount_ratio"], entry["icount_verdict"], entry["worst"] = rows[worst]["ratio"], rows[worst]["verdict"], worst
    entry["confirmed"] = {c: rows[c]["confirmation"] for c in rows if rows[c].get("confirmation")}
    if rows[worst]["verdict"] == "error":  # why, as the gate said it (printed and kept)
        entry["reason"] = rows[worst]["reason"]
    if rows[worst].get("functions"):  # what the gate says of it: its headed lists, 3 entries each
        entry["explained"] = {"config": worst, **dict(profile.sections(rows[worst], limit=3))}
    if change.kind == "regression":
        # flagged where the counted effect exceeds the threshold; below it, `same` is the right answer
        entry["passes"] = all(rows[c]["verdict"] != "error" and
                              (rows[c]["verdict"] == "slower") == (rows[c]["ratio"] > 1 + rows[c]["threshold"])
                              for c in touched) and rows[worst]["verdict"] != "error"
    else:
        entry["passes"] = all(r["verdict"] == "same" for r in rows.values())
    if wall:
        wout = work / "wall"
        proc = ab(base, tree, wout, ",".join(change.modes) or modes, "--repeats", "10")
        from bench.analysis.compare import compare, load

        try:
            cmp_rows = compare(load(wout / "baseline"), load(wout / "candidate"))
        except Exception as exc:  # noqa: BLE001 - recorded, the corpus goes on
            cmp_rows, why = [], f"{type(exc).__name__}: {exc}"
        else:
            why = "no configuration measured on both sides"
        if cmp_rows:
            w = max(cmp_rows, key=lambda r: r["ratio"])
            entry["wall_ratio"], entry["wall_verdict"] = w["ratio"], w["verdict"]
            entry["wall"] = {r["config"]: {"ratio": r["ratio"], "verdict": r["verdict"],
                                           "detectable": r["detectable"]} for r in cmp_rows}
        else:
            entry["wall_ratio"], entry["wall_verdict"] = None, f"error: {why} ({proc.stderr.strip()[-300:]})"
    shutil.rmtree(work / "tree", ignore_errors=True)
    return entry


def markdown(doc: dict) -> str:
    """The corpus as the table docs/gate.md publishes."""
    lines = ["| change | kind | modes | instructions (worst configuration) | icount gate | wall time "
             "(worst) | wall-time gate (detectable) | passes |", "|---|---|---|---|---|---|---|---|"]
    for e in doc["changes"]:
        icount_cell = f"x{e['icount_ratio']:.4f}" if e.get("icount_ratio") else "-"
        wall = e.get("wall") or {}
        worst = max(wall.values(), key=lambda w: w["ratio"]) if wall else None
        wall_cell = f"x{worst['ratio']:.3f}" if worst else "-"
        det = f"{worst['verdict']} (+{worst['detectable'] - 1:.0%})" if worst else (e.get("wall_verdict") or "-")
        lines.append(f"| {e['change']} | {e['kind']} | {', '.join(e['modes'])} | {icount_cell} | "
                     f"{e['icount_verdict']}{' (confirmed)' if e.get('worst') in e.get('confirmed', {}) else ''} | "
                     f"{wall_cell} | {det} | {'yes' if e['passes'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="the corpus table as JSON")
    p.add_argument("--only", help="the changes touching these modes (comma-separated), and the neutral ones")
    p.add_argument("--wall", action="store_true", help="also the wall-time gate (bench.ab, 10 repeats a side)")
    p.add_argument("--resume", action="store_true", help="keep the changes OUT already holds; measure the rest")
    p.add_argument("--table", action="store_true", help="print OUT's table as markdown, measure nothing")
    p.add_argument("--threshold", default=str(THRESHOLD), help=f"the gate's --threshold, one number or per mode, "
                   f"as bench.ab takes it (default {THRESHOLD}; the CI's: 0.005,function=0.01)")
    args = p.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text())), end="")
        return 0
    try:
        threshold = threshold_value(args.threshold)
    except argparse.ArgumentTypeError as exc:
        p.error(f"--threshold: {exc}")
    only = set(args.only.split(",")) if args.only else None
    chosen = [c for c in CHANGES if only is None or set(c.modes) & only or (c.kind == "neutral" and
                                                                            c.edits[0][0] == "mlp_core/reference.py")]
    modes = ",".join(sorted(only)) if only else "eager,function,numpy"
    kept = {}
    if args.resume and args.out.exists():  # the changes already measured into OUT stay (same matrix)
        before = json.loads(args.out.read_text())
        if before.get("threshold") != threshold:
            p.error(f"--resume: {args.out} was measured at threshold {before.get('threshold')}, not {threshold}")
        kept = {e["change"]: e for e in before["changes"] if e.get("icount_ratio")}
    work = Path(tempfile.mkdtemp(prefix="emb-corpus-"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        base = copy_tree(work / "base")
        for i, change in enumerate(chosen):
            entry = kept.get(change.name) or run_change(change, base, work / f"c{i}", modes, args.wall,
                                                               args.threshold)
            results.append(entry)
            args.out.write_text(json.dumps({"threshold": threshold, "matrix": MATRIX,
                                            "modes": modes, "changes": results}, indent=1) + "\n")  # nothing lost
            icount_text = (f"icount x{entry['icount_ratio']:.4f} {entry['icount_verdict']:7}"
                           if entry["icount_ratio"] else f"icount {entry['icount_verdict']}: {entry.get('reason')}")
            wall = ""
            if args.wall:
                wall = (f"  wall x{entry['wall_ratio']:.3f} {entry['wall_verdict']}" if entry.get("wall_ratio")
                        else f"  wall {entry.get('wall_verdict')}")
            print(f"{'PASS' if entry['passes'] else 'FAIL'}  {change.kind:10} {icount_text}{wall}  {change.name}",
                  flush=True)
            for heading, lines in (entry.get("explained") or {}).items():
                if heading != "config":
                    print(f"      {heading}:", *(f"        {x}" for x in lines), sep="\n", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(json.loads(args.out.read_text())))
    ok = all(e["passes"] for e in results)
    print("the corpus passes" if ok else "the corpus FAILS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
