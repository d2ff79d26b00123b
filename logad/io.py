"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

A killed job leaves either the old file or the new one, never half of one. Local paths only for
now: remote outputs (s3://) go through fsspec in the runners.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

__all__ = ["atomic_path", "atomic_dir", "write_parquet", "write_json", "write_yaml", "read_json",
           "run_key", "finished_manifest", "Timer"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; outputs are read by other users' workers too
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(table: pa.Table, path: str | os.PathLike, **kwargs: Any) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_yaml(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True), encoding="utf-8")


def run_key(files: Sequence[str | os.PathLike], *settings: Any) -> str:
    """What makes a stage's output: its input files (name, size, mtime) and its settings.

    A re-run whose key equals the finished run's (``manifest.json`` ``run_key``) skips the work.
    logad's version is part of the key, so an upgrade redoes the stage.
    """
    from logad import __version__

    stats = [(Path(f).name, Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in files]
    doc = json.dumps([stats, *settings, __version__], sort_keys=True, default=str)
    return hashlib.blake2b(doc.encode(), digest_size=16).hexdigest()


def finished_manifest(out_dir: str | os.PathLike, key: str) -> dict | None:
    """The manifest of a complete run in ``out_dir`` made with ``key``, else None.

    A run that changes one of its own inputs (parse saving ``--drain-state``) also records
    ``run_key_after``, the key of its inputs as it left them, so re-running it skips too.
    """
    path = Path(out_dir) / "manifest.json"
    try:
        done = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("status", "complete") != "complete":
        return None
    return done if key in (done.get("run_key"), done.get("run_key_after")) else None


class Timer:
    """Collects seconds per named phase: ``with timer("mine"): ...``; ``timer.seconds`` is a dict."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - t0, 4)
