"""Find input files and cut them into work units.

Inputs are local paths, directories (walked recursively), globs and fsspec URLs (``file://``,
``s3://``, ``gs://``, ``memory://``, ...). Plain files larger than ``chunk_bytes`` are cut into byte
ranges; a line belongs to the range its first byte falls in, so every range can be read on its own
worker. Compressed files (``.gz``, ``.bz2``) cannot be cut and are one unit each. A plain ``.tar``
holds its members as contiguous byte ranges, so each member is read straight from the archive.

Nothing here depends on the number of workers: the units, their order and their ids are a
function of the inputs and ``chunk_bytes`` alone.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import tarfile
import threading
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import fsspec
from fsspec.core import url_to_fs

from logad.errors import InputError

__all__ = ["SourceFile", "WorkUnit", "expand_sources", "plan_units", "compression_of",
           "newline_count", "open_binary", "ReadStalled"]

log = logging.getLogger(__name__)

_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2"}
_SKIP_NAMES = {"manifest.json", ".DS_Store"}


def compression_of(name: str) -> str | None:
    for suffix, comp in _COMPRESSIONS.items():
        if name.endswith(suffix):
            return comp
    return None


@dataclass(frozen=True)
class SourceFile:
    """One input file: ``url`` is what fsspec opens; ``member`` names a file inside a ``.tar``.

    For a tar member, ``offset``/``size`` locate its bytes inside the archive.
    """

    url: str
    size: int
    compression: str | None = None
    member: str | None = None
    offset: int = 0
    error: str | None = None  # set when the file was found but cannot be read (e.g. corrupt tar)

    @property
    def display(self) -> str:
        return f"{self.url}!{self.member}" if self.member else self.url


@dataclass(frozen=True)
class WorkUnit:
    """A piece of one file that one worker reads: bytes ``[start, end)`` relative to the file.

    ``first_line_no`` is the 1-based number of the first line that starts in the range (known
    from a newline count of the ranges before it); ``file_index`` is the file's position in the
    sorted input list.
    """

    index: int
    file_index: int
    file: SourceFile
    start: int
    end: int
    first_line_no: int = 1
    chunk: int = 0
    n_chunks: int = 1
    options: dict = field(default_factory=dict, hash=False, compare=False)


def _protocol_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    if proto in ("file", "local"):
        return os.path.normpath(os.path.abspath(path))
    if "://" in path:  # http(s) paths are whole URLs already
        return path
    return f"{proto}://{path.lstrip('/')}" if proto != "memory" else f"memory://{path}"


def _safe_name(path: str) -> str:
    """``path`` as valid UTF-8: a name that is not (bytes kept by ``surrogateescape``) shows its
    bad bytes as ``\\xNN``."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _local_entry(path: str) -> tuple[str, int, str | None]:
    """``(url, size, error)`` of one local path: regular files only, each problem a message."""
    url = os.path.normpath(os.path.abspath(path))
    name = _safe_name(url)
    if name != url:
        return name, 0, "file name is not valid UTF-8; rename the file (e.g. with convmv)"
    try:
        st = os.stat(url)
    except FileNotFoundError:
        return url, 0, ("dangling symlink (its target does not exist)" if os.path.islink(url)
                        else "vanished while listing the inputs")
    except OSError as exc:
        return url, 0, f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "not a regular file")
        return url, 0, f"refused: {kind}, not a regular file (it could block for ever)"
    return url, st.st_size, None


def _walk_local(root: str) -> list[tuple[str, int, str | None]]:
    """Files under a local folder, following symlinked folders once each (no loops)."""
    found, seen = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink back up the tree, or a second link to one folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name in _SKIP_NAMES or name.startswith("."):
                continue
            found.append(_local_entry(os.path.join(folder, name)))
    return sorted(found)


def _walk(fs: fsspec.AbstractFileSystem, path: str) -> list[tuple[str, int, str | None]]:
    found = []
    for p in sorted(fs.find(path)):
        name = p.rsplit("/", 1)[-1]
        if name in _SKIP_NAMES or name.startswith("."):
            continue
        try:
            found.append((_protocol_url(fs, p), fs.size(p), None))
        except OSError as exc:
            found.append((_protocol_url(fs, p), 0, f"cannot be read: {exc}"))
    return found


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return proto in ("file", "local")


def _expand_one(src: str) -> list[tuple[str, int, str | None]]:
    fs, path = url_to_fs(src)
    local = _is_local(fs)
    if any(ch in path for ch in "*?["):
        matches = sorted(fs.glob(path))
    elif fs.exists(path) or (local and os.path.islink(path)):
        matches = [path]
    else:
        return []
    found = []
    for p in matches:
        if local and os.path.isdir(p):
            found.extend(_walk_local(p))
        elif local:
            found.append(_local_entry(p))
        elif fs.isdir(p):
            found.extend(_walk(fs, p))
        else:
            found.append((_protocol_url(fs, p), fs.size(p), None))
    return found


_TAR_REFUSED = (("issym", "symlink"), ("islnk", "hard link"), ("ischr", "character device"),
                ("isblk", "block device"), ("isfifo", "FIFO"))


def _tar_members(url: str, archive_size: int) -> list[SourceFile]:
    """List the regular files of a plain ``.tar`` as byte ranges; links and devices are refused
    entries, a member whose bytes are not all in the archive an error entry (never read), and a
    broken archive one error entry."""
    members: list[SourceFile] = []
    try:
        with fsspec.open(url, "rb") as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
            for info in tar:
                name = _safe_name(info.name)
                if info.isfile():
                    there = max(0, archive_size - info.offset_data)
                    error = None if info.size <= there else (
                        f"truncated member: its header declares {info.size} bytes, the archive "
                        f"holds {there}; skipped")
                    members.append(SourceFile(url=url, size=info.size if error is None else 0,
                                              member=name, offset=info.offset_data, error=error,
                                              compression=compression_of(name)))
                    continue
                kind = next((k for test, k in _TAR_REFUSED if getattr(info, test)()), None)
                if kind is not None:
                    target = f" -> {_safe_name(info.linkname)}" if info.linkname else ""
                    members.append(SourceFile(url=url, size=0, member=name, error=(
                        f"refused: a {kind} member{target} (archive links and devices are not "
                        "followed)")))
    except (tarfile.TarError, EOFError, OSError) as exc:
        return [SourceFile(url=url, size=0, error=f"corrupt tar archive: {exc}")] + members
    return sorted(members, key=lambda m: m.member or "")


def _expand_bounded(src: str, timeout_s: float | None) -> list[tuple[str, int, str | None]]:
    """:func:`_expand_one`, with a remote source that does not answer within ``timeout_s`` an
    error entry of its own."""
    if timeout_s is None or _is_local_url(src):
        return _expand_one(src)
    try:
        return _bounded(lambda: _expand_one(src), timeout_s, "listing it")
    except ReadStalled as exc:
        return [(src, 0, str(exc))]


def expand_sources(sources: Sequence[str], timeout_s: float | None = None) -> list[SourceFile]:
    """Resolve paths, directories, globs and URLs into a sorted, de-duplicated file list.

    ``timeout_s`` bounds the wait on a remote source's listing (see :func:`open_binary`).

    Raises
    ------
    InputError
        Listing every source that matched nothing, before any work starts.
    """
    if not sources:
        raise InputError("no input given: pass one or more files, directories, globs or URLs")
    missing, seen, files = [], set(), []
    for src in sources:
        found = _expand_bounded(str(src), timeout_s)
        if not found:
            missing.append(str(src))
        for url, size, error in found:
            if url in seen:
                continue
            seen.add(url)
            if error is not None:
                files.append(SourceFile(url=url, size=0, error=error))
            elif url.endswith(".tar"):
                files.extend(_tar_members(url, size))
            else:
                files.append(SourceFile(url=url, size=size, compression=compression_of(url)))
    if missing:
        raise InputError("input not found: " + ", ".join(_safe_name(m) for m in missing)
                         + " (check the path or URL)")
    return files


class ReadStalled(TimeoutError):
    """A remote source sent no bytes (or did not answer) for the read timeout."""


def _bounded(fn: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """``fn()`` on a daemon thread, waiting at most ``timeout_s`` for it.

    A remote read that stalls cannot be interrupted from outside, so it is left behind on its
    thread (it ends when the connection does) and the caller goes on with :class:`ReadStalled`.
    """
    box: Future = Future()

    def run() -> None:
        try:
            box.set_result(fn())
        except BaseException as exc:  # handed to the caller as it is
            box.set_exception(exc)

    threading.Thread(target=run, daemon=True, name="logad-remote-read").start()
    try:
        return box.result(timeout=timeout_s)
    except FutureTimeout:
        raise ReadStalled(f"no bytes for {timeout_s:g} s while {what} (read_timeout_s)") from None


#: Bytes asked of a remote file in one bounded call (its client may fetch a larger block).
_BOUNDED_READ = 1 << 20


class _BoundedRaw(io.RawIOBase):
    """A remote file whose opening and every read must answer within ``timeout_s``."""

    def __init__(self, opener: Callable[[], Any], timeout_s: float) -> None:
        super().__init__()
        self._timeout = timeout_s
        self._fh = _bounded(opener, timeout_s, "opening it")
        self._stalled = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, b) -> int:
        n = min(len(b), _BOUNDED_READ)
        try:
            data = _bounded(lambda: self._fh.read(n), self._timeout, "reading it")
        except ReadStalled:
            self._stalled = True
            raise
        except OSError:
            raise
        except Exception as exc:  # a client's own error type (aiohttp's payload errors, ...)
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            fh = self._fh
            if self._stalled:  # closing may wait on the same stalled connection
                threading.Thread(target=fh.close, daemon=True).start()
            else:
                fh.close()
        super().close()


def _is_local_url(url: str) -> bool:
    return "://" not in url or url.startswith(("file://", "local://"))


def open_binary(sf: SourceFile, timeout_s: float | None = None):
    """Open a :class:`SourceFile` for binary reading (not decompressed).

    ``timeout_s`` bounds the wait for a remote source (``s3://``, ``http://``, ...): opening it
    and each read raise :class:`ReadStalled` when no bytes come for that long. Local files are
    read directly (a bounded wait there would cost a thread hand-off a read).
    """
    if timeout_s is None or _is_local_url(sf.url):
        return fsspec.open(sf.url, "rb").open()
    return io.BufferedReader(_BoundedRaw(lambda: fsspec.open(sf.url, "rb").open(), timeout_s),
                             buffer_size=1 << 20)


def newline_count(sf: SourceFile, start: int, end: int, block: int = 1 << 24,
                  timeout_s: float | None = None) -> int:
    """Number of ``\\n`` bytes in ``[start, end)`` of an uncompressed file (``timeout_s``: see
    :func:`open_binary`)."""
    n = 0
    with open_binary(sf, timeout_s) as fh:
        fh.seek(sf.offset + start)
        left = end - start
        while left > 0:
            buf = fh.read(min(block, left))
            if not buf:
                break
            n += buf.count(b"\n")
            left -= len(buf)
    return n


def plan_units(files: Iterable[SourceFile], chunk_bytes: int,
               count_newlines=None) -> list[WorkUnit]:
    """Cut files into work units; ``count_newlines(tasks)`` maps ``(file, start, end)`` to counts.

    The default counts sequentially; the Ray runner passes a parallel version, which gives a
    message (str) instead of a count for a range it could not read: that file becomes one unit
    carrying the message as its error.
    """
    if chunk_bytes <= 0:
        raise InputError(f"chunk_bytes must be positive, got {chunk_bytes}")
    files = list(files)
    spans: list[tuple[int, SourceFile, list[tuple[int, int]]]] = []
    count_tasks: list[tuple[SourceFile, int, int]] = []
    for fi, sf in enumerate(files):
        if sf.error or sf.compression or sf.size <= chunk_bytes:
            spans.append((fi, sf, [(0, sf.size)]))
            continue
        bounds = list(range(0, sf.size, chunk_bytes)) + [sf.size]
        ranges = list(zip(bounds[:-1], bounds[1:]))
        spans.append((fi, sf, ranges))
        count_tasks.extend((sf, s, e) for s, e in ranges[:-1])
    counter = count_newlines or (lambda tasks: [newline_count(*t) for t in tasks])
    counts = dict(zip([(t[0].display, t[1]) for t in count_tasks], counter(count_tasks)))
    failed_files = {name: c for (name, _), c in counts.items() if isinstance(c, str)}
    units: list[WorkUnit] = []
    for fi, sf, ranges in spans:
        failed = failed_files.get(sf.display)
        if failed is not None:  # its lines could not be counted: a per-file error, no rows
            units.append(WorkUnit(index=len(units), file_index=fi, file=SourceFile(
                url=sf.url, size=0, member=sf.member, error=failed), start=0, end=0))
            continue
        before = 0
        for ci, (s, e) in enumerate(ranges):
            units.append(WorkUnit(index=len(units), file_index=fi, file=sf, start=s, end=e,
                                  first_line_no=before + 1, chunk=ci, n_chunks=len(ranges)))
            if ci < len(ranges) - 1:
                before += counts[(sf.display, s)]
    return units
