"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

Also the small helpers every runner shares: JSON/YAML files, the run key, the phase timer, the
``--out`` lock.

A killed job leaves either the old file or the new one, never half of one. Local (or shared
POSIX) paths: a stage folder on object storage is committed by its manifest instead
(:mod:`logad.io.store`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

__all__ = ["atomic_path", "atomic_dir", "write_parquet", "TEXT_COLUMNS", "ParquetSettings",
           "write_json", "write_yaml", "read_json", "run_key", "Timer", "run_lock",
           "remove_leftovers", "remove_stale", "local_only"]


def local_only(path: str | os.PathLike, flag: str = "--out") -> None:
    """Refuse a folder on object storage where a stage only writes local (or shared POSIX)
    folders: one line naming ``flag``, no traceback.

    Raises
    ------
    InputError
        ``path`` is an object-storage URL (also one a path option collapsed: ``s3:/b/x``).
    """
    from logad.errors import InputError
    from logad.io.store import as_folder, looks_remote

    if looks_remote(path):
        raise InputError(f"{as_folder(path)}: this stage cannot write to object storage yet; "
                         f"give {flag} a local or shared path (docs/cluster.md)")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    ``path`` may be an object-storage URL (``s3://...``): the temporary file is local and is
    uploaded as one object when the block succeeds."""
    from logad.io.store import Store, is_remote

    if is_remote(path):
        parent, _, name = os.fspath(path).rpartition("/")
        with Store.at(parent).upload(name) as tmp:
            yield tmp
        return
    local_only(path)
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


def _owner() -> str:
    """``<host>-<pid>``: which process a temporary folder belongs to."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def _dead_owner(tag: str) -> bool:
    host, _, pid = tag.rpartition("-")
    if host != socket.gethostname().replace(".", "_") or not pid.isdigit():
        return False  # another machine's, or not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale(path: str | os.PathLike) -> int:
    """Remove the temporary folders a killed :func:`atomic_dir` left beside ``path``
    (``.<name>.<host>-<pid>.*.tmp``, ``.<name>.old-<host>-<pid>``) whose process is gone.

    Safe while another run writes the same output: only folders of dead processes on this
    machine go. Returns how many were removed."""
    final = Path(path)
    prefix = f".{final.name}."
    n = 0
    if not final.parent.is_dir():
        return 0
    for p in final.parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        rest = p.name[len(prefix):]
        if rest.endswith(".tmp"):
            tag = rest.split(".", 1)[0]
        elif rest.startswith("old-"):
            tag = rest[len("old-"):]
        else:
            continue
        if _dead_owner(tag):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` when the block succeeds.

    Until then ``path`` keeps its previous content; what an earlier, killed run left beside it is
    removed first (:func:`remove_stale`). Local (or shared POSIX) folders only: object
    storage has no rename (:mod:`logad.io.store`)."""
    local_only(path)
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{_owner()}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; outputs are read by other users' workers too
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{_owner()}")
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


#: Nearly unique long strings of the events tables: a dictionary attempt and min/max statistics
#: on them cost write time and help no reader (bench/README.md, "Where the time goes").
TEXT_COLUMNS = ("content", "raw")
_CODECS = ("zstd", "snappy", "lz4", "gzip", "brotli", "none")


@dataclass(frozen=True)
class ParquetSettings:
    """How ingest and parse write events tables (their ``parquet`` config section).

    ``compression``: zstd, snappy, lz4, gzip, brotli or none; ``compression_level``: the
    codec's level (absent: -3 for zstd, else the codec's default; null: the codec's default);
    ``dictionary``: the columns to dictionary-encode (null: every string column but
    :data:`TEXT_COLUMNS`). Min/max statistics are kept for every column
    but :data:`TEXT_COLUMNS`. Results never depend on these settings, only time and size do.
    """

    compression: str = "zstd"
    compression_level: int | None = -3
    dictionary: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, cfg: Mapping | None, where: str = "parquet") -> "ParquetSettings":
        """Validated settings from a config section; ``where`` names it in error messages."""
        from logad.errors import ConfigError

        cfg = dict(cfg or {})
        unknown = set(cfg) - {"compression", "compression_level", "dictionary"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} "
                              "(compression, compression_level, dictionary)")
        compression = str(cfg.get("compression") or "zstd").lower()
        if compression not in _CODECS:
            raise ConfigError(f"{where}.compression: unknown codec {compression!r} "
                              f"({', '.join(_CODECS)})")
        level = cfg.get("compression_level", -3 if compression == "zstd" else None)
        if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
            raise ConfigError(f"{where}.compression_level: an integer or null, got {level!r}")
        if compression == "none" and level is not None:
            raise ConfigError(f"{where}.compression_level: must be null when compression is none")
        dictionary = cfg.get("dictionary")
        if dictionary is not None and (isinstance(dictionary, str)
                                       or not all(isinstance(c, str) for c in dictionary)):
            raise ConfigError(f"{where}.dictionary: a list of column names or null, "
                              f"got {dictionary!r}")
        return cls(compression, level, None if dictionary is None else tuple(dictionary))

    def writer_options(self, schema: pa.Schema) -> dict:
        """Keyword arguments for :class:`pyarrow.parquet.ParquetWriter` of a table of ``schema``."""
        names = [n for n in schema.names if n not in TEXT_COLUMNS]
        dictionary = (list(self.dictionary) if self.dictionary is not None else
                      [n for n in names if pa.types.is_string(schema.field(n).type)])
        return {"compression": self.compression, "compression_level": self.compression_level,
                "use_dictionary": dictionary, "write_statistics": names}


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_yaml(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True), encoding="utf-8")


def run_key(files: Sequence[str | os.PathLike], *settings: Any) -> str:
    """What makes a stage's output: its input files (name, size, mtime; local paths or
    object-storage URLs, whose ETag stands for the mtime) and its settings.

    A re-run whose key equals the finished run's (``manifest.json`` ``run_key``) skips the work.
    logad's version is part of the key, so an upgrade redoes the stage.
    """
    from logad import __version__

    stats = [_stat(f) for f in files]
    doc = json.dumps([stats, *settings, __version__], sort_keys=True, default=str)
    return hashlib.blake2b(doc.encode(), digest_size=16).hexdigest()


def _stat(file: str | os.PathLike) -> tuple[str, int, int | str]:
    """``(name, size, version)``: the modification time of a local file, the ETag (else the
    modification time) of an object."""
    from logad.io.store import Store, is_remote

    if is_remote(file):
        url = os.fspath(file)
        parent, _, name = url.rstrip("/").rpartition("/")
        size, version = Store.at(parent).stat(name)
        return name, size, version
    st = Path(file).stat()
    return Path(file).name, st.st_size, st.st_mtime_ns


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


@contextmanager
def run_lock(out_dir: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold ``out_dir/.logad.lock`` for one run; a second run into the same folder fails at once.

    The lock is an ``flock``, so it goes with the process: a killed run leaves no stale lock.

    Raises
    ------
    InputError
        Another run holds the folder (the message names its pid and command).
    """
    from logad.errors import InputError

    local_only(out_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".logad.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputError(f"{out}: another logad run is writing here ({holder}); wait for it "
                             "to finish or give another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, logad {command}".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def remove_leftovers(out_dir: str | os.PathLike, subdirs: Sequence[str] = ()) -> int:
    """Remove what a killed run left in ``out_dir`` (and its ``subdirs``): the temporary files and
    folders of :func:`atomic_path` / :func:`atomic_dir` (``.<name>.*.tmp``, ``.<name>.old-<pid>``).
    Call it holding :func:`run_lock`. Returns how many were removed."""
    n = 0
    for folder in [Path(out_dir), *(Path(out_dir) / s for s in subdirs)]:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".") and (p.name.endswith(".tmp") or ".old-" in p.name):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                n += 1
    return n
