"""Options shared by every command, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional, TypeVar

import typer

from logad.errors import LogadError

__all__ = ["ConfigOpt", "OutOpt", "WorkersOpt", "NumCpusOpt", "SetOpt", "handle_errors",
           "setup_logging", "echo_outputs", "echo_table"]

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c",
                      help="YAML settings over configs/<stage>.yaml (a path or a name under configs/); flags override it.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]
#: The same meaning in every command: the stage's ``workers`` setting.
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=1, help="Worker actors the stage uses, one CPU each (setting `workers`; default: one per CPU of the Ray cluster). Results never depend on it.")]
#: The same meaning in every command: the size of the local Ray logad starts.
NumCpusOpt = Annotated[Optional[int], typer.Option(
    "--num-cpus", min=1, help="CPUs of the local Ray that logad starts (default: all of this machine); ignored when joining a running cluster (RAY_ADDRESS).")]
SetOpt = Annotated[Optional[List[str]], typer.Option(
    "--set", help="Any setting as KEY=VALUE, dotted for sections (e.g. drain.sim_th=0.5); the value is read as YAML (repeat).")]

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as an interrupt (so every cleanup on the way out runs)."""


def _raise_stopped(signum: int, frame: Any) -> None:
    _mute_ray()
    raise _Stopped(signal.Signals(signum).name)


def _interrupted(signum: int, frame: Any) -> None:
    _mute_ray()
    raise KeyboardInterrupt


def _mute_ray() -> None:
    from logad.ray.runtime import mute_ray_logs

    mute_ray_logs()


def handle_errors(fn: F) -> F:
    """Turn a :class:`LogadError` into ``logad: error: ...`` on stderr and a non-zero exit, and an
    interrupt (Ctrl-C, SIGTERM, SIGHUP) into ``logad: interrupted ...`` and exit 130; a local Ray
    that logad started is stopped on every way out."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ray_was_up = "ray" in sys.modules and sys.modules["ray"].is_initialized()
        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                old[sig] = signal.signal(sig, _raise_stopped)
            old[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupted)
        try:
            return fn(*args, **kwargs)
        except LogadError as exc:
            typer.echo(f"logad: error: {exc}", err=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt as exc:
            why = f" by {exc.args[0]}" if isinstance(exc, _Stopped) and exc.args else ""
            typer.echo(f"logad: interrupted{why}; re-run the same command to resume (finished "
                       "work is kept)", err=True)
            raise typer.Exit(code=130) from None
        finally:
            if not ray_was_up:  # e.g. the tests' Ray session is theirs to stop
                _quiet_stop()
            for sig, handler in old.items():
                signal.signal(sig, handler)

    return wrapper  # type: ignore[return-value]


def _quiet_stop() -> None:
    """Stop logad's own local Ray, with its shutdown chatter and a second Ctrl-C kept quiet."""
    from logad.ray.runtime import stop_ray

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        stop_ray()
    except Exception as exc:  # noqa: BLE001 - leaving anyway; say why the stop failed
        logging.getLogger(__name__).debug("ray shutdown: %s", exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


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
