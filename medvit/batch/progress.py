"""How a cohort run reports its progress: tqdm's bar on a terminal, log lines anywhere else.

A bar redrawn in place is what a person at a terminal wants; in a batch job's log (stdout and
stderr redirected to a file, a pipe, a scheduler) tqdm shows nothing, so a run of hours would be
silent. There a line is written every ``every`` cases and at the end instead.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

# Lines a run logs when not on a terminal: about this many over the run, plus the last one.
LINES_PER_RUN = 10


def skipped_line(skipped: int, total: int) -> str:
    """What a resumed run says about the cases it does not redo."""
    return (f"{skipped} of {total} case(s) already done with the same settings and inputs: skipped "
            "(start over with --restart, or resume=False)")


class ProgressLog:
    """A line every ``every`` finished cases and one at the end: ``"medvit: 40/125 case(s) done,
    3 failed, 2.1 s/case, about 3 min left"``.

    Args:
        total: the cases this run computes (those skipped as done are not counted).
        every: cases between lines; default about :data:`LINES_PER_RUN` lines over the run.
        stream: where the lines go (default stderr, as tqdm's bar).
    """

    def __init__(self, total: int, every: int | None = None, stream: TextIO | None = None):
        self.total = int(total)
        self.every = every or max(1, math.ceil(self.total / LINES_PER_RUN))
        self.stream = stream
        self.done = self.failed = 0
        self.start = time.monotonic()

    def update(self, n: int = 1, failed: bool = False) -> None:
        self.done += n
        self.failed += int(failed)
        if self.done % self.every == 0 or self.done == self.total:
            self.write()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        text = f"medvit: {self.done}/{self.total} case(s) done"
        if self.failed:
            text += f", {self.failed} failed"
        if self.done:
            per_case = elapsed / self.done
            text += f", {per_case:.1f} s/case"
            left = per_case * (self.total - self.done)
            if self.done < self.total:
                text += f", about {_duration(left)} left"
        return text

    def write(self) -> None:
        print(self.line(), file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where tqdm draws) is a terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
