"""Stage folders on object storage: a folder given as an fsspec URL (``s3://``, ``gs://``,
``memory://``...) instead of a local path.

Object storage has no rename, so a run there is committed by its manifest, not by renaming a
folder (DESIGN rule 4):

* a run writes every file of its own (parts, rejected rows, side tables, its settings) under a
  prefix of its own inside the folder, ``<folder>/_runs/<run-id>/`` (:func:`new_run`), straight
  from whichever worker makes it, on any node;
* ``manifest.json``, one PUT, written last (:func:`logad.io.manifest.commit`), is the commit point: it names the
  run's files relative to the folder, and a reader trusts only those (``open_stage``);
* once it is written, the run prefixes it does not name are deleted: the previous run's, and
  those of runs killed before their commit, which no reader ever trusted.

Until the commit the previous manifest (and every file it names) stays as it was, so a killed
run leaves the old result readable and only an uncommitted prefix behind. There is no lock on
object storage: one run at a time into a folder (a second one's commit wins).

A local path, or a ``file://`` URL, is no store: it keeps the rename-based atomicity of
:mod:`logad.io.atomic`. No Ray here.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["RUNS", "Store", "is_remote", "local_path", "new_run", "store_or_none", "run_of",
           "as_folder", "looks_remote", "read_table", "open_parquet", "join"]

#: The folder of a store holding the runs' prefixes.
RUNS = "_runs"


def is_remote(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is an fsspec URL of object storage (anything but a path or file://)."""
    s = os.fspath(folder)
    return isinstance(s, str) and "://" in s and not s.startswith("file://")


#: A URL's scheme, also after :class:`~pathlib.Path` collapsed its ``//`` (``s3:/bucket/x``):
#: a CLI option typed as a path hands an ``--out s3://...`` over that way.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$")


def looks_remote(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is an object-storage URL, given as a string or as a path."""
    m = _SCHEME.match(os.fspath(folder))
    return bool(m) and m.group(1).lower() != "file"


def as_folder(folder: str | os.PathLike) -> str | Path:
    """A stage folder argument as the runners take it: an object-storage URL as a string
    (``s3://bucket/x``, restored when a path collapsed it to ``s3:/bucket/x``), anything
    else as a local :class:`~pathlib.Path`."""
    m = _SCHEME.match(os.fspath(folder))
    if m and m.group(1).lower() != "file":
        return f"{m.group(1)}://{m.group(2)}".rstrip("/")
    return local_path(folder)


def local_path(folder: str | os.PathLike) -> Path:
    """``folder`` as a local :class:`~pathlib.Path` (a ``file://`` URL loses its scheme)."""
    s = os.fspath(folder)
    return Path(s[len("file://"):]) if isinstance(s, str) and s.startswith("file://") else Path(s)


def new_run() -> str:
    """A run-unique prefix, relative to the folder: ``_runs/<UTC time>-<random>``; its names
    sort by start time."""
    return f"{RUNS}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Store:
    """A folder on an fsspec filesystem: ``url`` as given (no trailing ``/``), ``fs`` and
    ``root`` (the folder's path inside ``fs``). Paths given to its methods are relative to
    the folder (``"_runs/<id>/events/part-000000.parquet"``)."""

    url: str
    fs: Any
    root: str

    @classmethod
    def at(cls, url: str | os.PathLike) -> "Store":
        from fsspec.core import url_to_fs

        url = os.fspath(url).rstrip("/")
        fs, root = url_to_fs(url)
        return cls(url, fs, root.rstrip("/"))

    def path(self, rel: str = "") -> str:
        """``rel``'s path inside :attr:`fs`."""
        return f"{self.root}/{rel.strip('/')}" if rel.strip("/") else self.root

    def url_of(self, rel: str = "") -> str:
        """``rel`` as a URL (``s3://bucket/folder/rel``)."""
        return f"{self.url}/{rel.strip('/')}" if rel.strip("/") else self.url

    def rel(self, url: str) -> str:
        """The inverse of :meth:`url_of`."""
        if not url.startswith(self.url + "/"):
            raise ValueError(f"{url} is not inside {self.url}")
        return url[len(self.url) + 1:]

    def arrow_fs(self) -> Any:
        """:attr:`fs` as a :class:`pyarrow.fs.FileSystem`, for :mod:`pyarrow.dataset` and
        :class:`pyarrow.parquet.ParquetFile` (paths: :meth:`path`)."""
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(self.fs))

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """One PUT: on object storage an object appears whole or not at all."""
        self.fs.pipe_file(self.path(rel), data)

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel).decode("utf-8"))

    def write_json(self, rel: str, obj: Any) -> None:
        self.write_bytes(rel, (json.dumps(obj, indent=2, default=str) + "\n").encode("utf-8"))

    def write_parquet(self, table: pa.Table, rel: str, **kwargs: Any) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, **kwargs)
        self.write_bytes(rel, buf.getvalue())

    def read_table(self, rel: str, **kwargs: Any) -> pa.Table:
        with self.fs.open(self.path(rel), "rb") as fh:
            return pq.read_table(fh, **kwargs)

    @contextmanager
    def upload(self, rel: str) -> Iterator[Path]:
        """Yield a local temporary file; when the block succeeds it is uploaded to ``rel``
        (one object, whole); either way the temporary file is removed."""
        fd, tmp = tempfile.mkstemp(prefix=".logad-", suffix=".tmp")
        os.close(fd)
        try:
            yield Path(tmp)
            if os.path.exists(tmp):  # the block may remove it: nothing to write
                self.fs.put_file(tmp, self.path(rel))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def stat(self, rel: str = "") -> tuple[int, str]:
        """``(size, version)`` of ``rel`` (version: ETag, else modification time) for skip keys."""
        info = self.fs.info(self.path(rel))
        version = info.get("ETag") or info.get("etag") or info.get("LastModified") or \
            info.get("mtime") or info.get("created") or ""
        return int(info.get("size") or 0), str(version)

    def runs(self) -> list[str]:
        """The run prefixes under ``_runs/``, oldest first (relative: ``_runs/<id>``)."""
        try:
            entries = self.fs.ls(self.path(RUNS), detail=False)
        except FileNotFoundError:
            return []
        return sorted(f"{RUNS}/{e.rstrip('/').rsplit('/', 1)[-1]}" for e in entries)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm(self.path(rel), recursive=True)
        except FileNotFoundError:
            pass


def store_or_none(folder: str | os.PathLike) -> Store | None:
    """The :class:`Store` of an object-storage URL, None for a local folder."""
    return Store.at(folder) if is_remote(folder) else None


def read_table(where: str | os.PathLike, **kwargs: Any) -> pa.Table:
    """:func:`pyarrow.parquet.read_table` of a local path or an object-storage URL (through
    fsspec, so the same storage options apply as for every other access)."""
    if not is_remote(where):
        return pq.read_table(where, **kwargs)
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(os.fspath(where))
    with fs.open(path, "rb") as fh:
        return pq.read_table(fh, **kwargs)


def open_parquet(where: str | os.PathLike) -> pq.ParquetFile:
    """:class:`pyarrow.parquet.ParquetFile` of a local path or an object-storage URL (read
    through fsspec: ranges of the object, never all of it)."""
    if not is_remote(where):
        return pq.ParquetFile(where)
    from fsspec.core import url_to_fs
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, path = url_to_fs(os.fspath(where))
    return pq.ParquetFile(PyFileSystem(FSSpecHandler(fs)).open_input_file(path))


def join(folder: str | os.PathLike, *names: str) -> str | Path:
    """``names`` inside ``folder``: a :class:`~pathlib.Path` under a local one, a URL under
    an object-storage URL."""
    if is_remote(folder):
        return "/".join([os.fspath(folder).rstrip("/"), *names])
    return Path(folder).joinpath(*names)


def run_of(rel: str) -> str:
    """The run prefix (``_runs/<id>``) a file relative to the folder lies under, else ``""``."""
    bits = rel.split("/")
    return "/".join(bits[:2]) if len(bits) > 2 and bits[0] == RUNS else ""
