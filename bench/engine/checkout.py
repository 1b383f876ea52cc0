"""Checkouts of other commits to measure against: a `git worktree` of a ref, removed afterwards.

The plumbing of `python -m bench.continuous` (the working tree against a ref); a bisection can reuse it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.format.errors import InputError

ROOT = Path(__file__).resolve().parents[2]  # this checkout


def git(repo: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`git ARGS` in `repo`, its output captured as text: the project's one way to call git (each caller decides
    what a failure means). OSError where git cannot start; subprocess.TimeoutExpired past `timeout`."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=timeout)


def resolve(ref: str, repo: Path = ROOT) -> str:
    """The commit a ref names; InputError when git, the repository or the ref is missing."""
    if shutil.which("git") is None:
        raise InputError("ref: git is not installed")
    if not Path(repo).is_dir():
        raise InputError(f"repo: {str(repo)!r}: not a folder")
    if git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise InputError(f"ref: {repo} is not a git checkout")
    found = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise InputError(f"ref: {ref!r}: not a commit of {repo} (git fetch it first?)")
    return found.stdout.strip()


@contextlib.contextmanager
def worktree(ref: str, repo: Path = ROOT) -> Iterator[Path]:
    """A detached `git worktree` of `ref` in a temporary folder, removed (and pruned) on exit."""
    commit = resolve(ref, repo)
    parent = Path(tempfile.mkdtemp(prefix="emb-baseline-"))
    tree = parent / "baseline"
    made = git(repo, "worktree", "add", "--quiet", "--detach", str(tree), commit)
    if made.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise InputError(f"ref: {ref!r}: git worktree add failed: {made.stderr.strip()[-300:]}")
    try:
        yield tree
    finally:
        git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        git(repo, "worktree", "prune")
