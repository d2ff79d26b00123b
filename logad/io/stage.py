"""Stage folders: find a finished stage's parts, and read them on :mod:`pyarrow.dataset`.

Every stage reads the previous stage's folder through :func:`open_stage` (or the older
:func:`finished_input` / :func:`finished_parts`, which return what it found): only a folder
whose ``manifest.json`` says it is complete is read, each part's footer is read once and kept
(:class:`Part`: rows, row groups, schema), and :class:`StageFolder` reads columns with a filter,
counts rows and lists the row groups as work units. Writers use :func:`part_entries` for the
manifest's ``parts``, :func:`mark_running` before they change a folder and
:func:`finished_manifest` for the skip check. A folder may also be an object-storage URL
(``s3://``...): its manifest names the parts of the run that committed it, and only those are
read (:mod:`logad.io.store`). No Ray here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from logad.io.atomic import read_json
from logad.io.manifest import Manifest, ManifestError, parse_manifest
from logad.io.store import Store, is_remote, local_path

if TYPE_CHECKING:  # imported when used: pyarrow.dataset brings pandas, which workers rarely need
    import pyarrow.dataset as pads

__all__ = ["Part", "StageFolder", "open_stage", "finished_input", "finished_input_parts", "finished_parts",
           "finished_manifest", "part_entries", "mark_running", "sequences_folder",
           "sequences_files", "sequences_parts", "read_part", "SEQUENCES_STAGES", "dataset_of"]

#: The stages whose output is a ``sequences`` folder.
SEQUENCES_STAGES = ("sessionize", "ingest-sessions")


@dataclass(frozen=True)
class Part:
    """One Parquet part of a stage folder, from its footer (read once, by :func:`open_stage`).
    ``path``: a local path, or on object storage the part's URL (``s3://...``)."""

    path: Path | str
    rows: int
    row_groups: int
    schema: pa.Schema


@dataclass(frozen=True)
class StageFolder:
    """A finished stage output: ``root``, its manifest (``manifest`` as written, ``info`` as a
    :class:`~logad.io.manifest.Manifest`) and its ``parts`` in the manifest's order. On
    object storage ``root`` is the folder's URL and ``store`` its :class:`~logad.io.store.Store`."""

    root: Path | str
    manifest: dict
    info: Manifest
    parts: tuple[Part, ...]
    #: parts missing, unreadable or of another row count, when :func:`open_stage` was asked to
    #: keep going: ``{"file", "rows" (the manifest's), "reason", "message"}``
    damaged: tuple[dict, ...] = ()
    store: Store | None = None

    @property
    def files(self) -> list[Path | str]:
        return [p.path for p in self.parts]

    def side(self, name: str) -> Path | str:
        """Where the run that wrote this folder put its file ``name`` (``labels.parquet``):
        in the folder, or on object storage under that run's prefix."""
        if self.store is None:
            return Path(self.root) / name
        run = self.info.run
        return self.store.url_of(f"{run}/{name}" if run else name)

    def has_side(self, name: str) -> bool:
        """Whether :meth:`side` ``name`` exists."""
        where = self.side(name)
        if self.store is None:
            return Path(where).is_file()
        return bool(self.store.fs.isfile(self.store.path(self.store.rel(str(where)))))

    @property
    def num_rows(self) -> int:
        """Rows of all parts (from the footers: no data is read)."""
        return sum(p.rows for p in self.parts)

    @property
    def schema(self) -> pa.Schema | None:
        """The first part's schema (None: no parts)."""
        return self.parts[0].schema if self.parts else None

    def units(self) -> list[dict]:
        """Work units: one per (part, row group), numbered in input order
        (``{"index", "file", "row_group"}``)."""
        units = []
        for p in self.parts:
            for rg in range(p.row_groups):
                units.append({"index": len(units), "file": str(p.path), "row_group": rg})
        return units

    def dataset(self) -> pads.Dataset:
        """The parts as one :class:`pyarrow.dataset.Dataset`."""
        import pyarrow.dataset as pads

        if self.store is not None:
            paths = [self.store.path(self.store.rel(str(f))) for f in self.files]
            return pads.dataset(paths, format="parquet", filesystem=self.store.arrow_fs())
        return pads.dataset([str(f) for f in self.files], format="parquet")

    def read(self, columns: Sequence[str] | None = None, filter: Any = None) -> pa.Table:
        """The rows matching ``filter`` (a :class:`pyarrow.dataset.Expression`), ``columns``
        only, in part order."""
        return self.dataset().to_table(columns=list(columns) if columns is not None else None,
                                       filter=filter)

    def count_rows(self, filter: Any = None) -> int:
        """Rows matching ``filter`` (all rows: from the footers)."""
        return self.num_rows if filter is None else self.dataset().count_rows(filter=filter)


_RESUME = {"ingest": "re-run the same `logad ingest` command (finished parts are kept)",
           "parse": "re-run the same `logad parse` command"}


def part_entries(folder: str | os.PathLike, parts: Sequence[str | os.PathLike]) -> list[dict]:
    """``[{"file": "events/part-000000.parquet", "rows": n}, ...]`` for a manifest's ``parts``:
    each part's path relative to ``folder`` and its row count (from the Parquet footer)."""
    if is_remote(folder):
        store = Store.at(folder)
        afs = store.arrow_fs()
        return [{"file": str(p), "rows": _footer(afs, store.path(str(p))).metadata.num_rows}
                for p in parts]
    root = local_path(folder)
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in parts]
    return [{"file": p.relative_to(root).as_posix(), "rows": pq.read_metadata(p).num_rows}
            for p in paths]


def mark_running(out_dir: str | os.PathLike) -> None:
    """Remove ``out_dir/manifest.json`` before a run changes ``out_dir``: an earlier finished
    manifest must never vouch for parts this run is replacing (the new one is written last).

    On object storage nothing is removed: a run there writes under a prefix of its own, so the
    old manifest goes on naming intact parts until the new one replaces it."""
    if not is_remote(out_dir):
        (local_path(out_dir) / "manifest.json").unlink(missing_ok=True)


def finished_manifest(out_dir: str | os.PathLike, key: str) -> dict | None:
    """The manifest of a complete run in ``out_dir`` made with ``key``, else None.

    A run that changes one of its own inputs (parse saving ``--drain-state``) also records
    ``run_key_after``, the key of its inputs as it left them, so re-running it skips too.
    """
    try:
        if is_remote(out_dir):
            done = Store.at(out_dir).read_json("manifest.json")
        else:
            done = read_json(local_path(out_dir) / "manifest.json")
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("status", "complete") != "complete":
        return None
    return done if key in (done.get("run_key"), done.get("run_key_after")) else None


def _footer(afs: Any, path: str) -> pq.ParquetFile:
    """The Parquet file ``path`` of the pyarrow filesystem ``afs`` (its footer read)."""
    return pq.ParquetFile(afs.open_input_file(path))


def _remote_folder(url: str) -> Store:
    """The store holding ``manifest.json``: ``url`` or, given its ``events/``, its parent."""
    store = Store.at(url)
    if not store.exists("manifest.json") and store.url.endswith("/events"):
        parent = Store.at(store.url[: -len("/events")])
        if parent.exists("manifest.json"):
            return parent
    return store


def _stage_folder(folder: Path) -> tuple[Path, Path]:
    """The folder holding ``manifest.json`` (``folder`` or, given its ``events/``, its parent)."""
    if (folder / "manifest.json").is_file() or not (folder.parent / "manifest.json").is_file():
        return folder, folder / "manifest.json"
    return folder.parent, folder.parent / "manifest.json"


def open_stage(folder: str | os.PathLike, stage: str | Sequence[str] | None = None,
               *, keep_damaged: bool = False) -> "StageFolder":
    """A finished stage output: its manifest and its parts; a clear error for anything else.

    A stage writes its parts first and ``manifest.json`` last, with ``"status": "complete"`` and
    ``parts`` (each part's file relative to the folder and its row count). Only such a folder
    is read; each listed part must exist and hold the rows the manifest says. Each part's
    Parquet footer is read here, once (a few KB: milliseconds a part), and kept: rows, row
    groups and schema, so a runner never opens a footer again to plan its work.

    Parameters
    ----------
    folder : path
        The stage's output folder (or its ``events/`` folder).
    stage : str or sequence of str, optional
        The stage(s) that may have written it (``"ingest"``, ``"parse"``).
    keep_damaged : bool, default False
        Hand back damaged parts in ``damaged`` instead of stopping at the first (for a stage
        that can go on without them: ``logad parse`` counts their rows as rejected). An
        unfinished folder is refused either way.

    Raises
    ------
    InputError
        No manifest (a run still going or killed), a manifest of another stage, one not
        complete or not fitting :class:`~logad.io.manifest.Manifest`, a part missing, truncated
        or of the wrong size; the message names the file and how to finish the input.
    """
    from logad.errors import InputError

    store = _remote_folder(os.fspath(folder)) if is_remote(folder) else None
    if store is not None:
        root, mpath = store.url, store.url_of("manifest.json")
    else:
        root, mpath = _stage_folder(local_path(folder))
    stages = (stage,) if isinstance(stage, str) else tuple(stage or ())
    what = stages[0] if stages else "the previous stage"
    resume = _RESUME.get(what, f"re-run `logad {what}` into {root}")
    if store is None and not root.is_dir():
        raise InputError(f"{root}: no such folder (give the output folder of `logad {what}`)")
    try:
        manifest = store.read_json("manifest.json") if store is not None else read_json(mpath)
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
    try:
        info = parse_manifest(manifest, mpath)
    except ManifestError as exc:
        raise InputError(f"{exc}; {resume}") from None
    parts, damaged = [], []
    afs = store.arrow_fs() if store is not None else None
    for entry in listed:
        rel = str(entry.get("file"))
        path = store.url_of(rel) if store is not None else root / rel
        why = None
        try:
            pf = _footer(afs, store.path(rel)) if store is not None else pq.ParquetFile(path)
            meta, schema = pf.metadata, pf.schema_arrow
            rows = meta.num_rows
        except FileNotFoundError:
            why = f"part listed in {mpath} is missing"
        except (OSError, pa.ArrowException) as exc:
            why = f"damaged part ({type(exc).__name__}: {exc})"
        else:
            if rows != entry.get("rows"):
                why = (f"{rows} rows, but {mpath} says {entry.get('rows')} (changed after the "
                       "run finished?)")
        if why is None:
            parts.append(Part(path, rows, meta.num_row_groups, schema))
            continue
        message = f"{path}: {why}; {resume}"
        if not keep_damaged:
            raise InputError(message)
        damaged.append({"file": str(path), "rows": int(entry.get("rows") or 0), "reason": why,
                        "message": message})
    return StageFolder(root, manifest, info, tuple(parts), tuple(damaged), store)


def finished_input(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                   ) -> tuple[list[Path], dict]:
    """The parts of a finished stage output and its manifest (see :func:`open_stage`)."""
    found = open_stage(folder, stage)
    return found.files, found.manifest


def finished_input_parts(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                         ) -> tuple[list[Path], list[dict], dict]:
    """:func:`finished_input` that hands back the damaged parts instead of stopping at the
    first: ``(parts, damaged, manifest)`` (see :func:`open_stage`'s ``keep_damaged``)."""
    found = open_stage(folder, stage, keep_damaged=True)
    return found.files, list(found.damaged), found.manifest


def finished_parts(folder: str | os.PathLike, stage: str | Sequence[str] | None = None
                   ) -> list[Path]:
    """The parts of a finished stage output (see :func:`open_stage`)."""
    return open_stage(folder, stage).files


def sequences_folder(path: str | os.PathLike) -> StageFolder:
    """A finished ``sequences`` folder (the output of ``logad sessionize`` or ``logad
    ingest-sessions``, whose manifest names its parts). An unfinished or damaged folder is
    refused with a message saying how to finish it."""
    return open_stage(path, SEQUENCES_STAGES)


def dataset_of(files: Sequence[str | os.PathLike]) -> "pads.Dataset":
    """The Parquet ``files`` (local paths, or URLs of one object store, as a stage folder's
    :attr:`StageFolder.files` gives them) as one :class:`pyarrow.dataset.Dataset`, read
    through fsspec on object storage (the same storage options as every other access)."""
    import pyarrow.dataset as pads

    names = [os.fspath(f) for f in files]
    if not names or not is_remote(names[0]):
        return pads.dataset(names, format="parquet")
    from fsspec.core import url_to_fs

    fs, _ = url_to_fs(names[0])
    store = Store(names[0], fs, "")
    return pads.dataset([url_to_fs(n)[1] for n in names], format="parquet",
                        filesystem=store.arrow_fs())


def read_part(path: str | os.PathLike) -> Part:
    """One Parquet file as a :class:`Part` (its footer read once)."""
    pf = pq.ParquetFile(path)
    return Part(Path(path), pf.metadata.num_rows, pf.metadata.num_row_groups, pf.schema_arrow)


def sequences_parts(path: str | os.PathLike) -> list[Part]:
    """The parts of a finished ``sequences`` folder (:func:`sequences_folder`), or the one
    Parquet file ``path``; each part's footer is read once."""
    if is_remote(path):
        return list(sequences_folder(path).parts)
    p = Path(path)
    return [read_part(p)] if p.is_file() else list(sequences_folder(p).parts)


def sequences_files(path: str | os.PathLike) -> list[str]:
    """The Parquet parts of a finished ``sequences`` folder (:func:`sequences_folder`), or
    ``[path]`` for one Parquet file."""
    if is_remote(path):
        return [str(f) for f in sequences_folder(path).files]
    p = Path(path)
    if p.is_file():
        return [str(p)]
    return [str(f) for f in sequences_folder(p).files]
