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
           "setup_logging", "echo_outputs", "echo_table", "echo_result"]

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


def setup_logging(verbose: bool = False, quiet: bool = False, as_json: bool = False) -> None:
    from logad import console

    console.configure(verbose=verbose, quiet=quiet, as_json=as_json)


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
        from logad import console

        console.reset_summary()
        try:
            out = fn(*args, **kwargs)
            _json_summary(fn.__name__, ok=True)
            return out
        except LogadError as exc:
            typer.echo(f"logad: error: {exc}", err=True)
            _json_summary(fn.__name__, ok=False, error=str(exc), exit_code=exc.exit_code)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt as exc:
            why = f" by {exc.args[0]}" if isinstance(exc, _Stopped) and exc.args else ""
            typer.echo(f"logad: interrupted{why}; re-run the same command to resume (finished "
                       "work is kept)", err=True)
            _json_summary(fn.__name__, ok=False, error=f"interrupted{why}", exit_code=130)
            raise typer.Exit(code=130) from None
        except typer.Exit as exc:
            _json_summary(fn.__name__, ok=exc.exit_code == 0, exit_code=exc.exit_code)
            raise
        finally:
            if not ray_was_up:  # e.g. the tests' Ray session is theirs to stop
                _quiet_stop()
            for sig, handler in old.items():
                signal.signal(sig, handler)

    return wrapper  # type: ignore[return-value]


def _json_summary(command: str, ok: bool, **extra: Any) -> None:
    """With ``--json``: the command's summary, one JSON object on stdout (nothing else is)."""
    import json

    from logad import console

    if not console.mode().json:
        return
    doc = {"command": command.rstrip("_"), "ok": ok, **extra, "results": console.summary()}
    sys.stdout.write(json.dumps(doc, indent=None, sort_keys=False) + "\n")
    sys.stdout.flush()
    console.reset_summary()


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
    """A short summary table of what a command wrote (data under ``--json``)."""
    from logad import console

    console.table(title, rows)


def echo_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Rows (dicts with the same keys) as a table; floats with 3 decimals."""
    from logad import console

    console.rows_table(title, rows)


def echo_result(text: str, key: str | None = None, value: Any = None) -> None:
    """One result line (``report: demo/report/report.html``); ``key: value`` under ``--json``."""
    from logad import console

    console.say(text, key, value)
