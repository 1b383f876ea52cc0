"""The history on a data branch: `python -m bench.history publish` and `recorded`.

The CI history job keeps history.csv on the branch beside github-action-benchmark's dashboard (gh-pages), never
on main: main stays small and may be protected. Publishing is

- idempotent: a commit already in the branch's history adds nothing (a re-run of the job for the same commit);
- safe under concurrent pushes: each attempt starts from a fresh fetch of the branch, appends in a detached
  worktree outside the work tree, commits and pushes without force; a push rejected because the branch moved
  is retried from a new fetch (with a growing, jittered pause), up to `attempts` times;
- blind to the work tree: nothing in the checkout is modified, so the action's own `git switch` still works.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bench.analysis.history import append
from bench.engine import checkout
from bench.format import load_run
from bench.format.errors import InputError
from bench.format.history import PAGES_ATTEMPTS, PAGES_BRANCH, PAGES_DASHBOARD, PAGES_PATH, PAGES_REMOTE, read_history
from bench.format.io import read_text

DATA_JS_PREFIX = "window.BENCHMARK_DATA = "  # what the action writes before the JSON
BOT = ("eager-mlp-bench", "eager-mlp-bench@users.noreply.github.com")  # commit identity when git has none


class PublishError(InputError):
    """Publishing failed: names what and why (exit 2, no traceback)."""


@dataclass(frozen=True)
class Published:
    """What a publish did."""

    commit: str  # the run's commit
    added: int  # history rows added (0: the commit was already there)
    attempts: int  # pushes tried
    branch_commit: str  # the data branch's commit after publishing


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("git") is None:
        raise PublishError("git: not installed")
    if not Path(repo).is_dir():
        raise PublishError(f"repo: {str(repo)!r}: not a folder")
    done = checkout.git(repo, *args)
    if check and done.returncode != 0:
        raise PublishError(f"git {' '.join(args)}: {(done.stderr or done.stdout).strip()[-400:]}")
    return done


def _tracking(remote: str, branch: str) -> str:
    return f"refs/remotes/{remote}/{branch}"


def fetch(repo: Path, remote: str, branch: str) -> str:
    """Fetch the data branch into its remote-tracking ref; its commit. PublishError when the remote lacks it."""
    done = _git(repo, "fetch", "--quiet", remote, f"+refs/heads/{branch}:{_tracking(remote, branch)}", check=False)
    if done.returncode != 0:
        if "couldn't find remote ref" in done.stderr:
            raise PublishError(f"--branch: {branch!r}: {remote!r} has no such branch; create it once as "
                               "docs/workflow.md shows")
        raise PublishError(f"--remote: {remote!r}: cannot fetch {branch!r} from it: {done.stderr.strip()[-300:]}")
    return _git(repo, "rev-parse", _tracking(remote, branch)).stdout.strip()


def _show(repo: Path, ref: str, path: str) -> str | None:
    done = _git(repo, "show", f"{ref}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None


def history_commits(text: str | None) -> set[str]:
    """The commits a history.csv's text holds (its rows read and checked as any history)."""
    if text is None:
        return set()
    with tempfile.TemporaryDirectory(prefix="emb-history-") as d:
        path = Path(d) / "history.csv"
        path.write_text(text)
        return {r["commit"] for r in read_history(path) if r["commit"]}


def dashboard_commits(text: str | None, name: str) -> set[str]:
    """The commits github-action-benchmark's data.js holds for the benchmark set `name`."""
    if text is None:
        return set()
    if not text.startswith(DATA_JS_PREFIX):
        raise PublishError(f"--dashboard: does not start with {DATA_JS_PREFIX!r}: not the action's data.js")
    try:
        data = json.loads(text[len(DATA_JS_PREFIX):])
        return {e["commit"]["id"] for e in data.get("entries", {}).get(name, [])}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PublishError(f"--dashboard: unreadable data.js ({e})") from None


def recorded(commit: str, *, repo: Path = Path("."), remote: str = PAGES_REMOTE, branch: str = PAGES_BRANCH,
             path: str = PAGES_PATH, dashboard: str = PAGES_DASHBOARD, name: str | None = None) -> dict[str, bool]:
    """Whether the data branch (freshly fetched) already holds `commit` in the history and, given the benchmark set's
    `name`, in the dashboard's data.js."""
    full = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False).stdout.strip()
    commit = full or commit
    fetch(repo, remote, branch)
    ref = _tracking(remote, branch)
    out = {"history": commit in history_commits(_show(repo, ref, path))}
    if name is not None:
        out["dashboard"] = commit in dashboard_commits(_show(repo, ref, dashboard), name)
    return out


@contextlib.contextmanager
def _worktree(repo: Path, commit: str) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="emb-pages-"))
    tree = parent / "pages"
    try:
        _git(repo, "worktree", "add", "--quiet", "--detach", str(tree), commit)
        yield tree
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)


def _identity(repo: Path) -> list[str]:
    have = _git(repo, "config", "user.email", check=False).stdout.strip()
    return [] if have else ["-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}"]


def _rejected(stderr: str) -> bool:
    """A push refused because the branch moved meanwhile (another job pushed first): worth a fresh fetch and
    another try. A hook, a branch rule or a missing permission refuses every try alike: not this."""
    if "(fetch first)" in stderr or "(non-fast-forward)" in stderr:
        return True
    return "[remote rejected]" in stderr and any(
        s in stderr for s in ("cannot lock ref", "failed to update ref", "incorrect old value"))


def publish(run_dir: Path, *, repo: Path = Path("."), remote: str = PAGES_REMOTE, branch: str = PAGES_BRANCH,
            path: str = PAGES_PATH, attempts: int = PAGES_ATTEMPTS, pause_s: float = 1.0,
            on_attempt: Callable[[int], None] | None = None) -> Published:
    """Append the run's ok trials to the data branch's history and push it; see the module's text."""
    if attempts < 1:
        raise PublishError(f"--attempts: {attempts}: must be at least 1")
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.name:
        raise PublishError(f"--path: {path!r}: must be a file path inside the branch")
    run = load_run(run_dir)
    git = run.meta.get("git") or {}
    commit = git.get("commit") or ""
    if not commit:
        raise PublishError(f"run_dir: {str(run_dir)!r}: the run names no git commit (not measured in a checkout)")
    if git.get("dirty"):
        raise PublishError(f"run_dir: {str(run_dir)!r}: measured on a modified work tree of {commit[:10]}; "
                           "only a committed tree's run goes into the published history")
    run_dir = Path(run_dir).resolve()
    for attempt in range(1, attempts + 1):
        if on_attempt is not None:
            on_attempt(attempt)
        head = fetch(repo, remote, branch)
        with _worktree(repo, head) as tree:
            target = tree / rel
            if commit in history_commits(read_text(target) if target.exists() else None):
                return Published(commit, 0, attempt - 1, head)
            target.parent.mkdir(parents=True, exist_ok=True)
            added = append(run_dir, target)
            _git(tree, "add", str(rel))
            _git(tree, *_identity(repo), "commit", "--quiet", "-m",
                 f"history: {commit[:12]} ({added} rows, run {run.meta['run_id']})")
            pushed = _git(tree, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
            if pushed.returncode == 0:
                return Published(commit, added, attempt, _git(tree, "rev-parse", "HEAD").stdout.strip())
            if not _rejected(pushed.stderr):
                raise PublishError(f"--branch: {branch!r}: push to {remote!r} failed: {pushed.stderr.strip()[-400:]}")
        if attempt < attempts:
            time.sleep(pause_s * attempt * (0.5 + random.random()))  # another job pushed first: fetch again
    raise PublishError(f"--branch: {branch!r}: {attempts} pushes to {remote!r} were all rejected "
                       "(the branch kept moving); run the job again")
