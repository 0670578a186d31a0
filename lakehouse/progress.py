"""Progress on long work a user waits for (jar resolution, a retrain's steps, an evaluation), drawn on stderr.

Shown only to a person at a terminal: silent when stderr is not a terminal
(logs, pipes, the demo's child processes, tests) or when `CI` is set. `rich`
draws it and is imported only when it is shown, so commands that show nothing
do not pay for the import. One bar per piece of work, either named steps
(`start("fit")` marks the steps before it done) or a count (`advance()`).
The bar is a view: nothing a command computes depends on it.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TextIO, TypeVar

T = TypeVar("T")

CI_ENV = "CI"


def shown(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether progress is drawn: `stream` (default stderr) is a terminal and CI is not set."""
    stream = sys.stderr if stream is None else stream
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return not environ.get(CI_ENV) and bool(isatty and isatty())


class Steps:
    """One bar: `total` units of work, or the named `steps` in order.

    Args:
        title: what the work is ("retrain", "evaluate"), shown before the current step.
        steps: the step names, in order, or a count of units for `advance()`.
    """

    def __init__(self, title: str, steps: Sequence[str] | int):
        self.title = title
        self.names = tuple(steps) if not isinstance(steps, int) else ()
        self.total = len(self.names) if self.names else int(steps)
        self._bar = None
        self._task = None
        if shown():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(title, total=self.total)
            self._bar.start()

    def start(self, step: str) -> None:
        """Show `step` as the one in progress; the steps before it are done."""
        self._update(completed=self.names.index(step), description=f"{self.title}: {step}")

    def advance(self, description: str | None = None) -> None:
        """One more unit done; `description` says what comes next."""
        if self._bar is not None:
            self._bar.advance(self._task)
        if description:
            self._update(description=f"{self.title}: {description}")

    def each(self, items: Iterable[T], describe: Callable[[T], str] = str) -> Iterator[T]:
        """Yield `items`, one unit of work each: described while it runs, counted once the caller is done with it."""
        for item in items:
            self._update(description=f"{self.title}: {describe(item)}")
            yield item
            self.advance()

    def finish(self) -> None:
        self._update(completed=self.total)

    def close(self) -> None:
        """Remove the bar (idempotent); the command's own output follows."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _update(self, **fields) -> None:
        if self._bar is not None:
            self._bar.update(self._task, **fields)

    def __enter__(self) -> "Steps":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
