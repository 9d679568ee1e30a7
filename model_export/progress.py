"""Progress bars (rich, on stderr) for the steps that take more than a moment.

On a terminal they animate and vanish when done (transient); off a terminal (pipes, CI logs,
tests) nothing is drawn, so command output stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[..., None]


@contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[Advance]:
    """Yields advance(steps=1, description=None)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # rich would still emit a stray newline into a pipe
        yield lambda steps=1, description=None: None
        return

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(steps: float = 1, description: str | None = None) -> None:
            if description is not None:
                bar.update(task, description=description)
            bar.advance(task, steps)

        yield advance
