"""How a long operation reports its steps: a small Protocol, a silent default and a rich drawing for the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    """Reports long steps (the CLI draws them with rich); `total=None` is a step of unknown length."""

    def start(self, description: str, total: float | None = None) -> None:
        """Begin a step."""

    def advance(self, amount: float = 1.0) -> None:
        """Move the current step on."""

    def finish(self) -> None:
        """End the current step."""


class QuietProgress:
    """Progress that shows nothing."""

    def start(self, description: str, total: float | None = None) -> None:
        """Begin a step."""

    def advance(self, amount: float = 1.0) -> None:
        """Move the current step on."""

    def finish(self) -> None:
        """End the current step."""


@contextmanager
def rich_progress(console: Any = None) -> Iterator[Progress]:
    """A `Progress` drawn by rich (spinner, bar, elapsed time) on `console` (default stderr)."""
    from rich.console import Console
    from rich.progress import BarColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
              TimeElapsedColumn(), console=console or Console(stderr=True), transient=False)

    class _Rich:
        task: TaskID | None = None

        def start(self, description: str, total: float | None = None) -> None:
            self.finish()
            self.task = bar.add_task(description, total=total)

        def advance(self, amount: float = 1.0) -> None:
            if self.task is not None:
                bar.advance(self.task, amount)

        def finish(self) -> None:
            if self.task is not None:
                total = next(t.total for t in bar.tasks if t.id == self.task)
                bar.update(self.task, total=total if total is not None else 1,
                           completed=total if total is not None else 1)
                self.task = None

    with bar:
        reporter = _Rich()
        yield reporter
        reporter.finish()




def counts_line(label: str, counts: Any) -> str:
    """One labelled line for a worker pass or a build step: 'cloud jobs: done 3 · failed 0', never a raw dict.

    Nested mappings read as 'sla: reminded 0 · escalated 1'; anything else is shown as it is.
    """
    if not isinstance(counts, dict):
        return f"{label}: {counts}"
    parts = []
    for key, value in counts.items():
        name = str(key).replace("_", " ")
        parts.append(f"{name} ({counts_line('', value)[2:]})" if isinstance(value, dict) else f"{name} {value}")
    return f"{label}: {' · '.join(parts) or 'nothing to do'}"
