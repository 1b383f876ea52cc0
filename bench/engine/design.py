"""The run's design: which trials are measured back to back (the sweep's `pairing`), and which trials an answer
compares (the `answers` stop rule asks whether those comparisons are still open).

With `pairing` "dtype", the trials that differ only in dtype share a key: the loop places them on one lane, side
by side, and reverses their order every other round, so that repeat r of each ran back to back and the cast's
answer can come from per-round paired ratios (bench.analysis.evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from bench.format.spec import SweepSpec, Trial
from bench.format.stats import DEFAULT_ALPHA, log_ratio, p_beyond, verdict_of


class TrialState(Protocol):
    """What the stop rule reads of a trial being measured (bench.engine.session.TrialState)."""

    trial: Trial
    repeats: list[dict[str, Any]]
    status: str | None


def pair_key(trial: Trial, spec: SweepSpec) -> tuple | None:
    """The key shared by the trials measured back to back; None: the trial is not paired."""
    if spec.pairing == "none" or len(spec.dtypes) < 2:
        return None
    return (trial.device, trial.mode, trial.batch_size, trial.size, trial.threads, trial.replicas)


def pairs(states: Mapping[str, TrialState], spec: SweepSpec) -> dict[tuple, list[str]]:
    """pair key -> the config ids of its trials."""
    out: dict[tuple, list[str]] = {}
    for cid, state in states.items():
        key = pair_key(state.trial, spec)
        if key is not None:
            out.setdefault(key, []).append(cid)
    return out


def ahead_of_pair(cid: str, states: Mapping[str, TrialState], pair: Sequence[str]) -> bool:
    """Whether the trial has more repeats than a partner still measuring (after a --resume or a lost node): it
    waits a round, so that repeat r of each runs back to back again."""
    mine = len(states[cid].repeats)
    return any(c != cid and states[c].status is None and len(states[c].repeats) < mine for c in pair)


def grouped(units: Sequence[str], key_of: Callable[[str], Hashable | None], dtype_of: Callable[[str], Any],
            spec: SweepSpec) -> list[str]:
    """A lane's order with each pair's trials side by side (at the first one's place, in the sweep's dtype
    order)."""
    groups: dict[Any, list[str]] = {}
    for cid in units:
        groups.setdefault(key_of(cid) or cid, []).append(cid)
    rank = {d: i for i, d in enumerate(spec.dtypes)}
    return [c for g in groups.values() for c in sorted(g, key=lambda c: rank[dtype_of(c)])]


def round_order(units: Sequence[str], round_no: int, key_of: Callable[[str], Hashable | None]) -> list[str]:
    """This round's order: each pair's trials back to back, their order reversed every other round."""
    if round_no % 2 == 0:
        return list(units)
    out: list[str] = []
    for cid in units:
        key = key_of(cid)
        if out and key is not None and key_of(out[-1]) == key:
            j = len(out)
            while j > 0 and key_of(out[j - 1]) == key:
                j -= 1
            out.insert(j, cid)
        else:
            out.append(cid)
    return out


def partners(state: TrialState, states: Mapping[str, TrialState], spec: SweepSpec) -> list[tuple[str, TrialState]]:
    """The trials an answer compares this one with, each with the axis they differ in: its dtype partners
    (float32 and float64-cast), the reference mode's trial (eager, else the article's loop; all other modes'
    trials for the reference itself; with neither measured, every other mode's: the answer's reference, the
    slowest mode, is known only at the end), and the other device's trial."""
    t = state.trial
    mode_names = [str(m) for m in spec.modes]
    reference = next((m for m in ("eager", "article") if m in mode_names), None)
    out = []
    for other in states.values():
        o = other.trial
        if other is state or (o.batch_size, o.size, o.replicas) != (t.batch_size, t.size, t.replicas):
            continue
        same = {a: getattr(o, a) == getattr(t, a) for a in ("device", "mode", "dtype", "threads")}
        if same["device"] and same["mode"] and same["threads"] and {str(o.dtype), str(t.dtype)} == \
                {"float32", "float64-cast"}:
            out.append(("dtype", other))
        elif same["device"] and same["dtype"] and same["threads"] and not same["mode"] and (
                reference is None or reference in (str(o.mode), str(t.mode))):
            out.append(("mode", other))
        elif same["mode"] and same["dtype"] and not same["device"]:
            out.append(("device", other))
    return out


def question_open(state: TrialState, states: Mapping[str, TrialState], spec: SweepSpec) -> bool | None:
    """The `answers` stop rule's question: is a comparison this trial takes part in still inconclusive at the
    run's margin, with a partner still measuring (unadjusted p: the answers adjust the family at the end, which
    only makes `decided` harder)? True: open; False: every one decided or shown within the margin; None: none
    that more repeats of this trial can move (no partner, or every partner finished, its pairs matched)."""
    found = None
    for axis, other in partners(state, states, spec):
        if other.status not in (None, "ok"):
            continue
        measuring = other.status is None
        if len(other.repeats) < 2:
            if measuring:
                return True  # its partner has barely begun: the comparison is still to be made
            continue
        mine, theirs = _repeat_times(state), _repeat_times(other)
        common = sorted(set(mine) & set(theirs))
        paired = axis == spec.pairing and len(common) >= 2
        est = log_ratio([theirs[r] for r in common], [mine[r] for r in common], paired=True) if paired else \
            log_ratio(list(theirs.values()), list(mine.values()))
        if verdict_of(est.low, est.high, p_beyond(est, spec.margin), margin=spec.margin,
                      alpha=DEFAULT_ALPHA) != "inconclusive":
            found = False
        elif measuring or (paired and len(mine) < len(theirs)):
            return True  # (a finished partner adds nothing once this trial has matched its repeats)
    return found


def _repeat_times(state: TrialState) -> dict[int, float]:
    return {int(r["repeat"]): float(r["median_epoch_s"]) for r in state.repeats if r["status"] == "ok"}
