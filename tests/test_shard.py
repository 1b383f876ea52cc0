"""Shards for batch schedulers: `bench.run --shard K/N` and `bench.merge`, against an unsharded run."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.format import load_run
from bench.format.spec import SpecError, build_spec, parse_shard, shard_trials, trials

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["--devices", "cpu", "--modes", "numpy", "--dtypes", "float32,float64", "--batch-sizes", "16,64",
         "--hidden-sizes", "8,32", "--n-train", "256", "--n-test", "16", "--epochs", "3", "--repeats", "2",
         "--peak-n", "0", "--no-plots", "--quiet"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, timeout=280)


def _digest(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_shards_partition_the_matrix():
    all_trials = trials(build_spec({"devices": "cpu,gpu", "modes": "eager,graph,numpy"}))
    for n in (1, 2, 3, 7, len(all_trials) + 2):
        parts = [shard_trials(all_trials, {"index": k, "count": n}) for k in range(1, n + 1)]
        ids = [t.config_id for part in parts for t in part]
        assert sorted(ids) == sorted(t.config_id for t in all_trials) and len(ids) == len(set(ids))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
    assert parse_shard(" 2 / 5 ") == {"index": 2, "count": 5}
    for bad in ("0/3", "4/3", "3", "a/b", "-1/2", ""):
        with pytest.raises(SpecError, match="shard"):
            parse_shard(bad)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    base = tmp_path_factory.mktemp("shards")
    for k in (1, 2, 3):
        proc = _run("bench.run", *SWEEP, "--shard", f"{k}/3", "--out", str(base / f"s{k}"))
        assert proc.returncode == 0, proc.stderr[-2000:]
    whole = _run("bench.run", *SWEEP, "--out", str(base / "whole"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    return base


@pytest.mark.slow
def test_shard_and_merge_equal_an_unsharded_run(shards, tmp_path):
    inputs = [shards / f"s{k}" for k in (3, 1, 2)]  # any order
    before = {p: _digest(p) for p in inputs}
    proc = _run("bench.merge", str(tmp_path / "merged"), *map(str, inputs))
    assert proc.returncode == 0, proc.stderr
    assert all(_digest(p) == before[p] for p in inputs)  # inputs never written
    merged, whole = load_run(tmp_path / "merged"), load_run(shards / "whole")
    cols = ["config_id", "status", "repeats", "n"]
    assert (merged.summary[cols].sort_values("config_id").values.tolist()
            == whole.summary[cols].sort_values("config_id").values.tolist())
    assert len(merged.summary) == 8 and set(merged.summary["run_id"]) == {"merged"}
    meta = json.loads((tmp_path / "merged" / "meta.json").read_text())
    assert "shard" not in meta and meta["finished_at"] and meta["spec"] == whole.meta["spec"]
    assert sorted(m["shard"]["index"] for m in meta["merged_from"]) == [1, 2, 3]
    for k in (1, 2, 3):  # each shard measured only its share
        assert len(load_run(shards / f"s{k}").summary) in (2, 3)
    # value by value: NumPy training is deterministic, so every loss of every repeat and epoch is the
    # unsharded run's (only the times differ); every raw row of a committed repeat is there
    key = ["config_id", "repeat"]
    for frame in ("repeats", "raw"):
        a = getattr(merged, frame).sort_values(key + (["epoch"] if frame == "raw" else [])).reset_index(drop=True)
        b = getattr(whole, frame).sort_values(key + (["epoch"] if frame == "raw" else [])).reset_index(drop=True)
        cols = ["config_id", "repeat", "train_loss"] + (["test_loss", "seed", "status", "device_actual", "epochs"]
                                                       if frame == "repeats" else ["epoch", "is_warmup"])
        assert a[cols].values.tolist() == b[cols].values.tolist(), frame
    assert merged.summary.sort_values("config_id")["test_loss_median"].tolist() == \
        whole.summary.sort_values("config_id")["test_loss_median"].tolist()


@pytest.mark.slow
def test_merge_refuses_what_is_not_one_sweep(shards, tmp_path):
    s = [str(shards / f"s{k}") for k in (1, 2, 3)]
    other = tmp_path / "other"
    assert _run("bench.run", *SWEEP[:-6], "--epochs", "4", *SWEEP[-6:], "--shard", "3/3",
                "--out", str(other)).returncode == 0
    out = str(tmp_path / "m")
    for args, message in (
        ([s[0], s[1]], "shards 3/3 missing"),
        ([s[0], s[1], s[1], s[2]], "shard 2/3 again"),
        ([s[0], s[1], str(other)], "a different sweep: spec.epochs"),
        ([s[0], s[1], s[2], str(shards / "whole")], "not a shard"),
        ([s[0], str(tmp_path / "nowhere")], "no such directory"),
    ):
        proc = _run("bench.merge", out, *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert not Path(out).exists()
    proc = _run("bench.merge", s[0], s[0], s[1], s[2])
    assert proc.returncode == 2 and "never overwrites" in proc.stderr


@pytest.mark.slow
def test_a_shard_resumes_as_itself(shards):
    proc = _run("bench.run", "--resume", str(shards / "s2"), "--shard", "1/3")
    assert proc.returncode == 2 and "drop --shard" in proc.stderr
    before = load_run(shards / "s2").summary["config_id"].tolist()
    proc = _run("bench.run", "--resume", str(shards / "s2"), "--no-plots", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_run(shards / "s2").summary["config_id"].tolist() == before  # nothing else measured


def test_a_bad_shard_in_meta_is_refused(tmp_path):
    from tests.synthetic import make_run

    run = make_run(tmp_path / "r", devices="cpu")
    meta = json.loads((run / "meta.json").read_text())
    for bad in ({"index": 0, "count": 2}, {"index": 3, "count": 2}, {"index": "1", "count": 2}, {"k": 1}):
        (run / "meta.json").write_text(json.dumps({**meta, "shard": bad}))
        proc = _run("bench.store", "check", str(run))
        assert proc.returncode == 2 and "shard" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # a valid shard of a full run: its rows are not all in that shard's share
    (run / "meta.json").write_text(json.dumps({**meta, "shard": {"index": 1, "count": 2}}))
    proc = _run("bench.store", "check", str(run))
    assert proc.returncode == 2 and "not in the run's matrix" in proc.stderr


@pytest.mark.slow
def test_epochs_of_a_repeat_cut_short_are_not_carried_into_the_merge(shards, tmp_path):
    import shutil

    s1 = tmp_path / "s1"
    shutil.copytree(shards / "s1", s1)
    first = (s1 / "raw.csv").read_text().splitlines()[1].split(",")
    cid, machine = first[0], first[1]
    with open(s1 / "raw.csv", "a") as fh:  # epoch 0 of a repeat 7 whose repeats.csv row never came (a kill)
        fh.write(f"{cid},{machine},7,0,1,0.5,1.0\n")
    assert any("left out" in w for w in load_run(s1).warnings)
    proc = _run("bench.merge", str(tmp_path / "m"), str(s1), str(shards / "s2"), str(shards / "s3"))
    assert proc.returncode == 0, proc.stderr
    merged = load_run(tmp_path / "m")
    assert not merged.warnings and not ((merged.raw["config_id"] == cid) & (merged.raw["repeat"] == 7)).any()


@pytest.mark.slow
def test_merge_keeps_each_shards_machine(shards, tmp_path):
    """Shard 3 measured on another machine (its rows and meta.json say so): merged, every row keeps its
    machine, meta.json has both, and the table names them."""
    import shutil

    from bench.analysis.report import report

    copies = []
    for k in (1, 2, 3):
        shutil.copytree(shards / f"s{k}", tmp_path / f"s{k}")
        copies.append(str(tmp_path / f"s{k}"))
    s3 = tmp_path / "s3"
    meta = json.loads((s3 / "meta.json").read_text())
    ((here, facts),) = meta["machines"].items()
    meta["machines"] = {"0beefed0": {**facts, "cpu_model": "Other CPU", "gpus": ["NVIDIA H100"]}}
    (s3 / "meta.json").write_text(json.dumps(meta))
    for name in ("raw.csv", "repeats.csv", "summary.csv"):
        (s3 / name).write_text((s3 / name).read_text().replace(f",{here},", ",0beefed0,"))
    proc = _run("bench.merge", str(tmp_path / "m"), *copies)
    assert proc.returncode == 0, proc.stderr
    merged = load_run(tmp_path / "m")
    on_other = set(load_run(s3).summary["config_id"])
    for frame in (merged.summary, merged.repeats, merged.raw):
        assert (frame["machine"] == frame["config_id"].map(lambda c: "0beefed0" if c in on_other else here)).all()
    assert set(merged.meta["machines"]) == {here, "0beefed0"}
    assert merged.machines["0beefed0"] == "Other x" + str(facts["cpu_cores"]) + ", NVIDIA H100"
    assert "2 machines" in merged.label and "CPU machine" in report(merged)
