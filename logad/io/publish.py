"""Whole folders on object storage: a stage that builds its output as a local folder (a model
folder, an evaluation) publishes it to an ``s3://`` / ``gs://`` folder, and a stage that loads
such a folder (a model, a scores folder) fetches it to a local cache first.

Both go through the one commit protocol of :mod:`logad.io.store`: :func:`publish_dir` uploads
every file of the local folder under a new run prefix, ``<url>/_runs/<run-id>/<file>``, then
commits ``manifest.json`` (:func:`logad.io.manifest.commit`), which names each file relative to
the folder (``files``); the run prefixes it does not name are deleted after the commit.
:func:`fetch_dir` downloads only the files a committed manifest names, into a cache folder
keyed by the manifest's identity (its run and key), so a second fetch of the same commit is
free and a new commit is fetched afresh. The cached folder is the local folder as it was
published, byte for byte. No Ray here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from logad.io.atomic import atomic_dir
from logad.io.manifest import commit
from logad.io.store import Store, as_folder, looks_remote, new_run

__all__ = ["publish_dir", "fetch_dir", "read_published", "committed", "local_dir", "cache_root",
           "key_file", "output_dir", "Building", "FILES", "prune_cache"]

#: The manifest field of a published folder naming its files: ``[{"file", "bytes"}]``, each
#: relative to the folder (``_runs/<id>/model.yml``). Not ``files``: ingest-sessions and triage
#: keep their per-file rows (read = processed + rejected) under that key.
FILES = "published"


def cache_root() -> Path:
    """Where :func:`fetch_dir` keeps fetched folders by default: ``$LOGAD_CACHE``, else
    ``~/.cache/logad/objects``."""
    env = os.environ.get("LOGAD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "logad" / "objects"


def _local_files(local_dir: Path) -> list[str]:
    return sorted(p.relative_to(local_dir).as_posix() for p in local_dir.rglob("*") if p.is_file())


def _prefixed(entry: Any, run: str) -> Any:
    """A manifest ``parts`` entry (a name or ``{"file": ...}``) relative to the published folder."""
    if isinstance(entry, dict):
        return {**entry, "file": f"{run}/{entry['file']}"}
    return f"{run}/{entry}"


def publish_dir(local_dir: str | os.PathLike, url: str, doc: dict[str, Any],
                run: str | None = None, written: Sequence[str] = ()) -> dict[str, Any]:
    """Upload the finished folder ``local_dir`` to the object-storage folder ``url`` and commit it.

    Parameters
    ----------
    local_dir : path
        A complete local folder; every file in it (subfolders too) is uploaded, one object each.
    url : str
        The object-storage folder (``s3://bucket/models/iforest``).
    doc : dict
        The manifest of the folder (``stage``, ``status``, ``run_key``...): written with
        :data:`FILES` and ``run`` added; its ``parts`` and ``settings_file``, given relative to
        ``local_dir``, are made relative to ``url``.
    run : str, optional
        The run prefix to write under (:func:`~logad.io.store.new_run`), when the caller needs
        to know it before publishing (to name the files in its outputs, or to have its workers
        write there).
    written : sequence of str, optional
        Files already under ``<url>/<run>/`` (written there by the workers), relative to it:
        named in the manifest with the local folder's files.

    Returns
    -------
    dict
        The manifest committed.
    """
    local = Path(local_dir)
    store = Store.at(url)
    run = run or new_run()
    files = []
    for rel in _local_files(local):
        store.fs.put_file(str(local / rel), store.path(f"{run}/{rel}"))
        files.append({"file": f"{run}/{rel}", "bytes": (local / rel).stat().st_size})
    for rel in written:
        files.append({"file": f"{run}/{rel}", "bytes": int(store.fs.info(store.path(f"{run}/{rel}"))["size"])})
    files.sort(key=lambda f: f["file"])
    doc = {"status": "complete", **doc, FILES: files}
    if doc.get("parts") is not None:
        doc["parts"] = [_prefixed(p, run) for p in doc["parts"]]
    if doc.get("settings_file"):
        doc["settings_file"] = f"{run}/{doc['settings_file']}"
    return commit(store, doc, run)


def committed(url: str) -> dict[str, Any] | None:
    """The committed manifest of a published folder, None when there is none (nothing
    published yet, or not a folder :func:`publish_dir` wrote)."""
    try:
        doc = Store.at(url).read_json("manifest.json")
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("status") != "complete" or \
            not isinstance(doc.get(FILES), list) or not doc.get("run"):
        return None
    return doc


#: The command that writes each kind of published folder, for the hint of a missing one.
_WRITER = {"model folder": "train", "scores folder": "score", "evaluation": "evaluate",
           "explain folder": "explain"}


def _missing(url: str, what: str) -> Exception:
    from logad.errors import InputError

    how = f"`logad {_WRITER[what]} --out {url}`" if what in _WRITER else "the stage that writes it"
    return InputError(f"{url}: no published {what} (no committed manifest.json naming its files); "
                      f"write it first with {how}")


def read_published(url: str, name: str, what: str = "folder") -> bytes:
    """The bytes of the file ``name`` (relative to the local folder that was published) of the
    committed folder ``url``.

    Raises
    ------
    InputError
        No committed manifest, or it names no such file.
    """
    doc = committed(url)
    if doc is None:
        raise _missing(url, what)
    rel = f"{doc['run']}/{name}"
    if rel not in {f["file"] for f in doc[FILES]}:
        from logad.errors import InputError

        raise InputError(f"{url}: the committed manifest names no {name}")
    return Store.at(url).read_bytes(rel)


def _identity(url: str, doc: dict[str, Any]) -> str:
    ident = json.dumps([url, doc["run"], doc.get("run_key"), doc[FILES]], sort_keys=True)
    return hashlib.blake2b(ident.encode(), digest_size=12).hexdigest()


def fetch_dir(url: str, cache_dir: str | os.PathLike | None = None, what: str = "folder") -> Path:
    """The committed folder ``url`` as a local folder: its files (only those its manifest
    names) downloaded into ``cache_dir`` (default :func:`cache_root`), under a name keyed by
    the commit, so fetching the same commit again downloads nothing.

    Safe when several processes fetch at once: each downloads into a temporary folder and
    renames it into place; the first rename wins and the others use its folder.

    Raises
    ------
    InputError
        ``url`` holds no committed folder (``what`` names what was expected: "model folder").
    """
    doc = committed(url)
    if doc is None:
        raise _missing(url, what)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    final = root / _identity(url, doc)
    if final.is_dir():
        _touch(final)
        return final
    root.mkdir(parents=True, exist_ok=True)
    store = Store.at(url)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    try:
        strip = len(doc["run"]) + 1
        for entry in doc[FILES]:
            target = tmp / entry["file"][strip:]
            target.parent.mkdir(parents=True, exist_ok=True)
            store.fs.get_file(store.path(entry["file"]), str(target))
        os.chmod(tmp, 0o755)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # not a concurrent fetch of the same commit
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _touch(final)
    prune_cache(root, keep=final)
    return final


#: A cache entry used this recently is never pruned: a stage on this node may be reading it.
CACHE_IN_USE_S = 3600.0


def _touch(entry: Path) -> None:
    """Mark a cache entry used now (its folder's mtime is its last use)."""
    try:
        os.utime(entry)
    except OSError:
        pass  # pruned by another process between the check and here: the caller's copy is gone


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune_cache(root: str | os.PathLike, *, max_bytes: int | None = None,
                keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove least recently used entries of the fetch cache ``root`` until it holds at most
    ``max_bytes`` (default ``$LOGAD_CACHE_MAX_GB``, 20 GB); entries used in the last
    :data:`CACHE_IN_USE_S` and ``keep`` stay, and so do others' downloads in progress (``.tmp``
    folders) unless a day old (a killed fetch). Returns the folders removed."""
    import time

    root = Path(root)
    if max_bytes is None:
        max_bytes = int(float(os.environ.get("LOGAD_CACHE_MAX_GB", "20")) * 1e9)
    now = time.time() if now is None else now
    removed: list[Path] = []
    entries = []
    for entry in (p for p in root.iterdir() if p.is_dir()) if root.is_dir() else ():
        try:
            used = entry.stat().st_mtime
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                if now - used > 86400:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
                continue
            entries.append((used, _size(entry), entry))
        except OSError:
            continue  # removed meanwhile by another process
    total = sum(size for _, size, _ in entries)
    for used, size, entry in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if entry == keep or now - used < CACHE_IN_USE_S:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        total -= size
    return removed


def local_dir(folder: str | os.PathLike, what: str = "folder") -> Path:
    """``folder`` as a local folder to load from: a local path as it is, an object-storage
    folder fetched (:func:`fetch_dir`)."""
    if looks_remote(folder):
        return fetch_dir(str(as_folder(folder)), what=what)
    return Path(folder)



def key_file(folder: str | os.PathLike, name: str) -> str | Path:
    """The file that stands for ``folder`` in a skip key: its file ``name`` (``model.yml``),
    or on object storage its committed ``manifest.json`` (a new commit changes its ETag)."""
    if looks_remote(folder):
        return f"{as_folder(folder)}/manifest.json"
    return Path(folder) / name


@dataclass
class Building:
    """A stage's output folder being built (:func:`output_dir`): ``path``, the local folder to
    write in; :meth:`name` gives where a file of it ends up; ``committed``, once published to
    object storage, the manifest committed; ``written``, files the stage's workers put straight
    under ``<final>/<run>/`` (relative to it), named in the manifest with the local files."""

    path: Path
    final: str | Path
    run: str | None = None
    committed: dict[str, Any] | None = field(default=None)
    written: list[str] = field(default_factory=list)

    def name(self, rel: str) -> str:
        """Where the file ``rel`` of the folder is once the folder is in place."""
        if self.run is None:
            return str(Path(self.final) / rel)
        return f"{self.final}/{self.run}/{rel}"


@contextmanager
def output_dir(out_dir: str | os.PathLike) -> Iterator[Building]:
    """Build a stage's output folder in a local folder and put it in place when the block
    succeeds: a local ``out_dir`` through :func:`~logad.io.atomic.atomic_dir` (rename), one
    on object storage through :func:`publish_dir`, committing the ``manifest.json`` the block
    wrote in the folder (the folder's copy of it is published too, so a fetched copy is the
    folder as built)."""
    if not looks_remote(out_dir):
        with atomic_dir(out_dir) as tmp:
            yield Building(tmp, Path(out_dir))
        return
    url = str(as_folder(out_dir))
    scratch = Path(tempfile.mkdtemp(prefix="logad-out-"))
    try:
        built = Building(scratch / "out", url, run=new_run())
        built.path.mkdir()
        yield built
        doc = json.loads((built.path / "manifest.json").read_text(encoding="utf-8"))
        built.committed = publish_dir(built.path, url, doc, run=built.run, written=built.written)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
