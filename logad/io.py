"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

A killed job leaves either the old file or the new one, never half of one. Local paths only for
now: remote outputs (s3://) go through fsspec in the runners.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
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
           "write_json", "write_yaml", "read_json", "run_key", "finished_manifest", "Timer",
           "part_entries", "mark_running", "finished_input", "finished_input_parts",
           "finished_parts", "run_lock", "remove_leftovers"]


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


# -- the manifest as the commit point between stages ---------------------------------------------

_RESUME = {"ingest": "re-run the same `logad ingest` command (finished parts are kept)",
           "parse": "re-run the same `logad parse` command"}


def part_entries(folder: str | os.PathLike, parts: Sequence[str | os.PathLike]) -> list[dict]:
    """``[{"file": "events/part-000000.parquet", "rows": n}, ...]`` for a manifest's ``parts``:
    each part's path relative to ``folder`` and its row count (from the Parquet footer)."""
    root = Path(folder)
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in parts]
    return [{"file": p.relative_to(root).as_posix(), "rows": pq.read_metadata(p).num_rows}
            for p in paths]


def mark_running(out_dir: str | os.PathLike) -> None:
    """Remove ``out_dir/manifest.json`` before a run changes ``out_dir``: an earlier finished
    manifest must never vouch for parts this run is replacing (the new one is written last)."""
    (Path(out_dir) / "manifest.json").unlink(missing_ok=True)


def _stage_folder(folder: Path) -> tuple[Path, Path]:
    """The folder holding ``manifest.json`` (``folder`` or, given its ``events/``, its parent)."""
    if (folder / "manifest.json").is_file() or not (folder.parent / "manifest.json").is_file():
        return folder, folder / "manifest.json"
    return folder.parent, folder.parent / "manifest.json"


def finished_input(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                   ) -> tuple[list[Path], dict]:
    """The parts of a finished stage output, and its manifest; a clear error for anything else.

    A stage writes its parts first and ``manifest.json`` last, with ``"status": "complete"`` and
    ``parts`` (each part's file relative to the folder and its row count). Only such a folder
    is read; each listed part must exist and hold the rows the manifest says (its Parquet
    footer is read, a few KB, so this costs milliseconds a part).

    Parameters
    ----------
    folder : path
        The stage's output folder (or its ``events/`` folder).
    stage : str or sequence of str, optional
        The stage(s) that may have written it (``"ingest"``, ``"parse"``).

    Raises
    ------
    InputError
        No manifest (a run still going or killed), a manifest of another stage, one not
        complete, a part missing, truncated or of the wrong size; the message names the file
        and how to finish the input.
    """
    from logad.errors import InputError

    parts, damaged, manifest = finished_input_parts(folder, stage)
    if damaged:
        raise InputError(damaged[0]["message"])
    return parts, manifest


def finished_input_parts(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                         ) -> tuple[list[Path], list[dict], dict]:
    """:func:`finished_input` that hands back the damaged parts instead of stopping at the first.

    For a stage that can go on without them (``logad parse`` counts their rows as rejected).
    An unfinished folder is refused as by :func:`finished_input`.

    Returns
    -------
    parts : list of Path
        The parts that are there and hold the rows their manifest says, in its order.
    damaged : list of dict
        ``{"file", "rows", "reason", "message"}`` a part missing, unreadable (truncated) or of
        another row count: its path, the rows the manifest gives it, why, and the full message
        (naming the part and how to redo the input).
    manifest : dict
    """
    from logad.errors import InputError

    root, mpath = _stage_folder(Path(folder))
    stages = (stage,) if isinstance(stage, str) else tuple(stage or ())
    what = stages[0] if stages else "the previous stage"
    resume = _RESUME.get(what, f"re-run `logad {what}` into {root}")
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (give the output folder of `logad {what}`)")
    try:
        manifest = read_json(mpath)
    except FileNotFoundError:
        raise InputError(f"{root}: unfinished input (no manifest.json: the `logad {what}` run that "
                         f"writes it is still going, failed or was killed); {resume}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{mpath}: unreadable manifest ({exc}); {resume}") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{mpath}: not a logad manifest; {resume}")
    if stages and manifest.get("stage") not in stages:
        raise InputError(f"{root}: written by `logad {manifest.get('stage')}`, expected the output "
                         f"of `logad {' or '.join(stages)}`")
    status = manifest.get("status")
    if status != "complete":
        inputs = " ".join(manifest.get("inputs") or [])
        hint = f" (inputs: {inputs})" if inputs else ""
        raise InputError(f"{root}: unfinished input (manifest status {status!r}: the run was "
                         f"interrupted or is still going){hint}; {resume}")
    listed = manifest.get("parts")
    if not isinstance(listed, list):
        raise InputError(f"{mpath}: lists no parts (written by an older logad?); {resume}")
    parts, damaged = [], []
    for entry in listed:
        path = root / str(entry.get("file"))
        why = None
        try:
            rows = pq.read_metadata(path).num_rows
        except FileNotFoundError:
            why = f"part listed in {mpath} is missing"
        except (OSError, pa.ArrowException) as exc:
            why = f"damaged part ({type(exc).__name__}: {exc})"
        else:
            if rows != entry.get("rows"):
                why = (f"{rows} rows, but {mpath} says {entry.get('rows')} (changed after the "
                       "run finished?)")
        if why is None:
            parts.append(path)
        else:
            damaged.append({"file": str(path), "rows": int(entry.get("rows") or 0), "reason": why,
                            "message": f"{path}: {why}; {resume}"})
    return parts, damaged, manifest


def finished_parts(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                   ) -> list[Path]:
    """The parts of a finished stage output (see :func:`finished_input`)."""
    return finished_input(folder, stage)[0]


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
