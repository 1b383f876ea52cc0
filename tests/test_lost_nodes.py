"""What the measuring loop does when a node dies with a repeat in flight (bench.engine.loop), driven through the
fake executor: a retry on another node of the same machine; no such node; lost again after the retry; and
nothing measured before a loss is ever dropped. The executors' own refusals ("no live node left", "its repeats
ran on machine X") with the real executors: tests/test_cluster.py (Ray) and the local resume test below."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engine import loop
from bench.engine.executor import Lane
from bench.format import load_run
from bench.format.spec import build_spec
from tests.fake_executor import FakeExecutor

ROOT = Path(__file__).resolve().parent.parent
SPEC = {"devices": "cpu", "modes": "numpy", "dtypes": "float32", "batch_sizes": "16,32,64", "sizes": "8",
        "n_train": 64, "n_test": 8, "epochs": 3, "min_repeats": 4, "max_repeats": 4, "peak_n": 0}
X = "cpu-numpy-float32-b32-h8-t0"


def lanes(*spec: tuple[str, str]) -> list[Lane]:
    return [Lane(key=key, machine=machine, node=f"node-{key}") for key, machine in spec]


def sweep(tmp_path, executor):
    rows, done = loop.run_sweep(build_spec(SPEC), tmp_path / "run", argv=["test"], executor=executor,
                                progress=False)
    assert done
    return {r["config_id"]: r for r in rows}, load_run(tmp_path / "run")


def once(cid: str, repeat: int, lost: list):
    """Lose whichever lane runs `cid`'s `repeat`, the first time only; its key goes into `lost`."""
    def lose(lane, c, r):
        if c == cid and r == repeat and not lost:
            lost.append(lane.key)
            return True
        return False
    return lose


def test_a_lost_trial_goes_on_on_another_node_of_its_machine(tmp_path):
    lost = []
    fake = FakeExecutor(lanes=lanes(("a", "0000aaaa"), ("b", "0000aaaa")), machines={"0000aaaa": {}},
                        lose_if=once(X, 1, lost))
    rows, run = sweep(tmp_path, fake)
    assert {r["status"] for r in rows.values()} == {"ok"} and rows[X]["repeats"] == 4
    (dead,) = lost
    (other,) = {"a", "b"} - {dead}
    mine = run.repeats[run.repeats["config_id"] == X]
    assert list(mine["repeat"]) == [0, 1, 2, 3] and list(mine["node"]) == [f"node-{dead}"] + [f"node-{other}"] * 3


def test_no_other_node_of_its_machine_ends_the_trial_with_the_reason_and_keeps_its_rows(tmp_path):
    lost = []
    fake = FakeExecutor(lanes=lanes(("a", "0000aaaa"), ("b", "0000bbbb")), machines={"0000aaaa": {}, "0000bbbb": {}},
                        lose_if=once(X, 2, lost))
    rows, run = sweep(tmp_path, fake)
    (dead,) = lost
    machine = {"a": "0000aaaa", "b": "0000bbbb"}[dead]
    assert rows[X]["status"] == "error"
    assert rows[X]["reason"] == (f"node node-{dead} lost during repeat 2 (FakeNodeDied); no other node of machine "
                                 f"{machine} to retry on")
    mine = run.repeats[run.repeats["config_id"] == X]
    assert list(mine["repeat"]) == [0, 1] and set(mine["machine"]) == {machine}  # what it measured stays
    # the dead lane's other trials: started there, so bound to its machine and refused; or moved to the other lane
    for cid, r in rows.items():
        if cid != X:
            assert r["status"] == "ok" or f"no live lane of machine {machine}" in r["reason"], r


def test_lost_again_after_a_retry_is_an_error_not_a_third_try(tmp_path):
    lost = []

    def lose(lane, cid, repeat):  # the node running X's repeat 1 dies; so does the one X's retry runs on
        if cid == X and ((repeat == 1 and not lost) or (repeat == 2 and len(lost) == 1 and lane.key != lost[0])):
            lost.append(lane.key)
            return True
        return False

    fake = FakeExecutor(lanes=lanes(("a", "0000aaaa"), ("b", "0000aaaa"), ("c", "0000aaaa")),
                        machines={"0000aaaa": {}}, lose_if=lose)
    rows, run = sweep(tmp_path, fake)
    first, second = lost
    assert rows[X]["status"] == "error"
    assert rows[X]["reason"] == f"node node-{second} lost during repeat 2 (FakeNodeDied); lost again after a retry"
    mine = run.repeats[run.repeats["config_id"] == X]
    assert list(mine["repeat"]) == [0, 1] and list(mine["node"]) == [f"node-{first}", f"node-{second}"]
    (left,) = {"a", "b", "c"} - {first, second}
    others = [r for cid, r in rows.items() if cid != X]
    assert all(r["status"] == "ok" and r["repeats"] == 4 for r in others)  # the last live node finished them
    assert f"node-{left}" in set(run.repeats["node"])


@pytest.mark.serial
def test_a_run_resumed_on_another_machine_refuses_the_trials_that_started_elsewhere(tmp_path):
    """The local executor's rule: a trial's repeats come from one machine. A killed run whose rows name another
    machine (as a run directory copied from a colleague's laptop would) is resumed here: its started trials end
    `error` with the reason, its untouched trials are measured, no row is lost."""
    run_dir = tmp_path / "run"
    args = ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32", "--batch-sizes", "16,32,64,128",
            "--hidden-sizes", "8", "--n-train", "512", "--n-test", "16", "--epochs", "3", "--peak-n", "0",
            "--repeats", "6", "--workers", "round", "--no-plots", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "bench.run", *args, "--out", str(run_dir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run_dir / "repeats.csv").exists() and len((run_dir / "repeats.csv").read_text().splitlines()) > 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    meta = json.loads((run_dir / "meta.json").read_text())
    (here,) = meta["machines"]
    for name in ("raw.csv", "repeats.csv", "meta.json"):  # the same run, as if measured on machine feedface
        path = run_dir / name
        path.write_text(path.read_text().replace(here, "feedface"))
    started = load_run(run_dir)
    before = started.repeats.copy()
    shutil.copytree(run_dir, tmp_path / "copy")
    done = subprocess.run([sys.executable, "-m", "bench.run", "--resume", str(run_dir), "--quiet", "--no-plots"],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 1, done.stderr[-3000:]  # a trial ended in error: exit 1, the rest measured
    run = load_run(run_dir)
    begun = set(before["config_id"])
    for _, r in run.summary.iterrows():
        if r["config_id"] in begun:
            assert r["status"] == "error" and r["reason"] == (f"its repeats ran on machine feedface; this one is "
                                                              f"{here}: resume it there")
        else:
            assert r["status"] == "ok" and r["repeats"] == 6
    kept = run.repeats[run.repeats["config_id"].isin(begun)]
    assert kept.reset_index(drop=True).equals(before.reset_index(drop=True))  # nothing measured is lost
