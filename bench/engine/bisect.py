"""Find the commit that made the instruction counts grow: a bisection on counts (`python -m bench.bisect`).

Counts are a property of the code (bench.engine.icount), so a bisection on them can be exact where one on
wall time (asv's `find`) is at the mercy of the machine's noise. Between GOOD and BAD (BAD a descendant of
GOOD), the commits on BAD's first-parent line are searched: GOOD is counted once and every tested commit is
compared with it, configuration by configuration; a commit is bad when any configuration counts more than
`threshold` above GOOD's. A commit that cannot be counted (it does not import, its trainer fails, or its
processes disagree) is skipped, as `git bisect skip` does, and a neighbour is tested instead; when only
skipped commits stand between the last good and the first bad one, they are all named.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.engine import checkout, icount, profile
from bench.format.errors import InputError
from bench.format.io import write_json


@dataclass
class Probe:
    """One counted commit."""

    commit: str
    subject: str
    verdict: str = ""  # good, bad, skip
    reason: str = ""  # why skipped; for a bad commit, the configurations over the threshold
    values: dict[str, float] = field(default_factory=dict)  # config id -> instructions per epoch
    dumps: dict[str, list[str]] = field(default_factory=dict)  # config id -> its first process's callgrind dumps
    ratios: dict[str, float] = field(default_factory=dict)  # config id -> value / GOOD's value
    seconds: float = 0.0


def _git(repo: Path, *args: str) -> str:
    """git's output; InputError naming the command where it fails."""
    done = checkout.git(repo, *args)
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def commits_between(good: str, bad: str, repo: Path) -> list[tuple[str, str]]:
    """(commit, subject) of BAD's first-parent line after GOOD, oldest first, BAD last."""
    if checkout.git(repo, "merge-base", "--is-ancestor", good, bad).returncode != 0:
        raise InputError(f"good: {good[:12]} is not an ancestor of bad {bad[:12]}: nothing to bisect between them")
    if good not in _git(repo, "rev-list", "--first-parent", bad).split():
        raise InputError(f"good: {good[:12]} is not on bad's first-parent line (it came in through a merge): the "
                         "commits before the merge lack its code, so they cannot be ordered against it; give a "
                         "commit of that line as GOOD")
    lines = _git(repo, "log", "--first-parent", "--reverse", "--format=%H %s", f"{good}..{bad}").splitlines()
    out = [(line[:40], line[41:]) for line in lines if line]
    if not out:
        raise InputError(f"bad: {bad[:12]} is good ({good[:12]}) itself: nothing to bisect")
    return out


def count_tree(tree: Path, tasks: list[dict[str, Any]], ids: Sequence[str], out: Path, *, processes: int,
               parallel: int, instrument: str, threshold: float | dict[str, float]
               ) -> tuple[dict[str, float], str, dict[str, list[str]]]:
    """The tree's instructions per epoch for each configuration, "" and its first process's dumps for each; or {},
    why it cannot be judged and {}."""
    path, _ = icount.valgrind()
    why = icount.uncountable(tree)
    if why:
        return {}, why, {}
    jobs = [icount.Job("tree", k, tree, tasks, out / f"process-{k}", instrument=instrument) for k in range(processes)]
    try:
        icount.run_jobs(jobs, path, parallel=parallel)
    except (OSError, ValueError, KeyError) as exc:  # unreadable dumps or facts: this commit cannot be judged
        return {}, f"its count could not be read: {type(exc).__name__}: {exc}", {}
    values = {}
    for t, cid in enumerate(ids):
        failed = [j.failure(t) for j in jobs if j.failure(t)]
        if failed:
            return {}, f"{cid}: {failed[0]}", {}
        per_process = [icount.process_value(j.epochs(t)) for j in jobs]
        if icount.spread(per_process) > icount.threshold_of(threshold, cid) / 2:
            return {}, f"{cid}: its processes differ by {icount.spread(per_process):.2%} (unsteady)", {}
        values[cid] = statistics.median(per_process)
    return values, "", {cid: [str(p) for p in jobs[0].dumps_of(t)] for t, cid in enumerate(ids)}


def bisect(good: str, bad: str, tasks: list[dict[str, Any]], ids: Sequence[str], out: Path, *,
           threshold: float | dict[str, float],
           processes: int, parallel: int, instrument: str, repo: Path = checkout.ROOT,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Search GOOD..BAD for the first commit whose counts exceed GOOD's by more than `threshold`; the result
    document (also OUT/bisect.json)."""
    t0 = time.perf_counter()
    good, bad = checkout.resolve(good, repo), checkout.resolve(bad, repo)
    line = commits_between(good, bad, repo)
    probes: dict[str, Probe] = {}

    def judge(commit: str, subject: str, base: dict[str, float] | None) -> Probe:
        if commit in probes:
            return probes[commit]
        p = Probe(commit, subject)
        t = time.perf_counter()
        with checkout.worktree(commit, repo) as tree:
            p.values, p.reason, p.dumps = count_tree(tree, tasks, ids, out / commit[:12], processes=processes,
                                                     parallel=parallel, instrument=instrument, threshold=threshold)
        p.seconds = round(time.perf_counter() - t, 1)
        if p.reason:
            p.verdict = "skip"
        elif base is not None:
            p.ratios = {cid: p.values[cid] / base[cid] for cid in ids}
            over = [f"{cid} x{r:.4f}" for cid, r in p.ratios.items() if r > 1 + icount.threshold_of(threshold, cid)]
            p.verdict, p.reason = ("bad", ", ".join(over)) if over else ("good", "")
        else:
            p.verdict = "good"
        probes[commit] = p
        log(f"  {commit[:12]} {p.verdict:4}  {subject[:60]}" + (f"  ({p.reason})" if p.reason else "")
            + f"  [{p.seconds:.0f} s]")
        return p

    log(f"bisect: {len(line)} commits after {good[:12]}, up to {bad[:12]}; counting the good one")
    base_probe = judge(good, _git(repo, "log", "-1", "--format=%s", good), None)
    if base_probe.verdict == "skip":
        raise InputError(f"good: {good[:12]} cannot be counted: {base_probe.reason}")
    base = base_probe.values
    last = judge(*line[-1], base)
    doc: dict[str, Any] = {"good": good, "bad": bad, "threshold": threshold, "instrument": instrument,
                           "processes": processes, "configs": list(ids)}
    if last.verdict != "bad":
        bound = "its mode's threshold" if isinstance(threshold, dict) else f"{threshold:.1%}"
        found, reason = None, ("bad cannot be counted: " + last.reason if last.verdict == "skip" else
                               f"bad counts no more than {bound} above good in any configuration: "
                               "nothing to find")
    else:
        lo, hi = -1, len(line) - 1  # line[lo] good (-1: GOOD itself), line[hi] bad
        while hi - lo > 1:
            mid = (lo + hi) // 2
            judged = None
            for k in sorted(range(lo + 1, hi), key=lambda i: (abs(i - mid), i)):  # mid, then its neighbours
                if judge(*line[k], base).verdict != "skip":
                    judged = k
                    break
            if judged is None:
                break  # only skipped commits left between lo and hi
            if probes[line[judged][0]].verdict == "bad":
                hi = judged
            else:
                lo = judged
        between = [c for c, _ in line[lo + 1:hi]]
        found = line[hi][0]
        reason = "" if not between else (f"commits {', '.join(c[:12] for c in between)} could not be counted: the "
                                          f"first bad commit is one of them or {found[:12]}")
        last_good = line[lo][0] if lo >= 0 else good  # counted, and good
        doc["last_good"] = last_good
        doc["parent"] = last_good if not between else None  # the culprit's own parent, when it was counted
        doc["ratios_vs_last_good"] = {cid: probes[found].values[cid] / probes[last_good].values[cid] for cid in ids}
        try:
            doc["explained"] = explain(probes[last_good], probes[found], tasks, ids, out / "explained",
                                       threshold=threshold, repo=repo, log=log)
        except (OSError, ValueError, KeyError, InputError) as exc:  # the search's result stands without it
            doc["explained_error"] = f"{type(exc).__name__}: {exc}"[:300]
            log(f"  could not say where the count grew: {doc['explained_error']}")
    doc.update(first_bad=found, reason=reason, seconds=round(time.perf_counter() - t0, 1),
               tested=[asdict(p) for p in probes.values()])
    write_json(out / "bisect.json", doc, what="--out")
    return doc


def explain(good: Probe, bad: Probe, tasks: list[dict[str, Any]], ids: Sequence[str], out: Path, *,
            threshold: float | dict[str, float],
            repo: Path, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Where the first bad commit's counts grew against the last good one, for each configuration over the
    threshold (all when none is): the per-function deltas of their first processes' dumps (no new count) and the
    Python-level call deltas (both commits' tasks once more, natively). {config id: {"functions", "calls" or
    "calls_error"}}."""
    over = [t for t, cid in enumerate(ids)
            if bad.values[cid] / good.values[cid] > 1 + icount.threshold_of(threshold, cid)] or range(len(ids))
    found = {ids[t]: {"functions": profile.deltas([Path(p) for p in good.dumps[ids[t]]],
                                                  [Path(p) for p in bad.dumps[ids[t]]])} for t in over}
    log(f"  explaining {bad.commit[:12]} against {good.commit[:12]}: counting the Python-level calls")
    with checkout.worktree(good.commit, repo) as good_tree, checkout.worktree(bad.commit, repo) as bad_tree:
        calls = icount.calls_of({"good": good_tree, "bad": bad_tree}, [tasks[t] for t in over], out)
    for t, more in zip(over, calls):
        found[ids[t]].update(more)
    return found
