"""The Ray executor's error paths on a real local cluster (ray.cluster_utils.Cluster): a head that offers no
measuring slot (so the driver outlives every measuring node) and slot nodes added and killed per test. Each path
ends in the trial's recorded `error` with its reason, and no row measured before a loss is dropped:

- the retried trial's second node dies too: "lost again after a retry";
- the only node dies: the trial in flight has "no other node of machine M to retry on", the trials that had
  repeats there "its repeats ran on machine M, and no live node of the cluster is that machine", the trials
  never started "no live node left to run it".
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engine.cluster import SLOT
from bench.format import load_run

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.serial, pytest.mark.slow]
BASE = ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32", "--hidden-sizes", "32", "--n-train", "32768",
        "--n-test", "16", "--epochs", "3", "--peak-n", "0", "--no-plots", "--quiet", "--trial-budget", "1000"]


@pytest.fixture(scope="module")
def head():
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    c.wait_for_nodes()
    yield c
    c.shutdown()


def add(cluster):
    node = cluster.add_node(num_cpus=1, num_gpus=0, resources={SLOT: 1})
    cluster.wait_for_nodes()
    return node


def start(cluster, run_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench.run", *BASE, *args, "--executor", "ray", "--ray-address",
                             cluster.address, "--out", str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def rows_on(run_dir: Path, node_id: str) -> list[str]:
    """repeats.csv lines measured on a node (its key ends in /<first 8 digits of its id>)."""
    path = run_dir / "repeats.csv"
    return [line for line in path.read_text().splitlines() if f"/{node_id[:8]}," in line] if path.exists() else []


def wait(predicate, proc: subprocess.Popen, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while not (found := predicate()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    return found


def test_a_retried_trial_lost_again_is_an_error_with_its_rows_kept(head, tmp_path):
    a, b = add(head), add(head)
    run_dir = tmp_path / "run"
    proc = start(head, run_dir, "--batch-sizes", "64", "--repeats", "30")  # one trial: its node is the busy one
    first = wait(lambda: [n for n in (a, b) if rows_on(run_dir, n.node_id)], proc)[0]
    (second,) = [n for n in (a, b) if n is not first]
    head.remove_node(first, allow_graceful=False)
    wait(lambda: rows_on(run_dir, second.node_id), proc)  # the retry runs there now
    head.remove_node(second, allow_graceful=False)
    out, err = proc.communicate(timeout=200)
    assert proc.returncode == 1, err[-3000:]  # a trial ended in error
    run = load_run(run_dir)
    (row,) = run.summary.to_dict("records")
    key = {n: next(k for k in run.meta["executor"]["nodes"] if k.endswith("/" + n.node_id[:8])) for n in (a, b)}
    assert row["status"] == "error" and row["reason"].startswith(f"node {key[second]} lost during repeat ")
    assert row["reason"].endswith("; lost again after a retry")
    nodes = list(run.repeats["node"])
    assert nodes[0] == key[first] and key[second] in nodes and set(nodes) == {key[first], key[second]}
    assert list(run.repeats["repeat"]) == list(range(len(nodes)))  # every repeat measured before the losses


def test_the_only_node_lost_ends_every_trial_with_its_own_reason(head, tmp_path):
    node = add(head)
    run_dir = tmp_path / "run"
    proc = start(head, run_dir, "--batch-sizes", "16,32,64,128,256,512,1024,2048", "--repeats", "10")
    wait(lambda: rows_on(run_dir, node.node_id), proc)
    head.remove_node(node, allow_graceful=False)
    out, err = proc.communicate(timeout=200)
    assert proc.returncode == 1, err[-3000:]
    run = load_run(run_dir)
    (machine,) = run.meta["machines"]
    (key,) = run.meta["executor"]["nodes"]
    had_rows = set(run.repeats["config_id"])
    reasons = {r["config_id"]: r["reason"] for r in run.summary.to_dict("records")}
    assert set(run.summary["status"]) == {"error"}
    in_flight = [c for c, why in reasons.items() if why.startswith(f"node {key} lost during repeat ")]
    assert len(in_flight) == 1
    assert reasons[in_flight[0]].endswith(f"; no other node of machine {machine} to retry on")
    for cid, why in reasons.items():
        if cid in in_flight:
            continue
        if cid in had_rows:
            assert why == (f"its repeats ran on machine {machine}, and no live node of the cluster is that "
                           "machine (nodes: none left)")
        else:
            assert why == "no live node left to run it (nodes: none left)"
    assert had_rows - set(in_flight) and set(reasons) - had_rows  # both refusals were exercised
