"""The numbers README.md and docs/ quote from the published reference run (results/reference) are that run's, to
their printed precision: each claim below is a sentence of the docs with its numbers left out, filled from the
run's own files (meta.json, summary.csv, analysis.json) and looked for, whitespace aside. A re-measured reference
that moves a number fails here until the sentence is rewritten; a sentence edited away from its numbers too."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"
ARTICLE_POINT = ("cpu", "float64-cast", 4, 20)  # device, dtype, batch, hidden: the headline's configuration
TF_MODES = ("article", "eager", "function", "xla", "graph")


def duration(seconds: float) -> str:
    """3 significant figures in ms under a second, in s above (as the docs print them)."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def two(value: float) -> str:
    """2 significant figures, no exponent."""
    return f"{float(f'{value:.2g}'):g}"


@cache
def values() -> dict[str, str]:
    meta = json.loads((REFERENCE / "meta.json").read_text())
    data = json.loads((REFERENCE / "analysis.json").read_text())
    summary = pd.read_csv(REFERENCE / "summary.csv")
    device, dtype, batch, size = ARTICLE_POINT
    at = summary[(summary["device"] == device) & (summary["dtype"] == dtype) & (summary["batch_size"] == batch)
                 & (summary["size"] == size)].set_index("mode")
    out = {"commit": meta["git"]["commit"][:7], "date": meta["started_at"][:10], "trials": str(len(summary)),
           "tf": meta["tensorflow"]["tensorflow"],
           "minutes": str(round((pd.Timestamp(meta["finished_at"]) - pd.Timestamp(meta["started_at"])).seconds / 60))}
    for mode in at.index:
        out[f"t_{mode}"] = duration(float(at.loc[mode, "median_s"]))
    for c in data["modes"]["vs_reference"]:
        if (c["device"], c["dtype"], c["batch_size"], c["size"]) == ARTICLE_POINT:
            out[f"x_{c['candidate']}"] = f"{two(c['speedup'])}x [{two(c['ci_low'])}, {two(c['ci_high'])}]"
    vs = pd.DataFrame(data["modes"]["vs_reference"])
    every = sorted(vs["batch_size"].unique())
    for name, mode, batches in (("graph_b4", "graph", [4]), ("graph_b800", "graph", [800]),
                                ("numpy_b4", "numpy", [4]), ("article_all", "article", every)):
        sel = vs[(vs["candidate"] == mode) & vs["batch_size"].isin(batches)]["speedup"]
        out[name] = f"{two(sel.min())}-{two(sel.max())}x"
    fits = pd.DataFrame(data["step_cost_fits"])
    for mode, g in fits.groupby("mode"):
        low, high = g["overhead_s"].min(), g["overhead_s"].max()
        out[f"fixed_{mode}"] = (f"{two(low * 1e3)}-{two(high * 1e3)} ms" if high >= 1e-3 else
                                f"{two(low * 1e6)}-{two(high * 1e6)} us")
    peak = [p for p in data["peaks"] if p["status"] == "ok" and p["device"] == "cpu" and p["dtype"] == "float32"]
    out["peak"] = f"{peak[0]['gflops_best']:.0f} GFLOP/s"
    frac = pd.DataFrame(data["fraction_of_peak"])
    tf = frac[frac["mode"].isin(TF_MODES)]
    best = tf.loc[tf["fraction"].idxmax()]
    out["best_tf"] = f"{two(100 * best['fraction'])}%"
    out["best_tf_at"] = f"{best['mode']} mode, batch {best['batch_size']}, hidden {best['size']}"
    for mode in ("numpy", "eager", "article"):
        out[f"best_{mode}"] = f"{two(100 * frac[frac['mode'] == mode]['fraction'].max())}%"
    casts = pd.DataFrame(data["cast_overhead"])
    out["cast_compared"] = str(len(casts))
    out["cast_inconclusive"] = str(int((casts["verdict"] == "inconclusive").sum()))
    out["cast_decided"] = str(int(casts["verdict"].isin(["costs", "saves"]).sum()))
    out["cast_median"] = f"{100 * casts['overhead'].median():+.1f}%"
    out.update(_mse_differences(summary))
    check = (ROOT / "results" / "answers" / "reproduce_check.txt").read_text()
    found = re.search(r"answers \(ratios\): (\d+) of (\d+) .*?median epoch times: (\d+) of (\d+)", check)
    out["check_answers"], out["check_medians"] = (f"{found[1]} of {found[2]}", f"{found[3]} of {found[4]}")
    noise = data["noise"]
    out["repeat_cv"] = f"{100 * noise['repeat_cv_median']:.0f}%"
    out["inconclusive"] = f"{noise['inconclusive']} of {noise['comparisons']}"
    return out


def _mse_differences(summary: pd.DataFrame) -> dict[str, str]:
    """From raw.csv: each series' largest relative difference in train MSE from cpu eager float32 at batch 4,
    hidden 20 (same repeat, same epoch): the modes whose every series is exactly the reference's, and the largest
    difference of XLA and of NumPy."""
    raw = pd.read_csv(REFERENCE / "raw.csv")
    at = summary[(summary["batch_size"] == 4) & (summary["size"] == 20)].set_index("config_id")
    raw = raw[raw["config_id"].isin(at.index)].set_index(["config_id", "repeat", "epoch"])["train_mse"]  # schema 6
    ref = raw.loc["cpu-eager-float32-b4-h20-t0"]
    worst: dict[str, float] = {}
    for cid in at.index:
        diff = ((raw.loc[cid] - ref).abs() / ref.abs()).dropna()
        mode = at.loc[cid, "mode"]
        worst[mode] = max(worst.get(mode, 0.0), float(diff.max()))
    same = [m for m in TF_MODES if worst.get(m) == 0.0]
    return {"mse_same": ", ".join(same[:-1]) + f" and {same[-1]}", "mse_xla": two(worst["xla"]),
            "mse_numpy": two(worst["numpy"])}


# (file, sentence with {name} for each quoted number)
CLAIMS = [
    ("README.md", "(`results/reference`: a 2-core AMD EPYC, no GPU, TensorFlow {tf}, {trials} trials, measured "
                  "{date} by commit {commit}"),
    ("README.md", "an epoch takes {t_article} in the article's loop, {t_eager} in a clean eager loop, {t_function} "
                  "with the step in `tf.function`, {t_graph} with the whole epoch in one graph and {t_numpy} in "
                  "plain NumPy"),
    ("README.md", "a fixed {fixed_eager} of eager dispatch"),
    ("README.md", "({best_tf} of the machine's matmul ceiling at best in TensorFlow)"),
    ("README.md", "compiling the step buys {x_function}, the whole epoch {x_graph}"),
    ("README.md", "{cast_inconclusive} of {cast_compared} configurations inconclusive"),
    ("docs/figures.md", "{trials} trials, {minutes} minutes, measured {date} by commit {commit}"),
    ("docs/figures.md", "the article's loop {t_article}, a clean eager loop {t_eager}, `tf.function` {t_function}, "
                        "XLA {t_xla}, the whole epoch in one graph {t_graph}, NumPy {t_numpy}"),
    ("docs/figures.md", "Compiling the step buys {x_function}, compiling the whole epoch {x_graph}"),
    ("docs/figures.md", "about {fixed_eager} in eager mode"),
    ("docs/figures.md", "{fixed_article} in the article's loop, {fixed_function} with `tf.function`, {fixed_xla} with "
                        "XLA, {fixed_graph} in graph mode, and {fixed_numpy} in NumPy"),
    ("docs/figures.md", "{cast_inconclusive} of the {cast_compared} configurations are inconclusive, {cast_decided} "
                        "decided; the median estimate is {cast_median}"),
    ("docs/figures.md", "repeats of one trial varied by a median {repeat_cv}"),
    ("docs/figures.md", "`graph` is {graph_b4} eager at batch 4 and {graph_b800} at batch 800; NumPy {numpy_b4} at "
                        "batch 4. The article's loop is {article_all} eager's speed"),
    ("docs/figures.md", "and {inconclusive} comparisons were left inconclusive"),
    ("docs/figures.md", "(`results/answers/reproduce_check.txt`) fared worse: {check_answers} answers"),
    ("docs/figures.md", "and {check_medians} median epoch times"),
    ("docs/figures.md", "the {mse_same} modes train exactly the trajectory of eager float32"),
    ("docs/figures.md", "XLA differs at float32 rounding level (at most {mse_xla}"),
    ("docs/figures.md", "NumPy differs by up to {mse_numpy}"),
    ("docs/figures.md", "The measured float32 matmul ceiling of this machine is {peak}"),
    ("docs/figures.md", "the best TensorFlow trial reaches {best_tf} of it ({best_tf_at}), NumPy {best_numpy}, eager "
                        "{best_eager}, the article's loop {best_article}"),
]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("path, sentence", CLAIMS, ids=[f"{p}:{s[:40]}" for p, s in CLAIMS])
def test_a_quoted_number_is_the_reference_runs(path, sentence):
    expected = _flat(sentence.format(**values()))
    assert expected in _flat((ROOT / path).read_text()), f"{path} should say: {expected}"


def test_the_reference_was_measured_by_code_in_this_history():
    """meta.json records the commit that measured it, a commit of this repository, with no uncommitted change."""
    import subprocess

    meta = json.loads((REFERENCE / "meta.json").read_text())
    assert meta["git"]["dirty"] is False
    known = subprocess.run(["git", "cat-file", "-t", meta["git"]["commit"]], cwd=ROOT, capture_output=True,
                           text=True)
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True,
                             text=True)
    if shallow.returncode != 0 or shallow.stdout.strip() == "true":
        pytest.skip("not a git checkout with its history (a shallow clone or an unpacked archive)")
    assert known.stdout.strip() == "commit", known.stderr
