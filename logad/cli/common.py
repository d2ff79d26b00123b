"""Options shared by every command, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer

from logad.errors import LogadError

__all__ = ["ConfigOpt", "OutOpt", "WorkersOpt", "handle_errors", "setup_logging", "echo_outputs",
           "echo_table"]

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c",
                      help="YAML config (a path or a name under configs/); flags override it.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]
WorkersOpt = Annotated[Optional[int], typer.Option("--num-cpus", help="CPUs for a local Ray (default: all). Ignored on a cluster.")]

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def handle_errors(fn: F) -> F:
    """Turn a :class:`LogadError` into ``logad: error: ...`` on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LogadError as exc:
            typer.echo(f"logad: error: {exc}", err=True)
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def echo_outputs(title: str, rows: dict[str, Any]) -> None:
    """Print a short summary table of what a command wrote."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, val in rows.items():
        table.add_row(str(key), str(val))
    Console().print(table)


def echo_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Print rows (dicts with the same keys) as a table; floats with 3 decimals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0] if rows else []:
        table.add_column(str(key), justify="right" if not isinstance(rows[0][key], str) else "left")
    for row in rows:
        table.add_row(*("n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
                        for v in row.values()))
    Console(width=max(100, Console().width)).print(table)
