"""The entry points other checkouts drive this one through, and this one driving an older checkout.

An A/B run measures a pull request's base with the base's own code: the new runner starts the old
checkout's `python -m bench.worker`, and the instruction-count gate runs its counting script against
the old checkout's `mlp_core.trainer`. Later checkouts will drive this one the same way, and users import
`bench.store.load_run`. These names are kept on purpose (the layers behind them moved).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.serial  # see pyproject.toml's markers
BEFORE_LAYERS = "820ff83"  # the last commit before bench was split into format / engine / analysis / cli


def test_the_entry_points_an_older_or_newer_checkout_uses():
    from bench.store import load_run  # the README's and users' import
    from bench.worker import main as worker_main  # `python -m bench.worker`: every A/B side's measuring process
    from mlp_core import TrainConfig, make_data, train
    from mlp_core.trainer import make_trainer, run_epochs  # what every icount counting script calls

    assert callable(load_run) and callable(worker_main) and callable(train)
    config = TrainConfig(size=4, epochs=2, batch_size=8, mode="numpy")
    times, mses, _ = run_epochs(make_trainer(make_data(0, n_train=32, n_test=8), config), config.epochs)
    assert len(times) == len(mses) == 2
    for module in ("bench.run", "bench.ab", "bench.compare", "bench.plot", "bench.history", "bench.merge",
                   "bench.ladder", "bench.callgrind_worker"):
        assert callable(importlib.import_module(module).main)
    assert (ROOT / "bench" / "worker.py").is_file()  # bench.ab checks for it in the other checkout


def _worktree(tmp_path, commit: str):
    """A git worktree of an older commit (as scripts/ab.sh makes one of a pull request's base)."""
    if shutil.which("git") is None or subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"],
                                                     cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history")
    tree = tmp_path / f"old-{commit}"
    subprocess.run(["git", "worktree", "add", "--quiet", "--detach", str(tree), commit], cwd=ROOT, check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


@pytest.fixture
def old_checkout(tmp_path):
    """A worktree of the commit before the layers."""
    yield from _worktree(tmp_path, BEFORE_LAYERS)


@pytest.mark.slow
def test_an_ab_run_against_the_checkout_before_the_layers(tmp_path, old_checkout):
    """The new runner drives the old layout's workers (a pull request's base) and compares the two sides."""
    from bench.format import load_run

    old = old_checkout
    out = tmp_path / "ab"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--baseline-tree", str(old), "--out", str(out), "--devices", "cpu",
         "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "32", "--hidden-sizes", "16", "--n-train", "512",
         "--n-test", "16", "--epochs", "3", "--repeats", "3", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    base, cand = load_run(out / "baseline"), load_run(out / "candidate")
    assert base.meta["git"]["commit"].startswith(BEFORE_LAYERS)
    assert list(base.summary["status"]) == list(cand.summary["status"]) == ["ok"]
    # the same arithmetic in both checkouts: the same losses, repeat by repeat
    assert list(base.repeats["test_loss"]) == list(cand.repeats["test_loss"])
    assert "paired A/B repeats" in proc.stdout
