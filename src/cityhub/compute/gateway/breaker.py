"""A circuit breaker per upstream: a failing department system is left alone for a while instead of being called.

Closed: calls pass; `failures` consecutive failures (connection errors, timeouts, 5xx answers) open it. Open: calls
are refused at once (503 `circuit_open`) for `cooldown_s`. Then half-open: one trial call passes; its success
closes the circuit, its failure opens it again for another cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Breaker:
    """The state of one upstream's circuit (used from the event loop only)."""

    failures: int = 5
    cooldown_s: float = 30.0
    consecutive: int = 0
    opened_at: float | None = None
    trial_running: bool = False
    clock: Callable[[], float] = time.monotonic  # tests pass their own

    def allow(self) -> float | None:
        """None when a call may pass; otherwise seconds until the next trial."""
        if self.opened_at is None:
            return None
        waited = self.clock() - self.opened_at
        if waited < self.cooldown_s:
            return self.cooldown_s - waited
        if self.trial_running:
            return 1.0
        self.trial_running = True  # half-open: this call is the trial
        return None

    def success(self) -> None:
        """A call answered: close the circuit."""
        self.consecutive, self.opened_at, self.trial_running = 0, None, False

    def failure(self) -> None:
        """A call failed: count it; open (again) when the limit is reached or the trial failed."""
        self.consecutive += 1
        if self.trial_running or self.consecutive >= self.failures:
            self.opened_at, self.trial_running = self.clock(), False

    @property
    def state(self) -> str:
        """closed, open or half_open."""
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.trial_running or self.clock() - self.opened_at >= self.cooldown_s else "open"
