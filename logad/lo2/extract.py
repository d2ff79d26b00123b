"""Unpack the LO2 dump's per-run archives, resumably, one chunk of the run list per machine.

Each run is unpacked into a hidden folder beside its final place (``<out>/.<run>.partial-*``) and
renamed to ``<out>/<run>`` only when every member is written; a marker
``<out>/.logad-lo2/<run>.json`` then records it as finished. A killed run therefore leaves only
hidden names (which ingest skips), and the next call removes them and does that run again; a
finished run whose archive has not changed is skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import tarfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import fsspec

from logad.errors import InputError
from logad.io import read_json, write_json
from logad.lo2.archives import RunArchive, UnsafeMember, find_archives, member_target, select_runs

__all__ = ["MARKER_DIR", "RunPlan", "plan_runs", "is_finished", "extract_run", "extract_archives", "DiskFull"]

log = logging.getLogger(__name__)

MARKER_DIR = ".logad-lo2"
DEFAULT_RESERVE = 512 << 20  # keep this much free beyond what a run needs


class DiskFull(InputError):
    """Not enough free disk for a run (checked before the run and before every member)."""


@dataclass
class RunPlan:
    """What one run needs: ``action`` is ``extract`` or ``skip``; sizes in bytes.

    ``unpacked`` is exact for a plain ``.tar`` (its members' sizes) and, for a compressed one, the
    size its gzip trailer states (modulo 4 GiB); ``exact`` says which.
    """

    run: str
    archive: str
    action: str
    archive_bytes: int
    unpacked: int | None = None
    members: int | None = None
    exact: bool = False
    problem: str | None = None


def _marker(out: Path, run: str) -> Path:
    return out / MARKER_DIR / f"{run}.json"


def is_finished(arc: RunArchive, out: Path) -> bool:
    """True when ``arc``'s run was unpacked into ``out`` from an archive of the same name and size."""
    try:
        done = read_json(_marker(out, arc.run))
    except (OSError, ValueError):
        return False
    return (isinstance(done, dict) and done.get("archive") == arc.name
            and done.get("archive_bytes") == arc.size and (out / arc.run).is_dir())


def _gzip_isize(arc: RunArchive) -> int | None:
    """The uncompressed size a gzip file's trailer states (mod 2**32), or None when unreadable."""
    try:
        with fsspec.open(arc.url, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            return struct.unpack("<I", fh.read(4))[0]
    except (OSError, ValueError, struct.error):
        return None


def _scan(arc: RunArchive) -> tuple[int, int, str | None]:
    """Members, their bytes and the first refusal of a plain tar, reading only its headers."""
    members = total = 0
    try:
        with fsspec.open(arc.url, "rb") as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
            for m in tar:
                member_target(m, arc.run)
                members += 1
                total += m.size if m.isfile() else 0
    except UnsafeMember as exc:
        return members, total, f"refused: {exc}"
    except (tarfile.TarError, EOFError, OSError) as exc:
        return members, total, f"corrupt archive: {exc}"
    return members, total, None


def plan_runs(archives: str, out: str | os.PathLike, *, mode: str = "all", split: int = 1,
              chunk: int = 0, scan: bool = False) -> tuple[list[RunPlan], list[str]]:
    """The runs of this chunk with what would happen to each; ``scan`` reads plain tars' headers."""
    found, notes = find_archives(archives)
    out = Path(out)
    plans = []
    for arc in select_runs(found, mode, split, chunk):
        done = is_finished(arc, out)
        plan = RunPlan(arc.run, arc.name, "skip" if done else "extract", arc.size)
        if scan and not arc.compressed:
            plan.members, plan.unpacked, plan.problem = _scan(arc)
            plan.exact = True
        elif scan:
            plan.unpacked = _gzip_isize(arc)
        plans.append(plan)
    return plans, notes


def _free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _check_disk(out: Path, need: int, reserve: int, what: str) -> None:
    free = _free(out)
    if free - need < reserve:
        raise DiskFull(f"{what}: needs {need:,} bytes and {reserve:,} spare, but {out} has only "
                       f"{free:,} bytes free; free space or lower --reserve-mb")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def extract_run(arc: RunArchive, out: str | os.PathLike, *, reserve: int = DEFAULT_RESERVE,
                on_member: Callable[[str, str], None] | None = None) -> dict:
    """Unpack one run archive into ``out/<run>`` atomically and record it as finished.

    Raises
    ------
    UnsafeMember
        A member with an absolute path, ``..``, a link leaving the run folder, or a device entry;
        nothing of the archive is kept.
    DiskFull
        Free disk would fall below ``reserve`` bytes; nothing of the archive is kept.
    InputError
        A corrupt or truncated archive.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f".{arc.run}.partial-*"):
        log.info("lo2 extract: removing %s left by an interrupted run", stale.name)
        _remove(stale)
    need = arc.size if not arc.compressed else max(arc.size, _gzip_isize(arc) or 0)
    _check_disk(out, need, reserve, arc.name)
    t0 = time.perf_counter()
    tmp = out / f".{arc.run}.partial-{socket.gethostname()}-{os.getpid()}"
    tmp.mkdir()
    files = nbytes = members = 0
    try:
        with fsspec.open(arc.url, "rb") as fh, tarfile.open(fileobj=fh, mode="r:*") as tar:
            for m in tar:
                target = member_target(m, arc.run)
                if target is None:
                    continue
                if target.isfile():
                    _check_disk(out, target.size, reserve, f"{arc.name}!{m.name}")
                tar.extract(target, tmp, filter="data")
                members += 1
                files += target.isfile()
                nbytes += target.size if target.isfile() else 0
                if on_member is not None:
                    on_member(arc.run, m.name)
        final = out / arc.run
        if final.exists() or final.is_symlink():
            old = out / f".{arc.run}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    except UnsafeMember as exc:
        raise UnsafeMember(f"{arc.name}: refused: {exc}; nothing of this archive was extracted") from None
    except tarfile.FilterError as exc:
        raise UnsafeMember(f"{arc.name}: refused: {exc}; nothing of this archive was extracted") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise InputError(f"{arc.name}: corrupt or truncated archive after {members} members: {exc}") from None
    finally:
        if tmp.exists():
            _remove(tmp)
    record = {"run": arc.run, "archive": arc.name, "archive_bytes": arc.size, "members": members,
              "files": files, "bytes": nbytes, "seconds": round(time.perf_counter() - t0, 3),
              "host": socket.gethostname(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json(record, _marker(out, arc.run))
    log.info("lo2 extract: %s: %d files, %d bytes in %.1f s", arc.run, files, nbytes, record["seconds"])
    return record


def extract_archives(archives: str, out: str | os.PathLike, *, mode: str = "all", split: int = 1,
                     chunk: int = 0, dry_run: bool = False, reserve: int = DEFAULT_RESERVE,
                     on_member: Callable[[str, str], None] | None = None) -> dict:
    """Unpack chunk ``chunk`` of ``split`` of the run archives in ``archives`` into ``out``.

    Parameters
    ----------
    archives : str
        Folder (or fsspec URL) holding ``light-oauth2-data-<epoch>.tar`` / ``.tar.gz`` files.
    out : path
        Local folder that receives one ``<run>/`` folder a run.
    mode : {"all", "newest"}
        Every run, or only the newest (highest epoch) one.
    split, chunk : int
        Cut the (epoch-sorted) run list into ``split`` contiguous pieces and do piece ``chunk``
        (0-based), so ``split`` machines share the dump without talking to each other.
    dry_run : bool
        Write nothing; return the plan with sizes (plain tars' headers are read and checked).
    reserve : int
        Bytes that must stay free on ``out``'s disk.

    Returns
    -------
    dict
        ``runs`` (the plan, one dict a run with ``action`` and, after a real run, ``status``:
        extracted / skipped / refused / failed and ``message``), counts, ``notes``, ``errors``.
    """
    plans, notes = plan_runs(archives, out, mode=mode, split=split, chunk=chunk, scan=dry_run)
    summary = {"archives": str(archives), "out": str(out), "mode": mode, "split": split, "chunk": chunk,
               "dry_run": dry_run, "notes": notes, "errors": [], "runs": [asdict(p) for p in plans]}
    counts = dict.fromkeys(("extracted", "skipped", "refused", "failed"), 0)
    if not dry_run:
        found = {a.run: a for a in find_archives(archives)[0]}
        for row in summary["runs"]:
            if row["action"] == "skip":
                row["status"] = "skipped"
            else:
                try:
                    rec = extract_run(found[row["run"]], out, reserve=reserve, on_member=on_member)
                    row.update(status="extracted", members=rec["members"], unpacked=rec["bytes"], exact=True)
                except UnsafeMember as exc:
                    row.update(status="refused", message=str(exc))
                except InputError as exc:  # DiskFull, corrupt archives
                    row.update(status="failed", message=str(exc))
            counts[row["status"]] += 1
            if row.get("message"):
                summary["errors"].append(row["message"])
                log.error("lo2 extract: %s", row["message"])
    summary.update(counts)
    return summary
