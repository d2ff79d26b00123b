"""Download a corpus or archive through fsspec, verified, resumable, cached.

The bytes go to a hidden ``.<name>.part`` beside the final file, in ranged reads (HTTP ``Range``
requests; ranged GETs on s3/gs), appended as they arrive; ``.<name>.part.json`` records what they
belong to (URL, size, ETag), so a later call continues where an interrupted one stopped. Only a
complete download whose sha256 matches the expected one is renamed to its final name; a record in
``.logad-fetch/<name>.json`` lets the next call return the cached file without downloading.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import time
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from fsspec.core import url_to_fs

from logad.config import load_yaml
from logad.errors import InputError, LogadError
from logad.io import read_json, write_json

__all__ = ["load_catalogue", "resolve", "fetch", "sha256_of", "CHUNK"]

log = logging.getLogger(__name__)

CHUNK = 16 << 20
RECORD_DIR = ".logad-fetch"


def load_catalogue(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """The ``datasets:`` mapping of ``configs/datasets.yaml`` (or ``path``), names as written."""
    doc = load_yaml(path or "datasets")
    sets = doc.get("datasets")
    if not isinstance(sets, dict):
        raise InputError(f"{path or 'configs/datasets.yaml'}: expected a 'datasets:' mapping")
    return sets


def resolve(name_or_url: str, catalogue: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """``{"name", "url", "file", "sha256"}`` for a catalogue name (any case) or a URL / local path.

    A catalogue name wins over a local file of the same name; anything with ``://`` is a URL.
    """
    cat = {} if "://" in name_or_url else (catalogue if catalogue is not None else load_catalogue())
    key = {k.lower(): k for k in cat}.get(name_or_url.lower())
    if key is None and ("://" in name_or_url or Path(name_or_url).exists()):
        url = name_or_url if "://" in name_or_url else Path(name_or_url).resolve().as_uri()
        file = posixpath.basename(unquote(urlsplit(url).path).rstrip("/"))
        if not file:
            raise InputError(f"{name_or_url}: the URL names no file")
        return {"name": file, "url": url, "file": file, "sha256": None}
    if key is None:
        raise InputError(f"unknown dataset {name_or_url!r}; known: {', '.join(cat)} (or pass a URL)")
    entry = dict(cat[key])
    if not entry.get("url"):
        raise InputError(f"{key} has no single download URL in the catalogue: {entry.get('note', '')} "
                         f"Pass the file's URL instead (from {entry.get('page', 'its publisher')}).")
    file = entry.get("file") or posixpath.basename(urlsplit(entry["url"]).path)
    return {"name": key, "url": entry["url"], "file": file, "sha256": entry.get("sha256")}


def sha256_of(path: str | os.PathLike, upto: int | None = None) -> "hashlib._Hash":
    """A sha256 object fed with the file's bytes (the first ``upto`` of them)."""
    h = hashlib.sha256()
    left = upto
    with open(path, "rb") as fh:
        while left is None or left > 0:
            block = fh.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h


def _remote(fs, path: str) -> dict[str, Any]:
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    size = info.get("size")
    etag = info.get("ETag") or info.get("etag")
    return {"size": int(size) if size is not None else None, "etag": str(etag) if etag else None}


def _download(fs, path: str, url: str, part: Path, remote: dict, chunk: int) -> "hashlib._Hash":
    """Append the missing bytes to ``part``; returns the sha256 of the whole of it."""
    meta_path = part.with_name(part.name + ".json")
    meta = {"url": url, **remote}
    try:
        same = read_json(meta_path) == meta
    except (OSError, ValueError):
        same = False
    if not same or remote["size"] is None or not part.exists() or part.stat().st_size > remote["size"]:
        part.unlink(missing_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    if offset:
        log.info("fetch: resuming %s at byte %d of %d", url, offset, remote["size"])
    write_json(meta, meta_path)
    h = sha256_of(part) if offset else hashlib.sha256()
    with open(part, "ab") as out:
        if remote["size"] is None:  # no length known: one sequential read from the start
            with fs.open(path, "rb", block_size=0) as src:
                while block := src.read(chunk):
                    out.write(block)
                    h.update(block)
            return h
        while offset < remote["size"]:
            end = min(offset + chunk, remote["size"])
            block = fs.cat_file(path, start=offset, end=end)
            if len(block) != end - offset:
                raise InputError(f"{url}: asked for bytes {offset}-{end - 1}, got {len(block)} bytes "
                                 "(does the server honour HTTP Range requests?)")
            out.write(block)
            out.flush()
            h.update(block)
            offset = end
    return h


def fetch(name_or_url: str, to: str | os.PathLike, *, sha256: str | None = None,
          catalogue: str | os.PathLike | Mapping | None = None, retries: int = 3, chunk: int = CHUNK,
          force: bool = False) -> dict[str, Any]:
    """Download ``name_or_url`` into folder ``to``; returns what was fetched and how.

    Parameters
    ----------
    name_or_url : str
        A name of the catalogue (``configs/datasets.yaml``) or a URL fsspec opens (``https://``,
        ``s3://``, ``gs://``, ``file://``) or a local path.
    to : path
        Folder for the file (created).
    sha256 : str, optional
        Expected digest; overrides the catalogue's. Without one the file is kept and its digest
        reported (``verified: False``).
    catalogue : path or mapping, optional
        Another catalogue file (or its ``datasets`` mapping).
    retries : int, default 3
        Further attempts after a broken transfer, each resuming where the last stopped.
    chunk : int
        Bytes per ranged read.
    force : bool
        Download again even when a verified copy is cached.

    Returns
    -------
    dict
        ``name``, ``url``, ``path``, ``bytes``, ``sha256``, ``verified``, ``cached``, ``resumed_at``,
        ``attempts``, ``seconds``.

    Raises
    ------
    InputError
        Unknown name, missing remote file, a sha256 mismatch (the download is deleted), or a
        transfer that still fails after ``retries`` (the partial file stays for the next call).
    """
    cat = catalogue if isinstance(catalogue, Mapping) else (load_catalogue(catalogue) if catalogue else None)
    spec = resolve(name_or_url, cat)
    expected = (sha256 or spec["sha256"] or "").lower() or None
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    final, part = to / spec["file"], to / f".{spec['file']}.part"
    record_path = to / RECORD_DIR / f"{spec['file']}.json"
    fs, path = url_to_fs(spec["url"])
    remote = _remote(fs, path)
    t0 = time.perf_counter()
    result = {"name": spec["name"], "url": spec["url"], "path": str(final), "cached": False,
              "resumed_at": 0, "attempts": 0}
    if final.exists() and not force:
        try:
            rec = read_json(record_path)
        except (OSError, ValueError):
            rec = {}
        st = final.stat()
        if (rec.get("url") == spec["url"] and rec.get("bytes") == st.st_size == (remote["size"] or st.st_size)
                and rec.get("mtime_ns") == st.st_mtime_ns and (expected is None or rec.get("sha256") == expected)):
            return {**result, "bytes": st.st_size, "sha256": rec["sha256"], "verified": expected is not None,
                    "cached": True, "seconds": round(time.perf_counter() - t0, 3)}
    result["resumed_at"] = part.stat().st_size if part.exists() else 0
    while True:
        result["attempts"] += 1
        try:
            h = _download(fs, path, spec["url"], part, remote, chunk)
            break
        except LogadError:
            raise
        except Exception as exc:  # transfer errors differ per backend (aiohttp, botocore, OSError)
            have = part.stat().st_size if part.exists() else 0
            if result["attempts"] > retries:
                raise InputError(f"{spec['url']}: download broke off at byte {have:,} after "
                                 f"{result['attempts']} attempt(s) ({type(exc).__name__}: {exc}); "
                                 f"run the same command again to resume") from None
            log.warning("fetch: %s broke off at byte %d (%s); resuming", spec["url"], have, exc)
    digest = h.hexdigest()
    size = part.stat().st_size
    if expected is not None and digest != expected:
        part.unlink(missing_ok=True)
        part.with_name(part.name + ".json").unlink(missing_ok=True)
        raise InputError(f"{spec['url']}: sha256 mismatch: expected {expected}, got {digest} "
                         f"({size:,} bytes); the download was deleted, nothing kept under {final.name}")
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, final)
    part.with_name(part.name + ".json").unlink(missing_ok=True)
    st = final.stat()
    write_json({"url": spec["url"], "bytes": st.st_size, "sha256": digest, "mtime_ns": st.st_mtime_ns,
                "verified": expected is not None}, record_path)
    if expected is None:
        log.warning("fetch: %s has no known sha256 to check against; its sha256 is %s", final.name, digest)
    return {**result, "bytes": st.st_size, "sha256": digest, "verified": expected is not None,
            "seconds": round(time.perf_counter() - t0, 3)}
