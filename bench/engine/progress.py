"""What a person watching a run sees: a line before it starts (how many trials, about how long), the same
estimate again whenever what the trials measured moves it by more than 2x, and a progress bar that never
moves backwards: tqdm's bar on a terminal (a pseudo-terminal of no width, as `script` gives, gets a fixed
one), a plain line every ~10 s where stderr is not a terminal (a log file, CI).

The estimate: each trial runs at least --min-repeats repeats, then adds repeats until its budget is spent
(or the precision target or --max-repeats stops it first). A trial that has measured a repeat is expected to
take what that repeat took, per repeat; one that has not, the mode registry's prior scaled by how far off the
prior was for the trials measured so far.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.engine.session import RunSession, TrialState
from bench.format.derive import duration
from bench.format.spec import Trial

PLAIN_EVERY_S = 10.0  # a plain progress line at most this often where stderr is not a terminal
REVISE = 2.0  # the estimate is printed again when it moves by more than this factor
FIXED_WIDTH = 100  # the bar's width on a terminal that reports none (tqdm draws nothing in 0 rows x 0 columns)


class Progress:
    """The bar counts repeats against the most a trial may take (--max-repeats) and counts a trial's unused
    ones when it stops earlier: it never moves backwards and ends at 100%."""

    def __init__(self, sessions: Sequence[RunSession], *, shown: bool,
                 prior: Callable[[Trial], float] | None = None, clock: Callable[[], float] = time.monotonic,
                 stream: Any = None) -> None:
        """`prior(trial)`: the expected seconds of its --min-repeats repeats before anything is measured."""
        self.spec, self.shown, self.prior, self.clock = sessions[0].spec, shown, prior, clock
        self.stream = stream or sys.stderr
        self.start = {id(s): len(s.repeats) for session in sessions for s in session.states.values()}
        self.counted: dict[int, int] = {}
        self.pending = [s for session in sessions for s in session.states.values() if s.status is None]
        self.lanes = 1
        self.printed: float | None = None  # the estimate (s, whole run) last printed
        self.began = clock()
        self.last_line = self.began
        self.total = total = sum(self.spec.max_repeats - len(s.repeats) for s in self.pending)
        tty = shown and self.stream.isatty()
        width = _width(self.stream) if tty else None
        self.plain = shown and not tty
        self.bar = tqdm(total=total, unit="repeat", disable=not tty, dynamic_ncols=bool(width), file=self.stream,
                        ncols=None if width else FIXED_WIDTH, nrows=None if width else 24, desc="measuring")

    # ---- the estimate ------------------------------------------------------------------------------
    def _per_repeat(self, state: TrialState, scale: float) -> float:
        walls = [r["wall_s"] for r in state.repeats if r.get("wall_s")]
        if walls:
            return float(np.median(walls))
        guess = self.prior(state.trial) / self.spec.min_repeats if self.prior else self.spec.trial_budget_s
        return guess * scale

    def _scale(self) -> float:
        """How far off the prior was for the trials measured so far (1 before any)."""
        if not self.prior:
            return 1.0
        ratios = [float(np.median([r["wall_s"] for r in s.repeats])) / (self.prior(s.trial) / self.spec.min_repeats)
                  for s in self.pending if s.repeats and all(r.get("wall_s") for r in s.repeats)
                  and self.prior(s.trial) > 0]
        return float(np.median(ratios)) if ratios else 1.0

    def expected_s(self, state: TrialState, scale: float) -> float:
        """A trial's expected seconds in all: its minimum repeats, then repeats until its budget is spent."""
        rep = self._per_repeat(state, scale)
        spec = self.spec
        return max(spec.min_repeats * rep, min(spec.trial_budget_s, spec.max_repeats * rep))

    def remaining_s(self) -> float:
        """What is left of the unfinished trials, expected, spread over the lanes; with a run time budget, what
        is left of it (or of the minimum repeats, where they alone take longer)."""
        scale = self._scale()
        left = sum(max(self.expected_s(s, scale) - s.elapsed_s, 0.0) for s in self.pending if s.status is None)
        left /= max(self.lanes, 1)
        budget = self.spec.time_budget_s
        if budget:
            least = sum(max(self.spec.min_repeats - len(s.repeats), 0) * self._per_repeat(s, scale)
                        for s in self.pending if s.status is None) / max(self.lanes, 1)
            left = max(least, budget - (self.clock() - self.began))
        return left

    # ---- what is shown -----------------------------------------------------------------------------
    def tick(self, state: TrialState) -> None:
        """The trial's repeats so far, or all it may take once it is finished; a revised estimate or a plain
        line when one is due."""
        done = (self.spec.max_repeats if state.status is not None else len(state.repeats)) - self.start[id(state)]
        self.bar.update(max(done - self.counted.get(id(state), 0), 0))
        self.counted[id(state)] = max(done, self.counted.get(id(state), 0))
        if not self.shown:
            return
        now = self.clock()
        left = self.remaining_s()
        whole = now - self.began + left
        if self.printed and left > 0 and not 1 / REVISE <= whole / self.printed <= REVISE:
            self._say(f"estimate revised from what the trials measured: about {duration(whole)} in all, about "
                      f"{duration(left)} left")
            self.printed = whole
        if self.plain and now - self.last_line >= PLAIN_EVERY_S:
            finished = sum(s.status is not None for s in self.pending)
            self._say(f"measuring: {finished} of {len(self.pending)} trials finished, {sum(self.counted.values())} of "
                      f"{self.total} repeats counted, {duration(now - self.began)} so far, about {duration(left)} "
                      "left")
            self.last_line = now

    def _say(self, line: str) -> None:
        if self.plain:
            print(line, file=self.stream, flush=True)
        else:
            self.bar.write(line, file=self.stream)

    def outlook(self, sessions: Sequence[RunSession], *, lanes: Sequence[Any], nodes: int) -> None:
        """What is about to be measured, and about how long it will take (a line before the bar)."""
        self.lanes = max(len(lanes), 1)
        if not self.shown:
            return
        spec = self.spec
        trials = len({s.trial.config_id for s in self.pending})
        total = len({cid for session in sessions for cid in session.states})
        where = f" on {len(lanes)} nodes" if nodes > 1 else ""
        sides = f" x {len(sessions)} sides" if len(sessions) > 1 else ""
        head = f"{trials} of {total} trials to measure{sides}{where}"
        self.printed = self.remaining_s()
        if spec.time_budget_s:
            line = (f"{head}: about {duration(self.printed)} (--time-budget {spec.time_budget_s:g} s; each trial "
                    f"gets {spec.min_repeats} repeats at least, then more until "
                    + ("its comparisons are decided" if spec.stop_rule == "answers" else
                       f"its 95% interval reaches +-{spec.target_ci:.0%}") + " or the budget is spent).")
        elif spec.min_repeats == spec.max_repeats:
            line = f"{head}, exactly {spec.max_repeats} repeats each: about {duration(self.printed)}."
        else:
            line = (f"{head}: about {duration(self.printed)} ({spec.min_repeats} repeats a trial at least, then "
                    f"more until its {spec.trial_budget_s:g} s budget is spent or its 95% interval reaches "
                    f"+-{spec.target_ci:.0%}); revised as the trials measure. The bar counts repeats against at most "
                    f"{spec.max_repeats} a trial.")
        print(line, file=self.stream, flush=True)


def _width(stream: Any) -> int | None:
    """The terminal's width, None where it reports none (a pseudo-terminal of no size)."""
    try:
        cols = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None
    return cols or None
