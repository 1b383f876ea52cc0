"""The Ray executor (bench.cluster): placement rules by hand, and real sweeps on a local Ray cluster of
two nodes bound to 127.0.0.1 (ray.cluster_utils.Cluster): the same files, columns and statuses as a
local run plus the machine and node of every row; a node killed mid-sweep; a killed driver resumed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engine.cluster import SLOT, assign
from bench.engine.executor import Lane
from bench.format import load_run

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.serial  # see pyproject.toml's markers
BASE = ["--devices", "cpu,gpu", "--modes", "numpy", "--dtypes", "float32,float64-cast", "--batch-sizes", "16,64",
        "--hidden-sizes", "8,32", "--n-train", "512", "--n-test", "16", "--epochs", "3", "--peak-n", "0", "--no-plots",
        "--quiet"]
SWEEP = [*BASE, "--min-repeats", "2", "--max-repeats", "2"]
LONG = [*BASE, "--repeats", "6", "--trial-budget", "1000"]  # long enough to kill mid-way


def _nodes(*spec: tuple[str, str, int]) -> list[Lane]:
    return [Lane(key=key, machine=machine, node=key, gpus=gpus) for key, machine, gpus in spec]


def test_placement_rules():
    laptop_and_gpu_box = _nodes(("laptop", "aaaaaaaa", 0), ("box", "bbbbbbbb", 1))
    assert assign("gpu", laptop_and_gpu_box, {}).key == "box"
    assert assign("cpu", laptop_and_gpu_box, {}).key == "laptop"  # the CPU you care about, not the GPU box's
    gpu_nodes = _nodes(("g1", "bbbbbbbb", 1), ("g2", "bbbbbbbb", 1))
    assert assign("cpu", gpu_nodes, {"g1": 3, "g2": 1}).key == "g2"  # no CPU-only node: any, least loaded
    assert assign("gpu", _nodes(("c1", "aaaaaaaa", 0)), {}) is None  # skipped by the caller, with the reason
    # a trial with repeats stays on its machine, whatever its device
    assert assign("cpu", laptop_and_gpu_box, {}, machine="bbbbbbbb").key == "box"
    assert assign("cpu", laptop_and_gpu_box, {}, machine="cccccccc") is None
    laptop_and_gpu_box[0].alive = False
    assert assign("cpu", laptop_and_gpu_box, {}).key == "box"  # the only live node


def test_executor_flags_are_checked_before_anything_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--ray-address", "127.0.0.1:1", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "ray-address" in proc.stderr and "--executor ray" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_ray_the_executor_says_what_to_install(tmp_path):
    fake = tmp_path / "no-ray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake}:{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "bench.run", *SWEEP, "--executor", "ray", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "executor: ray: the Ray executor needs Ray: pip install 'eager-mlp-bench[cluster]'" in proc.stderr


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # (the machine's own address: a driver given 127.0.0.1 swaps in the node's IP, where nothing would listen)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "resources": {SLOT: 1},
                                                       "include_dashboard": False})
    c.add_node(num_cpus=1, num_gpus=0, resources={SLOT: 1})  # no GPU even where one is visible
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.run", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=280, **kw)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench.run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_for_rows(run_dir: Path, n: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        path = run_dir / "repeats.csv"
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} repeats after {timeout_s} s")


@pytest.mark.slow
def test_a_two_node_sweep_matches_a_local_run(cluster, tmp_path):
    ray_run = _run(*SWEEP, "--executor", "ray", "--ray-address", cluster.address, "--out", str(tmp_path / "ray"))
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]
    local = _run(*SWEEP, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr[-3000:]
    a, b = load_run(tmp_path / "ray"), load_run(tmp_path / "local")
    files = lambda d: sorted(p.name for p in d.iterdir() if p.suffix != ".log")  # noqa: E731 (worker logs: on the nodes)
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    for name in ("summary", "repeats", "raw"):
        assert list(getattr(a, name).columns) == list(getattr(b, name).columns), name
    key = ["config_id", "status", "repeats", "n"]
    assert a.summary[key].sort_values("config_id").reset_index(drop=True).equals(
        b.summary[key].sort_values("config_id").reset_index(drop=True))
    gpu = a.summary[a.summary["device"] == "gpu"]
    assert (gpu["status"] == "skipped").all()
    assert gpu["reason"].str.contains("no node of the Ray cluster has a GPU").all()
    # the same machine (one fingerprint), two nodes, each trial's repeats on one node
    nodes = a.meta["executor"]["nodes"]
    assert a.meta["executor"]["kind"] == "ray" and len(nodes) == 2 and len(set(nodes.values())) == 1
    assert set(a.repeats["machine"]) == set(nodes.values()) == set(a.meta["machines"])
    assert set(a.repeats["node"]) == set(nodes)  # both nodes measured
    assert (a.repeats.groupby("config_id")["node"].nunique() == 1).all()
    # the same training: identical losses to the local run's, repeat by repeat
    merged = a.repeats.merge(b.repeats, on=["config_id", "repeat"])
    assert len(merged) == len(a.repeats) and (merged["train_loss_x"] == merged["train_loss_y"]).all()


@pytest.mark.slow
def test_a_killed_driver_is_resumed_on_the_cluster(cluster, tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(*LONG, "--executor", "ray", "--ray-address", cluster.address, "--out", str(run_dir))
    _wait_for_rows(run_dir, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(load_run(run_dir).repeats)
    assert before >= 3 and not load_run(run_dir).meta["finished_at"]
    resumed = _run("--resume", str(run_dir), "--executor", "ray", "--ray-address", cluster.address, "--quiet",
                   "--no-plots")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = load_run(run_dir)
    assert run.meta["finished_at"] and len(run.meta["resumed_at"]) == 1
    cpu = run.summary[run.summary["device"] == "cpu"]
    assert (cpu["status"] == "ok").all() and (cpu["repeats"] == 6).all()
    assert len(run.repeats) == 6 * len(cpu) >= before


@pytest.mark.slow
def test_a_node_lost_mid_sweep_costs_at_most_its_trial(cluster, tmp_path):
    extra = cluster.add_node(num_cpus=1, resources={SLOT: 1})
    cluster.wait_for_nodes()
    run_dir = tmp_path / "run"
    many = [*BASE, "--repeats", "20", "--trial-budget", "1000"]
    proc = _start(*many, "--executor", "ray", "--ray-address", cluster.address, "--out", str(run_dir))
    # kill the node right after its first repeat: its trials (20 repeats each) are then surely unfinished
    mark = "/" + extra.node_id[:8] + ","
    deadline = time.monotonic() + 120
    while not ((run_dir / "repeats.csv").exists() and mark in (run_dir / "repeats.csv").read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    cluster.remove_node(extra, allow_graceful=False)
    out, err = proc.communicate(timeout=280)
    assert proc.returncode == 0, err[-3000:]
    run = load_run(run_dir)
    assert run.meta["finished_at"] and len(run.meta["executor"]["nodes"]) == 3
    cpu = run.summary[run.summary["device"] == "cpu"]
    # every node is the same machine, so the trial lost with the node went on on another one: nothing lost
    assert (cpu["status"] == "ok").all() and (cpu["repeats"] == 20).all(), cpu[["config_id", "status", "reason"]]
    assert (run.repeats.groupby("config_id")["machine"].nunique() == 1).all()
    lost = next(k for k in run.meta["executor"]["nodes"] if k.endswith("/" + extra.node_id[:8]))
    nodes_of = {cid: set(g) for cid, g in run.repeats.groupby("config_id")["node"]}
    moved = [cid for cid, nodes in nodes_of.items() if lost in nodes]
    assert any(len(nodes_of[cid]) == 2 for cid in moved)  # measured there, finished on another node
    assert all(len(nodes) == 1 for cid, nodes in nodes_of.items() if cid not in moved)


@pytest.mark.slow
def test_the_readme_local_cluster_command(tmp_path):
    """scripts/local_cluster.py: a two-node cluster here, the sweep through it, the cluster stopped."""
    proc = subprocess.run([sys.executable, "scripts/local_cluster.py", "--nodes", "2", "--", *SWEEP, "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(tmp_path / "run")
    assert len(run.meta["executor"]["nodes"]) == 2 and run.meta["finished_at"]
    assert "local Ray cluster of 2 nodes" in proc.stderr
