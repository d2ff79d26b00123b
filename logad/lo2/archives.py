"""The per-run archives of the LO2 dump: finding them, choosing a chunk, checking their members.

The dump ships one archive a run, ``light-oauth2-data-<epoch>.tar`` (or ``.tar.gz`` / ``.tgz``),
each holding that run's tree (``<run>/<test_case>/light-oauth2-oauth2-<service>-1.log``, metrics).
Nothing here writes a file; :mod:`logad.lo2.extract` does.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from dataclasses import dataclass
from typing import Sequence

from fsspec.core import url_to_fs

from logad.errors import ConfigError, InputError

__all__ = ["ARCHIVE_RE", "RunArchive", "find_archives", "select_runs", "chunk_of", "member_target",
           "UnsafeMember"]

ARCHIVE_RE = re.compile(r"^(?P<run>light-oauth2-data-(?P<epoch>\d+))\.(?P<ext>tar|tar\.gz|tgz)$")
MODES = ("all", "newest")


class UnsafeMember(InputError):
    """An archive member that would land outside its run folder (or is a device file)."""


@dataclass(frozen=True)
class RunArchive:
    """One run's archive: ``url`` is what fsspec opens, ``size`` its bytes on storage."""

    url: str
    name: str
    run: str
    epoch: int
    size: int
    mtime: float | None

    @property
    def compressed(self) -> bool:
        return not self.name.endswith(".tar")


def find_archives(archives: str) -> tuple[list[RunArchive], list[str]]:
    """The run archives directly inside ``archives`` (a folder or fsspec URL), oldest run first.

    Returns the archives and notes on what was passed over (a run with both a ``.tar`` and a
    compressed copy keeps the plain ``.tar``, which is read without decompressing).
    """
    fs, root = url_to_fs(str(archives))
    if not fs.isdir(root):
        raise InputError(f"--archives {archives}: not a folder")
    proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    by_run: dict[str, RunArchive] = {}
    notes: list[str] = []
    for info in sorted(fs.ls(root, detail=True), key=lambda i: i["name"]):
        name = posixpath.basename(info["name"].rstrip("/"))
        m = ARCHIVE_RE.match(name)
        if info.get("type") != "file" or m is None:
            continue
        url = info["name"] if proto in ("file", "local") else f"{proto}://{info['name']}"
        mtime = info.get("mtime")
        arc = RunArchive(url=url, name=name, run=m["run"], epoch=int(m["epoch"]), size=int(info["size"]),
                         mtime=float(mtime) if isinstance(mtime, (int, float)) else None)
        old = by_run.get(arc.run)
        if old is not None:
            keep, drop = (old, arc) if not old.compressed else (arc, old)
            notes.append(f"{arc.run}: both {old.name} and {arc.name}; using {keep.name}")
            arc = keep
        by_run[arc.run] = arc
    if not by_run:
        raise InputError(f"--archives {archives}: no light-oauth2-data-<epoch>.tar(.gz) files in it")
    return sorted(by_run.values(), key=lambda a: (a.epoch, a.run)), notes


def chunk_of(items: Sequence, split: int, chunk: int) -> list:
    """Chunk ``chunk`` (0-based) of ``items`` cut into ``split`` contiguous, near-equal pieces.

    >>> [chunk_of(range(5), 2, k) for k in (0, 1)]
    [[0, 1], [2, 3, 4]]
    """
    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise ConfigError(f"--split must be an integer >= 1, got {split!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 0 <= chunk < split:
        raise ConfigError(f"--chunk must be in 0..{split - 1} (0-based) for --split {split}, got {chunk!r}")
    n = len(items)
    return list(items[chunk * n // split:(chunk + 1) * n // split])


def select_runs(archives: Sequence[RunArchive], mode: str = "all", split: int = 1,
                chunk: int = 0) -> list[RunArchive]:
    """The runs one machine does: all (or only the newest) runs, then chunk ``chunk`` of ``split``."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    runs = list(archives) if mode == "all" else list(archives[-1:])
    return chunk_of(runs, split, chunk)


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def member_target(member: tarfile.TarInfo, run: str) -> tarfile.TarInfo | None:
    """``member`` renamed to its path inside the run folder, or None for the run folder itself.

    Members named ``<run>/...`` lose that prefix; others keep their name (a tar packed from inside
    the run folder). Raises :class:`UnsafeMember` for absolute names, ``..`` anywhere in a name or
    a link target, links pointing outside the run folder, and device or fifo entries.
    """
    name = member.name
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise UnsafeMember(f"member {name!r} has an absolute path")
    if ".." in re.split(r"[\\/]", name):
        raise UnsafeMember(f"member {name!r} has '..' in its path")
    rel = _clean(name)
    if rel == run or rel == "":
        return None
    if rel.startswith(run + "/"):
        rel = rel[len(run) + 1:]
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeMember(f"member {name!r} is a device or fifo entry")
    changes: dict = {"name": rel}
    if member.issym() or member.islnk():
        link = member.linkname
        if link.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", link):
            raise UnsafeMember(f"member {name!r} links to the absolute path {link!r}")
        if member.issym():
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
        else:  # a hard link names another member of the same archive
            resolved = _clean(link)
            resolved = resolved[len(run) + 1:] if resolved.startswith(run + "/") else resolved
            if ".." in resolved.split("/"):
                resolved = ".."
            changes["linkname"] = resolved
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeMember(f"member {name!r} links to {link!r}, outside the run folder")
    return member.replace(**changes, deep=False)
