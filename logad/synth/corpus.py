"""One entry point for every synthetic corpus: check a resolved config, generate, record it.

``configs/synth.yaml`` has a top-level ``seed`` and one section per kind whose keys are the
keyword arguments of that kind's ``generate_<kind>`` function.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from logad.errors import ConfigError
from logad.io import as_folder, looks_remote, write_yaml
from logad.synth.kernel import generate_kernel
from logad.synth.lo2 import generate_lo2
from logad.synth.openstack import generate_openstack

__all__ = ["GENERATORS", "run_synth", "kind_params", "synth_key"]

log = logging.getLogger(__name__)

#: Kind name -> generator ``f(out_dir, *, seed, **params) -> summary dict``.
GENERATORS: dict[str, Callable[..., dict[str, Any]]] = {
    "openstack": generate_openstack,
    "lo2": generate_lo2,
    "kernel": generate_kernel,
}


def kind_params(kind: str) -> list[str]:
    """The config keys a kind accepts (its generator's keyword arguments, ``seed`` excluded)."""
    if kind not in GENERATORS:
        raise ConfigError(f"unknown synth kind {kind!r}; choose from {', '.join(GENERATORS)}")
    sig = inspect.signature(GENERATORS[kind])
    return [n for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY and n != "seed"]


def _params(kind: str, section: Mapping[str, Any]) -> dict[str, Any]:
    allowed = kind_params(kind)
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(f"synth config [{kind}]: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed)}")
    params = dict(section)
    if kind == "lo2" and not params.get("error_cases"):
        params["error_cases"] = None
    if kind == "kernel" and "episode_lines" in params:
        el = params["episode_lines"]
        if not isinstance(el, (list, tuple)) or len(el) != 2:
            raise ConfigError(f"kernel.episode_lines must be [min, max], got {el!r}")
        params["episode_lines"] = tuple(el)
    return params


def run_synth(kind: str, out_dir: str | Path, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Generate the ``kind`` corpus described by ``cfg`` into ``out_dir``; write ``synth_config.yaml``.

    Parameters
    ----------
    kind : {"openstack", "lo2", "kernel"}
    out_dir : path or URL
        A local folder, or an object-storage folder (``s3://...``): there the corpus is
        generated in a local scratch folder and uploaded file by file under the same names (so
        ``<out>/*.log`` reads it), ``manifest.json`` written last; a re-run whose key (kind,
        seed, section, logad's version) the manifest holds skips (``"skipped": True``).
    cfg : mapping
        The resolved config: ``seed`` plus a section named ``kind``.

    Returns
    -------
    dict
        The generator's summary plus ``seconds``, ``config`` (the path of the written config) and
        ``stale_files``: files already in ``out_dir`` that this run did not write (left alone, and
        logged as a warning, since a loader would read them too).
    """
    if looks_remote(out_dir):
        return _to_object_storage(kind, str(as_folder(out_dir)), cfg)
    if kind not in GENERATORS:
        raise ConfigError(f"unknown synth kind {kind!r}; choose from {', '.join(GENERATORS)}")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    section = cfg.get(kind) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"synth config [{kind}] must be a mapping, got {type(section).__name__}")
    params = _params(kind, section)
    out = Path(out_dir)
    before = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} if out.is_dir() else set()
    t0 = time.perf_counter()
    summary = GENERATORS[kind](out, seed=seed, **params)
    resolved = {"kind": kind, "seed": seed, kind: dict(section)}
    write_yaml(resolved, out / "synth_config.yaml")
    summary["files"] = [*summary["files"], "synth_config.yaml"]
    stale = sorted(before - set(summary["files"]))
    if stale:
        log.warning("%s: %d file(s) this run did not write were already there and were left alone "
                    "(e.g. %s); use a fresh --out folder for a clean corpus", out, len(stale), ", ".join(stale[:3]))
    summary["stale_files"] = len(stale)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    summary["config"] = str(Path(out_dir) / "synth_config.yaml")
    return summary


def synth_key(kind: str, cfg: Mapping[str, Any]) -> str:
    """What makes a corpus: the kind, the seed, the kind's section and logad's version."""
    from logad import __version__

    want = {"kind": kind, "seed": cfg.get("seed"), kind: dict(cfg.get(kind) or {}), "version": __version__}
    return hashlib.blake2b(json.dumps(want, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _to_object_storage(kind: str, url: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_synth` into the object-storage folder ``url``: generated locally, uploaded
    under the same names, committed by ``manifest.json`` (removed first, written last, so a
    killed upload never looks finished)."""
    from logad.io import Store, finished_manifest

    t0 = time.perf_counter()
    key = synth_key(kind, cfg)
    done = finished_manifest(url, key)
    if done is not None:
        log.info("%s: this corpus is already there (same kind, seed and settings); skipping", url)
        return {**done["summary"], "skipped": True, "seconds": round(time.perf_counter() - t0, 3)}
    store = Store.at(url)
    local = Path(tempfile.mkdtemp(prefix="logad-synth-"))
    try:
        summary = run_synth(kind, local, cfg)
        store.remove("manifest.json")
        before = {p[len(store.root) + 1:] for p in store.fs.find(store.root)} if store.fs.isdir(store.root) else set()
        names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        for rel in names:  # the scratch folder holds what this run wrote, nothing else
            store.fs.put_file(str(local / rel), store.path(rel))
    finally:
        shutil.rmtree(local, ignore_errors=True)
    stale = sorted(before - set(names) - {"manifest.json"})
    if stale:
        log.warning("%s: %d file(s) this run did not write were already there and were left alone "
                    "(e.g. %s); use a fresh --out folder for a clean corpus", url, len(stale), ", ".join(stale[:3]))
    summary.update(out=url, stale_files=len(stale), config=store.url_of("synth_config.yaml"),
                   seconds=round(time.perf_counter() - t0, 3))
    from logad import __version__

    store.write_json("manifest.json", {"stage": "synth", "status": "complete", "logad_version": __version__,
                                       "run_key": key, "kind": kind, "files": names,
                                       "summary": summary})
    return summary
