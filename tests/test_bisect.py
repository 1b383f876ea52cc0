"""bench.bisect on a small synthetic history made here: a neutral comment, a commit that does not import (to be
skipped), its fix, a realistic regression (a needless round-trip cast of every batch in the NumPy loop) and a
neutral rename after it. The bisection must name the regression, with its count ratio against its parent, and
must have skipped the broken commit."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli.bisect import main

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (apt-get install valgrind)")
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
MATRIX = ["--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "16", "--hidden-sizes", "8", "--n-train", "512",
          "--n-test", "16", "--epochs", "2"]
STEP = "            xb, yb = X[idx], Y[idx]\n"


def commit(repo: Path, message: str) -> str:
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=repo, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    repo = tmp_path_factory.mktemp("history")
    shutil.copytree(ROOT / "mlp_core", repo / "mlp_core", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    ref = repo / "mlp_core" / "reference.py"
    shas = {"good": commit(repo, "the tree as it is")}
    edit(ref, STEP, "            # the batch, by fancy indexing (a copy already)\n" + STEP)
    shas["comment"] = commit(repo, "a comment")
    init = repo / "mlp_core" / "__init__.py"
    init.write_text(init.read_text() + "\nimport nowhere\n")
    shas["broken"] = commit(repo, "an import that does not exist")
    init.write_text(init.read_text().replace("\nimport nowhere\n", ""))
    shas["fixed"] = commit(repo, "the import fixed")
    edit(ref, STEP, STEP + "            xb = xb.astype(np.float64).astype(X.dtype)  # a needless round trip\n")
    shas["regression"] = commit(repo, "a needless cast of every batch")
    edit(ref, "sum_batch_means = 0.0\n        for start", "sum_batch_means = 0.0\n        for begin")
    edit(ref, "idx = order[start : start + B]", "idx = order[begin : begin + B]")
    shas["rename"] = commit(repo, "a renamed loop variable")
    return repo, shas


def test_the_bisection_names_the_regression_and_skips_what_does_not_import(history, tmp_path, capsys):
    repo, shas = history
    out = tmp_path / "bisect"
    assert main([shas["good"], shas["rename"], "--repo", str(repo), "--out", str(out), *MATRIX, "--quiet",
                 "--threshold", "0.01,function=0.02"]) == 0  # a threshold per mode: the NumPy count's is 1%
    said = capsys.readouterr().out
    assert f"first bad commit: {shas['regression']} a needless cast of every batch" in said
    doc = json.loads((out / "bisect.json").read_text())
    assert doc["first_bad"] == shas["regression"] and doc["parent"] == shas["fixed"] and doc["reason"] == ""
    (cid,) = doc["configs"]
    assert doc["ratios_vs_last_good"][cid] > 1.01 and doc["last_good"] == doc["parent"]
    verdicts = {p["commit"]: p["verdict"] for p in doc["tested"]}
    assert verdicts[shas["good"]] == "good" and verdicts[shas["rename"]] == "bad"
    assert verdicts.get(shas["broken"]) == "skip"  # tested first (the middle), skipped, a neighbour taken
    assert verdicts[shas["fixed"]] == "good" and verdicts[shas["regression"]] == "bad"
    broken = next(p for p in doc["tested"] if p["commit"] == shas["broken"])
    assert "nowhere" in broken["reason"]
    assert len(doc["tested"]) <= 6  # log2 of the line, plus the two ends and the skip
    # the culprit explains itself against its parent: its edit's calls first (512 samples in batches of 16: 32
    # batches an epoch, each cast twice), named by the checkout's file and function; its functions' own changes add
    # up to the change of the counted totals
    found = doc["explained"][cid]
    top = found["calls"]["calls"][0]
    assert top["own"] and top["call"].startswith("ndarray.astype @ mlp_core/reference.py, in ") and top["delta"] == 64
    assert found["functions"]["total_delta"] > 0
    assert f"where {cid}'s count grew" in said and "calls from the checkout's code:" in said
    assert "ndarray.astype: +64 calls/epoch (mlp_core/reference.py, in " in said


def test_bad_input_is_one_clear_error(history, tmp_path, capsys):
    repo, shas = history
    at = ["--repo", str(repo), "--out", str(tmp_path / "o"), *MATRIX]
    assert main([shas["rename"], shas["good"], *at]) == 2  # reversed
    assert "is not an ancestor of bad" in capsys.readouterr().err
    assert main([shas["good"], shas["rename"], *at, "--threshold", "0.01,nosuchmode=0.02"]) == 2  # as bench.ab's
    assert "threshold: 'nosuchmode': names no execution mode" in capsys.readouterr().err
    assert main([shas["good"], "no-such-ref", *at]) == 2
    assert "'no-such-ref': not a commit" in capsys.readouterr().err
    assert main([shas["good"], shas["rename"], *at, "--modes", "eager", "--devices", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "devices" in err and "counted on the CPU only" in err
    assert main([shas["good"], shas["rename"], "--repo", str(tmp_path), "--out", str(tmp_path / "o"), *MATRIX]) == 2
    assert "is not a git checkout" in capsys.readouterr().err
    assert main([shas["good"], shas["rename"], "--repo", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 *MATRIX]) == 2
    assert "repo: " in capsys.readouterr().err


def test_help_answers_without_tensorflow():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench.bisect", "--help"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0 and "first bad commit" in done.stdout and "tensorflow" not in done.stderr
