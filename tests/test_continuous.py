"""`python -m bench.continuous REF`: the working tree against a git ref, on the default path to a verdict;
and the progress a person watches on the way (a bar that never moves backwards)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.format import load_run
from bench.format.spec import build_spec

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.serial  # see pyproject.toml's markers


def _git_ok() -> bool:
    return shutil.which("git") is not None and subprocess.run(
        ["git", "rev-parse", "--verify", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0


@pytest.mark.slow
def test_the_working_tree_against_head(tmp_path):
    if not _git_ok():
        pytest.skip("not a git checkout with commits")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = tmp_path / "ab"
    proc = subprocess.run([sys.executable, "-m", "bench.continuous", "HEAD", "--out", str(out), "--devices", "cpu",
                           "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "32", "--hidden-sizes", "16",
                           "--n-train", "512", "--n-test", "16", "--epochs", "3", "--repeats", "3", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    base, cand = load_run(out / "baseline"), load_run(out / "candidate")
    assert base.meta["git"]["commit"] == head  # the baseline is REF's own checkout
    assert base.meta["ab"]["id"] == cand.meta["ab"]["id"]
    assert "paired A/B repeats" in proc.stdout and "NO VERDICT" not in proc.stdout  # a real verdict
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "emb-baseline-" not in worktrees  # removed afterwards


def test_a_bad_ref_is_one_line_and_exit_2(tmp_path):
    if not _git_ok():
        pytest.skip("not a git checkout with commits")
    proc = subprocess.run([sys.executable, "-m", "bench.continuous", "no-such-ref-xyz", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ref: 'no-such-ref-xyz': not a commit" in proc.stderr and not any(tmp_path.iterdir())


def test_the_progress_bar_never_moves_backwards_and_ends_full(tmp_path, monkeypatch):
    """Adaptive trials stop after different numbers of repeats: the bar's total is fixed at the most they may
    take, each trial's unused repeats are counted when it stops, and the bar ends at its total."""
    from bench.engine import loop, progress
    from tests.fake_executor import FakeExecutor

    seen = []

    class Bar:
        def __init__(self, total, **kw):
            self.total, self.n = total, 0

        def update(self, k):
            assert k >= 0
            self.n += k
            seen.append((self.n, self.total))

        def set_description(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(progress, "tqdm", Bar)
    spec = build_spec({"devices": "cpu,gpu", "modes": "numpy", "dtypes": "float32", "batch_sizes": "16,32",
                       "sizes": "8", "n_train": 64, "n_test": 8, "epochs": 3, "min_repeats": 2,
                       "max_repeats": 7, "target_ci": 0.5, "peak_n": 0})
    rows, done = loop.run_sweep(spec, tmp_path / "run", argv=["test"], executor=FakeExecutor(), progress=True)
    assert done and {r["status"] for r in rows} == {"ok"}
    totals = {t for _, t in seen}
    assert totals == {2 * 7}  # 2 CPU trials (numpy runs on the CPU only) x at most 7 repeats, never changed
    ns = [n for n, _ in seen]
    assert ns == sorted(ns) and ns[-1] == 14
    assert all(r["repeats"] < 7 for r in rows)  # they stopped early: the bar skipped their unused repeats
