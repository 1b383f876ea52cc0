"""What a person watching a run sees: a line before it starts (how many trials, about how long), and a
progress bar that never moves backwards."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from bench.engine.session import RunSession, TrialState
from bench.format.derive import duration


class Progress:
    """The bar counts repeats against the most a trial may take (--max-repeats) and counts a trial's unused
    ones when it stops earlier: it never moves backwards and ends at 100%."""

    def __init__(self, sessions: Sequence[RunSession], *, shown: bool) -> None:
        self.spec, self.shown = sessions[0].spec, shown
        self.start = {id(s): len(s.repeats) for session in sessions for s in session.states.values()}
        self.counted: dict[int, int] = {}
        self.pending = [s for session in sessions for s in session.states.values() if s.status is None]
        total = sum(self.spec.max_repeats - len(s.repeats) for s in self.pending)
        self.bar = tqdm(total=total, unit="repeat", disable=None if shown else True, dynamic_ncols=True,
                        desc="measuring")

    def tick(self, state: TrialState) -> None:
        """The trial's repeats so far, or all it may take once it is finished."""
        done = (self.spec.max_repeats if state.status is not None else len(state.repeats)) - self.start[id(state)]
        self.bar.update(max(done - self.counted.get(id(state), 0), 0))
        self.counted[id(state)] = max(done, self.counted.get(id(state), 0))

    def outlook(self, sessions: Sequence[RunSession], *, lanes: Sequence[Any], nodes: int) -> None:
        """What is about to be measured, and about how long it will take (a line before the bar)."""
        if not self.shown:
            return
        spec = self.spec
        trials = len({s.trial.config_id for s in self.pending})
        total = len({cid for session in sessions for cid in session.states})
        where = f" on {len(lanes)} nodes" if nodes > 1 else ""
        sides = f" x {len(sessions)} sides" if len(sessions) > 1 else ""
        head = f"{trials} of {total} trials to measure{sides}{where}"
        if spec.min_repeats == spec.max_repeats:
            line = f"{head}, exactly {spec.max_repeats} repeats each."
        else:
            budget = trials * len(sessions) * spec.trial_budget_s / max(len(lanes), 1)
            line = (f"{head}: about {duration(budget)} if each uses its {spec.trial_budget_s:g} s budget (longer "
                    f"where {spec.min_repeats} repeats take longer, shorter where the 95% interval reaches "
                    f"+-{spec.target_ci:.0%} first); the bar counts repeats against at most {spec.max_repeats} a "
                    "trial.")
        print(line, file=sys.stderr)
