"""The history on a data branch (bench.history publish / recorded) against a real local bare origin: idempotent
for a commit, retried when another job pushed first (a real rejected push), concurrent publishers both land, the
work tree never touched, bad input exit 2 with the field named."""

import json
import subprocess
import threading
from pathlib import Path

import pytest

from bench.analysis import publish as pub
from bench.cli.history import main
from bench.format.history import read_history
from tests.synthetic import make_run

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
ROWS = 48  # ok trials of a CPU-only synthetic run


def git(cwd, *args) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def sha(i: int) -> str:
    return f"{i:x}" * 40


@pytest.fixture
def origin(tmp_path) -> Path:
    """A bare origin with main and the empty gh-pages of the one-time set-up (docs/workflow.md)."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "README").write_text("x\n")
    git(seed, "add", "README")
    git(seed, "commit", "--quiet", "-m", "main")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    git(seed, "switch", "--quiet", "--orphan", "gh-pages")
    git(seed, "commit", "--quiet", "--allow-empty", "-m", "benchmark data")
    git(seed, "push", "--quiet", "origin", "gh-pages")
    return bare


def clone(origin: Path, where: Path) -> Path:
    git(origin.parent, "clone", "--quiet", str(origin), str(where))
    return where


def published(origin: Path, path: str = "history/history.csv") -> list[dict]:
    text = subprocess.run(["git", "show", f"gh-pages:{path}"], cwd=origin, capture_output=True, text=True)
    if text.returncode:
        return []
    f = origin.parent / "published.csv"
    f.write_text(text.stdout)
    return read_history(f)


def test_publish_is_idempotent_per_commit_and_leaves_the_work_tree_alone(tmp_path, origin, capsys, monkeypatch):
    work = clone(origin, tmp_path / "work")
    (work / "untracked.txt").write_text("mine\n")
    run1 = make_run(tmp_path / "run-a", devices="cpu", commit=sha(1))
    done = pub.publish(run1, repo=work)
    assert (done.added, done.attempts, done.commit) == (ROWS, 1, sha(1))
    rows = published(origin)
    assert len(rows) == ROWS and {r["commit"] for r in rows} == {sha(1)}
    assert git(origin, "rev-parse", "gh-pages") == done.branch_commit
    # the re-run of the job: the same run, and a new measurement of the same commit, add nothing
    again = pub.publish(run1, repo=work)
    rerun = pub.publish(make_run(tmp_path / "run-a-rerun", devices="cpu", commit=sha(1)), repo=work)
    assert again.added == rerun.added == 0 and git(origin, "rev-parse", "gh-pages") == done.branch_commit
    assert len(published(origin)) == ROWS
    # nothing in the checkout changed: branch, index, files; no worktree left registered
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(work, "status", "--porcelain") == "?? untracked.txt"
    assert len(git(work, "worktree", "list").splitlines()) == 1
    # the CLI, run in the checkout as the CI job does: what it did in words, exit 0
    monkeypatch.chdir(work)
    run2 = make_run(tmp_path / "run-b", devices="cpu", commit=sha(2))
    assert main(["publish", str(run2)]) == 0
    said = capsys.readouterr().out
    assert f"origin/gh-pages:history/history.csv: {ROWS} rows of {sha(2)[:12]} added (push 1)" in said
    assert main(["publish", str(run2)]) == 0
    assert f"{sha(2)[:12]} is already in the history; nothing added" in capsys.readouterr().out
    assert main(["recorded", sha(2)]) == 0 and capsys.readouterr().out == "history=true\n"
    assert len(published(origin)) == 2 * ROWS
    assert pub.recorded(sha(2), repo=work) == {"history": True}
    assert pub.recorded(sha(3), repo=work) == {"history": False}


def test_a_push_rejected_because_another_job_pushed_first_is_retried_from_a_fresh_fetch(tmp_path, origin,
                                                                                           monkeypatch):
    work = clone(origin, tmp_path / "work")
    rival = clone(origin, tmp_path / "rival")
    rival_run = make_run(tmp_path / "run-rival", devices="cpu", commit=sha(7))
    real_append = pub.append
    calls = []

    def append_then_rival_pushes(run_dir, target):
        if Path(run_dir).name == "run-rival":
            return real_append(run_dir, target)
        calls.append(Path(target).exists())
        if len(calls) == 1:  # between this job's fetch and its push, the other job lands
            assert pub.publish(rival_run, repo=rival).added == ROWS
        return real_append(run_dir, target)

    monkeypatch.setattr(pub, "append", append_then_rival_pushes)
    done = pub.publish(make_run(tmp_path / "run-mine", devices="cpu", commit=sha(8)), repo=work, pause_s=0)
    assert done.attempts == 2 and done.added == ROWS
    assert calls == [False, True]  # the second attempt started from the branch that holds the rival's rows
    rows = published(origin)
    assert len(rows) == 2 * ROWS and [r["commit"] for r in rows[:: ROWS]] == [sha(7), sha(8)]


def test_a_branch_that_keeps_moving_gives_up_with_the_reason(tmp_path, origin, monkeypatch):
    work = clone(origin, tmp_path / "work")
    rival = clone(origin, tmp_path / "rival")
    real_append = pub.append
    rivals = iter((10, 11, 12))  # commits a..., b..., c...

    def always_beaten(run_dir, target):
        i = next(rivals)
        other = make_run(tmp_path / f"rival-{i}", devices="cpu", commit=sha(i))
        monkeypatch.setattr(pub, "append", real_append)
        try:
            pub.publish(other, repo=rival)
        finally:
            monkeypatch.setattr(pub, "append", always_beaten)
        return real_append(run_dir, target)

    monkeypatch.setattr(pub, "append", always_beaten)
    with pytest.raises(pub.PublishError, match="3 pushes to 'origin' were all rejected"):
        pub.publish(make_run(tmp_path / "mine", devices="cpu", commit=sha(9)), repo=work, attempts=3, pause_s=0)
    assert {r["commit"] for r in published(origin)} == {sha(10), sha(11), sha(12)}  # the rivals', not mine


def test_concurrent_publishers_both_land(tmp_path, origin):
    """Two jobs publishing at once from their own checkouts: the loser of each race retries; nothing is lost."""
    jobs = [(clone(origin, tmp_path / f"w{i}"), make_run(tmp_path / f"run{i}", devices="cpu", commit=sha(i)))
            for i in (3, 4, 5)]
    errors = []

    def job(repo, run):
        try:
            pub.publish(run, repo=repo, pause_s=0.05)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=job, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = published(origin)
    assert len(rows) == 3 * ROWS and {r["commit"] for r in rows} == {sha(3), sha(4), sha(5)}
    assert len(git(origin, "rev-list", "gh-pages").splitlines()) == 4  # the set-up commit + one per job


def test_recorded_reads_the_actions_data_js(tmp_path, origin):
    work = clone(origin, tmp_path / "work")
    git(work, "switch", "--quiet", "gh-pages")
    data = {"lastUpdate": 1, "repoUrl": "", "entries": {"CI matrix": [{"commit": {"id": sha(5)}, "benches": []}]}}
    (work / "dev" / "bench").mkdir(parents=True)
    (work / "dev" / "bench" / "data.js").write_text(pub.DATA_JS_PREFIX + json.dumps(data))
    git(work, "add", "dev")
    git(work, "commit", "--quiet", "-m", "data")
    git(work, "push", "--quiet", "origin", "gh-pages")
    assert pub.recorded(sha(5), repo=work, name="CI matrix") == {"history": False, "dashboard": True}
    assert pub.recorded(sha(5), repo=work, name="another set") == {"history": False, "dashboard": False}
    assert pub.recorded(sha(6), repo=work, name="CI matrix") == {"history": False, "dashboard": False}
    (work / "dev" / "bench" / "data.js").write_text("var x = 1")
    git(work, "commit", "--quiet", "-am", "broken")
    git(work, "push", "--quiet", "origin", "gh-pages")
    with pytest.raises(pub.PublishError, match="not the action's data.js"):
        pub.recorded(sha(5), repo=work, name="CI matrix")


@pytest.mark.parametrize("case, message", [
    ("no-branch", "--branch: 'nowhere': 'origin' has no such branch; create it once"),
    ("dirty", "measured on a modified work tree"),
    ("no-commit", "the run names no git commit"),
    ("bad-path", "--path: '../x.csv': must be a file path inside the branch"),
    ("attempts", "--attempts: 0: must be at least 1"),
])
def test_bad_input_is_one_clear_error(tmp_path, origin, case, message, capsys, monkeypatch):
    work = clone(origin, tmp_path / "work")
    run = make_run(tmp_path / "run", devices="cpu", commit="" if case == "no-commit" else sha(1))
    if case == "dirty":
        meta = json.loads((run / "meta.json").read_text())
        meta["git"]["dirty"] = True
        (run / "meta.json").write_text(json.dumps(meta))
    args = {"no-branch": ["--branch", "nowhere"], "bad-path": ["--path", "../x.csv"],
            "attempts": ["--attempts", "0"]}.get(case, [])
    monkeypatch.chdir(work)
    assert main(["publish", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert published(origin) == []
