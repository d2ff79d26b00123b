"""What a person (or a script) sees while logad runs: logad's own progress and results.

Three modes, chosen once by the root command (``-v``, ``--quiet``, ``--json``):

* normal: logad's progress lines on stderr (``logad ingest: 9 files ...``), result tables on
  stdout; other libraries' chatter (Ray's start-up and shutdown, Ray Data's per-operator
  progress dumps, matplotlib) is hidden;
* verbose (``-v``): everything, logad at DEBUG and Ray's own logs and progress bars included;
* quiet (``--quiet``): warnings and errors only;
* json (``--json``): stdout holds one JSON object, the summary of the run (every result table
  a command printed, as data), and nothing else; progress stays on stderr.

Progress of long loops goes through :class:`Progress`: a live bar on a terminal, a line every
few seconds elsewhere (CI logs, ``make demo`` piped), nothing in quiet or json mode.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Mode", "mode", "configure", "say", "table", "rows_table", "summary", "reset_summary",
           "Progress"]


@dataclass
class Mode:
    verbose: bool = False
    quiet: bool = False
    json: bool = False
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def chatty(self) -> bool:
        """Progress and result tables for a person."""
        return not (self.quiet or self.json)


_MODE = Mode()

# Library loggers that talk at INFO about things a logad user did not ask about.
_LIBRARY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "matplotlib", "urllib3", "filelock", "fsspec", "s3fs", "botocore",
                    "asyncio", "shap", "numba", "xgboost", "torch")


def mode() -> Mode:
    return _MODE


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test runner swaps it per call)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _Formatter(logging.Formatter):
    """``logad ingest: message`` for logad's INFO; ``warning: logad ingest: ...`` above it;
    with ``-v`` the level and logger name of every record."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and self.verbose:
            msg += "\n" + self.formatException(record.exc_info)
        if self.verbose:
            return f"{record.levelname} {record.name}: {msg}"
        if record.levelno >= logging.ERROR:
            return f"logad: error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"logad: warning: {msg}"
        return f"logad: {msg}"


def configure(verbose: bool = False, quiet: bool = False, as_json: bool = False) -> Mode:
    """Set the mode and the logging it implies (called once per command by the root callback)."""
    global _MODE
    _MODE = Mode(verbose=verbose, quiet=quiet and not verbose, json=as_json)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_logad", False):
            root.removeHandler(h)
    handler = _StderrHandler(sys.stderr)
    handler._logad = True  # type: ignore[attr-defined]
    handler.setFormatter(_Formatter(verbose))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("logad").setLevel(
        logging.DEBUG if verbose else logging.WARNING if _MODE.quiet else logging.INFO)
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    if not verbose:
        # Ray Data's notes on its own scheduling (e.g. "the minimum number of concurrent
        # actors ... only received 1 input") are not the user's problem
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"matplotlib(\.|$)")
    return _MODE


def reset_summary() -> None:
    _MODE.sections.clear()


def summary() -> dict[str, Any]:
    """The result tables printed so far, as data (what ``--json`` prints)."""
    return dict(_MODE.sections)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _record(title: str, data: Any) -> None:
    key, n = title, 2
    while key in _MODE.sections:
        key, n = f"{title} ({n})", n + 1
    _MODE.sections[key] = _jsonable(data)


def say(text: str, key: str | None = None, value: Any = None) -> None:
    """A result line for a person (stdout); in json mode ``key: value`` joins the summary."""
    if _MODE.json:
        if key is not None:
            _record(key, value if value is not None else text)
        return
    if not _MODE.quiet:
        print(text, flush=True)


def table(title: str, rows: dict[str, Any]) -> None:
    """A two-column table of what a command did or wrote."""
    if _MODE.json:
        _record(title, rows)
    if not _MODE.chatty:
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_header=False)
    for key, val in rows.items():
        t.add_row(str(key), str(val))
    Console().print(t)


def rows_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Rows (dicts with the same keys) as a table; floats with 3 decimals."""
    if _MODE.json:
        _record(title, rows)
    if not _MODE.chatty:
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for key in rows[0] if rows else []:
        t.add_column(str(key), justify="right" if not isinstance(rows[0][key], str) else "left")
    for row in rows:
        t.add_row(*("n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
                    for v in row.values()))
    Console(width=max(100, Console().width)).print(t)


class Progress:
    """Progress of one loop: ``with Progress("ingest", total=40, unit="groups") as p: p.advance()``.

    A live bar on a terminal; elsewhere one log line at most every ``every_s`` seconds and one
    at the end (``logad ingest: 12/40 groups (30 %) after 61 s``), so a long job shows a sign of
    life in a CI log; nothing in quiet or json mode.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "items",
                 every_s: float = 10.0, logger: logging.Logger | None = None) -> None:
        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self.log = logger or logging.getLogger("logad.progress")
        self.done = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "Progress":
        self.t0 = self._last = time.monotonic()
        if _MODE.chatty and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                       TextColumn, TimeElapsedColumn)

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn(self.unit), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        if self.total:
            what = f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f} %)"
        else:
            what = f"{self.done} {self.unit}"
        self.log.info("%s: %s after %.0f s", self.label, what, now - self.t0)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
        if exc[0] is None:
            self._line(time.monotonic())
