"""Progress of a long step, for the task log: "extract customers: 300,000 of 1,000,000 rows (30 %), 61,230
rows/s, 4.9 s" — at most every ``every`` seconds, and once at the end. Counts only, never a value."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("handover.progress")


class Progress:
    def __init__(self, label: str, total: int | None = None, unit: str = "rows", every: float = 10.0) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.done = 0
        self._start = self._last = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s", self.line(now))

    def finish(self) -> None:
        log.info("%s (done)", self.line(time.monotonic()))

    def line(self, now: float | None = None) -> str:
        seconds = max((now or time.monotonic()) - self._start, 1e-9)
        of = ""
        if self.total:
            of = f" of {self.total:,} ({100 * self.done / self.total:.0f} %)"
        return f"{self.label}: {self.done:,}{of} {self.unit}, {self.done / seconds:,.0f} {self.unit}/s, {seconds:.1f} s"
